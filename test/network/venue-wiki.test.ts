/**
 * The venue's wiki and FAQ on the real path: guests' agents ask by envelope through the embedded
 * gateway, staff answer over GraphQL, the `venue-wiki` and `venue-faq` compilers run as their
 * tasks do, staff resolve conflicts and approve entries over GraphQL, and the venue's agent then
 * answers what it learnt without staff.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeDeletedUsers } from '../../src/domain/erasure/purge.ts';
import { compileVenueFaq, forgetGuestInFaq, venueFaqTask } from '../../src/domain/network/venue-faq.ts';
import {
  compileVenueWiki,
  forgetFacts,
  recordVenueFacts,
  venueWikiTask,
} from '../../src/domain/network/venue-wiki.ts';
import type { Tx } from '../../src/platform/db.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { crontab } from '../../src/worker/crontab.ts';
import { parseSchedules } from '../../src/worker/crontab-check.ts';
import { handlers } from '../../src/worker/task-list.ts';
import { createBooking } from '../factories/bookings.ts';
import { graphql } from '../generated/gql.ts';
import { member } from '../helpers/app.ts';
import { type Actors, createActors } from '../helpers/authz.ts';
import { waitingForLock } from '../helpers/db.ts';
import { completed, runDueJobs } from '../helpers/jobs.ts';
import { lisbon, type VenueAgentWorld, venueAgentWorld } from './venue-agent-world.ts';

const FACTS = {
  addressLine1: 'Rua das Flores 12',
  postalCode: '1200-195',
  city: 'Lisboa',
  phone: '+351 21 000 0000',
  website: 'https://casa-azul.example',
  priceLevel: 2,
  cuisines: ['Portuguese'],
};

const Answer = graphql(`
  mutation WikiAnswerQuestion($itemId: ID!, $answer: String!, $forEveryGuest: Boolean) {
    answerVenueQuestion(input: { itemId: $itemId, answer: $answer, forEveryGuest: $forEveryGuest }) {
      __typename
      ... on VenueInboxItemPayload { item { status answerForEveryGuest } }
      ... on Error { message }
    }
  }
`);

const Wiki = graphql(`
  query WikiOfVenue($id: ID!) {
    node(id: $id) {
      ... on Venue {
        facts { id key text source observedAt }
        factConflicts { id key status facts { id source text } chosenFact { id } }
      }
    }
  }
`);

const Resolve = graphql(`
  mutation WikiResolveConflict($conflictId: ID!, $factId: ID!) {
    resolveVenueFactConflict(input: { conflictId: $conflictId, factId: $factId }) {
      __typename
      ... on VenueFactConflictPayload { conflict { key status chosenFact { source text } } }
      ... on Error { message }
      ... on ValidationError { field }
    }
  }
`);

const Faq = graphql(`
  query WikiFaqOfVenue($id: ID!) {
    node(id: $id) {
      ... on Venue { faq { question answer askedCount } }
    }
  }
`);

const Drafts = graphql(`
  query WikiFaqDrafts($id: ID!) {
    node(id: $id) {
      ... on Venue { faqDrafts { id question answer status askedCount } }
    }
  }
`);

const Approve = graphql(`
  mutation WikiApproveFaq($entryId: ID!, $question: String, $answer: String) {
    approveFaqEntry(input: { entryId: $entryId, question: $question, answer: $answer }) {
      __typename
      ... on VenueFaqEntryPayload { entry { status question answer } }
      ... on Error { message }
    }
  }
`);

const Reject = graphql(`
  mutation WikiRejectFaq($entryId: ID!) {
    rejectFaqEntry(input: { entryId: $entryId }) {
      __typename
      ... on VenueFaqEntryPayload { entry { status } }
      ... on Error { message }
    }
  }
`);

let world: VenueAgentWorld;
let fx: Actors;

beforeAll(async () => {
  world = await venueAgentWorld();
  fx = await createActors(world.app);
}, 60_000);

afterAll(async () => {
  await world?.close();
});

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

type Place = Awaited<ReturnType<VenueAgentWorld['venue']>>;
type Guest = Awaited<ReturnType<VenueAgentWorld['guest']>>;

/** A guest (a new one unless given) asks the venue's agent; what it did, its answers, and the venue's open questions. */
async function ask(venue: Place, text: string, asker?: Guest) {
  const guest = asker ?? (await world.guest());
  const { outbound, inboundRowId } = await world.deliver(guest.id, venue.id, 'venue.question', { text });
  const outcome = await world.handle(inboundRowId);
  const answers = await world.answers(outbound.envelopeId!);
  const item = await world.db.venueInboxItem.findFirst({ where: { envelopeId: outbound.envelopeId! } });
  return { outcome, answers: answers.map((a) => (a.payload as { text: string }).text), item };
}

/**
 * A guest asks, the agent puts it before staff, and a staff member answers over GraphQL: for every
 * guest who asks the same, unless `forEveryGuest` is false.
 */
