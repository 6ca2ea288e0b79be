/**
 * Who may read and change a person's memories and profile: every memory mutation and read, run
 * as every kind of caller against the real server. The callers are those of the other tables
 * (test/helpers/authz.ts) plus a GUEST: a person of no organisation with memories and a profile
 * of their own. Each cell states its outcome:
 *
 * - `allowed`: the call succeeds and its effect is in the answer and the database;
 * - `null`: the call succeeds and the field is null (an anonymous viewer);
 * - `HTTP 401`: the credential itself no longer works (a write key whose creator was removed
 *   from the organisation, or whose organisation has no owner left): refused before GraphQL
 *   runs, like any credential that does not verify. A write key whose creator was demoted to
 *   STAFF acts as that STAFF member would;
 * - `UNAUTHENTICATED` / `FORBIDDEN`: scope-auth refuses before the resolver runs (a GraphQL error
 *   with that `extensions.code` at `refusedAt`, the field null);
 * - `hidden`: `node(id)` answers null with no error, as for an id that names nothing;
 * - `NotFoundError`: the mutation admits the caller, whose own memories hold no such memory.
 *
 * The rule the table pins: memories and the profile belong to the person alone. Only a person
 * signed in as themselves reads or changes them; API keys (which act for the person who made
 * them) are refused, colleagues who may see the person are refused, and platform admins too.
 *
 * Every outcome but `allowed` is also checked to have changed nothing: every fixture person's
 * memories (with `lastUsedAt`) and profile.
 *
 * Every cell gets fresh organisations and callers, each person with a memory and a profile of
 * their own, written straight to the database, so cells are independent.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.ts';
import { type GraphQLResponse, startTestApp, type TestApp } from '../helpers/app.ts';
import {
  ACTORS,
  type Actors,
  createActors,
  credentialFor,
  expectRefusal,
  expectUnauthorized,
  type Guest,
  guest,
  HIDDEN,
  hiddenWhereRefused,
  userOf,
  valueAt,
} from '../helpers/authz.ts';

/** The callers of the other tables, and a person of no organisation. */
const CALLERS = [...ACTORS, 'GUEST'] as const;
type Caller = (typeof CALLERS)[number];

type Outcome =
  | 'allowed'
  | 'null'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NotFoundError'
  | 'HTTP 401'
  | typeof HIDDEN;

const ForgetMemory = graphql(`
  mutation AuthzMemoriesForget($memoryId: ID!) {
    forgetMemory(input: { memoryId: $memoryId }) {
      __typename
      ... on ForgetMemoryPayload { deletedMemoryId }
      ... on Error { message }
    }
  }
`);

const ForgetAllMemories = graphql(`
  mutation AuthzMemoriesForgetAll {
    forgetAllMemories { count }
  }
`);

const UpdateProfile = graphql(`
  mutation AuthzMemoriesUpdateProfile($homeArea: String!) {
    updateProfile(input: { homeArea: $homeArea, dietary: ["vegan"] }) {
      __typename
      ... on UpdateProfilePayload { profile { homeArea dietary usualPartySize } }
      ... on Error { message }
    }
  }
`);

const ViewerMemories = graphql(`
  query AuthzMemoriesViewer {
    viewer { memories(first: 10) { totalCount edges { node { id content } } } }
  }
`);

const ViewerProfile = graphql(`
  query AuthzMemoriesViewerProfile {
    viewer { profile { homeArea usualPartySize } }
  }
`);

const MemoryNode = graphql(`
  query AuthzMemoriesNode($id: ID!) {
    node(id: $id) { __typename id ... on Memory { content } }
  }
`);

const UserMemories = graphql(`
  query AuthzMemoriesOfUser($id: ID!) {
    node(id: $id) { id ... on User { memories(first: 10) { totalCount edges { node { content } } } } }
  }
`);

const UserProfile = graphql(`
  query AuthzMemoriesProfileOfUser($id: ID!) {
    node(id: $id) { id ... on User { profile { homeArea } } }
  }
`);

/** The callers, the guest, and one memory of each person, keyed by their user id. */
interface Fixture extends Actors {
  guest: Guest;
  /** The memory of each fixture person: its id and content. */
  memoryOf: Record<string, { id: string; content: string }>;
}

