/**
 * The taste graph on seeded people: edges and weights from bookings (a completed visit more than a
 * request, a cancellation little, a no-show against), feedback and memories ("loves sushi" is a
 * Japanese edge); the hourly build takes only people with new material, at most its limit, and a
 * second run changes nothing; a person who forgets their memories loses what came from them;
 * search results are re-ordered for a person with a taste and not for anyone else, never past a
 * clearly better text match; suggestions come with the sentence that explains them.
 */
import { describe, expect, it } from 'vitest';
import { buildDueTasteGraphs, buildTasteGraph, memoryTerms } from '../../src/domain/graph/build.ts';
import { describeEdge, tasteEdges, tasteProfile } from '../../src/domain/graph/profile.ts';
import { personalRank, tasteEdgesFrom } from '../../src/domain/graph/rank.ts';
import { suggestVenues } from '../../src/domain/graph/suggest.ts';
import { HALF_LIFE_DAYS } from '../../src/domain/graph/weights.ts';
import { forgetAll, forgetMatching } from '../../src/domain/memory/memories.ts';
import { searchVenuesTool } from '../../src/domain/tools/venues.ts';
import { searchVenues } from '../../src/domain/venues/search.ts';
import type { BookingStatus } from '../../src/generated/prisma/enums.ts';
import { createBooking } from '../factories/bookings.ts';
import { useTestDatabase } from '../factories/database.ts';
import { createPerson, tag } from '../factories/people.ts';
import { toolContext } from '../factories/tools.ts';
import { createVenue } from '../factories/venues.ts';

const db = useTestDatabase();
const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY);

const venue = (name: string, cuisines: string[], city: string, description = '') =>
  createVenue(db(), { name, cuisines, city, status: 'CLAIMED', description });

async function booked(guestId: string, venueId: string, status: BookingStatus, days: number) {
  return createBooking(db(), { guestId, venueId, status, startsAt: daysAgo(days) });
}

async function rated(guestId: string, booking: { id: string; venueId: string }, score: number) {
  await db().bookingFeedback.create({
    data: { bookingId: booking.id, venueId: booking.venueId, guestId, score },
  });
}

async function remembered(userId: string, content: string, importance = 3) {
  await db().memory.create({ data: { userId, content, importance } });
}

/** The person's edges by `KIND:key`, weights as stored (as of their newest evidence). */
async function storedEdges(userId: string) {
  const rows = await db().tasteEdge.findMany({
    where: { userId },
    orderBy: [{ kind: 'asc' }, { key: 'asc' }],
  });
  return new Map(rows.map((row) => [`${row.kind}:${row.key}`, row]));
}

