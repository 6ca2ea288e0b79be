import type { Actor } from '../domain/identity/actor.ts';
import type { Access } from '../domain/organizations/access.ts';
import type { Logger } from '../platform/logger.ts';
import type { Services } from '../wiring/services.ts';

/**
 * The dependencies resolvers hand on to domain functions, and no more. `db` is among them because
 * domain functions take it, and because the Pothos Prisma plugin plans its selections on it
 * (`prisma.client` in builder.ts); resolvers never query it themselves: a read a field needs is
 * a domain function that takes the plugin's `query` selection.
 */
export type ApiServices = Pick<
  Services,
  | 'config'
  | 'logger'
  | 'db'
  | 'now'
  | 'keyring'
  | 'bookings'
  | 'pubsub'
  | 'revokedSessions'
  | 'mailer'
  | 'limiter'
  | 'keys'
>;

/** What every resolver gets. `actor` comes only from a verified credential (see src/api/auth.ts). */
export interface Context {
  requestId: string;
  ip: string;
  actor: Actor;
  access: Access;
  logger: Logger;
  services: ApiServices;
}
