/**
 * A person's taste kept by the API process for TASTE_CACHE_MS: their next search within it is
 * ranked alike without reading their taste again (one statement fewer), another person's search
 * reads their own, and with the setting at 0 every search reads it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTasteGraph } from '../../src/domain/graph/build.ts';
import { createBooking } from '../factories/bookings.ts';
import { createVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const SEARCH = `query CachedTasteSearch($text: String) {
  venues(text: $text, first: 10) { edges { node { name } } }
}`;

let kept: TestApp;
let off: TestApp;
const tag = randomBytes(3).toString('hex');

beforeAll(async () => {
  [kept, off] = await Promise.all([startTestApp({ env: { TASTE_CACHE_MS: '60000' } }), startTestApp()]);
});
afterAll(async () => {
  await Promise.all([kept?.close(), off?.close()]);
});

/** The names a search answered, and how many of its statements read taste edges. */
async function search(app: TestApp, token: string) {
  const sent: string[] = [];
  const stop = app.services.database.onQuery(({ query }) => void sent.push(query));
  try {
    const res = await app.gql<{ venues: { edges: { node: { name: string } }[] } }, unknown>(
      SEARCH,
      { text: tag },
      { token },
    );
    expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
    return {
      names: res.data!.venues.edges.map((e) => e.node.name),
      tasteReads: sent.filter((q) => q.includes('taste_edges')).length,
      statements: sent.length,
    };
  } finally {
    stop();
  }
}

/** Three venues matching the word alike, and a person who went to Sushi Tei, on `app`'s database. */
async function fanOfSushi(app: TestApp) {
  const db = app.services.db;
  const place = (name: string, cuisines: string[]) =>
    createVenue(db, { name, cuisines, city: 'Ubud', status: 'CLAIMED', description: `Ubud ${tag}` });
  await place('Aardvark Grill', ['Steakhouse']);
  const liked = await place('Sushi Tei', ['Japanese']);
  await place('Zen Sushi', ['Japanese']);
  const fan = await app.signIn();
  await createBooking(db, {
    guestId: fan.userId,
    venueId: liked.id,
    status: 'COMPLETED',
    startsAt: new Date(Date.now() - 3 * 86_400_000),
  });
  await buildTasteGraph(db, fan.userId);
  return fan;
}

const RANKED = ['Sushi Tei', 'Zen Sushi', 'Aardvark Grill'];

it('ranks a person’s next search by the taste it kept, reading it once; another person’s is their own', async () => {
  const fan = await fanOfSushi(kept);
  const first = await search(kept, fan.token);
  expect(first).toMatchObject({ names: RANKED, tasteReads: 1 });
  const again = await search(kept, fan.token);
  // Two statements fewer: the taste, and the page of venues unchanged since (kept by their page
  // version: test/integration/venue-pages.test.ts).
  expect(again).toMatchObject({ names: RANKED, tasteReads: 0, statements: first.statements - 2 });
  // Another person's search reads their own taste (none: the plain order).
  const stranger = await kept.signIn();
  expect(await search(kept, stranger.token)).toMatchObject({
    names: ['Aardvark Grill', 'Sushi Tei', 'Zen Sushi'],
    tasteReads: 1,
  });
});

it('reads the taste for every search when it is kept for no time', async () => {
  const fan = await fanOfSushi(off);
  for (let i = 0; i < 2; i += 1) {
    expect(await search(off, fan.token)).toMatchObject({ names: RANKED, tasteReads: 1 });
  }
});