interface Row {
  name: string;
  /** Where the answer is read from: the top-level field, or a field inside it. */
  path: string[];
  /**
   * Where a scope-auth refusal is reported, when not at `path`: scopes on a type are checked as
   * the object's first field resolves (`node.id`), scopes on a field at that field.
   */
  refusedAt?: (caller: Caller) => string[];
  /** Where a `null` outcome reads null, when not at `path` (an anonymous caller has no viewer). */
  nullAt?: string[];
  call: (fx: Fixture, token: string | undefined, caller: Caller) => Promise<GraphQLResponse<unknown>>;
  /** For allowed cells: the answer and the database show the effect. */
  effect: (fx: Fixture, answer: unknown, caller: Caller) => Promise<void>;
  expected: Record<Caller, Outcome>;
}

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const gid = (type: 'Memory' | 'User', id: string) => encodeGlobalID(type, id);
const db = () => app.services.db;

/** The home area every fixture person starts with. */
const HOME = 'Fixture home';

async function createFixture(): Promise<Fixture> {
  const actors = await createActors(app);
  const person = await guest(app, 'remembered');
  const people = [
    actors.owner.userId,
    actors.admin.userId,
    actors.staff.userId,
    actors.otherOwner.userId,
    actors.platformAdmin.userId,
    person.userId,
  ];
  const memoryOf: Fixture['memoryOf'] = {};
  for (const userId of people) {
    const content = `Private memory of ${userId}`;
    const memory = await db().memory.create({ data: { userId, content, importance: 4 } });
    await db().user.update({
      where: { id: userId },
      data: { profile: { homeArea: HOME, usualPartySize: 2 } },
    });
    memoryOf[userId] = { id: memory.id, content };
  }
  return { ...actors, guest: person, memoryOf };
}

const tokenOf = (fx: Fixture, caller: Caller) =>
  caller === 'GUEST' ? fx.guest.token : credentialFor(app, fx, caller);
/** The person a call acts for (an API key acts for its creator). */
const personOf = (fx: Fixture, caller: Caller) => (caller === 'GUEST' ? fx.guest.userId : userOf(fx, caller));

/** Everything a memory call could change: every fixture person's memories and profile. */
async function snapshot(fx: Fixture) {
  const userIds = Object.keys(fx.memoryOf);
  return {
    memories: await db().memory.findMany({
      where: { userId: { in: userIds } },
      orderBy: { id: 'asc' },
    }),
    profiles: await db().user.findMany({
      where: { id: { in: userIds } },
      orderBy: { id: 'asc' },
      select: { id: true, profile: true, language: true, latitude: true, longitude: true, timeZone: true },
    }),
    memoryCount: await db().memory.count(),
  };
}

const memoriesOf = (userId: string) =>
  db()
    .memory.findMany({ where: { userId } })
    .then((rows) => rows.map((r) => r.content));

/** Every other fixture person still has their memory. */
async function othersUntouched(fx: Fixture, except: string) {
  for (const [userId, memory] of Object.entries(fx.memoryOf)) {
    if (userId !== except) expect(await memoriesOf(userId)).toEqual([memory.content]);
  }
}

/** Any person signed in as themselves; not keys; anonymous callers asked to sign in. */
const OWN_PERSON_ONLY: Record<Caller, Outcome> = {
  OWNER: 'allowed',
  ADMIN: 'allowed',
  STAFF: 'allowed',
  OTHER_OWNER: 'allowed',
  PLATFORM_ADMIN: 'allowed',
  KEY_WRITE: 'FORBIDDEN',
  KEY_READ: 'FORBIDDEN',
  KEY_CREATOR_REMOVED: 'HTTP 401',
  KEY_CREATOR_DEMOTED: 'FORBIDDEN',
  KEY_NO_OWNER: 'HTTP 401',
  ANONYMOUS: 'UNAUTHENTICATED',
  GUEST: 'allowed',
};