describe('building the graph', () => {
  it('weighs a completed visit over a request, a cancellation little and a no-show against', async () => {
    const person = await createPerson(db());
    const [done, asked, cancelled, missed] = await Promise.all([
      venue(`Done ${tag()}`, [], 'Lisbon'),
      venue(`Asked ${tag()}`, [], 'Lisbon'),
      venue(`Cancelled ${tag()}`, [], 'Lisbon'),
      venue(`Missed ${tag()}`, [], 'Lisbon'),
    ]);
    await booked(person.id, done.id, 'COMPLETED', 3);
    await booked(person.id, asked.id, 'REQUESTED', 3);
    await booked(person.id, cancelled.id, 'CANCELLED_BY_GUEST', 3);
    await booked(person.id, missed.id, 'NO_SHOW', 3);

    await buildTasteGraph(db(), person.id);
    const edges = await storedEdges(person.id);
    // One piece of evidence each: the stored weight is its worth, as of that evidence.
    expect(edges.get(`VENUE:${done.id}`)).toMatchObject({ weight: 3, label: done.name });
    expect(edges.get(`VENUE:${asked.id}`)?.weight).toBe(1);
    expect(edges.get(`VENUE:${cancelled.id}`)?.weight).toBe(0.25);
    expect(edges.get(`VENUE:${missed.id}`)?.weight).toBe(-1);
    expect(edges.get(`VENUE:${done.id}`)?.evidence).toMatchObject({ bookings: 1, completed: 1 });
    expect(edges.get(`VENUE:${missed.id}`)?.evidence).toMatchObject({ bookings: 0, noShows: 1 });
  });

  it('adds feedback to the venue, its cuisines and its area, and reads memories for cuisines and areas', async () => {
    const person = await createPerson(db());
    const sushi = await venue(`Sushi Tei ${tag()}`, ['Japanese'], 'Seminyak');
    await venue(`Taco Loco ${tag()}`, ['Mexican'], 'Canggu');
    const first = await booked(person.id, sushi.id, 'COMPLETED', 20);
    await booked(person.id, sushi.id, 'COMPLETED', 10);
    await rated(person.id, first, 5);
    await remembered(person.id, 'Loves sushi but hates tacos');

    await buildTasteGraph(db(), person.id);
    const edges = await storedEdges(person.id);
    const japanese = edges.get('CUISINE:japanese')!;
    // Two visits (faded to the newest evidence) and a 5 (+3), plus the memory (importance 3: +2).
    expect(japanese.weight).toBeGreaterThan(2 * 3 * 0.5 ** (20 / HALF_LIFE_DAYS) + 3);
    expect(japanese.evidence).toMatchObject({
      bookings: 2,
      completed: 2,
      ratings: [5],
      areas: { Seminyak: 2 },
      memories: [expect.objectContaining({ text: 'Loves sushi but hates tacos', against: false })],
    });
    expect(edges.get('CUISINE:mexican')).toMatchObject({ weight: -2, label: 'Mexican' });
    // The area takes half of each booking and rating.
    expect(edges.get('AREA:seminyak')!.weight).toBeCloseTo(japanese.weight / 2 - 1, 0);
    expect(edges.get('AREA:canggu')).toBeUndefined();

    const [top] = await tasteProfile(db(), person.id, { first: 1 });
    expect(top).toMatchObject({ kind: 'CUISINE', label: 'Japanese' });
    expect(describeEdge(top!)).toBe(
      'You booked Japanese twice, all in Seminyak, rated places there 5 of 5 and told me “Loves sushi but hates tacos”.',
    );
  });

  it('matches memories clause by clause against the venues’ own words', () => {
    const vocabulary = {
      cuisines: new Map([
        ['japanese', 'Japanese'],
        ['italian', 'Italian'],
      ]),
      areas: new Map([['seminyak', 'Seminyak']]),
    };
    expect(memoryTerms('Staying in Seminyak; loves ramen, not pizza', vocabulary)).toEqual([
      { kind: 'AREA', key: 'seminyak', against: false },
      { kind: 'CUISINE', key: 'japanese', against: false },
      { kind: 'CUISINE', key: 'italian', against: true },
    ]);
    expect(memoryTerms('Allergic to peanuts', vocabulary)).toEqual([]);
  });

  it('fades old evidence by half every 180 days', async () => {
    const person = await createPerson(db());
    const old = await venue(`Old ${tag()}`, [], 'Lisbon');
    await booked(person.id, old.id, 'COMPLETED', 360);
    await buildTasteGraph(db(), person.id);
    const [edge] = await tasteEdges(db(), person.id, { kinds: ['VENUE'] });
    expect(edge!.weight).toBeCloseTo(3 * 0.5 ** (360 / HALF_LIFE_DAYS), 2);
  });
});

