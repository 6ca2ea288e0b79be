import type { Prisma } from '../../generated/prisma/client.ts';
import type { DbOrTx } from '../../platform/db.ts';

/** A person by id, with what `query` selects (a Prisma select or include), or null. */
export function findUser(db: DbOrTx, userId: string, query: Prisma.UserDefaultArgs = {}) {
  return db.user.findUnique({ ...query, where: { id: userId } });
}
