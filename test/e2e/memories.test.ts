/**
 * A person's memories and profile over GraphQL on the real server: they list, page and forget
 * their own; nobody else reads or forgets them (not a colleague, not an API key acting for them,
 * not a platform admin); bad input comes back as typed errors and changes nothing.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remember } from '../../src/domain/memory/memories.ts';
import { createBooking } from '../factories/bookings.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { graphql } from '../generated/gql.ts';
import { member, startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, createActors, type Guest, guest, person } from '../helpers/authz.ts';

const MyMemories = graphql(`
  query MyMemories($first: Int, $after: String) {
    viewer {
      memories(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { id kind content importance createdAt lastUsedAt } }
      }
    }
  }
`);

const MyProfile = graphql(`
  query MyProfile {
    viewer {
      profile { homeArea dietary usualPartySize preferredTimes notes language latitude longitude timeZone }
    }
  }
`);

const UserMemories = graphql(`
  query UserMemories($id: ID!) {
    node(id: $id) { id ... on User { memories(first: 10) { totalCount edges { node { content } } } } }
  }
`);

const UserProfile = graphql(`
  query UserProfile($id: ID!) {
    node(id: $id) { id ... on User { profile { homeArea } } }
  }
`);

const MemoryNode = graphql(`
  query MemoryNode($id: ID!) {
    node(id: $id) { id ... on Memory { content } }
  }
`);

const ForgetMemory = graphql(`
  mutation ForgetMemory($memoryId: ID!) {
    forgetMemory(input: { memoryId: $memoryId }) {
      __typename
      ... on ForgetMemoryPayload { deletedMemoryId }
      ... on Error { message }
    }
  }
`);

const ForgetAllMemories = graphql(`
  mutation ForgetAllMemories {
    forgetAllMemories { count }
  }
`);

const UpdateProfile = graphql(`
  mutation UpdateProfile($input: UpdateProfileInput!) {
    updateProfile(input: $input) {
      __typename
      ... on UpdateProfilePayload {
        profile { homeArea dietary usualPartySize preferredTimes notes language latitude longitude timeZone }
      }
      ... on ValidationError { message field }
      ... on Error { message }
    }
  }
`);

let app: TestApp;
let actors: Actors;
beforeAll(async () => {
  app = await startTestApp();
  actors = await createActors(app);
});
afterAll(() => app?.close());

const gid = (type: 'Memory' | 'User', id: string) => encodeGlobalID(type, id);
const db = () => app.services.db;

/** A person with memories written through the domain, oldest first. */
async function personWith(contents: string[]): Promise<Guest & { memoryIds: string[] }> {
  const someone = await guest(app, 'remembered');
  const memoryIds: string[] = [];
  for (const [i, content] of contents.entries()) {
    const { memory } = await remember(
      db(),
      someone.userId,
      { content, importance: (i % 5) + 1 },
      {
        now: () => new Date(app.clock.now().getTime() - (contents.length - i) * 60_000),
      },
    );
    memoryIds.push(memory.id);
  }
  return { ...someone, memoryIds };
}

const contentsOf = (userId: string) =>
  db()
    .memory.findMany({ where: { userId }, orderBy: { content: 'asc' } })
    .then((rows) => rows.map((r) => r.content));

/** Exactly one refusal with the code at the path, and no data there. */
function expectRefused(
  response: { errors?: { path?: string[]; extensions?: Record<string, unknown> }[]; body: unknown },
  code: 'FORBIDDEN' | 'UNAUTHENTICATED',
  path: string[],
) {
  expect(response.errors, JSON.stringify(response.body)).toEqual([
    expect.objectContaining({ path, extensions: { code } }),
  ]);
}

