import type { Actor } from '../domain/identity/actor.ts';
import type { Access } from '../domain/organizations/access.ts';
import type { Logger } from '../platform/logger.ts';
import type { Services } from '../wiring/services.ts';

/**
 * What every resolver gets. `actor` comes only from a verified credential (see src/api/auth.ts).
 * `services` holds the dependencies domain functions take; resolvers pass them on, they do not
 * query the database themselves (the Pothos Prisma plugin reads `services.db` to plan selections).
 */
export interface Context {
  requestId: string;
  ip: string;
  actor: Actor;
  access: Access;
  logger: Logger;
  services: Services;
}
