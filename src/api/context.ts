import type { Actor } from '../domain/identity/actor.ts';
import type { Access } from '../domain/organizations/access.ts';
import type { Db } from '../platform/db.ts';
import type { Logger } from '../platform/logger.ts';
import type { Services } from '../wiring/services.ts';
import type { Domain } from './domain.ts';
import type { LiveAccess } from './live-access.ts';
import type { WithPrismaClient } from './prisma-client.ts';

/** What resolvers use besides domain operations: the configuration, the clock, live events. */
export type ApiServices = Pick<Services, 'config' | 'now' | 'pubsub'>;

/**
 * What every resolver gets. `actor` comes only from a verified credential (see src/api/auth.ts).
 * No field holds a Prisma client: resolvers read and write through `domain`, the domain
 * operations bound to this process's services (src/api/domain.ts). The Pothos Prisma plugin's
 * client sits under a symbol only builder.ts reads (src/api/prisma-client.ts).
 */
export interface Context extends WithPrismaClient {
  requestId: string;
  ip: string;
  actor: Actor;
  access: Access;
  logger: Logger;
  domain: Domain;
  services: ApiServices;
  /** Live subscribers' rights, cached per process (src/api/live-access.ts). */
  liveAccess: LiveAccess;
}

/** The names of `T`'s fields that hold a Prisma client. */
type ClientFields<T> = { [K in keyof T & string]: T[K] extends Db ? K : never }[keyof T & string];

/** Compiles only for `true`. */
type Holds<T extends true> = T;

/** Fails to compile if a named field of the context, its services or its domain areas is ever a Prisma client. */
export type NoClientInContext = Holds<
  [
    ClientFields<Context>,
    ClientFields<ApiServices>,
    { [A in keyof Domain]: ClientFields<Domain[A]> }[keyof Domain],
  ] extends [never, never, never]
    ? true
    : false
>;