describe('my memories', () => {
  it('are listed newest first, a page at a time', async () => {
    const me = await personWith(['Allergic to peanuts', 'Likes a window table', 'Vegetarian']);
    const first = await app.gql(MyMemories, { first: 2 }, { token: me.token });
    expect(first.errors, JSON.stringify(first.body)).toBeUndefined();
    const page = first.data!.viewer!.memories;
    expect(page.totalCount).toBe(3);
    expect(page.edges.map((e) => e.node)).toEqual([
      {
        id: gid('Memory', me.memoryIds[2]!),
        kind: 'FACT',
        content: 'Vegetarian',
        importance: 3,
        createdAt: expect.any(String),
        lastUsedAt: null,
      },
      expect.objectContaining({
        id: gid('Memory', me.memoryIds[1]!),
        content: 'Likes a window table',
        importance: 2,
      }),
    ]);
    expect(page.pageInfo.hasNextPage).toBe(true);

    const next = await app.gql(MyMemories, { first: 2, after: page.pageInfo.endCursor }, { token: me.token });
    expect(next.data!.viewer!.memories.edges.map((e) => e.node.content)).toEqual(['Allergic to peanuts']);
    expect(next.data!.viewer!.memories.pageInfo.hasNextPage).toBe(false);
  });

  it('are forgotten one at a time, and then all at once', async () => {
    const me = await personWith(['One', 'Two', 'Three']);
    const forgot = await app.gql(
      ForgetMemory,
      { memoryId: gid('Memory', me.memoryIds[0]!) },
      { token: me.token },
    );
    expect(forgot.body).toEqual({
      data: {
        forgetMemory: { __typename: 'ForgetMemoryPayload', deletedMemoryId: gid('Memory', me.memoryIds[0]!) },
      },
    });
    expect(await contentsOf(me.userId)).toEqual(['Three', 'Two']);

    const again = await app.gql(
      ForgetMemory,
      { memoryId: gid('Memory', me.memoryIds[0]!) },
      { token: me.token },
    );
    expect(again.data?.forgetMemory).toMatchObject({
      __typename: 'NotFoundError',
      message: 'No such memory',
    });

    const all = await app.gql(ForgetAllMemories, {}, { token: me.token });
    expect(all.body).toEqual({ data: { forgetAllMemories: { count: 2 } } });
    expect(await contentsOf(me.userId)).toEqual([]);
    const none = await app.gql(MyMemories, { first: 5 }, { token: me.token });
    expect(none.data!.viewer!.memories).toMatchObject({ totalCount: 0, edges: [] });
  });

  it('are read as a node by their owner only', async () => {
    const me = await personWith(['Mine']);
    const id = gid('Memory', me.memoryIds[0]!);
    const mine = await app.gql(MemoryNode, { id }, { token: me.token });
    expect(mine.body).toEqual({ data: { node: { id, content: 'Mine' } } });

    // Anyone else gets what an id of no memory gets: null, no error.
    const stranger = await guest(app, 'stranger');
    for (const token of [stranger.token, actors.platformAdmin.token, actors.keyWrite.secret, undefined]) {
      const refused = await app.gql(MemoryNode, { id }, { token });
      expect(refused.body).toEqual({ data: { node: null } });
    }
  });
});

describe("somebody else's memories", () => {
  it('cannot be forgotten by anyone else, platform admins included: NotFound, and nothing changes', async () => {
    const owner = await personWith(['Private thing']);
    const stranger = await guest(app, 'stranger');
    for (const token of [stranger.token, actors.owner.token, actors.platformAdmin.token]) {
      const response = await app.gql(
        ForgetMemory,
        { memoryId: gid('Memory', owner.memoryIds[0]!) },
        { token },
      );
      expect(response.errors, JSON.stringify(response.body)).toBeUndefined();
      expect(response.data?.forgetMemory).toMatchObject({ __typename: 'NotFoundError' });
      // forgetAllMemories acts on the caller's own memories only.
      await app.gql(ForgetAllMemories, {}, { token });
    }
    expect(await contentsOf(owner.userId)).toEqual(['Private thing']);
  });

  it('cannot be read by a colleague who may see the person, nor by a platform admin', async () => {
    // The STAFF member of the organisation: the OWNER sees them as a colleague.
    const staff = actors.staff;
    await remember(db(), staff.userId, { content: 'Staff secret' });
    const staffId = gid('User', staff.userId);

    for (const token of [actors.owner.token, actors.platformAdmin.token]) {
      const memories = await app.gql(UserMemories, { id: staffId }, { token });
      expectRefused(memories, 'FORBIDDEN', ['node', 'memories']);
      expect(JSON.stringify(memories.body)).not.toContain('Staff secret');
      const profile = await app.gql(UserProfile, { id: staffId }, { token });
      expectRefused(profile, 'FORBIDDEN', ['node', 'profile']);
    }
    // The person themselves, through the same node.
    const own = await app.gql(UserMemories, { id: staffId }, { token: staff.token });
    expect(own.data?.node).toMatchObject({
      memories: { totalCount: 1, edges: [{ node: { content: 'Staff secret' } }] },
    });
  });
});

