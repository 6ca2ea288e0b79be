import type { LalamoveClient } from '../../integrations/lalamove/client.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import { DeliveryError } from './errors.ts';

/** What the delivery functions need; the composition root builds the Lalamove client once. */
export interface DeliveryDeps {
  db: Db;
  /** Undefined when Lalamove is not configured: quoting and ordering then say delivery is unavailable. */
  lalamove: LalamoveClient | undefined;
  now: () => Date;
  /** How long a person has to confirm a quote (never longer than Lalamove honours the quote). */
  confirmMinutes: number;
  logger?: Logger;
}

export function requireLalamove(deps: DeliveryDeps): LalamoveClient {
  if (!deps.lalamove) {
    throw new DeliveryError('UNAVAILABLE', 'Delivery is not available here: Lalamove is not connected.');
  }
  return deps.lalamove;
}
