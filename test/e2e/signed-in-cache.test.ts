/**
 * A signed-in person's user and roles, remembered by each API process for AUTH_USER_CACHE_MS
 * (src/api/auth.ts, in live-access.ts's cache): two processes on one database and Redis, with one
 * signing key, remember them for a minute here, so only what the API announces can explain a
 * change seen within the test. A membership removed, or an organisation created, through one
 * process is seen by the other at its next request; a session ended through one is refused by the
 * other at its next request; a membership changed behind the API's back is seen once the
 * remembered roles are as old as AUTH_USER_CACHE_MS.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/domain/identity/signing-keys.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { person } from '../helpers/authz.ts';

const CACHE_MS = 60_000;

const OrganizationName = 'query CachedOrganization($id: ID!) { organization(id: $id) { name } }';

let first: TestApp;
let second: TestApp;

beforeAll(async () => {
  const signing = await generateSigningKey();
  const env = {
    AUTH_USER_CACHE_MS: String(CACHE_MS),
    JWT_PRIVATE_KEY: signing.privateKeyPem,
    JWT_KEY_ID: signing.keyId,
  };
  first = await startTestApp({ env });
  // A second process on the same database and Redis, as behind a load balancer.
  second = await startTestApp({ env, database: first.database, redis: first.services.redis });
});

afterAll(async () => {
  await second?.close();
  await first?.close();
});

/** The organisation's name as `token` sees it through `app`: null when refused. */
async function nameSeen(app: TestApp, organizationId: string, token: string): Promise<string | null> {
  const answer = await app.gql<{ organization: { name: string } | null }, { id: string }>(
    OrganizationName,
    { id: encodeGlobalID('Organization', organizationId) },
    { token },
  );
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.data?.organization?.name ?? null;
}

async function organization(name: string) {
  return first.services.db.organization.create({ data: { name } });
}

describe('user and roles remembered per process', () => {
  it('a member removed through one process is refused by the other at its next request', async () => {
    const org = await organization('Cache Removal Group');
    const owner = await person(first, org.id, 'OWNER');
    const staff = await person(first, org.id, 'STAFF');
    // Both processes remember the member's roles.
    expect(await nameSeen(first, org.id, staff.token)).toBe('Cache Removal Group');
    expect(await nameSeen(second, org.id, staff.token)).toBe('Cache Removal Group');

    const removed = await first.gql<{ removeMember: { __typename: string } }, { id: string }>(
      'mutation CacheRemove($id: ID!) { removeMember(input: { membershipId: $id }) { __typename } }',
      { id: encodeGlobalID('Membership', staff.membershipId) },
      { token: owner.token },
    );
    expect(removed.data?.removeMember.__typename, JSON.stringify(removed.body)).toBe('RemoveMemberPayload');

    expect(await nameSeen(second, org.id, staff.token)).toBeNull();
    expect(await nameSeen(first, org.id, staff.token)).toBeNull();
    // The owner is still a member everywhere.
    expect(await nameSeen(second, org.id, owner.token)).toBe('Cache Removal Group');
  });

  it('an organisation created through one process is its owner’s in the other at once', async () => {
    const org = await organization('Cache Elsewhere Group');
    const someone = await person(first, org.id, 'STAFF');
    expect(await nameSeen(second, org.id, someone.token)).toBe('Cache Elsewhere Group');

    const created = await first.gql<{ createOrganization: { organization?: { id: string } } }, unknown>(
      'mutation CacheCreate { createOrganization(input: { name: "Cache New Group" }) { ... on OrganizationPayload { organization { id } } } }',
      {},
      { token: someone.token },
    );
    const id = created.data?.createOrganization.organization?.id;
    expect(id, JSON.stringify(created.body)).toBeDefined();
    const answer = await second.gql<{ organization: { name: string } | null }, { id: string }>(
      OrganizationName,
      { id: id! },
      { token: someone.token },
    );
    expect(answer.data?.organization?.name, JSON.stringify(answer.body)).toBe('Cache New Group');
  });

  it('a session ended through one process is refused by the other at its next request', async () => {
    const session = await first.signIn();
    const viewer = (app: TestApp) => app.gql('{ viewer { id } }', {}, { token: session.token });
    expect((await viewer(first)).status).toBe(200);
    expect((await viewer(second)).status).toBe(200);

    const ended = await first.gql(
      'mutation CacheSignOut($refreshToken: String!) { signOut(input: { refreshToken: $refreshToken }) { signedOut } }',
      { refreshToken: session.refreshToken },
    );
    expect(ended.errors, JSON.stringify(ended.body)).toBeUndefined();

    expect((await viewer(second)).status).toBe(401);
    expect((await viewer(first)).status).toBe(401);
  });

  it('a membership removed behind the API’s back is seen once the remembered roles are that old', async () => {
    const org = await organization('Cache Backdoor Group');
    const staff = await person(first, org.id, 'STAFF');
    expect(await nameSeen(second, org.id, staff.token)).toBe('Cache Backdoor Group');

    await first.services.db.membership.delete({ where: { id: staff.membershipId } });
    // Nothing was announced: the second process still answers from what it remembers…
    expect(await nameSeen(second, org.id, staff.token)).toBe('Cache Backdoor Group');
    // …until that is AUTH_USER_CACHE_MS old.
    second.clock.advance(CACHE_MS);
    expect(await nameSeen(second, org.id, staff.token)).toBeNull();
  });
});