describe('API keys and anonymous callers', () => {
  it('are refused every read and write, and change nothing', async () => {
    // The keys act for the organisation's OWNER, who has memories and a profile.
    await remember(db(), actors.owner.userId, { content: 'Owner remembers this' });
    const [ownerMemory] = await db().memory.findMany({ where: { userId: actors.owner.userId } });
    const before = {
      memories: await contentsOf(actors.owner.userId),
      profile: await profileRow(actors.owner.userId),
    };

    for (const [token, code] of [
      [actors.keyWrite.secret, 'FORBIDDEN'],
      [actors.keyRead.secret, 'FORBIDDEN'],
      [undefined, 'UNAUTHENTICATED'],
    ] as const) {
      if (token) {
        // The viewer is the key's creator; their memories and profile are not the key's to read.
        expectRefused(await app.gql(MyMemories, { first: 5 }, { token }), code, ['viewer', 'memories']);
        expectRefused(await app.gql(MyProfile, {}, { token }), code, ['viewer', 'profile']);
      }
      expectRefused(
        await app.gql(ForgetMemory, { memoryId: gid('Memory', ownerMemory!.id) }, { token }),
        code,
        ['forgetMemory'],
      );
      expectRefused(await app.gql(ForgetAllMemories, {}, { token }), code, ['forgetAllMemories']);
      expectRefused(await app.gql(UpdateProfile, { input: { homeArea: 'Hijacked' } }, { token }), code, [
        'updateProfile',
      ]);
    }
    expect({
      memories: await contentsOf(actors.owner.userId),
      profile: await profileRow(actors.owner.userId),
    }).toEqual(before);
  });
});

const profileRow = (userId: string) =>
  db().user.findUniqueOrThrow({
    where: { id: userId },
    select: { profile: true, language: true, latitude: true, longitude: true, timeZone: true },
  });