describe('the hourly build', () => {
  it('takes only people with new material, within its limit, and a second run changes nothing', async () => {
    // Whoever other tests left due is built first, so this test starts from a quiet graph.
    while ((await buildDueTasteGraphs(db())).remaining > 0);
    const [ana, ben] = [await createPerson(db()), await createPerson(db())];
    const place = await venue(`Tasca ${tag()}`, ['Portuguese'], 'Lisbon');
    await booked(ana.id, place.id, 'COMPLETED', 5);
    await booked(ben.id, place.id, 'CONFIRMED', 1);

    expect(await buildDueTasteGraphs(db(), { limit: 1 })).toMatchObject({ people: 1, remaining: 1 });
    const first = await buildDueTasteGraphs(db());
    expect(first).toMatchObject({ people: 1, remaining: 0 });
    const before = [await storedEdges(ana.id), await storedEdges(ben.id)];
    expect(before[0]!.size).toBe(3);

    expect(await buildDueTasteGraphs(db())).toEqual({ people: 0, changed: 0, remaining: 0, failed: [] });
    // Built again on purpose, the same material writes nothing: not even updated_at moves.
    expect(await buildTasteGraph(db(), ana.id)).toBe(0);
    expect([await storedEdges(ana.id), await storedEdges(ben.id)]).toEqual(before);

    // New material makes the person due again; the recall stamp on a memory does not.
    await remembered(ana.id, 'Likes Portuguese food');
    await db().memory.updateMany({ where: { userId: ben.id }, data: { lastUsedAt: new Date() } });
    const again = await buildDueTasteGraphs(db());
    expect(again).toMatchObject({ people: 1, remaining: 0 });
    expect(again.changed).toBeGreaterThan(0);
    expect((await storedEdges(ana.id)).get('CUISINE:portuguese')!.evidence).toMatchObject({
      memories: [expect.objectContaining({ text: 'Likes Portuguese food' })],
    });
  });

  it('takes from a person who forgot their memories every edge that came from them', async () => {
    const person = await createPerson(db());
    const izakaya = await venue(`Izakaya ${tag()}`, ['Japanese'], 'Seminyak');
    await venue(`Trattoria ${tag()}`, ['Italian'], 'Canggu');
    await booked(person.id, izakaya.id, 'COMPLETED', 4);
    await remembered(person.id, 'Loves sushi and pasta');
    await remembered(person.id, 'Staying in Canggu this month', 4);
    await buildDueTasteGraphs(db());
    const before = await storedEdges(person.id);
    expect([...before.keys()]).toEqual(
      expect.arrayContaining(['CUISINE:italian', 'AREA:canggu', 'CUISINE:japanese', 'AREA:seminyak']),
    );

    expect(await forgetAll(db(), person.id)).toBe(2);
    // Before the graph is built again, nothing it says quotes the forgotten words.
    const explained = JSON.stringify(await tasteEdges(db(), person.id));
    expect(explained).not.toMatch(/sushi|pasta|Canggu this month/);
    await buildDueTasteGraphs(db());
    const after = await storedEdges(person.id);
    expect(after.has('CUISINE:italian')).toBe(false);
    expect(after.has('AREA:canggu')).toBe(false);
    // What the booking says stays, without the memory's share.
    expect(after.get('CUISINE:japanese')).toMatchObject({ weight: 3 });
    expect(after.get('CUISINE:japanese')!.evidence).toMatchObject({ memories: [] });
  });
});

describe('forgetting one memory', () => {
  it('takes its words out of the edges’ explanations at once, and leaves the rest', async () => {
    const person = await createPerson(db());
    await venue(`Trattoria ${tag()}`, ['Italian'], 'Canggu');
    await remembered(person.id, 'Loves pasta');
    await remembered(person.id, 'Loves Italian wine', 4);
    await buildDueTasteGraphs(db());
    const memoriesOf = async () =>
      (await tasteEdges(db(), person.id)).flatMap((edge) => edge.evidence.memories.map((m) => m.text));
    expect(await memoriesOf()).toEqual(expect.arrayContaining(['Loves pasta', 'Loves Italian wine']));
    await forgetMatching(db(), person.id, 'pasta');
    expect(await memoriesOf()).not.toContain('Loves pasta');
    expect(await memoriesOf()).toContain('Loves Italian wine');
  });
});

