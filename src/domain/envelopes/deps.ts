/**
 * What the A2A functions need, assembled from a process's services by the worker's task files:
 * one place that says which settings of `config.network` reach the domain, as plain values.
 */
import type { ClawPulseClient } from '../../integrations/clawpulse/client.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import type { EnvelopeBreakers } from './breakers.ts';
import type { ReceiveDeps } from './receive.ts';
import type { SendDeps } from './send.ts';

export interface EnvelopeDeps extends SendDeps, ReceiveDeps {}

export function envelopeDeps(input: {
  db: Db;
  keyring: SecretKeyring;
  clawpulse: ClawPulseClient;
  breakers: EnvelopeBreakers;
  logger: Logger;
  now: () => Date;
  network: { platformAgentId: string; retryDelaysSeconds: readonly number[]; envelopeTtlMs: number };
  metrics?: Pick<Metrics, 'a2aEnvelopes'> & Partial<Pick<Metrics, 'a2aInboxLagSeconds'>>;
}): EnvelopeDeps {
  return {
    db: input.db,
    keyring: input.keyring,
    client: input.clawpulse,
    breakers: input.breakers,
    logger: input.logger,
    now: input.now,
    platformAgentId: input.network.platformAgentId,
    retryDelaysSeconds: input.network.retryDelaysSeconds,
    envelopeTtlMs: input.network.envelopeTtlMs,
    metrics: input.metrics,
  };
}
