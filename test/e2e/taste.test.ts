/**
 * The taste graph over GraphQL on the real server: a signed-in person's venue search is ordered by
 * their taste (an anonymous search, and a person with no taste, get the plain order), and the
 * person reads their strongest likes and suggestions, each with its sentence. Nobody else reads them.
 */
import { randomBytes } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphBuildTask } from '../../src/domain/graph/build.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { crontab } from '../../src/worker/crontab.ts';
import { parseSchedules } from '../../src/worker/crontab-check.ts';
import { handlers } from '../../src/worker/task-list.ts';
import { createBooking } from '../factories/bookings.ts';
import { createVenue } from '../factories/venues.ts';
import { graphql } from '../generated/gql.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { createActors } from '../helpers/authz.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const Search = graphql(`
  query TasteSearch($text: String) {
    venues(text: $text, first: 10) { edges { node { name } } }
  }
`);

const MyTaste = graphql(`
  query MyTaste {
    viewer {
      tasteProfile(first: 3) { kind label weight explanation }
      suggestedVenues(first: 5) { explanation venue { name } }
    }
  }
`);

const TooMany = graphql(`
  query TooManyLikes($first: Int) {
    viewer { tasteProfile(first: $first) { label } }
  }
`);

const TheirTaste = graphql(`
  query TheirTaste($id: ID!) {
    node(id: $id) { id ... on User { tasteProfile { label } } }
  }
`);

let app: TestApp;
const tag = randomBytes(3).toString('hex');
let fan: { token: string; userId: string };
let stranger: { token: string; userId: string };
let likedId: string;

beforeAll(async () => {
  app = await startTestApp();
  const db = app.services.db;
  [fan, stranger] = [await app.signIn(), await app.signIn()];
  // The tag in each description: the search's word matches the three alike.
  const place = (name: string, cuisines: string[]) =>
    createVenue(db, { name, cuisines, city: 'Seminyak', status: 'CLAIMED', description: `Seminyak ${tag}` });
  await place('Aardvark Grill', ['Steakhouse']);
  await place('Zen Sushi', ['Japanese']);
  const liked = await place('Sushi Tei', ['Japanese']);
  likedId = liked.id;
  for (const days of [20, 6]) {
    await createBooking(db, {
      guestId: fan.userId,
      venueId: liked.id,
      status: 'COMPLETED',
      startsAt: new Date(Date.now() - days * 86_400_000),
    });
  }
  // The hourly task, run as the worker runs it.
  await enqueue(db, graphBuildTask, {});
  await runDueJobs(app, ['graph-build']);
});
afterAll(() => app.close());

const names = (res: { data?: { venues: { edges: { node: { name: string } }[] } } | null }) =>
  res.data?.venues.edges.map((e) => e.node.name);

describe('taste over GraphQL', () => {
  it('is built by the hourly graph-build task', () => {
    expect(parseSchedules(crontab, handlers).filter((s) => s.task === 'graph-build')).toEqual([
      expect.objectContaining({ identifier: 'graph-build' }),
    ]);
  });

  it('orders a signed-in person’s search by their taste, and nobody else’s', async () => {
    // The plain order is alphabetical among equal matches.
    const plain = ['Aardvark Grill', 'Sushi Tei', 'Zen Sushi'];
    expect(names(await app.gql(Search, { text: tag }))).toEqual(plain);
    expect(names(await app.gql(Search, { text: tag }, { token: stranger.token }))).toEqual(plain);
    expect(names(await app.gql(Search, { text: tag }, { token: fan.token }))).toEqual([
      'Sushi Tei',
      'Zen Sushi',
      'Aardvark Grill',
    ]);
  });

  it('shows the person their likes and suggestions, each explained', async () => {
    const res = await app.gql(MyTaste, {}, { token: fan.token });
    expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
    // The venue and its cuisine weigh the same (two visits each), then its area at half.
    expect(res.data!.viewer!.tasteProfile).toMatchObject([
      { kind: 'CUISINE', label: 'Japanese', explanation: 'You booked Japanese twice, all in Seminyak.' },
      { kind: 'VENUE', label: 'Sushi Tei', explanation: 'You went to Sushi Tei twice.' },
      { kind: 'AREA', label: 'Seminyak', explanation: 'You booked in Seminyak twice.' },
    ]);
    expect(res.data!.viewer!.suggestedVenues).toContainEqual({
      venue: { name: 'Zen Sushi' },
      explanation: 'Because you liked Sushi Tei and booked Japanese twice in Seminyak.',
    });
    const none = await app.gql(MyTaste, {}, { token: stranger.token });
    expect(none.data!.viewer).toEqual({ tasteProfile: [], suggestedVenues: [] });
  });

  it('refuses a page size it does not serve, naming the field', async () => {
    const res = await app.gql(TooMany, { first: 500 }, { token: fan.token });
    expect(res.errors).toMatchObject([
      { message: 'A whole number from 1 to 50', extensions: { code: 'BAD_USER_INPUT', field: 'first' } },
    ]);
  });

  it('keeps a person’s taste from colleagues, platform admins and API keys', async () => {
    const actors = await createActors(app);
    const staff = actors.staff;
    await createBooking(app.services.db, {
      guestId: staff.userId,
      venueId: likedId,
      status: 'COMPLETED',
      startsAt: new Date(Date.now() - 86_400_000),
    });
    await enqueue(app.services.db, graphBuildTask, {});
    await runDueJobs(app, ['graph-build']);
    const own = await app.gql(
      TheirTaste,
      { id: encodeGlobalID('User', staff.userId) },
      { token: staff.token },
    );
    expect(own.data?.node).toMatchObject({ tasteProfile: expect.arrayContaining([{ label: 'Sushi Tei' }]) });

    // The owner sees the staff member as a colleague, but not what they like.
    for (const token of [actors.owner.token, actors.platformAdmin.token]) {
      const res = await app.gql(TheirTaste, { id: encodeGlobalID('User', staff.userId) }, { token });
      expect(res.errors?.[0]?.extensions?.code, JSON.stringify(res.body)).toBe('FORBIDDEN');
      expect(JSON.stringify(res.body)).not.toContain('Sushi Tei');
    }
    // A key acts as its creator (the owner), but the creator's taste is not the key's to read.
    const byKey = await app.gql(MyTaste, {}, { token: actors.keyWrite.secret });
    expect(byKey.errors?.[0]?.extensions?.code, JSON.stringify(byKey.body)).toBe('FORBIDDEN');
  });
});
