/**
 * Deleting an account. The person asks (`deleteAccount`, typing DELETE to confirm): every session
 * ends at once, their access tokens are refused from then on, no reminder or re-engagement message
 * goes to them, and the account is marked deleted. ACCOUNT_PURGE_AFTER_DAYS later the daily
 * `purge-deleted-users` job erases or anonymises everything personal (src/domain/erasure/purge.ts;
 * README, "Account deletion", lists each table). Until then, signing in again with an email code
 * restores the account as it was (a change of mind, or a deletion by someone who briefly held
 * their session); after the purge that address starts a new, empty account.
 *
 * The user row itself stays, emptied: bookings (the venue's record), fees, the ledger and usage
 * (the money's record) point at it, and keep pointing at an account with no name, address or
 * contact.
 */
import { Prisma } from '../../generated/prisma/client.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { revokeAllRefreshTokens } from './refresh-tokens.ts';
import type { RevokedSessions } from './revoked-sessions.ts';

export const ACCOUNT_PURGE_AFTER_DAYS = 30;
/** What the person types to confirm. */
export const DELETE_CONFIRMATION = 'DELETE';

const DAY_MS = 86_400_000;

/**
 * Whether the organisation of membership `m` can be left behind by that member when they delete
 * their account, though nobody would be left to run it: nobody else is in it (a member deleting
 * their own account included) or invited to it, it has no venue and no claim waiting, no
 * subscription is billing it and it holds no credits (no balance of its own in the ledger). It
 * stays as it is until the purge, so signing in again finds it there; the purge deletes it when
 * nothing of the money's record names it (src/domain/erasure/purge.ts).
 */
function leftBehind(m: Prisma.Sql, now: Date): Prisma.Sql {
  return Prisma.sql`
    NOT EXISTS (SELECT 1 FROM memberships other
                WHERE other.organization_id = ${m}.organization_id AND other.user_id <> ${m}.user_id)
    AND NOT EXISTS (SELECT 1 FROM organization_invitations i
                    WHERE i.organization_id = ${m}.organization_id AND i.status = 'PENDING'
                      AND i.expires_at > ${now})
    AND NOT EXISTS (SELECT 1 FROM venues v WHERE v.organization_id = ${m}.organization_id)
    AND NOT EXISTS (SELECT 1 FROM venue_claims c
                    WHERE c.organization_id = ${m}.organization_id AND c.status = 'PENDING')
    AND NOT EXISTS (SELECT 1 FROM billing_subscriptions s
                    WHERE s.organization_id = ${m}.organization_id
                      AND s.status NOT IN ('canceled', 'incomplete_expired'))
    AND NOT EXISTS (SELECT 1 FROM ledger_accounts a
                    WHERE a.owner_kind = 'ORGANIZATION' AND a.owner_id = ${m}.organization_id
                      AND a.balance <> 0)`;
}

/**
 * The person is the only owner of an organisation someone must be left to run (one with a venue,
 * another member, an invitation out, a claim waiting, a subscription billing it or credits).
 */
export class SoleOwnerError extends ConflictError {
  override name = 'SoleOwnerError';
}

export interface AccountDeletion {
  deletedAt: Date;
  /** From when the purge may erase the account. */
  purgeAfter: Date;
}

const deletionOf = (deletedAt: Date): AccountDeletion => ({
  deletedAt,
  purgeAfter: new Date(deletedAt.getTime() + ACCOUNT_PURGE_AFTER_DAYS * DAY_MS),
});

/**
 * Marks the person's account deleted and ends every session of theirs. Asking again changes
 * nothing (the first request's date stands). ValidationError on `confirm` unless it is DELETE;
 * SoleOwnerError while they are the only owner of an organisation someone must be left to run.
 */
export async function requestAccountDeletion(
  deps: { db: Db; sessions: RevokedSessions; now: () => Date },
  userId: string,
  input: { confirm: string },
): Promise<AccountDeletion> {
  if (input.confirm !== DELETE_CONFIRMATION) {
    throw new ValidationError(`Type ${DELETE_CONFIRMATION} to confirm deleting your account`, 'confirm');
  }
  const now = deps.now();
  const deletedAt = await deps.db.$transaction(async (tx) => {
    const [user] = await tx.$queryRaw<{ deleted_at: Date | null }[]>`
      SELECT deleted_at FROM users WHERE id = ${userId}::uuid FOR UPDATE`;
    if (!user) throw new NotFoundError('No such account');
    if (user.deleted_at) return user.deleted_at;
    // The owner rows of this person's organisations, locked: two owners deleting their accounts
    // at once take turns, and the second sees the first gone.
    await tx.$queryRaw`
      SELECT other.id FROM memberships other
      WHERE other.role = 'OWNER' AND other.organization_id IN (
        SELECT organization_id FROM memberships WHERE user_id = ${userId}::uuid AND role = 'OWNER')
      ORDER BY other.id
      FOR UPDATE`;
    // Another owner counts only while their own account is not being deleted. An organisation
    // the person is alone in, with nothing in it, needs nobody left to run it (leftBehind).
    const owned = await tx.$queryRaw<{ name: string }[]>`
      SELECT o.name FROM memberships m JOIN organizations o ON o.id = m.organization_id
      WHERE m.user_id = ${userId}::uuid AND m.role = 'OWNER'
        AND NOT EXISTS (SELECT 1 FROM memberships other JOIN users u ON u.id = other.user_id
                        WHERE other.organization_id = m.organization_id AND other.role = 'OWNER'
                          AND other.user_id <> m.user_id AND u.deleted_at IS NULL)
        AND NOT (${leftBehind(Prisma.sql`m`, now)})`;
    if (owned.length) {
      throw new SoleOwnerError(
        `You are the only owner of ${owned.map((o) => o.name).join(', ')}: make someone else an owner first`,
      );
    }
    await tx.user.update({ where: { id: userId }, data: { deletedAt: now } });
    return now;
  });
  // Every session, whether or not this was the first request (it may have been cut short).
  await revokeAllRefreshTokens({ db: deps.db, sessions: deps.sessions }, userId, now);
  return deletionOf(deletedAt);
}

/** Undoes a deletion not yet purged (the person signed in again). True when there was one. */
export async function restoreAccount(db: DbOrTx, userId: string): Promise<boolean> {
  const { count } = await db.user.updateMany({
    where: { id: userId, deletedAt: { not: null }, purgedAt: null },
    data: { deletedAt: null },
  });
  return count === 1;
}
