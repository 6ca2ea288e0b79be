/**
 * What the envelope tasks (a2a-send, a2a-inbox) hand the A2A functions: the process's network
 * services and the settings of `config.network` they read, with the job's own logger.
 */
import { type EnvelopeDeps, envelopeDeps } from '../domain/envelopes/deps.ts';
import type { Logger } from '../platform/logger.ts';
import type { TaskContext } from './handler.ts';

export type EnvelopeServices = TaskContext<'config' | 'db' | 'keyring' | 'network' | 'now'>['services'];

export function envelopeDepsOf(services: EnvelopeServices, logger: Logger): EnvelopeDeps {
  return envelopeDeps({
    ...services,
    clawpulse: services.network.clawpulse,
    breakers: services.network.breakers,
    network: services.config.network,
    metrics: services.network.metrics,
    logger,
  });
}
