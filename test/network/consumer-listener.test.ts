/**
 * The consumer agent's questions and its response listener: `ask_venue` sends a `venue.question`
 * envelope to a venue whose agent is active (by a queued email otherwise), once per call of a chat
 * turn however often the turn runs, and
 * `nextInboxRead` says when each inbox of ours is read again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import { consumerTools } from '../../src/domain/conversation/assembly.ts';
import { runToolCall } from '../../src/domain/conversation/tools.ts';
import { sendEnvelope } from '../../src/domain/envelopes/send.ts';
import { wakeInbox } from '../../src/domain/envelopes/tasks.ts';
import { nextInboxRead, scheduleInboxRead } from '../../src/domain/network/inbox-reads.ts';
import { sendNoticeEmail } from '../../src/domain/notices/email.ts';
import { toolContext } from '../factories/tools.ts';
import { uniqueEmail } from '../helpers/app.ts';
import { type ConsumerWorld, consumerWorld } from './consumer-world.ts';

let world: ConsumerWorld;
beforeAll(async () => {
  world = await consumerWorld();
});
afterAll(() => world?.close());

describe('ask_venue', () => {
  const askVenue = () => consumerTools(world.app.services).find((t) => t.name === 'ask_venue')!;
  const ask = (userId: string, venueId: string, question: string) =>
    askVenue().run({ venue_id: venueId, question }, toolContext(userId), new AbortController().signal);

  it("to a venue whose agent is active: a venue.question from the person's agent, no email", async () => {
    const { db, app } = world;
    const venueEmail = uniqueEmail('venue');
    const { venue } = await world.venue({ agent: true, email: venueEmail });
    const marta = await world.person();
    const context = toolContext(marta.userId);

    const described = await askVenue().describe!({ venue_id: venue.id, question: 'Corkage fee?' }, context);
    expect(described).toContain(`${venue.name}'s agent`);
    expect(described).not.toContain(marta.email);

    const result = (await ask(marta.userId, venue.id, 'Is there a corkage fee?')) as Record<string, unknown>;
    expect(result).toMatchObject({ sent: true, venue: venue.name });
    const question = await db.a2aEnvelope.findFirstOrThrow({
      where: { direction: 'OUTBOUND', intent: 'venue.question', toAgent: `venue-${venue.id}` },
    });
    expect(question).toMatchObject({ state: 'PENDING', fromAgent: `consumer-${marta.userId}` });
    expect(question.payload).toEqual({ text: 'Is there a corkage fee?', questionId: question.envelopeId });
    expect(app.smtp.messages.filter((m) => m.envelopeTo.includes(venueEmail))).toEqual([]);
  });

  it('to a venue without an agent: by email, queued and sent as a notice’s email is', async () => {
    const { db, app } = world;
    const venueEmail = uniqueEmail('venue');
    const { venue } = await world.venue({ email: venueEmail });
    const marta = await world.person();
    await ask(marta.userId, venue.id, 'Do you have a high chair?');
    const queued = await db.outboundMessage.findFirstOrThrow({
      where: { userId: marta.userId, kind: 'venue.question' },
    });
    expect(queued).toMatchObject({ channel: 'EMAIL', emailTo: venueEmail, status: 'PENDING' });
    // Its job sends it.
    const deps = {
      database: app.services.database,
      mailer: app.services.mailer,
      logger: app.services.logger,
      now: () => new Date(),
    };
    expect(await sendNoticeEmail(deps, queued.id, { finalAttempt: false })).toBe('sent');
    const mail = await app.smtp.nextMessageTo(venueEmail);
    expect(mail.text).toContain('Do you have a high chair?');
    expect(mail.text).toContain(marta.email);
    expect(await db.a2aEnvelope.count({ where: { toAgent: `venue-${venue.id}` } })).toBe(0);
  });

  it('asks once per call of a chat turn, when the turn is run again', async () => {
    const { db } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    const tools = new Map([['ask_venue', askVenue()]]);
    const deps = { db, timeoutMs: 10_000, tools };
    const use = {
      type: 'tool_use' as const,
      id: 'ask',
      name: 'ask_venue',
      input: { venue_id: venue.id, question: 'Is the terrace heated?' },
    };
    // One run of a turn (the message it answers): its calls are keyed in the order they are made.
    const run = (eventId: string) => ({ ...toolContext(marta.userId), turn: { eventId, calls: new Map() } });
    const first = randomUUID();
    expect(await runToolCall(deps, use, run(first))).toMatchObject({ outcome: 'OK' });
    // The same turn again (its worker died before the message was marked): nothing new is sent.
    expect(await runToolCall(deps, use, run(first))).toMatchObject({ outcome: 'OK' });
    const sent = () =>
      db.a2aEnvelope.count({ where: { direction: 'OUTBOUND', toAgent: `venue-${venue.id}` } });
    expect(await sent()).toBe(1);
    // Run again, the model asking something else this time: that is asked, not answered by the first.
    const otherQuestion = { ...use, input: { venue_id: venue.id, question: 'Do you have a garden?' } };
    expect(await runToolCall(deps, otherQuestion, run(first))).toMatchObject({ outcome: 'OK' });
    expect(await sent()).toBe(2);
    // Asked twice in another turn: asked twice more.
    const other = run(randomUUID());
    await runToolCall(deps, use, other);
    await runToolCall(deps, use, other);
    expect(await sent()).toBe(4);
  });

  it('keeps the hourly limit for questions to agents too', async () => {
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    for (let i = 0; i < 5; i += 1) await ask(marta.userId, venue.id, `Question number ${i}?`);
    await expect(ask(marta.userId, venue.id, 'One more?')).rejects.toMatchObject({
      code: 'TOO_MANY_QUESTIONS',
    });
    expect(await world.db.a2aEnvelope.count({ where: { toAgent: `venue-${venue.id}` } })).toBe(5);
  });
});

describe('nextInboxRead', () => {
  const settings = { responsePollMs: 2000, inboxPollSeconds: 60 };

  it("reads a consumer agent's inbox every responsePollMs only while an answer is awaited", async () => {
    const { db, app } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    const id = `consumer-${marta.userId}`;
    const now = app.clock.now();
    expect(await nextInboxRead(db, id, now, settings)).toBeNull();

    const created = await world.book(marta.token, venue.id);
    const bookingId = Buffer.from(created.booking!.id, 'base64').toString().split(':')[1]!;
    // PENDING: not sent yet, nothing to listen for.
    expect(await nextInboxRead(db, id, now, settings)).toBeNull();
    const request = await world.sendRequest(bookingId);
    expect(request.state).toBe('SENT');
    expect(await nextInboxRead(db, id, now, settings)).toEqual(new Date(now.getTime() + 2000));
    // Past its expiry nothing more is awaited.
    expect(await nextInboxRead(db, id, new Date(request.expiresAt!.getTime() + 1), settings)).toBeNull();
    // Answered: no more reads.
    await world.answer(request, 'booking.accepted', { bookingId });
    expect(await nextInboxRead(db, id, now, settings)).toBeNull();
  });

  it("reads a consumer agent's inbox again after a read that failed or left messages, awaiting nothing", async () => {
    const { db, app } = world;
    const marta = await world.person();
    const id = `consumer-${marta.userId}`;
    const agent = await ensureConsumerAgent(db, app.services.keyring, marta.userId);
    const now = app.clock.now();
    // A venue's late answer wakes it once; that read failed: it is read again at the poll.
    expect(await nextInboxRead(db, id, now, settings)).toBeNull();
    expect(await nextInboxRead(db, id, now, settings, { unfinished: true })).toEqual(
      new Date(now.getTime() + 60_000),
    );
    // Not once the agent is retired (the account erased): its leftovers are not read for ever.
    await db.agent.update({ where: { id: agent.id }, data: { status: 'RETIRED' } });
    expect(await nextInboxRead(db, id, now, settings, { unfinished: true })).toBeNull();
    // A paused venue agent is still not read, unfinished or not.
    const paused = await world.venue({ agent: true, status: 'PAUSED' });
    expect(
      await nextInboxRead(db, `venue-${paused.venue.id}`, now, settings, { unfinished: true }),
    ).toBeNull();
  });

  it('wakes the recipient again when its envelope is found sent (the run that sent it died first)', async () => {
    const { db } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    const created = await world.book(marta.token, venue.id);
    const request = await world.sendRequest(
      Buffer.from(created.booking!.id, 'base64').toString().split(':')[1]!,
    );
    // The a2a-send job run again: nothing is sent twice, and the venue's inbox and the guest's
    // listener are woken.
    const again = await sendEnvelope(world.deps, request.id);
    expect(again).toMatchObject({
      result: 'skipped',
      localRecipient: `venue-${venue.id}`,
      sender: `consumer-${marta.userId}`,
    });
    expect((await db.a2aEnvelope.findUniqueOrThrow({ where: { id: request.id } })).state).toBe('SENT');
  });

  it("reads a venue agent's inbox every inboxPollSeconds while it is active; others never", async () => {
    const { db, app } = world;
    const now = app.clock.now();
    const active = await world.venue({ agent: true });
    const paused = await world.venue({ agent: true, status: 'PAUSED' });
    const none = await world.venue();
    expect(await nextInboxRead(db, `venue-${active.venue.id}`, now, settings)).toEqual(
      new Date(now.getTime() + 60_000),
    );
    expect(await nextInboxRead(db, `venue-${paused.venue.id}`, now, settings)).toBeNull();
    expect(await nextInboxRead(db, `venue-${none.venue.id}`, now, settings)).toBeNull();
    expect(await nextInboxRead(db, 'platform-agnt', now, settings)).toBeNull();
    expect(await nextInboxRead(db, 'not an agent id', now, settings)).toBeNull();
  });

  it('takes what its caller knows instead of reading it: an answer awaited, the agent as just read', async () => {
    const { db, app } = world;
    const now = app.clock.now();
    const marta = await world.person();
    const active = await world.venue({ agent: true });
    // Nothing of Marta's is awaited in the database; a send that just went out says one is.
    expect(await nextInboxRead(db, `consumer-${marta.userId}`, now, settings)).toBeNull();
    expect(
      await nextInboxRead(db, `consumer-${marta.userId}`, now, settings, { awaitingAnswer: true }),
    ).toEqual(new Date(now.getTime() + 2000));
    // The venue's agent as the caller read it decides, whatever the row says now.
    const venueId = `venue-${active.venue.id}`;
    expect(
      await nextInboxRead(db, venueId, now, settings, { agent: { kind: 'VENUE', status: 'PAUSED' } }),
    ).toBeNull();
    expect(await nextInboxRead(db, venueId, now, settings, { agent: null })).toBeNull();
    const none = await world.venue();
    expect(
      await nextInboxRead(db, `venue-${none.venue.id}`, now, settings, {
        agent: { kind: 'VENUE', status: 'ACTIVE' },
      }),
    ).toEqual(new Date(now.getTime() + 60_000));
  });

  it('schedules the next read under the inbox job, never later than a wake already waiting', async () => {
    const { db, app } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    const id = `consumer-${marta.userId}`;
    const inboxJob = async () => (await world.jobs(`a2a-inbox:${id}`))[0];
    const now = app.clock.now();
    expect(await scheduleInboxRead(db, id, now, settings)).toBeNull();
    expect(await inboxJob()).toBeUndefined();

    const created = await world.book(marta.token, venue.id);
    await world.sendRequest(Buffer.from(created.booking!.id, 'base64').toString().split(':')[1]!);
    const first = await scheduleInboxRead(db, id, now, settings);
    expect(first).toEqual(new Date(now.getTime() + 2000));
    expect(await inboxJob()).toMatchObject({ task: 'a2a-inbox', payload: { agentId: id }, run_at: first });

    // A local venue agent's answer wakes the inbox at once; the listener's next poll does not postpone it.
    await wakeInbox(db, id);
    const woken = (await inboxJob())!.run_at;
    expect(woken.getTime()).toBeLessThan(first!.getTime());
    await scheduleInboxRead(db, id, now, settings);
    expect((await inboxJob())!.run_at).toEqual(woken);
  });
});