async function askStaff(venue: Place, text: string, answer: string, asker?: Guest, forEveryGuest = true) {
  const asked = await ask(venue, text, asker);
  expect(asked.outcome.note).toBe('put before staff');
  const res = await world.app.gql(
    Answer,
    { itemId: gid('VenueInboxItem', asked.item!.id), answer, forEveryGuest },
    { token: fx.staff.token },
  );
  expect(member(res.data?.answerVenueQuestion, 'VenueInboxItemPayload', res).item).toEqual({
    status: 'ANSWERED',
    answerForEveryGuest: forEveryGuest,
  });
  return world.db.venueInboxItem.findUniqueOrThrow({ where: { id: asked.item!.id } });
}

/** Everything the wiki and FAQ hold for a venue, to compare before and after a run. */
async function snapshot(venueId: string) {
  return {
    facts: await world.db.venueFact.findMany({ where: { venueId }, orderBy: { id: 'asc' } }),
    conflicts: await world.db.venueFactConflict.findMany({ where: { venueId }, orderBy: { id: 'asc' } }),
    faq: await world.db.venueFaqEntry.findMany({ where: { venueId }, orderBy: { id: 'asc' } }),
  };
}

async function wikiOf(venueId: string, token = fx.staff.token) {
  const res = await world.app.gql(Wiki, { id: gid('Venue', venueId) }, { token });
  const node = res.data?.node;
  if (!node || !('facts' in node)) throw new Error(`no wiki: ${JSON.stringify(res.body)}`);
  return node;
}

/** A venue of the organisation whose phone the scan and its owner give differently: the open conflict, and the scan's fact. */
async function phoneConflict() {
  const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
  const venueId = venue.venue.id;
  await recordVenueFacts(world.db, venueId, [{ key: 'phone', text: '+351 21 999 9999' }], 'SCAN');
  await recordVenueFacts(world.db, venueId, [{ key: 'phone', text: '+351 21 000 0000' }], 'OWNER_EDIT');
  const conflict = await world.db.venueFactConflict.findFirstOrThrow({ where: { venueId } });
  const fact = await world.db.venueFact.findFirstOrThrow({ where: { venueId, source: 'SCAN' } });
  return { venueId, conflict, fact };
}

