/**
 * Organisation API keys, for developer agents (MCP) and scripts.
 *
 * Format: `<prefix>_<public id>_<secret><checksum>`, e.g.
 * `agnt_live_4fT9kQ2z_<32 base62 characters><6 base62 characters>`.
 * - The prefix (API_KEY_PREFIX) says what the string is, for people and for secret scanners.
 * - The public id with the prefix is the lookup key stored in `ApiKey.prefix` (unique), so a key is
 *   found by an index lookup and never by comparing secrets in SQL.
 * - The secret has ~190 bits of entropy; the database keeps only the SHA-256 of the whole key
 *   (a salt or slow hash adds nothing for a secret this random).
 * - The checksum is CRC32 of everything before it, in base62: a mistyped or truncated key is
 *   refused before any database lookup (and costs an attacker nothing to compute, which is fine:
 *   it protects the database from junk, not the key).
 *
 * These functions do the data work only; callers authorise (who may create, list or revoke keys of
 * an organisation).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { AuthenticationError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import type { Actor, ApiKeyScope, MembershipRole } from './actor.ts';

export const API_KEY_SCOPES: readonly ApiKeyScope[] = ['read', 'write'];

/** lastUsedAt is written at most once per this interval per key, not on every request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PUBLIC_ID_LENGTH = 8;
const SECRET_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const KEY_SHAPE = /^([a-z]+_[a-z]+)_([0-9A-Za-z]{8})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;

export interface ApiKeyOptions {
  /** config.auth.apiKeyPrefix, e.g. `agnt_live`. Keys with another prefix are refused. */
  keyPrefix: string;
  now?: () => Date;
}

/** An API key as shown to people: everything but the hash. */
export interface ApiKeySummary {
  id: string;
  organizationId: string;
  createdById: string;
  name: string;
  /** The public part of the key (`agnt_live_4fT9kQ2z`), safe to display. */
  prefix: string;
  scopes: ApiKeyScope[];
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
}

export interface ParsedApiKey {
  /** What `ApiKey.prefix` holds: `<prefix>_<public id>`. */
  lookupPrefix: string;
  keyPrefix: string;
}

const summarySelect = {
  id: true,
  organizationId: true,
  createdById: true,
  name: true,
  prefix: true,
  scopes: true,
  lastUsedAt: true,
  revokedAt: true,
  createdAt: true,
} as const;

/**
 * Creates a key and returns it with its full secret: the only time the secret exists outside the
 * caller's hands. Throws ValidationError for an empty name or unknown scopes.
 */
export async function createApiKey(
  db: Db,
  input: { organizationId: string; createdById: string; name: string; scopes: string[] },
  options: ApiKeyOptions,
  /** Checks to make in the key's own transaction, before it is written (the organisation's limit). */
  first?: (tx: Tx) => Promise<void>,
): Promise<{ apiKey: ApiKeySummary; secret: string }> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 100)
    throw new ValidationError('Name the key (1 to 100 characters)', 'name');
  const scopes = parseScopes(input.scopes);
  // A public id collision (62^8 ids) is astronomically rare; retry rather than fail if it happens
  // (the whole transaction: a failed statement ends it).
  for (let attempt = 0; ; attempt++) {
    const publicId = randomBase62(PUBLIC_ID_LENGTH);
    const body = `${options.keyPrefix}_${publicId}_${randomBase62(SECRET_LENGTH)}`;
    const secret = `${body}${checksum(body)}`;
    const insert = (client: DbOrTx) =>
      client.apiKey.create({
        data: {
          organizationId: input.organizationId,
          createdById: input.createdById,
          name,
          prefix: `${options.keyPrefix}_${publicId}`,
          secretHash: hashApiKey(secret),
          scopes,
          ...(options.now ? { createdAt: options.now() } : {}),
        },
        select: summarySelect,
      });
    try {
      const apiKey = first
        ? await db.$transaction(async (tx) => {
            await first(tx);
            return insert(tx);
          })
        : await insert(db);
      return { apiKey: toSummary(apiKey), secret };
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002' && attempt < 3) continue;
      throw error;
    }
  }
}

/**
 * Splits a presented key and checks its shape, prefix and checksum: no I/O. Returns null for
 * anything that cannot be a valid key of ours.
 */
export function parseApiKey(rawKey: string, keyPrefix: string): ParsedApiKey | null {
  const match = KEY_SHAPE.exec(rawKey.trim());
  if (!match) return null;
  const [, prefix, publicId, secret, sum] = match as unknown as [string, string, string, string, string];
  if (prefix !== keyPrefix) return null;
  if (checksum(`${prefix}_${publicId}_${secret}`) !== sum) return null;
  return { lookupPrefix: `${prefix}_${publicId}`, keyPrefix: prefix };
}

/**
 * The Actor for an API key; AuthenticationError when the key is malformed (no lookup is made),
 * unknown, revoked or does not match, when its creator is no longer a member of its organisation
 * or has deleted their account, or when the organisation has no owner left. Records lastUsedAt at most once a minute.
 *
 * A key acts with the lower of its scope's role and its creator's current role, so a demotion
 * narrows the creator's keys at once. The key, its creator's membership and whether the
 * organisation still has an owner come from one indexed query.
 */
