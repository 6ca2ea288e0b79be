import type { Config } from '../../config/index.ts';
import { createLalamoveClient, type LalamoveClient } from '../../integrations/lalamove/client.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import { DeliveryError } from './errors.ts';

/** What the delivery functions need. */
export interface DeliveryDeps {
  db: Db;
  /** Undefined when Lalamove is not configured: quoting and ordering then say delivery is unavailable. */
  lalamove: LalamoveClient | undefined;
  now: () => Date;
  /** How long a person has to confirm a quote (never longer than Lalamove honours the quote). */
  confirmMinutes: number;
  logger?: Logger;
}

/** The real dependencies for a process, from `config.delivery`. */
export function createDeliveryDeps(options: {
  db: Db;
  config: Config['delivery'];
  now: () => Date;
  logger?: Logger;
}): DeliveryDeps {
  const lalamove = options.config.lalamove;
  return {
    db: options.db,
    // Lalamove checks request timestamps against its own clock, so the client keeps the real one.
    lalamove: lalamove ? createLalamoveClient(lalamove) : undefined,
    now: options.now,
    confirmMinutes: options.config.confirmMinutes,
    logger: options.logger,
  };
}

export function requireLalamove(deps: DeliveryDeps): LalamoveClient {
  if (!deps.lalamove) {
    throw new DeliveryError('UNAVAILABLE', 'Delivery is not available here: Lalamove is not connected.');
  }
  return deps.lalamove;
}