const rows: Row[] = [
  {
    name: "forgetMemory of the caller's own memory",
    path: ['forgetMemory'],
    // Keys act for the OWNER and are handed the OWNER's memory; anonymous callers the guest's.
    call: (fx, token, caller) =>
      app.gql(
        ForgetMemory,
        { memoryId: gid('Memory', fx.memoryOf[personOf(fx, caller) ?? fx.guest.userId]!.id) },
        { token },
      ),
    async effect(fx, answer, caller) {
      const me = personOf(fx, caller)!;
      expect(answer).toEqual({
        __typename: 'ForgetMemoryPayload',
        deletedMemoryId: gid('Memory', fx.memoryOf[me]!.id),
      });
      expect(await memoriesOf(me)).toEqual([]);
      await othersUntouched(fx, me);
    },
    expected: OWN_PERSON_ONLY,
  },
  {
    name: "forgetMemory of the guest's memory",
    path: ['forgetMemory'],
    call: (fx, token) =>
      app.gql(ForgetMemory, { memoryId: gid('Memory', fx.memoryOf[fx.guest.userId]!.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'ForgetMemoryPayload',
        deletedMemoryId: gid('Memory', fx.memoryOf[fx.guest.userId]!.id),
      });
      expect(await memoriesOf(fx.guest.userId)).toEqual([]);
      await othersUntouched(fx, fx.guest.userId);
    },
    expected: {
      // Somebody else's memory is, to the caller, a memory that does not exist.
      OWNER: 'NotFoundError',
      ADMIN: 'NotFoundError',
      STAFF: 'NotFoundError',
      OTHER_OWNER: 'NotFoundError',
      PLATFORM_ADMIN: 'NotFoundError',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
      GUEST: 'allowed',
    },
  },
  {
    name: 'forgetAllMemories',
    path: ['forgetAllMemories'],
    call: (_fx, token) => app.gql(ForgetAllMemories, {}, { token }),
    async effect(fx, answer, caller) {
      const me = personOf(fx, caller)!;
      expect(answer).toEqual({ count: 1 });
      expect(await memoriesOf(me)).toEqual([]);
      await othersUntouched(fx, me);
    },
    expected: OWN_PERSON_ONLY,
  },
  {
    name: 'updateProfile',
    path: ['updateProfile'],
    call: (_fx, token) => app.gql(UpdateProfile, { homeArea: 'Changed home' }, { token }),
    async effect(fx, answer, caller) {
      const me = personOf(fx, caller)!;
      expect(answer).toEqual({
        __typename: 'UpdateProfilePayload',
        profile: { homeArea: 'Changed home', dietary: ['vegan'], usualPartySize: 2 },
      });
      const profiles = await db().user.findMany({
        where: { id: { in: Object.keys(fx.memoryOf) } },
        select: { id: true, profile: true },
      });
      for (const { id, profile } of profiles) {
        expect(profile).toEqual(
          id === me
            ? { homeArea: 'Changed home', dietary: ['vegan'], usualPartySize: 2 }
            : { homeArea: HOME, usualPartySize: 2 },
        );
      }
    },
    expected: OWN_PERSON_ONLY,
  },
  {
    name: 'viewer.memories',
    path: ['viewer', 'memories'],
    refusedAt: () => ['viewer', 'memories'],
    nullAt: ['viewer'],
    call: (_fx, token) => app.gql(ViewerMemories, {}, { token }),
    async effect(fx, answer, caller) {
      const me = personOf(fx, caller)!;
      expect(answer).toEqual({
        totalCount: 1,
        edges: [{ node: { id: gid('Memory', fx.memoryOf[me]!.id), content: fx.memoryOf[me]!.content } }],
      });
    },
    // An anonymous caller has no viewer; a key's viewer is its creator, whose memories it may not read.
    expected: { ...OWN_PERSON_ONLY, ANONYMOUS: 'null' },
  },
  {
    name: 'viewer.profile',
    path: ['viewer', 'profile'],
    refusedAt: () => ['viewer', 'profile'],
    nullAt: ['viewer'],
    call: (_fx, token) => app.gql(ViewerProfile, {}, { token }),
    async effect(_fx, answer) {
      expect(answer).toEqual({ homeArea: HOME, usualPartySize: 2 });
    },
    expected: { ...OWN_PERSON_ONLY, ANONYMOUS: 'null' },
  },
  {
    name: "node(id) of the guest's Memory",
    path: ['node'],
    call: (fx, token) =>
      app.gql(MemoryNode, { id: gid('Memory', fx.memoryOf[fx.guest.userId]!.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'Memory',
        id: gid('Memory', fx.memoryOf[fx.guest.userId]!.id),
        content: fx.memoryOf[fx.guest.userId]!.content,
      });
    },
    // Nobody else learns that the memory exists.
    expected: hiddenWhereRefused({
      OWNER: 'FORBIDDEN',
      ADMIN: 'FORBIDDEN',
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'FORBIDDEN',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
      GUEST: 'allowed',
    }),
  },
  ...(
    [
      ['memories', UserMemories],
      ['profile', UserProfile],
    ] as const
  ).map(
    ([field, document]): Row => ({
      name: `node(id) of the STAFF member's User, its ${field}`,
      path: ['node', field],
      // Those who may see the person (colleagues, the organisation's keys, platform admins) are
      // refused the field; for the others the person is not there at all.
      refusedAt: () => ['node', field],
      call: (fx, token) => app.gql(document, { id: gid('User', fx.staff.userId) }, { token }),
      async effect(fx, answer) {
        expect(answer).toEqual(
          field === 'memories'
            ? { totalCount: 1, edges: [{ node: { content: fx.memoryOf[fx.staff.userId]!.content } }] }
            : { homeArea: HOME },
        );
      },
      expected: {
        OWNER: 'FORBIDDEN',
        ADMIN: 'FORBIDDEN',
        STAFF: 'allowed',
        OTHER_OWNER: HIDDEN,
        PLATFORM_ADMIN: 'FORBIDDEN',
        KEY_WRITE: 'FORBIDDEN',
        KEY_READ: 'FORBIDDEN',
        KEY_CREATOR_REMOVED: 'HTTP 401',
        KEY_CREATOR_DEMOTED: 'FORBIDDEN',
        KEY_NO_OWNER: 'HTTP 401',
        ANONYMOUS: HIDDEN,
        GUEST: HIDDEN,
      },
    }),
  ),
];