export async function authenticateApiKey(
  db: DbOrTx,
  rawKey: string,
  options: ApiKeyOptions,
): Promise<Extract<Actor, { kind: 'apiKey' }>> {
  const parsed = parseApiKey(rawKey, options.keyPrefix);
  if (!parsed) throw new AuthenticationError('The API key is malformed (check that it was copied whole)');
  const [key] = await db.$queryRaw<KeyWithCreator[]>`
    SELECT k.id, k.organization_id AS "organizationId", k.created_by_id AS "createdById",
           k.secret_hash AS "secretHash", k.scopes, k.last_used_at AS "lastUsedAt",
           k.revoked_at AS "revokedAt", m.role::text AS "creatorRole",
           (SELECT u.deleted_at IS NOT NULL FROM users u WHERE u.id = k.created_by_id) AS "creatorDeleted",
           EXISTS (
             SELECT 1 FROM memberships o WHERE o.organization_id = k.organization_id AND o.role = 'OWNER'
           ) AS "hasOwner"
    FROM api_keys k
    LEFT JOIN memberships m ON m.organization_id = k.organization_id AND m.user_id = k.created_by_id
    WHERE k.prefix = ${parsed.lookupPrefix}`;
  if (!key) throw new AuthenticationError('The API key is not valid');
  // The row was found by its public part; the secret itself is compared in constant time.
  const expected = Buffer.from(key.secretHash, 'hex');
  const given = Buffer.from(hashApiKey(rawKey.trim()), 'hex');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new AuthenticationError('The API key is not valid');
  }
  // From here on the key is genuine: refusals are not guesses (see AuthenticationError.genuine).
  if (key.revokedAt) throw new AuthenticationError('The API key has been revoked', { genuine: true });
  if (!key.creatorRole) {
    throw new AuthenticationError(
      'The API key no longer works: the person who created it is no longer a member of its organisation',
      { genuine: true },
    );
  }
  if (key.creatorDeleted) {
    // Until the purge removes their memberships (or they sign in again and keep the account).
    throw new AuthenticationError(
      'The API key no longer works: the person who created it has deleted their account',
      { genuine: true },
    );
  }
  if (!key.hasOwner) {
    throw new AuthenticationError('The API key does not work while its organisation has no owner', {
      genuine: true,
    });
  }

  const now = options.now?.() ?? new Date();
  const staleBefore = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
  if (!key.lastUsedAt || key.lastUsedAt < staleBefore) {
    // Conditional, so a burst of requests from one key writes once, not once per request.
    await db.apiKey.updateMany({
      where: { id: key.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: staleBefore } }] },
      data: { lastUsedAt: now },
    });
  }
  const scopes = key.scopes.filter(isScope);
  const scopeRole: MembershipRole = scopes.includes('write') ? 'ADMIN' : 'STAFF';
  return {
    kind: 'apiKey',
    apiKeyId: key.id,
    organizationId: key.organizationId,
    userId: key.createdById,
    scopes,
    role: ROLE_RANK[key.creatorRole] < ROLE_RANK[scopeRole] ? key.creatorRole : scopeRole,
  };
}

interface KeyWithCreator {
  id: string;
  organizationId: string;
  createdById: string;
  secretHash: string;
  scopes: string[];
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  creatorDeleted: boolean | null;
  /** The creator's role in the key's organisation now; null once they are no longer a member. */
  creatorRole: MembershipRole | null;
  hasOwner: boolean;
}

const ROLE_RANK: Record<MembershipRole, number> = { STAFF: 1, ADMIN: 2, OWNER: 3 };

/** Every key of an organisation, newest first, revoked ones included (they show as revoked). */
export async function listApiKeys(db: DbOrTx, organizationId: string): Promise<ApiKeySummary[]> {
  const keys = await db.apiKey.findMany({
    where: { organizationId },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    select: summarySelect,
  });
  return keys.map(toSummary);
}

/**
 * Revokes a key of an organisation. NotFoundError when the organisation has no such key;
 * revoking a revoked key returns it unchanged.
 */
export async function revokeApiKey(
  db: DbOrTx,
  input: { organizationId: string; apiKeyId: string },
  options: { now?: () => Date } = {},
): Promise<ApiKeySummary> {
  const where = { id: input.apiKeyId, organizationId: input.organizationId };
  await db.apiKey.updateMany({
    where: { ...where, revokedAt: null },
    data: { revokedAt: options.now?.() ?? new Date() },
  });
  const key = await db.apiKey.findFirst({ where, select: summarySelect });
  if (!key) throw new NotFoundError('No such API key in this organisation');
  return toSummary(key);
}

export function hashApiKey(rawKey: string): string {
  return createHash('sha256').update(rawKey).digest('hex');
}

function parseScopes(scopes: string[]): ApiKeyScope[] {
  const unique = [...new Set(scopes)];
  if (unique.length === 0) throw new ValidationError('Give the key at least one scope', 'scopes');
  const unknown = unique.filter((s) => !isScope(s));
  if (unknown.length > 0) {
    throw new ValidationError(
      `Unknown scopes: ${unknown.join(', ')} (known: ${API_KEY_SCOPES.join(', ')})`,
      'scopes',
    );
  }
  return unique as ApiKeyScope[];
}

function isScope(value: string): value is ApiKeyScope {
  return (API_KEY_SCOPES as readonly string[]).includes(value);
}

function toSummary(key: Omit<ApiKeySummary, 'scopes'> & { scopes: string[] }): ApiKeySummary {
  return { ...key, scopes: key.scopes.filter(isScope) };
}

/** Uniform base62: bytes at or above 248 (= 4 × 62) are dropped so no character is favoured. */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

function checksum(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}