describe('my profile', () => {
  it('is updated by merging, and read back on the viewer', async () => {
    const me = await guest(app, 'profiled');
    const empty = await app.gql(MyProfile, {}, { token: me.token });
    expect(empty.body).toEqual({
      data: {
        viewer: {
          profile: {
            homeArea: null,
            dietary: [],
            usualPartySize: null,
            preferredTimes: [],
            notes: null,
            language: null,
            latitude: null,
            longitude: null,
            timeZone: null,
          },
        },
      },
    });

    const set = await app.gql(
      UpdateProfile,
      {
        input: {
          homeArea: 'Alfama',
          dietary: ['Halal', 'nut allergy'],
          usualPartySize: 3,
          language: 'pt-pt',
          latitude: 38.71,
          longitude: -9.13,
          timeZone: 'Europe/Lisbon',
        },
      },
      { token: me.token },
    );
    const { profile } = member(set.data?.updateProfile, 'UpdateProfilePayload', set);
    expect(profile).toMatchObject({
      homeArea: 'Alfama',
      dietary: ['halal', 'nut allergy'],
      language: 'pt-PT',
    });

    // Left out stays; null removes.
    const patched = await app.gql(
      UpdateProfile,
      { input: { dietary: null, notes: 'Quiet tables' } },
      { token: me.token },
    );
    expect(member(patched.data?.updateProfile, 'UpdateProfilePayload', patched).profile).toEqual({
      homeArea: 'Alfama',
      dietary: [],
      usualPartySize: 3,
      preferredTimes: [],
      notes: 'Quiet tables',
      language: 'pt-PT',
      latitude: 38.71,
      longitude: -9.13,
      timeZone: 'Europe/Lisbon',
    });
    const read = await app.gql(MyProfile, {}, { token: me.token });
    expect(read.data?.viewer?.profile).toEqual(
      member(patched.data?.updateProfile, 'UpdateProfilePayload', patched).profile,
    );
  });

  it('gives a person who signed in by email the name venues see with their bookings', async () => {
    const me = await guest(app, 'named');
    const organization = await db().organization.create({ data: { name: 'Named House' } });
    const owner = await person(app, organization.id, 'OWNER');
    const venue = await createBookableVenue(db(), { organizationId: organization.id });
    const booking = await createBooking(db(), {
      venueId: venue.id,
      guestId: me.userId,
      startsAt: new Date(Date.now() + 2 * 86_400_000),
    });
    const seenByVenue = async () => {
      const res = await app.gql(
        'query B($id: ID!) { node(id: $id) { ... on Booking { guestName } } }',
        { id: encodeGlobalID('Booking', booking.id) },
        { token: owner.token },
      );
      return (res.data as { node: { guestName: string | null } }).node.guestName;
    };
    const setName = (displayName: string | null) =>
      app.gql(
        `mutation N($input: UpdateProfileInput!) { updateProfile(input: $input) {
          __typename
          ... on UpdateProfilePayload { profile { displayName homeArea } }
          ... on ValidationError { field }
        } }`,
        { input: { displayName } },
        { token: me.token },
      );
    expect(await seenByVenue()).toBe(me.email);

    expect((await setName(' Ana\u0007 Silva ')).data).toEqual({
      updateProfile: {
        __typename: 'UpdateProfilePayload',
        profile: { displayName: 'Ana Silva', homeArea: null },
      },
    });
    expect(await seenByVenue()).toBe('Ana Silva');
    const viewer = await app.gql('{ viewer { displayName } }', {}, { token: me.token });
    expect(viewer.data).toEqual({ viewer: { displayName: 'Ana Silva' } });

    // Too long: refused, the name kept.
    expect((await setName('A'.repeat(101))).data).toEqual({
      updateProfile: { __typename: 'ValidationError', field: 'displayName' },
    });
    expect(await seenByVenue()).toBe('Ana Silva');
    // Null removes it: the venue sees the address again.
    expect((await setName(null)).data).toMatchObject({ updateProfile: { profile: { displayName: null } } });
    expect(await seenByVenue()).toBe(me.email);
  });

  it.each([
    [{ language: 'not a language!' }, 'language'],
    [{ timeZone: 'Mars/Olympus_Mons' }, 'timeZone'],
    [{ latitude: 120, longitude: 0 }, 'latitude'],
    [{ latitude: 38.7 }, 'longitude'],
    [{ usualPartySize: 0 }, 'usualPartySize'],
    [{ homeArea: 'x'.repeat(200) }, 'homeArea'],
  ])('refuses %o with a ValidationError naming %s, and changes nothing', async (input, field) => {
    const me = await guest(app, 'invalid');
    await app.gql(UpdateProfile, { input: { homeArea: 'Before' } }, { token: me.token });
    const before = await profileRow(me.userId);
    const response = await app.gql(
      UpdateProfile,
      { input: { notes: 'not written', ...input } },
      { token: me.token },
    );
    expect(response.errors, JSON.stringify(response.body)).toBeUndefined();
    expect(response.data?.updateProfile).toMatchObject({
      __typename: 'ValidationError',
      field,
      message: expect.any(String),
    });
    expect(await profileRow(me.userId)).toEqual(before);
  });
});

describe('bad arguments', () => {
  it('a memory id that is no memory is NotFound', async () => {
    const me = await personWith(['Stays']);
    for (const memoryId of [
      gid('Memory', 'not-a-uuid'),
      gid('Memory', '00000000-0000-4000-8000-000000000000'),
    ]) {
      const response = await app.gql(ForgetMemory, { memoryId }, { token: me.token });
      expect(response.data?.forgetMemory, JSON.stringify(response.body)).toMatchObject({
        __typename: 'NotFoundError',
      });
    }
    expect(await contentsOf(me.userId)).toEqual(['Stays']);
  });

  it('an id of another type is refused before anything runs', async () => {
    const me = await personWith(['Stays']);
    const response = await app.gql(ForgetMemory, { memoryId: gid('User', me.userId) }, { token: me.token });
    expect(response.data ?? null).toBeNull();
    expect(response.errors, JSON.stringify(response.body)).toEqual([
      expect.objectContaining({
        path: ['forgetMemory'],
        message: expect.stringContaining('is not of type: Memory'),
      }),
    ]);
    expect(await contentsOf(me.userId)).toEqual(['Stays']);
  });
});
