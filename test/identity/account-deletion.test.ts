/**
 * Deleting an account, as the person does it over GraphQL: DELETE typed to confirm, every session
 * ends at once, the account's tokens are refused, and 30 days later `purge-deleted-users` erases
 * what is personal (memories, chats and their messages, channel identities, sessions, reminders,
 * tool calls), anonymises what others keep (the venue's bookings, feedback scores, the booking
 * request its agent received) and keeps the money's record (usage). Signing in again before the
 * purge restores the account; a second purge run changes nothing.
 */

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import { purgeDeletedUsers } from '../../src/domain/erasure/purge.ts';
import { buildTasteGraph } from '../../src/domain/graph/build.ts';
import { ACCOUNT_PURGE_AFTER_DAYS, restoreAccount } from '../../src/domain/identity/account-deletion.ts';
import { issueRefreshToken } from '../../src/domain/identity/refresh-tokens.ts';
import { grantCredits } from '../../src/domain/ledger/credits.ts';
import { queueNotice } from '../../src/domain/notices/notices.ts';
import { setReminder } from '../../src/domain/reminders/reminders.ts';
import { createBooking } from '../factories/bookings.ts';
import { createOrganization, createPerson, tag } from '../factories/people.ts';
import { createBookableVenue, createVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const DAY = 86_400_000;
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const DELETE = `mutation Delete($confirm: String!) {
  deleteAccount(input: { confirm: $confirm }) {
    __typename
    ... on DeleteAccountPayload { deletion { deletedAt purgeAfter } }
    ... on Error { message }
    ... on ValidationError { field }
  }
}`;
const VIEWER = '{ viewer { id email reengagementOptIn } }';

/** A person with a bit of everything a person leaves behind. */
async function personWithHistory() {
  const db = app.services.db;
  const signedIn = await app.signIn();
  const userId = signedIn.userId;
  await db.user.update({
    where: { id: userId },
    data: { displayName: 'Ines Costa', language: 'pt', timeZone: 'Europe/Lisbon' },
  });
  const externalChatId = tag(8);
  const chat = await db.chat.create({
    data: {
      platform: 'TELEGRAM',
      account: 'agnt_bot',
      externalChatId,
      userId,
      lastInboundAt: app.clock.now(),
    },
  });
  await db.channelIdentity.create({ data: { userId, platform: 'TELEGRAM', externalId: externalChatId } });
  await db.inboundEvent.create({
    data: {
      platform: 'TELEGRAM',
      account: 'agnt_bot',
      externalId: tag(8),
      externalChatId,
      eventType: 'message',
      rawText: 'I am allergic to peanuts',
    },
  });
  await db.outboundMessage.create({
    data: {
      userId,
      chatId: chat.id,
      kind: 'reply',
      body: 'Noted: no peanuts.',
      dedupeKey: `reply:${randomUUID()}`,
    },
  });
  await db.memory.create({ data: { userId, content: 'allergic to peanuts', importance: 5 } });
  await setReminder(db, { userId, chatId: chat.id, text: 'Call Ana', when: 'in 40 days' }, app.clock.now());
  const venue = await createBookableVenue(db, {});
  const booking = await createBooking(db, {
    venueId: venue.id,
    guestId: userId,
    startsAt: new Date(app.clock.now().getTime() - 2 * DAY),
    status: 'COMPLETED',
    notes: 'Ines, call +351 912 345 678',
    specialRequests: 'peanut allergy',
  });
  await db.bookingFeedback.create({
    data: { bookingId: booking.id, guestId: userId, venueId: venue.id, score: 4, comment: 'Ines loved it' },
  });
  await db.a2aEnvelope.create({
    data: {
      direction: 'OUTBOUND',
      envelopeId: randomUUID(),
      fromAgent: `consumer-${userId}`,
      toAgent: `venue-${venue.id}`,
      intent: 'booking.request',
      payload: { guestName: 'Ines Costa', notes: 'peanut allergy', partySize: 2 },
      envelope: '{"signed":"Ines Costa"}',
      bookingId: booking.id,
    },
  });
  // A change and a cancellation of it through the agents, in their words.
  await db.a2aEnvelope.createMany({
    data: [
      {
        direction: 'INBOUND',
        envelopeId: randomUUID(),
        fromAgent: `consumer-${userId}`,
        toAgent: `venue-${venue.id}`,
        intent: 'booking.modify',
        payload: { bookingId: booking.id, change: { partySize: 3, notes: 'Ines brings her sister' } },
        bookingId: booking.id,
      },
      {
        direction: 'INBOUND',
        envelopeId: randomUUID(),
        fromAgent: `consumer-${userId}`,
        toAgent: `venue-${venue.id}`,
        intent: 'booking.cancel',
        payload: { bookingId: booking.id, reason: 'Ines is unwell' },
        bookingId: booking.id,
      },
      // Copies refused on arrival (a resend after a crash, a replay) are stored REJECTED with no
      // booking linked, their words and the signed text kept for the audit.
      {
        direction: 'INBOUND',
        envelopeId: randomUUID(),
        fromAgent: `consumer-${userId}`,
        toAgent: `venue-${venue.id}`,
        intent: 'booking.request',
        state: 'REJECTED',
        rejectReason: 'replayed',
        payload: { guestName: 'Ines Costa', notes: 'peanut allergy', partySize: 2 },
        envelope: '{"signed":"Ines Costa, peanut allergy"}',
      },
      {
        direction: 'INBOUND',
        envelopeId: randomUUID(),
        fromAgent: `venue-${venue.id}`,
        toAgent: `consumer-${userId}`,
        intent: 'booking.declined',
        state: 'REJECTED',
        rejectReason: 'replayed',
        payload: { bookingId: booking.id, reason: 'Sorry Ines, we are full' },
        envelope: '{"signed":"Sorry Ines, we are full"}',
      },
    ],
  });
  await db.toolCall.create({
    data: {
      userId,
      tool: 'remember',
      sideEffect: 'WRITE',
      input: { content: 'peanuts' },
      outcome: 'OK',
      durationMs: 3,
    },
  });
  await db.llmUsage.create({
    data: {
      userId,
      purpose: 'chat',
      provider: 'anthropic',
      model: 'claude',
      inputTokens: 10,
      outputTokens: 5,
      costMicros: 7,
    },
  });
  return { ...signedIn, chatId: chat.id, bookingId: booking.id, venueId: venue.id };
}

describe('deleting an account', () => {
  it('needs DELETE typed, and refuses the only owner of an organisation with a venue, changing nothing', async () => {
    const me = await app.signIn();
    const refused = await app.gql(DELETE, { confirm: 'delete' }, { token: me.token });
    expect(refused.data).toMatchObject({
      deleteAccount: { __typename: 'ValidationError', field: 'confirm' },
    });
    const organization = await createOrganization(app.services.db, {
      members: [{ userId: me.userId, role: 'OWNER' }],
    });
    await createVenue(app.services.db, { organizationId: organization.id, status: 'CLAIMED' });
    const owner = await app.gql(DELETE, { confirm: 'DELETE' }, { token: me.token });
    expect(owner.data).toMatchObject({ deleteAccount: { __typename: 'SoleOwnerError' } });
    const user = await app.services.db.user.findUniqueOrThrow({ where: { id: me.userId } });
    expect(user.deletedAt).toBeNull();
    expect((await app.gql(VIEWER, {}, { token: me.token })).data).toMatchObject({
      viewer: { email: me.email },
    });
  });

  it('does not count an owner who is deleting their account: the last one left stays, and cannot leave', async () => {
    const alice = await app.signIn();
    const bob = await app.signIn();
    const organization = await createOrganization(app.services.db, {
      members: [
        { userId: alice.userId, role: 'OWNER' },
        { userId: bob.userId, role: 'OWNER' },
      ],
    });
    // Both at once: one goes, the other is the only owner left.
    const [a, b] = await Promise.all([
      app.gql(DELETE, { confirm: 'DELETE' }, { token: alice.token }),
      app.gql(DELETE, { confirm: 'DELETE' }, { token: bob.token }),
    ]);
    const typeOf = (r: typeof a) =>
      (r.data as { deleteAccount: { __typename: string } }).deleteAccount.__typename;
    expect([typeOf(a), typeOf(b)].sort()).toEqual(['DeleteAccountPayload', 'SoleOwnerError']);
    const remaining = typeOf(a) === 'SoleOwnerError' ? alice : bob;
    // Nor can the one left leave the organisation by removing their own membership.
    const membership = await app.services.db.membership.findFirstOrThrow({
      where: { organizationId: organization.id, userId: remaining.userId },
    });
    const removed = await app.gql(
      `mutation ($id: ID!) { removeMember(input: { membershipId: $id }) { __typename ... on Error { message } } }`,
      { id: Buffer.from(`Membership:${membership.id}`).toString('base64') },
      { token: remaining.token },
    );
    expect(removed.data).toMatchObject({
      removeMember: { message: 'An organization needs at least one owner: make someone else an owner first' },
    });
    // The one who left signs in again (their deletion undone), so later purges here find no one.
    await restoreAccount(app.services.db, remaining === alice ? bob.userId : alice.userId);
  });

  it('ends every session at once; the purge 30 days later erases and anonymises, once', async () => {
    const db = app.services.db;
    const me = await personWithHistory();
    // A second sign-in elsewhere.
    const other = await issueRefreshToken(db, { userId: me.userId, ttlDays: 30, now: app.clock.now() });
    // An organisation invited their address, and they never answered.
    const inviter = await createPerson(db, { displayName: 'Inviter' });
    const inviting = await db.organization.create({ data: { name: 'Inviting Bar' } });
    const invitation = await db.organizationInvitation.create({
      data: {
        organizationId: inviting.id,
        email: me.email,
        role: 'STAFF',
        invitedById: inviter.id,
        expiresAt: new Date(Date.now() + DAY),
      },
    });
    // Its email, kept under the inviter; and another email of theirs, which stays.
    await db.outboundMessage.createMany({
      data: [
        {
          userId: inviter.id,
          kind: 'organization.invitation',
          channel: 'EMAIL',
          emailTo: me.email,
          body: 'Join us',
          dedupeKey: `invitation:${invitation.id}`,
          data: { invitationId: invitation.id },
        },
        {
          userId: inviter.id,
          kind: 'venue.question',
          channel: 'EMAIL',
          emailTo: 'venue@example.com',
          body: 'A question',
          dedupeKey: `ask:${invitation.id}`,
        },
      ],
    });
    // Their taste, built from the booking and the memory.
    await buildTasteGraph(db, me.userId, { now: app.clock.now() });
    expect(await db.tasteEdge.count({ where: { userId: me.userId } })).toBeGreaterThan(0);

    // The venue's wiki took their comment as a fact (as compileVenueWiki does).
    const feedback = await db.bookingFeedback.findUniqueOrThrow({ where: { bookingId: me.bookingId } });
    await db.venueFact.create({
      data: {
        venueId: me.venueId,
        key: 'feedback:ines-loved-it',
        text: feedback.comment!,
        source: 'GUEST_FEEDBACK',
        sourceRef: feedback.id,
        observedAt: feedback.updatedAt,
      },
    });

    // A question they asked a venue, through the agents, answered by staff for every guest and
    // learnt by the venue's wiki under their words.
    const questionId = randomUUID();
    await db.a2aEnvelope.create({
      data: {
        direction: 'OUTBOUND',
        envelopeId: questionId,
        fromAgent: `consumer-${me.userId}`,
        toAgent: `venue-${me.venueId}`,
        intent: 'venue.question',
        payload: { text: 'Can Ines bring her dog Bolinha?', questionId },
        envelope: '{"signed":"Can Ines bring her dog Bolinha?"}',
      },
    });
    const item = await db.venueInboxItem.create({
      data: {
        venueId: me.venueId,
        kind: 'QUESTION',
        status: 'ANSWERED',
        envelopeId: questionId,
        fromAgent: `consumer-${me.userId}`,
        guestId: me.userId,
        guestText: 'Can Ines bring her dog Bolinha?',
        reason: 'not in the facts',
        answer: 'Yes, dogs are welcome.',
        answerForAll: true,
      },
    });
    // Another, answered for them alone, in words that name them.
    const personal = await db.venueInboxItem.create({
      data: {
        venueId: me.venueId,
        kind: 'QUESTION',
        status: 'ANSWERED',
        envelopeId: randomUUID(),
        fromAgent: `consumer-${me.userId}`,
        guestId: me.userId,
        guestText: 'Is table 4 free for my 40th?',
        reason: 'not in the facts',
        answer: 'Yes Ines, table 4 is yours for your 40th.',
        answerForAll: false,
      },
    });
    const staffAnswer = await db.venueFact.create({
      data: {
        venueId: me.venueId,
        key: 'pets',
        text: 'Yes, dogs are welcome.',
        source: 'STAFF_ANSWER',
        sourceRef: item.id,
        observedAt: app.clock.now(),
      },
    });
    // The owner's record said otherwise; staff chose their answer.
    await db.venueFact.create({
      data: {
        venueId: me.venueId,
        key: 'pets',
        text: 'No pets inside.',
        source: 'OWNER_EDIT',
        observedAt: app.clock.now(),
      },
    });
    await db.venueFactConflict.create({
      data: {
        venueId: me.venueId,
        key: 'pets',
        status: 'RESOLVED',
        chosenFactId: staffAnswer.id,
        resolvedAt: app.clock.now(),
      },
    });
    // Their turns summarised in a group chat another member opened.
    const friend = await app.signIn();
    const group = await db.chat.create({
      data: {
        platform: 'TELEGRAM',
        account: 'agnt_bot',
        externalChatId: `-${tag(8)}`,
        userId: friend.userId,
        shared: true,
      },
    });
    await db.sessionSummary.create({
      data: {
        chatId: group.id,
        userId: me.userId,
        summary: 'Ines wants a dog-friendly place',
        updatedAt: app.clock.now(),
      },
    });

    // A group they opened, where a friend wrote too (a message still to be handled), and where
    // they wrote; and their message in the friend's group.
    const mine = await db.channelIdentity.findFirstOrThrow({ where: { userId: me.userId } });
    const ownGroup = await db.chat.create({
      data: {
        platform: 'TELEGRAM',
        account: 'agnt_bot',
        externalChatId: `-${tag(8)}`,
        userId: me.userId,
        shared: true,
      },
    });
    const said = (chatId: string, senderId: string, text: string) =>
      db.inboundEvent.create({
        data: {
          platform: 'TELEGRAM',
          account: 'agnt_bot',
          externalId: tag(8),
          externalChatId: chatId,
          eventType: 'message',
          rawText: text,
          normalized: { sender: { externalId: senderId, displayName: null, language: null }, text },
        },
      });
    await said(ownGroup.externalChatId, mine.externalId, 'Ines here, table for our group?');
    await said(group.externalChatId, mine.externalId, 'Ines again, near the window');
    const friends = await said(ownGroup.externalChatId, '99999', 'And a high chair please');
    await db.sessionSummary.create({
      data: {
        chatId: ownGroup.id,
        userId: friend.userId,
        summary: 'Wants a high chair',
        updatedAt: app.clock.now(),
      },
    });

    // The booking's history in their words: a change with their reason, a cancellation's reason.
    await db.bookingTransition.createMany({
      data: [
        {
          bookingId: me.bookingId,
          fromStatus: 'CONFIRMED',
          toStatus: 'CONFIRMED',
          actorKind: 'guest',
          actorId: me.userId,
          reason: 'changed party size 2 → 3 (my sister Ana is coming)',
        },
        {
          bookingId: me.bookingId,
          fromStatus: 'CONFIRMED',
          toStatus: 'CONFIRMED',
          actorKind: 'guest',
          actorId: me.userId,
          reason: 'my mother is in hospital in Porto',
        },
        {
          bookingId: me.bookingId,
          fromStatus: 'CONFIRMED',
          toStatus: 'CANCELLED_BY_GUEST',
          actorKind: 'guest',
          actorId: me.userId,
          reason: 'changed plans, my wife Marta is unwell',
        },
        {
          bookingId: me.bookingId,
          fromStatus: 'CONFIRMED',
          toStatus: 'CONFIRMED',
          actorKind: 'venue',
          reason: 'table 4 instead',
        },
      ],
    });
    // A booking still to come (45 days out, past the purge) and a question staff have not answered.
    const toCome = await createBooking(db, {
      venueId: me.venueId,
      guestId: me.userId,
      startsAt: new Date(app.clock.now().getTime() + 45 * DAY),
      status: 'CONFIRMED',
    });
    const unanswered = await db.venueInboxItem.create({
      data: {
        venueId: me.venueId,
        kind: 'QUESTION',
        status: 'OPEN',
        envelopeId: randomUUID(),
        fromAgent: `consumer-${me.userId}`,
        guestId: me.userId,
        guestText: 'Is the terrace heated?',
        reason: 'not in the facts',
      },
    });
    // Their own agent, named by them, with their phone as its contact.
    const agent = await ensureConsumerAgent(db, app.services.keyring, me.userId);
    const dna = agent.dna as { persona: Record<string, unknown> };
    await db.agent.update({
      where: { id: agent.id },
      data: {
        name: 'Ines helper',
        dna: {
          ...dna,
          persona: { ...dna.persona, name: 'Ines helper' },
          escalationContact: { name: 'Ines Costa', email: me.email, phone: '+351912345678' },
        },
      },
    });

    const answer = await app.gql(DELETE, { confirm: 'DELETE' }, { token: me.token });
    expect(answer.data, JSON.stringify(answer.body)).toMatchObject({
      deleteAccount: { __typename: 'DeleteAccountPayload' },
    });
    const refreshed = await app.gql(
      'mutation R($t: String!) { refreshSession(input: { refreshToken: $t }) { __typename } }',
      { t: other.token },
    );
    expect(refreshed.data).toMatchObject({ refreshSession: { __typename: 'AuthenticationError' } });
    expect(await db.refreshToken.count({ where: { userId: me.userId, revokedAt: null } })).toBe(0);
    const viewer = await app.gql(VIEWER, {}, { token: me.token });
    expect(viewer.status).toBe(401);

    const deletedAt = (await db.user.findUniqueOrThrow({ where: { id: me.userId } })).deletedAt!;
    // Not before the 30 days are over.
    expect(
      await purgeDeletedUsers(
        app.services.bookings,
        new Date(deletedAt.getTime() + (ACCOUNT_PURGE_AFTER_DAYS - 1) * DAY),
      ),
    ).toBe(0);
    expect(await db.memory.count({ where: { userId: me.userId } })).toBe(1);

    const purgeAt = new Date(deletedAt.getTime() + ACCOUNT_PURGE_AFTER_DAYS * DAY + 1000);
    expect(await purgeDeletedUsers(app.services.bookings, purgeAt)).toBe(1);

    // Erased.
    const where = { userId: me.userId };
    expect(await db.memory.count({ where })).toBe(0);
    expect(await db.tasteEdge.count({ where })).toBe(0);
    // The booking stays the venue's, but builds no taste for an account that is gone.
    await buildTasteGraph(db, me.userId, { now: purgeAt });
    expect(await db.tasteEdge.count({ where })).toBe(0);
    expect(await db.chat.count({ where: { ...where, shared: false } })).toBe(0);
    // The group they opened stays the others': the friend's message and summary are kept; their
    // own messages are gone from it and from the friend's group.
    expect(await db.chat.count({ where: { id: ownGroup.id } })).toBe(1);
    expect(await db.inboundEvent.findUnique({ where: { id: friends.id } })).toMatchObject({
      status: 'PENDING',
    });
    expect(await db.sessionSummary.count({ where: { chatId: ownGroup.id, userId: friend.userId } })).toBe(1);
    expect(await db.inboundEvent.count({ where: { rawText: { startsWith: 'Ines' } } })).toBe(0);
    expect(await db.outboundMessage.count({ where })).toBe(0);
    expect(await db.channelIdentity.count({ where })).toBe(0);
    expect(await db.refreshToken.count({ where })).toBe(0);
    expect(await db.reminder.count({ where })).toBe(0);
    expect(await db.toolCall.count({ where })).toBe(0);
    expect(await db.inboundEvent.count({ where: { rawText: 'I am allergic to peanuts' } })).toBe(0);
    expect(await db.signInCode.count({ where: { email: me.email } })).toBe(0);
    expect(await db.organizationInvitation.count({ where: { email: me.email } })).toBe(0);
    expect(
      await db.outboundMessage.findMany({ where: { userId: inviter.id }, select: { kind: true } }),
    ).toEqual([{ kind: 'venue.question' }]);
    // Anonymised.
    const user = await db.user.findUniqueOrThrow({ where: { id: me.userId } });
    expect(user).toMatchObject({
      email: null,
      displayName: null,
      language: null,
      timeZone: null,
      profile: {},
    });
    expect(user.purgedAt).toEqual(purgeAt);
    const booking = await db.booking.findUniqueOrThrow({
      where: { id: me.bookingId },
      include: { feedback: true },
    });
    expect(booking).toMatchObject({
      status: 'COMPLETED',
      notes: null,
      specialRequests: null,
      guestId: me.userId,
    });
    expect(booking.feedback).toMatchObject({ score: 4, comment: null });
    // Nor is the comment left in the venue's wiki, where it was kept as a fact.
    expect(await db.venueFact.count({ where: { sourceRef: booking.feedback!.id } })).toBe(0);
    const envelope = await db.a2aEnvelope.findFirstOrThrow({
      where: { bookingId: me.bookingId, intent: 'booking.request' },
    });
    expect(envelope).toMatchObject({ payload: { guestName: 'Guest', partySize: 2 }, envelope: null });
    const envelopes = await db.a2aEnvelope.findMany({ where: { bookingId: me.bookingId } });
    expect(JSON.stringify(envelopes.map((e) => e.payload))).not.toMatch(/Ines/);
    expect(envelopes.find((e) => e.intent === 'booking.modify')?.payload).toEqual({
      bookingId: me.bookingId,
      change: { partySize: 3 },
    });
    // Nor the copies refused on arrival, which no booking links.
    const refused = await db.a2aEnvelope.findMany({
      where: {
        state: 'REJECTED',
        OR: [{ fromAgent: `consumer-${me.userId}` }, { toAgent: `consumer-${me.userId}` }],
      },
      orderBy: { intent: 'asc' },
    });
    expect(refused.map((e) => [e.intent, e.payload, e.envelope])).toEqual([
      ['booking.declined', { bookingId: me.bookingId }, null],
      ['booking.request', { guestName: 'Guest', partySize: 2 }, null],
    ]);
    // Nor their question: in the envelopes, in the inbox, or as the key of staff's answer.
    const question = await db.a2aEnvelope.findFirstOrThrow({ where: { envelopeId: questionId } });
    expect(question).toMatchObject({ payload: { questionId }, envelope: null });
    expect(await db.venueInboxItem.findUniqueOrThrow({ where: { id: item.id } })).toMatchObject({
      guestText: null,
      answer: 'Yes, dogs are welcome.',
    });
    expect(await db.venueInboxItem.findUniqueOrThrow({ where: { id: personal.id } })).toMatchObject({
      guestText: null,
      answer: null,
    });
    expect(await db.venueFact.count({ where: { sourceRef: item.id } })).toBe(0);
    // The owner's record alone speaks of pets now: no conflict is left to block its answer.
    expect(await db.venueFactConflict.count({ where: { venueId: me.venueId, key: 'pets' } })).toBe(0);
    expect(await db.sessionSummary.count({ where })).toBe(0);
    // What changed stays in the booking's history; their words go, the venue's stay.
    const history = await db.bookingTransition.findMany({
      where: { bookingId: me.bookingId, fromStatus: 'CONFIRMED', toStatus: 'CONFIRMED' },
      orderBy: { reason: 'asc' },
      select: { actorKind: true, reason: true },
    });
    expect(history).toEqual(
      expect.arrayContaining([
        { actorKind: 'guest', reason: 'changed party size 2 → 3' },
        { actorKind: 'guest', reason: null },
        { actorKind: 'venue', reason: 'table 4 instead' },
      ]),
    );
    expect(JSON.stringify(history)).not.toMatch(/Ana|Porto/);
    const cancelled = await db.bookingTransition.findFirstOrThrow({
      where: { bookingId: me.bookingId, toStatus: 'CANCELLED_BY_GUEST' },
    });
    expect(cancelled.reason).toBeNull();
    // Nobody will come for the booking still to come: cancelled as the guest, the venue told; the
    // question nobody will read an answer to is closed.
    expect(await db.booking.findUniqueOrThrow({ where: { id: toCome.id } })).toMatchObject({
      status: 'CANCELLED_BY_GUEST',
    });
    expect(
      await db.bookingTransition.findFirst({
        where: { bookingId: toCome.id, toStatus: 'CANCELLED_BY_GUEST' },
        select: { actorKind: true, reason: true },
      }),
    ).toEqual({ actorKind: 'guest', reason: "the guest's account was deleted" });
    expect((await db.venueInboxItem.findUniqueOrThrow({ where: { id: unanswered.id } })).status).toBe(
      'CLOSED',
    );
    // Nothing is written for the erased account afterwards: no notice, no failed row.
    expect(
      await queueNotice(db, {
        userId: me.userId,
        kind: 'booking.cancelled_by_venue',
        params: { venue: 'Casa', partySize: 2, startsAt: toCome.startsAt, timeZone: 'Europe/Lisbon' },
        bookingId: toCome.id,
        dedupeKey: `after-purge:${toCome.id}`,
      }),
    ).toEqual({ queued: false, via: null });
    // Their agent, retired, keeps neither the name they gave it nor their contact.
    const retired = await db.agent.findUniqueOrThrow({ where: { id: agent.id } });
    expect(retired).toMatchObject({ status: 'RETIRED', name: 'AGNT' });
    expect(retired.dna).toMatchObject({ persona: { name: 'AGNT' }, escalationContact: null });
    expect(JSON.stringify(retired.dna)).not.toMatch(/Ines|351912345678/);
    // Kept: the money's record.
    expect(await db.llmUsage.count({ where })).toBe(1);

    // A second run: nothing more to do, nothing changes.
    expect(await purgeDeletedUsers(app.services.bookings, new Date(purgeAt.getTime() + DAY))).toBe(0);
    expect((await db.user.findUniqueOrThrow({ where: { id: me.userId } })).purgedAt).toEqual(purgeAt);
    // The address is free: signing in with it starts a new, empty account.
    const again = await app.signIn(me.email);
    expect(again.userId).not.toBe(me.userId);
  });

  it('lets the only person in an organisation with nothing in it go; the purge deletes it unless the money names it', async () => {
    const db = app.services.db;
    const now = app.clock.now();
    const soleOwner = async (name: string) => {
      const person = await app.signIn();
      const organization = await createOrganization(db, {
        name,
        members: [{ userId: person.userId, role: 'OWNER' }],
      });
      return { person, organization };
    };
    const deleting = async (token: string) =>
      (await app.gql(DELETE, { confirm: 'DELETE' }, { token })).data as {
        deleteAccount: { __typename: string; message?: string };
      };

    // What keeps an organisation needing someone to run it, each alone.
    const blockers: [string, (organizationId: string, userId: string) => Promise<unknown>][] = [
      ['a venue', (organizationId) => createVenue(db, { organizationId, status: 'DRAFT' })],
      [
        'another member',
        async (organizationId) => {
          const other = await createPerson(db, {});
          return db.membership.create({ data: { organizationId, userId: other.id, role: 'STAFF' } });
        },
      ],
      [
        'an invitation out',
        (organizationId, userId) =>
          db.organizationInvitation.create({
            data: {
              organizationId,
              email: `${tag()}@example.com`,
              role: 'STAFF',
              invitedById: userId,
              expiresAt: new Date(now.getTime() + DAY),
            },
          }),
      ],
      [
        'a claim waiting',
        async (organizationId, userId) => {
          const venue = await createVenue(db, { status: 'LISTED' });
          return db.venueClaim.create({
            data: { venueId: venue.id, organizationId, requestedById: userId, method: 'MANUAL_REVIEW' },
          });
        },
      ],
      [
        'a subscription billing it',
        (organizationId) =>
          db.billingSubscription.create({
            data: {
              organizationId,
              stripeCustomerId: `cus_${tag()}`,
              stripeSubscriptionId: `sub_${tag()}`,
              status: 'active',
              stateAt: now,
              source: 'test',
            },
          }),
      ],
      [
        'credits',
        (organizationId) =>
          grantCredits(db, {
            transferId: randomUUID(),
            organizationId,
            amount: 500,
            currency: 'EUR',
            reason: 'bought',
          }),
      ],
    ];
    for (const [what, add] of blockers) {
      const { person, organization } = await soleOwner(`Kept by ${what}`);
      await add(organization.id, person.userId);
      const answer = await deleting(person.token);
      expect(answer.deleteAccount, what).toMatchObject({
        __typename: 'SoleOwnerError',
        message: expect.stringContaining(`Kept by ${what}`),
      });
      expect((await db.user.findUniqueOrThrow({ where: { id: person.userId } })).deletedAt, what).toBeNull();
    }

    // Alone in two organisations with nothing in them: the first has an invitation that expired
    // unanswered; the second a subscription cancelled and its model use, on the money's record.
    const { person: me, organization: empty } = await soleOwner('Never opened');
    await db.organizationInvitation.create({
      data: {
        organizationId: empty.id,
        email: `${tag()}@example.com`,
        role: 'STAFF',
        invitedById: me.userId,
        expiresAt: new Date(now.getTime() - DAY),
      },
    });
    const paid = await createOrganization(db, {
      name: 'Tried once',
      members: [{ userId: me.userId, role: 'OWNER' }],
    });
    await db.billingSubscription.create({
      data: {
        organizationId: paid.id,
        stripeCustomerId: `cus_${tag()}`,
        stripeSubscriptionId: `sub_${tag()}`,
        status: 'canceled',
        stateAt: now,
        source: 'test',
      },
    });
    await db.llmUsage.create({
      data: {
        organizationId: paid.id,
        purpose: 'scan',
        provider: 'anthropic',
        model: 'claude',
        inputTokens: 10,
        outputTokens: 5,
        costMicros: 7,
      },
    });
    expect((await deleting(me.token)).deleteAccount.__typename).toBe('DeleteAccountPayload');
    // Until the purge both stay as they were, for a change of mind.
    expect(await db.membership.count({ where: { userId: me.userId } })).toBe(2);

    const deletedAt = (await db.user.findUniqueOrThrow({ where: { id: me.userId } })).deletedAt!;
    expect(
      await purgeDeletedUsers(
        app.services.bookings,
        new Date(deletedAt.getTime() + ACCOUNT_PURGE_AFTER_DAYS * DAY + 1000),
      ),
    ).toBe(1);
    expect(await db.organization.findUnique({ where: { id: empty.id } })).toBeNull();
    expect(await db.organizationInvitation.count({ where: { organizationId: empty.id } })).toBe(0);
    // The one the money's record names stays, with nobody in it.
    expect(await db.organization.findUnique({ where: { id: paid.id } })).not.toBeNull();
    expect(await db.membership.count({ where: { organizationId: paid.id } })).toBe(0);
    expect(await db.llmUsage.count({ where: { organizationId: paid.id } })).toBe(1);
    expect(await db.billingSubscription.count({ where: { organizationId: paid.id } })).toBe(1);
  });

  it('tells an account being deleted only what still moves of its own, until the purge', async () => {
    const db = app.services.db;
    const me = await app.signIn();
    // Both an owner and a guest: a colleague stays owner, so the account may go.
    const colleague = await createPerson(db, {});
    await createOrganization(db, {
      members: [
        { userId: me.userId, role: 'OWNER' },
        { userId: colleague.id, role: 'OWNER' },
      ],
    });
    await db.user.update({ where: { id: me.userId }, data: { email: `${tag(8)}@example.com` } });
    const deleted = await app.gql(DELETE, { confirm: 'DELETE' }, { token: me.token });
    expect((deleted.data as { deleteAccount: { __typename: string } }).deleteAccount.__typename).toBe(
      'DeleteAccountPayload',
    );
    const startsAt = new Date(app.clock.now().getTime() + 3 * DAY);
    const booking = { venue: 'Casa', partySize: 2, startsAt, timeZone: 'Europe/Lisbon' };
    const told = (kind: 'booking.confirmed' | 'booking.reminder_24h' | 'booking.feedback') =>
      queueNotice(db, {
        userId: me.userId,
        kind,
        params: booking as never,
        dedupeKey: `${kind}:${me.userId}`,
      });
    // Their booking's answer still reaches them; a reminder, a request for feedback, and their
    // organisation's news do not, and nothing is kept of them.
    expect(await told('booking.confirmed')).toMatchObject({ queued: true });
    expect(await told('booking.reminder_24h')).toEqual({ queued: false, via: null });
    expect(await told('booking.feedback')).toEqual({ queued: false, via: null });
    expect(
      await queueNotice(db, {
        userId: me.userId,
        kind: 'billing.recovered',
        params: { organization: 'Casa', plan: 'Growth' },
        dedupeKey: `billing:${me.userId}`,
      }),
    ).toEqual({ queued: false, via: null });
    expect(await db.outboundMessage.count({ where: { userId: me.userId } })).toBe(1);
    await restoreAccount(db, me.userId);
  });

  it('is undone by signing in again before the purge', async () => {
    const db = app.services.db;
    const me = await app.signIn();
    await db.memory.create({ data: { userId: me.userId, content: 'likes fado' } });
    await app.gql(DELETE, { confirm: 'DELETE' }, { token: me.token });
    expect((await db.user.findUniqueOrThrow({ where: { id: me.userId } })).deletedAt).not.toBeNull();

    const back = await app.signIn(me.email);
    expect(back.userId).toBe(me.userId);
    expect((await db.user.findUniqueOrThrow({ where: { id: me.userId } })).deletedAt).toBeNull();
    expect((await app.gql(VIEWER, {}, { token: back.token })).data).toMatchObject({
      viewer: { email: me.email },
    });
    expect(
      await purgeDeletedUsers(app.services.bookings, new Date(app.clock.now().getTime() + 60 * DAY)),
    ).toBe(0);
    expect(await db.memory.count({ where: { userId: me.userId } })).toBe(1);
  });
});
