/**
 * Email addresses as identity: one normal form, and the user that owns each address.
 * Sign-in by code, external tokens and invitations must agree on both, so they live here once.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { User } from '../../generated/prisma/client.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { ValidationError } from '../../platform/errors.ts';

const emailSchema = z.email().max(254);

/**
 * Trims and lower-cases an address and checks its shape; throws ValidationError on `field`.
 * The local part is case-sensitive in theory, but no mail provider treats it so, and two accounts
 * for `Ann@x.com` and `ann@x.com` would be a worse failure.
 */
export function normalizeEmail(raw: string, field = 'email'): string {
  const email = raw.trim().toLowerCase();
  if (!emailSchema.safeParse(email).success) throw new ValidationError('Enter a valid email address', field);
  return email;
}

/**
 * The user with this (already normalised) address, created when there is none.
 * Race-safe: concurrent callers for one new address insert once (`ON CONFLICT DO NOTHING`), and
 * each then reads the same row. It raises no error, so it is safe inside a transaction.
 */
export async function findOrCreateUserByEmail(
  db: DbOrTx,
  email: string,
): Promise<{ user: User; created: boolean }> {
  const inserted = await db.$executeRaw`
    INSERT INTO "users" ("id", "email", "updated_at")
    VALUES (${randomUUID()}::uuid, ${email}, now())
    ON CONFLICT ("email") DO NOTHING`;
  const user = await db.user.findUniqueOrThrow({ where: { email } });
  return { user, created: inserted === 1 };
}