describe.each(rows.map((row) => [row.name, row] as const))('%s', (_name, row) => {
  it.each(CALLERS.map((caller) => [caller, row.expected[caller]] as const))(
    'as %s: %s',
    async (caller, outcome) => {
      const fx = await createFixture();
      const credential = await tokenOf(fx, caller);
      const before = await snapshot(fx);
      const response = await row.call(fx, credential, caller);
      const body = JSON.stringify(response.body);
      if (outcome === 'HTTP 401') {
        expectUnauthorized(response, body);
        expect(await snapshot(fx), `${body}\nthe refused call changed something`).toEqual(before);
        return;
      }
      expect(response.status, body).toBe(200);

      if (outcome === 'allowed') {
        expect(response.errors, body).toBeUndefined();
        const answer = valueAt(response.data, row.path);
        expect(answer, body).toBeTruthy();
        await row.effect(fx, answer, caller);
        return;
      }

      const path = outcome === 'null' ? (row.nullAt ?? row.path) : row.path;
      expectRefusal(response, outcome, { path, refusedAt: row.refusedAt?.(caller) }, body);
      expect(await snapshot(fx), `${body}\nthe refused call changed something`).toEqual(before);
    },
  );
});

describe('the answer to a refused call', () => {
  it('is exactly this for an API key asking for its creator’s memories', async () => {
    const fx = await createFixture();
    const response = await app.gql(ViewerMemories, {}, { token: fx.keyWrite.secret });
    expect(response.body).toEqual({
      data: { viewer: null },
      errors: [
        {
          message: 'You are not allowed to do this',
          locations: [{ line: 4, column: 5 }],
          path: ['viewer', 'memories'],
          extensions: { code: 'FORBIDDEN' },
        },
      ],
    });
  });

  it('is exactly this for a platform admin forgetting somebody’s memory', async () => {
    const fx = await createFixture();
    const response = await app.gql(
      ForgetMemory,
      { memoryId: gid('Memory', fx.memoryOf[fx.guest.userId]!.id) },
      { token: fx.platformAdmin.token },
    );
    expect(response.body).toEqual({
      data: { forgetMemory: { __typename: 'NotFoundError', message: 'No such memory' } },
    });
  });
});