describe('ranking a search', () => {
  it('moves a person’s kind of venue up, for them only, and never past a clearly better match', async () => {
    const word = `zq${tag()}`;
    // Two venues that match the word alike (in their descriptions), and one that has it in its name.
    const grill = await venue(`Aardvark Grill ${tag()}`, ['Steakhouse'], 'Porto', `The ${word} grill`);
    const sushi = await venue(`Zen Sushi ${tag()}`, ['Japanese'], 'Porto', `The ${word} sushi`);
    const named = await venue(`${word} Steaks`, ['Steakhouse'], 'Porto');
    const fan = await createPerson(db());
    await booked(fan.id, (await venue(`Omakase ${tag()}`, ['Japanese'], 'Tokyo')).id, 'COMPLETED', 2);
    await remembered(fan.id, 'Loves sushi', 5);
    await buildTasteGraph(db(), fan.id);
    const stranger = await createPerson(db());

    const { hits } = await searchVenues(db(), { text: word }, { offset: 0, limit: 10 });
    const order = (list: { id: string }[]) => list.map((hit) => hit.id);
    expect(order(hits)).toEqual([named.id, grill.id, sushi.id]);

    expect(order(await personalRank(tasteEdgesFrom(db()), fan.id, hits, 'RELEVANCE'))).toEqual([
      named.id,
      sushi.id,
      grill.id,
    ]);
    expect(order(await personalRank(tasteEdgesFrom(db()), null, hits, 'RELEVANCE'))).toEqual(order(hits));
    expect(order(await personalRank(tasteEdgesFrom(db()), stranger.id, hits, 'RELEVANCE'))).toEqual(
      order(hits),
    );
  });
  it('orders the agent’s search_venues for the person in their chat, not for an API key', async () => {
    const word = `zq${tag()}`;
    const grill = await venue(`Able Grill ${tag()}`, ['Steakhouse'], 'Faro', `The ${word} grill`);
    const sushi = await venue(`Yume Sushi ${tag()}`, ['Japanese'], 'Faro', `The ${word} sushi`);
    const fan = await createPerson(db());
    await remembered(fan.id, 'Loves sushi', 5);
    await buildTasteGraph(db(), fan.id);
    const tool = searchVenuesTool({ db: db() });
    const ids = (answer: { venues: { venueId: string }[] }) => answer.venues.map((v) => v.venueId);

    expect(ids(await tool.run({ query: word }, toolContext(fan.id), new AbortController().signal))).toEqual([
      sushi.id,
      grill.id,
    ]);
    const key = {
      ...toolContext(fan.id),
      actor: { kind: 'apiKey', apiKeyId: fan.id, organizationId: fan.id, userId: fan.id } as never,
    };
    expect(ids(await tool.run({ query: word }, key, new AbortController().signal))).toEqual([
      grill.id,
      sushi.id,
    ]);
  });
});

describe('suggestions', () => {
  it('are places like the ones liked, not ones already known, each with why', async () => {
    const person = await createPerson(db());
    const city = `Seminyak`;
    const liked = await venue(`Sushi Tei ${tag()}`, ['Japanese'], city);
    const similar = await venue(`Ramen Bar ${tag()}`, ['Japanese'], city);
    const elsewhere = await venue(`Kyoto House ${tag()}`, ['Japanese'], 'Ubud');
    const branch = await venue(`${liked.name} Express`, ['Japanese'], city);
    const fusion = await venue(`Fusion Cantina ${tag()}`, ['Japanese', 'Mexican'], 'Ubud');
    await remembered(person.id, 'Hates tacos', 5);
    const first = await booked(person.id, liked.id, 'COMPLETED', 30);
    await booked(person.id, liked.id, 'COMPLETED', 6);
    await rated(person.id, first, 5);
    await buildTasteGraph(db(), person.id);

    const suggestions = await suggestVenues(db(), person.id, { first: 20 });
    const ids = suggestions.map((s) => s.venue.id);
    expect(ids).not.toContain(liked.id);
    expect(ids).not.toContain(branch.id);
    expect(ids.indexOf(similar.id)).toBeLessThan(ids.indexOf(elsewhere.id));
    // A cuisine held against counts against the venue that serves it.
    expect(ids.indexOf(elsewhere.id)).toBeLessThan(ids.indexOf(fusion.id));
    expect(suggestions.find((s) => s.venue.id === similar.id)!.explanation).toBe(
      `Because you liked ${liked.name} and booked Japanese twice in Seminyak.`,
    );
    expect(suggestions.find((s) => s.venue.id === elsewhere.id)!.explanation).toBe(
      `Because you liked ${liked.name} and booked Japanese twice.`,
    );
    expect(await suggestVenues(db(), (await createPerson(db())).id)).toEqual([]);
  });
});
