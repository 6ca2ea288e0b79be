import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authenticateApiKey,
  createApiKey,
  hashApiKey,
  listApiKeys,
  parseApiKey,
  revokeApiKey,
} from '../../src/domain/identity/api-keys.ts';
import { findOrCreateUserByEmail } from '../../src/domain/identity/email.ts';
import { connectDatabase } from '../../src/platform/db.ts';
import { AuthenticationError, NotFoundError, ValidationError } from '../../src/platform/errors.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { manualClock, uniqueEmail } from './fixtures.ts';

const keyPrefix = 'agnt_live';
let database: TestDatabase;
let clock: ReturnType<typeof manualClock>;
let options: { keyPrefix: string; now: () => Date };

beforeAll(async () => {
  database = await createTestDatabase();
  clock = manualClock();
  options = { keyPrefix, now: clock.now };
});

afterAll(async () => {
  await database?.drop();
});

/** An organisation and its OWNER, who makes the keys (a key acts with at most its creator's role). */
async function organisation() {
  const { user } = await findOrCreateUserByEmail(database.prisma, uniqueEmail('owner'));
  const org = await database.prisma.organization.create({
    data: { name: 'Venue Group', memberships: { create: { userId: user.id, role: 'OWNER' } } },
  });
  return { userId: user.id, organizationId: org.id };
}

/** A new member of the organisation holding `role`. */
async function member(organizationId: string, role: 'OWNER' | 'ADMIN' | 'STAFF') {
  const { user } = await findOrCreateUserByEmail(database.prisma, uniqueEmail(role.toLowerCase()));
  const membership = await database.prisma.membership.create({
    data: { organizationId, userId: user.id, role },
  });
  return { userId: user.id, membershipId: membership.id };
}

async function newKey(scopes = ['read', 'write']) {
  const { userId, organizationId } = await organisation();
  const created = await createApiKey(
    database.prisma,
    { organizationId, createdById: userId, name: '  MCP agent  ', scopes },
    options,
  );
  return { userId, organizationId, ...created };
}