describe("the venue's wiki", () => {
  it('compiles facts from its record, a scan, staff answers and guest feedback, each with its source and time; staff resolve a conflict and the agent answers from it; a second run changes nothing', async () => {
    const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
    const venueId = venue.venue.id;

    // Staff answer a question the facts do not answer; a guest's feedback says otherwise.
    const answered = await askStaff(venue, 'Can I bring my dog?', 'Dogs are welcome on the terrace.');
    const booking = await createBooking(world.db, {
      venueId,
      guestId: (await world.guest()).person.id,
      startsAt: lisbon(-3, '20:00'),
      partySize: 2,
      status: 'COMPLETED',
    });
    const feedback = await world.db.bookingFeedback.create({
      data: {
        bookingId: booking.id,
        guestId: booking.guestId,
        venueId,
        score: 3,
        comment: 'Lovely dinner, but they would not let our dog in.',
      },
    });
    // The website scan says another phone number, and that there is wifi.
    await recordVenueFacts(
      world.db,
      venueId,
      [
        { key: 'phone', text: '+351 21 999 9999', sourceRef: 'https://casa-azul.example/contact' },
        { key: 'wifi', text: 'Free wifi for guests.' },
      ],
      'SCAN',
    );

    const first = await compileVenueWiki(world.db, world.services.now());
    expect(first.venues).toBeGreaterThanOrEqual(1);

    const wiki = await wikiOf(venueId);
    const facts = wiki.facts!.map((f) => [f.key, f.source, f.text]);
    expect(facts).toEqual(
      expect.arrayContaining([
        ['hours', 'OWNER_EDIT', 'every day 18:00–23:00'],
        ['address', 'OWNER_EDIT', 'Rua das Flores 12, 1200-195 Lisboa'],
        ['phone', 'OWNER_EDIT', '+351 21 000 0000'],
        ['phone', 'SCAN', '+351 21 999 9999'],
        ['wifi', 'SCAN', 'Free wifi for guests.'],
        ['pets', 'STAFF_ANSWER', 'Dogs are welcome on the terrace.'],
        ['pets', 'GUEST_FEEDBACK', 'Lovely dinner, but they would not let our dog in.'],
        ['price', 'OWNER_EDIT', '$$'],
        ['cuisine', 'OWNER_EDIT', 'Portuguese'],
        ['website', 'OWNER_EDIT', 'https://casa-azul.example'],
      ]),
    );
    const at = (key: string, source: string) =>
      wiki.facts!.find((f) => f.key === key && f.source === source)!.observedAt;
    expect(at('pets', 'STAFF_ANSWER')).toBe(answered.resolvedAt!.toISOString());
    expect(at('pets', 'GUEST_FEEDBACK')).toBe(feedback.updatedAt.toISOString());

    // Two keys where sources disagree, both before staff.
    const conflicts = Object.fromEntries(wiki.factConflicts!.map((c) => [c.key, c]));
    expect(Object.keys(conflicts).sort()).toEqual(['pets', 'phone']);
    expect(conflicts.pets!.status).toBe('OPEN');
    expect(conflicts.pets!.facts.map((f) => f.source).sort()).toEqual(['GUEST_FEEDBACK', 'STAFF_ANSWER']);

    // What one source alone says is answered; a disputed key waits for staff.
    const wifi = await ask(venue, 'Do you have wifi?');
    expect(wifi.outcome.note).toBe("answered from the venue's wiki (wifi)");
    expect(wifi.answers).toEqual(['Free wifi for guests.']);
    expect(wifi.item).toBeNull();
    const disputed = await ask(venue, 'Are dogs allowed?');
    expect(disputed.outcome.note).toBe('put before staff');
    expect(disputed.answers).toEqual([]);

    // Someone of another organisation cannot choose; the venue's staff can.
    const staffAnswer = conflicts.pets!.facts.find((f) => f.source === 'STAFF_ANSWER')!;
    const refused = await world.app.gql(
      Resolve,
      { conflictId: conflicts.pets!.id, factId: staffAnswer.id },
      { token: fx.otherOwner.token },
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const wrongFact = await world.app.gql(
      Resolve,
      { conflictId: conflicts.pets!.id, factId: conflicts.phone!.facts[0]!.id },
      { token: fx.staff.token },
    );
    expect(member(wrongFact.data?.resolveVenueFactConflict, 'ValidationError', wrongFact)).toMatchObject({
      field: 'factId',
    });
    const resolved = await world.app.gql(
      Resolve,
      { conflictId: conflicts.pets!.id, factId: staffAnswer.id },
      { token: fx.staff.token },
    );
    expect(
      member(resolved.data?.resolveVenueFactConflict, 'VenueFactConflictPayload', resolved).conflict,
    ).toEqual({
      key: 'pets',
      status: 'RESOLVED',
      chosenFact: { source: 'STAFF_ANSWER', text: 'Dogs are welcome on the terrace.' },
    });

    // The agent now answers without staff, and opens nothing.
    const items = await world.db.venueInboxItem.count({ where: { venueId } });
    const dog = await ask(venue, 'Can my dog come along?');
    expect(dog.outcome.note).toBe("answered from the venue's wiki (pets)");
    expect(dog.answers).toEqual(['Dogs are welcome on the terrace.']);
    expect(await world.db.venueInboxItem.count({ where: { venueId } })).toBe(items);

    // Compiling again changes nothing.
    const before = await snapshot(venueId);
    const second = await compileVenueWiki(world.db, world.services.now());
    expect(second.written).toBe(0);
    expect(second.conflictsOpened).toBe(0);
    expect(await snapshot(venueId)).toEqual(before);

    // A source saying something new about a resolved key puts it before staff again.
    await world.db.bookingFeedback.update({
      where: { id: feedback.id },
      data: { comment: 'No dogs allowed inside, we were told.' },
    });
    const third = await compileVenueWiki(world.db, world.services.now());
    expect(third.conflictsOpened).toBeGreaterThanOrEqual(1);
    const reopened = await world.db.venueFactConflict.findUniqueOrThrow({
      where: { venueId_key: { venueId, key: 'pets' } },
    });
    expect(reopened).toMatchObject({ status: 'OPEN', chosenFactId: null });
  });

  it('keeps an answer staff gave one guest to that guest: only one they say holds for all is learnt', async () => {
    const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
    const venueId = venue.venue.id;
    await askStaff(
      venue,
      'Can I bring my own birthday cake for Ana?',
      "Yes, we'll keep Ana's cake cold for your 8pm table on the 12th.",
      undefined,
      false,
    );
    await compileVenueWiki(world.db, world.services.now());
    expect(await world.db.venueFact.count({ where: { venueId, source: 'STAFF_ANSWER' } })).toBe(0);
    // Another guest asking the same is put before staff, never told the first guest's answer.
    const other = await ask(venue, 'Can I bring my own birthday cake?');
    expect(other.outcome.note).toBe('put before staff');
    expect(other.answers).toEqual([]);
    // Answered for every guest, it is learnt and given to the next.
    await askStaff(venue, 'Do you allow cakes from outside?', 'Yes, with a small cake-cutting fee.');
    await compileVenueWiki(world.db, world.services.now());
    expect(await world.db.venueFact.count({ where: { venueId, source: 'STAFF_ANSWER' } })).toBe(1);
    expect((await ask(venue, 'Do you allow cakes from outside?')).answers).toEqual([
      'Yes, with a small cake-cutting fee.',
    ]);
  });

  it('follows the owner: a field cleared from the record leaves the wiki, and its conflict with it', async () => {
    const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
    const venueId = venue.venue.id;
    await recordVenueFacts(world.db, venueId, [{ key: 'phone', text: '+351 21 999 9999' }], 'SCAN');
    await compileVenueWiki(world.db, world.services.now());
    expect(await world.db.venueFactConflict.count({ where: { venueId } })).toBe(1);

    await world.db.venue.update({ where: { id: venueId }, data: { phone: null } });
    await compileVenueWiki(world.db, world.services.now());
    const phone = await world.db.venueFact.findMany({ where: { venueId, key: 'phone' } });
    expect(phone.map((f) => f.source)).toEqual(['SCAN']);
    expect(await world.db.venueFactConflict.count({ where: { venueId } })).toBe(0);
  });

  it('refuses facts it cannot keep, naming the field, and records nothing', async () => {
    const venue = await world.venue({}, FACTS);
    await expect(
      recordVenueFacts(
        world.db,
        venue.venue.id,
        [
          { key: 'wifi', text: 'Free wifi' },
          { key: 'parking', text: '   ' },
        ],
        'SCAN',
      ),
    ).rejects.toMatchObject({ name: 'ValidationError', field: 'facts.1.text' });
    expect(await world.db.venueFact.count({ where: { venueId: venue.venue.id } })).toBe(0);
  });
});

describe("the venue's FAQ", () => {
  it('compiles frequent questions into drafts; staff approve one (editing the answer) and reject another; the agent answers the approved one without staff; everyone reads only approved entries; a second run changes nothing', async () => {
    const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
    const venueId = venue.venue.id;

    await askStaff(venue, 'Do you have a high chair?', 'Yes, we have one.');
    await askStaff(venue, 'Do you have high chairs?', 'Yes, two of them.');
    await askStaff(venue, 'Is there parking nearby?', 'There is a garage on the next street.');
    await askStaff(venue, 'Do you have parking?', 'Try the garage on the next street.');
    await askStaff(venue, 'Do you serve brunch?', 'Only on Sundays.');

    const first = await compileVenueFaq(world.db, world.services.now());
    expect(first.written).toBeGreaterThanOrEqual(2);

    const drafts = await world.app.gql(Drafts, { id: gid('Venue', venueId) }, { token: fx.staff.token });
    const list = drafts.data?.node && 'faqDrafts' in drafts.data.node ? drafts.data.node.faqDrafts! : [];
    // Asked once, brunch is not frequent.
    const byQuestion = list
      .map((d) => [d.question, d.answer, d.status, d.askedCount])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(byQuestion).toEqual([
      ['Do you have high chairs?', 'Yes, two of them.', 'DRAFT', 2],
      ['Do you have parking?', 'Try the garage on the next street.', 'DRAFT', 2],
    ]);

    // Before any approval, nobody reads an entry and the agent still asks staff.
    const anonymous = await world.app.gql(Faq, { id: gid('Venue', venueId) });
    expect(anonymous.data?.node).toEqual({ faq: [] });
    expect((await ask(venue, 'Have you got a high chair for the baby?')).outcome.note).toBe(
      'put before staff',
    );

    const chairs = list.find((d) => d.question === 'Do you have high chairs?')!;
    const parking = list.find((d) => d.question === 'Do you have parking?')!;
    const approved = await world.app.gql(
      Approve,
      {
        entryId: chairs.id,
        question: 'Do you have high chairs for children?',
        answer: 'Yes: two high chairs. Ask for one when you book.',
      },
      { token: fx.staff.token },
    );
    expect(member(approved.data?.approveFaqEntry, 'VenueFaqEntryPayload', approved).entry).toEqual({
      status: 'APPROVED',
      question: 'Do you have high chairs for children?',
      answer: 'Yes: two high chairs. Ask for one when you book.',
    });
    const rejected = await world.app.gql(Reject, { entryId: parking.id }, { token: fx.staff.token });
    expect(member(rejected.data?.rejectFaqEntry, 'VenueFaqEntryPayload', rejected).entry.status).toBe(
      'REJECTED',
    );

    // Anyone who can see the venue reads the approved entry, and only that one.
    const read = await world.app.gql(Faq, { id: gid('Venue', venueId) });
    expect(read.data?.node).toEqual({
      faq: [
        {
          question: 'Do you have high chairs for children?',
          answer: 'Yes: two high chairs. Ask for one when you book.',
          askedCount: 2,
        },
      ],
    });

    // The agent answers the approved question without staff; the rejected one still goes to staff.
    const items = await world.db.venueInboxItem.count({ where: { venueId } });
    const chair = await ask(venue, 'Any high chairs?');
    expect(chair.outcome.note).toBe("answered from the venue's FAQ (children)");
    expect(chair.answers).toEqual(['Yes: two high chairs. Ask for one when you book.']);
    expect(await world.db.venueInboxItem.count({ where: { venueId } })).toBe(items);
    expect((await ask(venue, 'Is there parking?')).outcome.note).toBe('put before staff');

    // Compiling again changes nothing: the approved answer and the rejection stand.
    const before = await snapshot(venueId);
    const second = await compileVenueFaq(world.db, world.services.now());
    expect(second.written).toBe(0);
    expect(await snapshot(venueId)).toEqual(before);
  });
});

describe("the venue's FAQ and answers given to one guest", () => {
  it('drafts no entry from answers staff wrote for one guest only, however often the question comes', async () => {
    const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
    const venueId = venue.venue.id;
    await askStaff(
      venue,
      'Can you keep a cake cold for us?',
      'Yes Maria, we will keep it cold for your 8pm table.',
      undefined,
      false,
    );
    await askStaff(
      venue,
      'Could you keep our cake cold?',
      'Of course Joao, bring it before 7.',
      undefined,
      false,
    );
    await compileVenueFaq(world.db, world.services.now());
    expect(await world.db.venueFaqEntry.count({ where: { venueId } })).toBe(0);
  });
});

describe("the venue's FAQ and an erased account", () => {
  it("shows another guest's words for a question the erased guest asked last, and drops an entry only they asked", async () => {
    const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
    const venueId = venue.venue.id;
    const [first, last] = [await world.guest(), await world.guest()];
    await askStaff(venue, 'Do you have a high chair?', 'Yes, we have one.', first);
    await askStaff(venue, 'Do you have high chairs?', 'Yes, two of them.', last);
    // Their own question, asked twice (its words are its key).
    await askStaff(venue, 'Will Bolacha be allowed at the bar?', 'Dogs are welcome on the terrace.', last);
    await askStaff(venue, 'Will Bolacha be allowed at the bar?', 'On the terrace only.', last);
    await compileVenueFaq(world.db, world.services.now());
    const entries = await world.db.venueFaqEntry.findMany({
      where: { venueId },
      orderBy: { question: 'asc' },
    });
    expect(entries.map((e) => e.question)).toEqual([
      'Do you have high chairs?',
      'Will Bolacha be allowed at the bar?',
    ]);
    // Staff publish the high chairs as the guest wrote it (their form sends the question back).
    const chairs = entries.find((e) => e.question.includes('chairs'))!;
    const approved = await world.app.gql(
      Approve,
      { entryId: gid('VenueFaqEntry', chairs.id), question: chairs.question },
      { token: fx.staff.token },
    );
    expect(member(approved.data?.approveFaqEntry, 'VenueFaqEntryPayload', approved).entry.status).toBe(
      'APPROVED',
    );

    // The last guest's account is erased.
    await world.db.user.update({
      where: { id: last.person.id },
      data: { deletedAt: new Date(world.services.now().getTime() - 31 * 86_400_000) },
    });
    expect(await purgeDeletedUsers(world.services.bookings, world.services.now())).toBe(1);

    // The published entry keeps its answer and shows the other guest's words; the one only they
    // asked is gone, and compiling again does not bring it back from their emptied asks.
    await compileVenueFaq(world.db, world.services.now());
    const after = await world.db.venueFaqEntry.findMany({ where: { venueId } });
    expect(after.map((e) => [e.question, e.answer, e.status])).toEqual([
      ['Do you have a high chair?', 'Yes, two of them.', 'APPROVED'],
    ]);
    const read = await world.app.gql(Faq, { id: gid('Venue', venueId) });
    expect(read.data?.node).toEqual({
      faq: [{ question: 'Do you have a high chair?', answer: 'Yes, two of them.', askedCount: 2 }],
    });
  });
});

/**
 * Runs `erase` in a transaction held open once its writes are made; then `compile`, which reads
 * what was committed before them; once the compile waits for the erasure's locks (FOR SHARE), the
 * erasure commits. Starting the compile only after the writes means that on a busy machine it
 * cannot come to its locks before the erasure holds them.
 */
async function compiledWhileErasing(erase: (tx: Tx) => Promise<void>, compile: () => Promise<unknown>) {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let wrote = () => {};
  const written = new Promise<void>((resolve) => {
    wrote = resolve;
  });
  const erasing = world.db.$transaction(
    async (tx) => {
      await erase(tx);
      wrote();
      await held;
    },
    { timeout: 20_000 },
  );
  await written;
  const compiling = compile();
  await waitingForLock(world.db, 'FOR SHARE');
  release();
  await erasing;
  await compiling;
}

describe("the venue's wiki compiled while an account is erased", () => {
  it("does not keep the erased guest's comment as a fact", async () => {
    const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
    const venueId = venue.venue.id;
    const guest = await world.guest();
    const booking = await createBooking(world.db, {
      venueId,
      guestId: guest.person.id,
      startsAt: lisbon(-3, '20:00'),
      partySize: 2,
      status: 'COMPLETED',
    });
    const feedback = await world.db.bookingFeedback.create({
      data: {
        bookingId: booking.id,
        guestId: guest.person.id,
        venueId,
        score: 4,
        comment: 'Ines and her dog Bolinha loved the terrace.',
      },
    });

    // The erasure has emptied the comment and deleted the facts made of it, not yet committed,
    // when the compile (which reads what was committed before) comes to write it as a fact.
    await compiledWhileErasing(
      async (tx) => {
        await tx.$executeRaw`UPDATE booking_feedback SET comment = NULL WHERE guest_id = ${guest.person.id}::uuid`;
        await forgetFacts(tx, { source: 'GUEST_FEEDBACK', sourceRef: feedback.id });
      },
      () => compileVenueWiki(world.db, world.services.now()),
    );
    expect(await world.db.venueFact.count({ where: { sourceRef: feedback.id } })).toBe(0);
  });
});

describe("the venue's FAQ compiled while an account is erased", () => {
  it("does not write the erased guest's words into an entry", async () => {
    const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
    const venueId = venue.venue.id;
    const [first, last] = [await world.guest(), await world.guest()];
    await askStaff(venue, 'Do you have a high chair?', 'Yes, we have one.', first);
    await askStaff(venue, 'Do you have high chairs?', 'Yes, two of them.', first);
    const erased = await askStaff(venue, 'Any high chairs for kids?', 'Yes, two of them.', last);

    // The erasure has emptied the last guest's words and tidied the FAQ, not yet committed, when
    // the compile (which read the asks before) comes to write the newest ask's words.
    await compiledWhileErasing(
      async (tx) => {
        await tx.$executeRaw`UPDATE venue_inbox_items SET guest_text = NULL WHERE guest_id = ${last.person.id}::uuid`;
        await forgetGuestInFaq(tx, last.person.id);
      },
      () => compileVenueFaq(world.db, world.services.now()),
    );

    const entries = await world.db.venueFaqEntry.findMany({ where: { venueId } });
    expect(entries.map((e) => e.question)).not.toContain('Any high chairs for kids?');
    expect(entries.map((e) => e.questionItemId)).not.toContain(erased.id);
    // The next compile writes the entry from the asks left.
    await compileVenueFaq(world.db, world.services.now());
    expect((await world.db.venueFaqEntry.findMany({ where: { venueId } })).map((e) => e.question)).toEqual([
      'Do you have high chairs?',
    ]);
  });
});

/**
 * Runs `work` while writing a row of `table` for `venueId` fails in the database (a trigger on
 * this file's own database): a failure from where a real one would come.
 */
async function withVenueFault(
  table: 'venue_facts' | 'venue_faq_entries',
  venueId: string,
  work: () => Promise<void>,
): Promise<void> {
  await world.db.$executeRawUnsafe(`
    CREATE FUNCTION wiki_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'disk on fire'; END $$`);
  await world.db.$executeRawUnsafe(`
    CREATE TRIGGER wiki_test_fault BEFORE INSERT ON ${table} FOR EACH ROW
    WHEN (NEW.venue_id = '${venueId}'::uuid) EXECUTE FUNCTION wiki_test_fault()`);
  try {
    await work();
  } finally {
    await world.db.$executeRawUnsafe(`DROP TRIGGER wiki_test_fault ON ${table}`);
    await world.db.$executeRawUnsafe('DROP FUNCTION wiki_test_fault()');
  }
}

describe("one venue's compile failing", () => {
  /** Two new venues, the one the compilers reach first (by id, neither compiled before) first. */
  async function twoVenues() {
    const venues = [
      await world.venue({}, { ...FACTS, organizationId: fx.organizationId }),
      await world.venue({}, { ...FACTS, organizationId: fx.organizationId }),
    ];
    return venues.sort((a, b) => (a.venue.id < b.venue.id ? -1 : 1)) as [Place, Place];
  }

  it('leaves the wiki of the venues after it compiled; the failed one keeps its watermark and is compiled next run', async () => {
    const [broken, sound] = await twoVenues();
    let run: Awaited<ReturnType<typeof compileVenueWiki>> | undefined;
    await withVenueFault('venue_facts', broken.venue.id, async () => {
      run = await compileVenueWiki(world.db, world.services.now());
    });
    expect(run!.failed).toEqual([
      { venueId: broken.venue.id, error: expect.stringContaining('disk on fire') },
    ]);
    expect(await world.db.venueFact.count({ where: { venueId: sound.venue.id } })).toBeGreaterThan(0);
    // Nothing of the failed venue's half-done compile stays, its watermark included.
    expect(await world.db.venueFact.count({ where: { venueId: broken.venue.id } })).toBe(0);
    expect(await world.db.venueKnowledgeMark.findUnique({ where: { venueId: broken.venue.id } })).toBeNull();

    const next = await compileVenueWiki(world.db, world.services.now());
    expect(next.failed).toEqual([]);
    expect((await snapshot(broken.venue.id)).facts.map((f) => [f.key, f.text])).toEqual(
      expect.arrayContaining([['phone', '+351 21 000 0000']]),
    );
  });

  it('leaves the FAQ of the venues after it compiled; the failed one is compiled next run', async () => {
    const [broken, sound] = await twoVenues();
    for (const venue of [broken, sound]) {
      await askStaff(venue, 'Do you have a high chair?', 'Yes, we have one.');
      await askStaff(venue, 'Do you have high chairs?', 'Yes, two of them.');
    }
    let run: Awaited<ReturnType<typeof compileVenueFaq>> | undefined;
    await withVenueFault('venue_faq_entries', broken.venue.id, async () => {
      run = await compileVenueFaq(world.db, world.services.now());
    });
    expect(run!.failed).toEqual([
      { venueId: broken.venue.id, error: expect.stringContaining('disk on fire') },
    ]);
    expect(await world.db.venueFaqEntry.count({ where: { venueId: sound.venue.id } })).toBe(1);
    expect(await world.db.venueFaqEntry.count({ where: { venueId: broken.venue.id } })).toBe(0);

    const next = await compileVenueFaq(world.db, world.services.now());
    expect(next.failed).toEqual([]);
    expect(await world.db.venueFaqEntry.count({ where: { venueId: broken.venue.id } })).toBe(1);
  });
});

const changedHands = {
  __typename: 'ConflictError',
  message: 'This venue changed hands while the decision was being made: nothing was changed',
};

describe('a takeover committed while staff decide', () => {
  it("refuses the former team's approval of an FAQ entry, changing nothing: the draft waits for the new team", async () => {
    const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
    await askStaff(venue, 'Do you have a high chair?', 'Yes, we have one.');
    await askStaff(venue, 'Do you have high chairs?', 'Yes, two of them.');
    await compileVenueFaq(world.db, world.services.now());
    const draft = await world.db.venueFaqEntry.findFirstOrThrow({ where: { venueId: venue.venue.id } });

    const res = await world.takenOverDuring(venue.venue.id, () =>
      world.app.gql(Approve, { entryId: gid('VenueFaqEntry', draft.id) }, { token: fx.staff.token }),
    );
    expect(res.data?.approveFaqEntry).toEqual(changedHands);
    expect(await world.db.venueFaqEntry.findUniqueOrThrow({ where: { id: draft.id } })).toEqual(draft);
  });

  it("refuses the former team's choice in a conflict of facts, changing nothing: it stays open", async () => {
    const { venueId, conflict, fact } = await phoneConflict();

    const res = await world.takenOverDuring(venueId, () =>
      world.app.gql(
        Resolve,
        { conflictId: gid('VenueFactConflict', conflict.id), factId: gid('VenueFact', fact.id) },
        { token: fx.staff.token },
      ),
    );
    expect(res.data?.resolveVenueFactConflict).toEqual(changedHands);
    expect(await world.db.venueFactConflict.findUniqueOrThrow({ where: { id: conflict.id } })).toEqual(
      conflict,
    );
  });
});

describe('the scheduled tasks', () => {
  it('are scheduled with their handlers listed, and a run by the worker after the compilers changes nothing', async () => {
    for (const task of ['venue-wiki', 'venue-faq']) {
      expect(parseSchedules(crontab, handlers).filter((i) => i.task === task)).toHaveLength(1);
    }
    const venue = await world.venue({}, { ...FACTS, organizationId: fx.organizationId });
    await askStaff(venue, 'Is there a terrace?', 'Yes, with twelve tables.');
    await compileVenueWiki(world.db, world.services.now());
    await compileVenueFaq(world.db, world.services.now());
    const everything = async () => ({
      facts: await world.db.venueFact.findMany({ orderBy: { id: 'asc' } }),
      conflicts: await world.db.venueFactConflict.findMany({ orderBy: { id: 'asc' } }),
      faq: await world.db.venueFaqEntry.findMany({ orderBy: { id: 'asc' } }),
    });
    const before = await everything();
    expect(before.facts.find((f) => f.venueId === venue.venue.id && f.key === 'outdoor')).toMatchObject({
      source: 'STAFF_ANSWER',
      text: 'Yes, with twelve tables.',
    });
    // The topic's general answer answers the general question, not a question about one side of it.
    expect((await ask(venue, 'Do you have a terrace?')).answers).toEqual(['Yes, with twelve tables.']);
    expect((await ask(venue, 'Is the terrace heated?')).outcome.note).toBe('put before staff');

    for (const task of [venueWikiTask, venueFaqTask]) {
      const job = await enqueue(world.db, task, {});
      await runDueJobs(world.app, [task.name]);
      // It ran to success: a completed job leaves the queue.
      await completed(world.db, job.id);
    }
    expect(await everything()).toEqual(before);
  });
});

describe('who may', () => {
  const CALLERS = [
    'OWNER',
    'ADMIN',
    'STAFF',
    'KEY_WRITE',
    'PLATFORM_ADMIN',
    'OTHER_OWNER',
    'KEY_READ',
    'ANONYMOUS',
  ] as const;
  type Caller = (typeof CALLERS)[number];
  const TEAM_WRITES: Record<Caller, string> = {
    OWNER: 'allowed',
    ADMIN: 'allowed',
    STAFF: 'allowed',
    KEY_WRITE: 'allowed',
    PLATFORM_ADMIN: 'allowed',
    OTHER_OWNER: 'FORBIDDEN',
    KEY_READ: 'FORBIDDEN',
    ANONYMOUS: 'UNAUTHENTICATED',
  };

  /** A venue of the organisation with a conflict on `phone` and a FAQ draft. */
  async function fixture() {
    const { venueId, conflict, fact } = await phoneConflict();
    const entry = await world.db.venueFaqEntry.create({
      data: {
        venueId,
        questionKey: 'children',
        question: 'Do you have a high chair?',
        answer: 'Yes',
        askedCount: 2,
        lastAskedAt: new Date(),
      },
    });
    return { venueId, conflict, fact, entry };
  }

  const credential = (caller: Caller) =>
    ({
      OWNER: fx.owner.token,
      ADMIN: fx.admin.token,
      STAFF: fx.staff.token,
      KEY_WRITE: fx.keyWrite.secret,
      PLATFORM_ADMIN: fx.platformAdmin.token,
      OTHER_OWNER: fx.otherOwner.token,
      KEY_READ: fx.keyRead.secret,
      ANONYMOUS: undefined,
    })[caller];

  const rows = [
    {
      name: 'resolveVenueFactConflict',
      call: (f: Awaited<ReturnType<typeof fixture>>, token?: string) =>
        world.app.gql(
          Resolve,
          { conflictId: gid('VenueFactConflict', f.conflict.id), factId: gid('VenueFact', f.fact.id) },
          { token },
        ),
      changed: async (f: Awaited<ReturnType<typeof fixture>>) =>
        (await world.db.venueFactConflict.findUniqueOrThrow({ where: { id: f.conflict.id } })).status ===
        'RESOLVED',
    },
    {
      name: 'approveFaqEntry',
      call: (f: Awaited<ReturnType<typeof fixture>>, token?: string) =>
        world.app.gql(Approve, { entryId: gid('VenueFaqEntry', f.entry.id), answer: 'Two.' }, { token }),
      changed: async (f: Awaited<ReturnType<typeof fixture>>) =>
        (await world.db.venueFaqEntry.findUniqueOrThrow({ where: { id: f.entry.id } })).status === 'APPROVED',
    },
    {
      name: 'rejectFaqEntry',
      call: (f: Awaited<ReturnType<typeof fixture>>, token?: string) =>
        world.app.gql(Reject, { entryId: gid('VenueFaqEntry', f.entry.id) }, { token }),
      changed: async (f: Awaited<ReturnType<typeof fixture>>) =>
        (await world.db.venueFaqEntry.findUniqueOrThrow({ where: { id: f.entry.id } })).status === 'REJECTED',
    },
  ];

  it.each(rows.flatMap((row) => CALLERS.map((caller) => ({ ...row, caller }))))(
    '$name as $caller',
    async ({ call, changed, caller }) => {
      const f = await fixture();
      const res = await call(f, credential(caller));
      const body = JSON.stringify(res.body);
      const expected = TEAM_WRITES[caller];
      if (expected === 'allowed') {
        expect(res.errors, body).toBeUndefined();
        expect(await changed(f), body).toBe(true);
      } else {
        expect(
          res.errors?.map((e) => e.extensions?.code),
          body,
        ).toEqual([expected]);
        expect(await changed(f), body).toBe(false);
      }
    },
  );

  it.each(CALLERS)("reads as %s: the team's wiki and drafts, everyone's FAQ", async (caller) => {
    const f = await fixture();
    await world.db.venueFaqEntry.create({
      data: {
        venueId: f.venueId,
        questionKey: 'wifi',
        question: 'Do you have wifi?',
        answer: 'Yes',
        status: 'APPROVED',
        askedCount: 3,
        lastAskedAt: new Date(),
      },
    });
    const token = credential(caller);
    const team = TEAM_WRITES[caller] === 'allowed' || caller === 'KEY_READ';
    const wiki = await world.app.gql(Wiki, { id: gid('Venue', f.venueId) }, { token });
    const drafts = await world.app.gql(Drafts, { id: gid('Venue', f.venueId) }, { token });
    if (team) {
      expect(wiki.errors, JSON.stringify(wiki.body)).toBeUndefined();
      expect(drafts.data?.node).toMatchObject({ faqDrafts: [{ question: 'Do you have a high chair?' }] });
    } else {
      expect(wiki.errors?.length, JSON.stringify(wiki.body)).toBeGreaterThan(0);
      expect(drafts.errors?.map((e) => e.extensions?.code)).toEqual([TEAM_WRITES[caller]]);
      expect(drafts.data?.node).toBeNull();
    }
    const faq = await world.app.gql(Faq, { id: gid('Venue', f.venueId) }, { token });
    expect(faq.data?.node, JSON.stringify(faq.body)).toEqual({
      faq: [{ question: 'Do you have wifi?', answer: 'Yes', askedCount: 3 }],
    });
  });
});
