/**
 * People and organisations, written straight to the database with values no other test shares
 * (a fresh email, a fresh name), so tests run side by side on one database and never need a wipe.
 */
import { randomBytes } from 'node:crypto';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import type { MembershipRole } from '../../src/generated/prisma/enums.ts';
import type { Db } from '../../src/platform/db.ts';
import { uniqueEmail } from '../helpers/app.ts';

/** A short random tag for names, slugs and keys that must not clash between tests. */
export const tag = (bytes = 3) => randomBytes(bytes).toString('hex');

/** A new user with a unique email; `fields` add or replace columns. */
export function createPerson(db: Db, fields: Partial<Prisma.UserCreateInput> & { label?: string } = {}) {
  const { label = 'person', ...data } = fields;
  return db.user.create({ data: { email: uniqueEmail(label), ...data } });
}

/** A new organisation whose `members` hold their roles; `trustedAt` set publishes without review. */
export function createOrganization(
  db: Db,
  options: {
    name?: string;
    members?: { userId: string; role: MembershipRole }[];
    trustedAt?: Date;
  } = {},
) {
  return db.organization.create({
    data: {
      name: options.name ?? `Organisation ${tag()}`,
      trustedAt: options.trustedAt,
      memberships: options.members ? { create: options.members } : undefined,
    },
  });
}