describe('API keys', () => {
  it('are created in the documented format and stored only as a hash', async () => {
    const { apiKey, secret, organizationId, userId } = await newKey();
    expect(secret).toMatch(/^agnt_live_[0-9A-Za-z]{8}_[0-9A-Za-z]{38}$/);
    expect(apiKey).toMatchObject({
      organizationId,
      createdById: userId,
      name: 'MCP agent',
      scopes: ['read', 'write'],
    });
    expect(secret.startsWith(`${apiKey.prefix}_`)).toBe(true);
    expect(apiKey).not.toHaveProperty('secretHash');

    const row = await database.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } });
    expect(row.secretHash).toBe(hashApiKey(secret));
    expect(JSON.stringify(row)).not.toContain(secret.slice(apiKey.prefix.length + 1));
  });

  it('authenticate to an apiKey actor and record lastUsedAt, at most once a minute', async () => {
    const { apiKey, secret, organizationId, userId } = await newKey(['read']);
    expect(apiKey.lastUsedAt).toBeNull();
    const actor = await authenticateApiKey(database.prisma, secret, options);
    expect(actor).toEqual({
      kind: 'apiKey',
      apiKeyId: apiKey.id,
      organizationId,
      userId,
      scopes: ['read'],
      role: 'STAFF',
    });
    const firstUse = (await database.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } }))
      .lastUsedAt;
    expect(firstUse?.getTime()).toBe(clock.now().getTime());

    clock.advance(30_000);
    await authenticateApiKey(database.prisma, secret, options);
    const unchanged = (await database.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } }))
      .lastUsedAt;
    expect(unchanged?.getTime()).toBe(firstUse?.getTime());

    clock.advance(31_000);
    await authenticateApiKey(database.prisma, secret, options);
    const moved = (await database.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } })).lastUsedAt;
    expect(moved?.getTime()).toBe(clock.now().getTime());
  });

  it('refuse a mistyped key by its checksum without touching the database', async () => {
    const { secret } = await newKey();
    // A database whose pool is closed: any query would fail with a pg error, not AuthenticationError.
    const closed = connectDatabase(database.url, 1);
    await closed.close();
    await expect(authenticateApiKey(closed.prisma, secret, options)).rejects.not.toBeInstanceOf(
      AuthenticationError,
    );

    const body = secret.slice(0, -6);
    const checksum = secret.slice(-6);
    // Every single-character change anywhere in the key is caught (CRC32 catches every short burst).
    for (let i = keyPrefix.length + 1; i < secret.length; i++) {
      if (secret[i] === '_') continue;
      const swapped = secret[i] === 'a' ? 'b' : 'a';
      const mistyped = `${secret.slice(0, i)}${swapped}${secret.slice(i + 1)}`;
      expect(parseApiKey(mistyped, keyPrefix), mistyped).toBeNull();
    }
    const mistyped = `${body.slice(0, -1)}${body.endsWith('x') ? 'y' : 'x'}${checksum}`;
    const error = await authenticateApiKey(closed.prisma, mistyped, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as Error).message).toMatch(/malformed/);
    await expect(authenticateApiKey(closed.prisma, secret.slice(0, -1), options)).rejects.toThrow(
      /malformed/,
    );
    await expect(authenticateApiKey(closed.prisma, 'Bearer nonsense', options)).rejects.toThrow(/malformed/);
  });

  it('refuse a key made for another environment prefix', async () => {
    const { organizationId, userId } = await organisation();
    const { secret } = await createApiKey(
      database.prisma,
      { organizationId, createdById: userId, name: 'test key', scopes: ['read'] },
      { keyPrefix: 'agnt_test' },
    );
    expect(parseApiKey(secret, 'agnt_test')).not.toBeNull();
    await expect(authenticateApiKey(database.prisma, secret, options)).rejects.toThrow(/malformed/);
  });

  it('refuse an unknown key with a valid checksum', async () => {
    const { secret } = await newKey();
    await database.prisma.apiKey.deleteMany({ where: { secretHash: hashApiKey(secret) } });
    await expect(authenticateApiKey(database.prisma, secret, options)).rejects.toThrow(
      'The API key is not valid',
    );
  });

  it('are listed per organisation, newest first, and revoked for good', async () => {
    const { apiKey, secret, organizationId, userId } = await newKey();
    clock.advance(1000);
    const second = await createApiKey(
      database.prisma,
      { organizationId, createdById: userId, name: 'second', scopes: ['read'] },
      options,
    );
    expect((await listApiKeys(database.prisma, organizationId)).map((k) => k.id)).toEqual([
      second.apiKey.id,
      apiKey.id,
    ]);

    const revoked = await revokeApiKey(database.prisma, { organizationId, apiKeyId: apiKey.id }, options);
    expect(revoked.revokedAt?.getTime()).toBe(clock.now().getTime());
    await expect(authenticateApiKey(database.prisma, secret, options)).rejects.toThrow(/revoked/);
    await expect(authenticateApiKey(database.prisma, second.secret, options)).resolves.toMatchObject({
      kind: 'apiKey',
    });

    clock.advance(1000);
    const again = await revokeApiKey(database.prisma, { organizationId, apiKeyId: apiKey.id }, options);
    expect(again.revokedAt?.getTime()).toBe(revoked.revokedAt?.getTime());
    const listed = await listApiKeys(database.prisma, organizationId);
    expect(listed.find((k) => k.id === apiKey.id)?.revokedAt).not.toBeNull();
  });

  it('cannot be revoked through another organisation', async () => {
    const { apiKey, secret } = await newKey();
    const stranger = await organisation();
    await expect(
      revokeApiKey(database.prisma, { organizationId: stranger.organizationId, apiKeyId: apiKey.id }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(authenticateApiKey(database.prisma, secret, options)).resolves.toMatchObject({
      kind: 'apiKey',
    });
  });

  it("act with the lower of their scope's role and their creator's role now", async () => {
    const { organizationId } = await organisation();
    const admin = await member(organizationId, 'ADMIN');
    const { secret } = await createApiKey(
      database.prisma,
      { organizationId, createdById: admin.userId, name: 'admin key', scopes: ['read', 'write'] },
      options,
    );
    await expect(authenticateApiKey(database.prisma, secret, options)).resolves.toMatchObject({
      role: 'ADMIN',
      scopes: ['read', 'write'],
    });
    // An OWNER's write key still acts as an ADMIN: the scope is the ceiling.
    await database.prisma.membership.update({ where: { id: admin.membershipId }, data: { role: 'OWNER' } });
    await expect(authenticateApiKey(database.prisma, secret, options)).resolves.toMatchObject({
      role: 'ADMIN',
    });
    // Demoted: the key narrows with its creator, on the next request.
    await database.prisma.membership.update({ where: { id: admin.membershipId }, data: { role: 'STAFF' } });
    await expect(authenticateApiKey(database.prisma, secret, options)).resolves.toMatchObject({
      role: 'STAFF',
    });
  });

  it('stop working once their creator is no longer a member, however the membership went', async () => {
    const { organizationId } = await organisation();
    const admin = await member(organizationId, 'ADMIN');
    const { secret } = await createApiKey(
      database.prisma,
      { organizationId, createdById: admin.userId, name: 'admin key', scopes: ['read', 'write'] },
      options,
    );
    // Deleted behind the domain's back: no revocation happened, the lookup itself refuses.
    await database.prisma.membership.delete({ where: { id: admin.membershipId } });
    const error = await authenticateApiKey(database.prisma, secret, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as Error).message).toMatch(/no longer a member/);
    expect((error as AuthenticationError).genuine).toBe(true);
  });

  it('stop working while their creator has asked to delete their account, and work again if they keep it', async () => {
    const { organizationId } = await organisation();
    const admin = await member(organizationId, 'ADMIN');
    const { secret } = await createApiKey(
      database.prisma,
      { organizationId, createdById: admin.userId, name: 'admin key', scopes: ['read'] },
      options,
    );
    // The account waits for its purge; its memberships are still there.
    await database.prisma.user.update({ where: { id: admin.userId }, data: { deletedAt: new Date() } });
    const error = await authenticateApiKey(database.prisma, secret, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as Error).message).toMatch(/deleted their account/);
    expect((error as AuthenticationError).genuine).toBe(true);
    // Signing in again before the purge keeps the account, and the key with it.
    await database.prisma.user.update({ where: { id: admin.userId }, data: { deletedAt: null } });
    await expect(authenticateApiKey(database.prisma, secret, options)).resolves.toMatchObject({
      organizationId,
    });
  });

  it('stop working while their organisation has no owner', async () => {
    const { organizationId, userId: ownerId } = await organisation();
    const admin = await member(organizationId, 'ADMIN');
    const { secret } = await createApiKey(
      database.prisma,
      { organizationId, createdById: admin.userId, name: 'admin key', scopes: ['read'] },
      options,
    );
    await database.prisma.membership.deleteMany({ where: { organizationId, userId: ownerId } });
    await expect(authenticateApiKey(database.prisma, secret, options)).rejects.toThrow(/has no owner/);
    await member(organizationId, 'OWNER');
    await expect(authenticateApiKey(database.prisma, secret, options)).resolves.toMatchObject({
      role: 'STAFF',
    });
  });

  it('authenticate with one statement once lastUsedAt is fresh', async () => {
    const { secret } = await newKey(['read']);
    await authenticateApiKey(database.prisma, secret, options);
    const statements: string[] = [];
    const stop = database.onQuery(({ query }) => statements.push(query));
    try {
      await authenticateApiKey(database.prisma, secret, options);
    } finally {
      stop();
    }
    expect(statements).toHaveLength(1);
  });

  it('need a name and known scopes', async () => {
    const { organizationId, userId } = await organisation();
    const input = { organizationId, createdById: userId, name: 'k', scopes: ['read'] };
    await expect(createApiKey(database.prisma, { ...input, name: '  ' }, options)).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(createApiKey(database.prisma, { ...input, scopes: [] }, options)).rejects.toThrow(
      /at least one scope/,
    );
    await expect(
      createApiKey(database.prisma, { ...input, scopes: ['read', 'admin'] }, options),
    ).rejects.toThrow(/Unknown scopes: admin/);
    const deduped = await createApiKey(database.prisma, { ...input, scopes: ['read', 'read'] }, options);
    expect(deduped.apiKey.scopes).toEqual(['read']);
  });
});
