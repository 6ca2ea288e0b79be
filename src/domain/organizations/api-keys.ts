/**
 * An organisation's API keys, as its managers see them. Keys are made and revoked by people (never
 * by another key, so a leaked key can neither mint more nor revoke the others) and act within
 * their organisation only, with at most their creator's current role there (authenticateApiKey).
 */
import { z } from 'zod';
import type { MembershipRole } from '../../generated/prisma/enums.ts';
import { type Db, holdKeys } from '../../platform/db.ts';
import { ConflictError, NotAllowedError, NotFoundError } from '../../platform/errors.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../identity/api-keys.ts';
import { type Access, MANAGERS } from './access.ts';

/** An organisation holds as many live keys as it may: one must be revoked before another is made. */
export class ApiKeyLimitError extends ConflictError {
  override name = 'ApiKeyLimitError';
  constructor(limit: number) {
    super(
      `An organisation holds at most ${limit} API keys that are not revoked: revoke one first (a key used today and revoked keeps its place until midnight UTC)`,
    );
  }
}

/** lastUsedAt is written at most once a minute (identity/api-keys.ts): a use this long before midnight may be today's. */
const LAST_USED_LAG_MS = 60_000;

/**
 * Makes an API key for the organisation. Its keys are capped (`keysPerOrganization`,
 * API_KEYS_PER_ORGANIZATION): each key has its own daily quota, and keys without end would make
 * that quota without end. A key revoked today after it was used today still holds its place until
 * midnight UTC, when the quotas start again: otherwise revoking a spent key and making another
 * would give a fresh quota each time. An organisation's keys are counted and made one at a time,
 * by a creator still one of its managers when the key is written (a removal that commits first is
 * refused the key; one that commits after revokes it with the creator's others).
 */
export async function createOrganizationApiKey(
  db: Db,
  access: Access,
  input: { organizationId: string; name: string; scopes: string[] },
  options: { keyPrefix: string; keysPerOrganization: number; now?: () => Date },
) {
  const userId = access.requirePerson();
  await access.require(input.organizationId, MANAGERS);
  // A key acts with its creator's role, so a platform admin who is no manager of the organisation
  // would make a key that never works: refused here rather than handed out dead.
  const role = await access.roleIn(input.organizationId);
  if (!role || !MANAGERS.includes(role)) {
    throw new NotAllowedError(
      "Only the organisation's owners and admins can create its API keys: a key acts with its creator's role there",
    );
  }
  const now = options.now?.() ?? new Date();
  const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  return createApiKey(db, { ...input, createdById: userId }, options, async (tx) => {
    await holdKeys(tx, `api-keys-of:${input.organizationId}`);
    // Still a manager, and staying one until the key is written (removeMember waits for it).
    const [still] = await tx.$queryRaw<{ role: MembershipRole }[]>`
      SELECT role FROM memberships
      WHERE organization_id = ${input.organizationId}::uuid AND user_id = ${userId}::uuid FOR SHARE`;
    if (!still || !MANAGERS.includes(still.role)) throw new NotAllowedError();
    const held = await tx.apiKey.count({
      where: {
        organizationId: input.organizationId,
        OR: [
          { revokedAt: null },
          {
            revokedAt: { gte: today },
            lastUsedAt: { gte: new Date(today.getTime() - LAST_USED_LAG_MS) },
          },
        ],
      },
    });
    if (held >= options.keysPerOrganization) throw new ApiKeyLimitError(options.keysPerOrganization);
  });
}

export async function revokeOrganizationApiKey(
  db: Db,
  access: Access,
  input: { apiKeyId: string },
  options: { now?: () => Date } = {},
) {
  access.requirePerson();
  const organizationId = await organizationOfApiKey(db, input.apiKeyId);
  if (!organizationId) throw new NotFoundError('No such API key');
  await access.require(organizationId, MANAGERS);
  return revokeApiKey(db, { organizationId, apiKeyId: input.apiKeyId }, options);
}

export async function listOrganizationApiKeys(db: Db, access: Access, organizationId: string) {
  await access.require(organizationId, MANAGERS);
  return listApiKeys(db, organizationId);
}

/** The organisation an API key belongs to, or null (for authorising before the real work). */
export async function organizationOfApiKey(db: Db, apiKeyId: string): Promise<string | null> {
  if (!z.uuid().safeParse(apiKeyId).success) return null;
  const key = await db.apiKey.findUnique({ where: { id: apiKeyId }, select: { organizationId: true } });
  return key?.organizationId ?? null;
}
