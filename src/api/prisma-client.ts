/**
 * The Prisma client the Pothos Prisma plugin plans its selections on (`prisma.client` in
 * builder.ts), carried in the context under a symbol rather than a named field.
 *
 * The plugin needs a client per request: the builder is one per process, but each app (and each
 * test's app, with its own database) has its own client, so it cannot be a module constant.
 * A symbol keeps it out of what resolvers see: `ctx.<name>` never reaches it, and the only way in
 * is this module, which scripts/check-imports.ts lets only context.ts (for the type), builder.ts
 * and yoga.ts import. Resolvers reach the database through `ctx.domain` (src/api/domain.ts).
 */
import type { Db } from '../platform/db.ts';

export const prismaClient: unique symbol = Symbol('prismaClient');

/** The part of the context only the Prisma plugin reads. */
export interface WithPrismaClient {
  readonly [prismaClient]: Db;
}
