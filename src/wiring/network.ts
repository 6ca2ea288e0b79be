/**
 * The agent network's services: the ClawPulse client every agent of ours talks through. With
 * CLAWPULSE_GATEWAY set it goes to that gateway over HTTP; without, to the gateway the product
 * serves itself (src/a2a/gateway), through the same client.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/index.ts';
import { createEnvelopeBreakers, type EnvelopeBreakers } from '../domain/a2a/breakers.ts';
import type { IntentHandlers } from '../domain/a2a/handle.ts';
import { type ClawPulseClient, createClawPulseClient } from '../integrations/clawpulse/client.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { RedisHandle } from '../platform/redis.ts';

export interface NetworkServices {
  clawpulse: ClawPulseClient;
  /** The gateway key in force (configured, or generated outside production). */
  gatewayKey: string;
  /** The envelope send breakers, global and per recipient, shared through Redis. */
  breakers: EnvelopeBreakers;
  /**
   * What each inbound intent means (src/domain/a2a/handle.ts): filled in by the venue agent and
   * the consumer side; an intent with no handler is recorded as handled with a note.
   */
  handlers: IntentHandlers;
  /** Where envelope counts go: the app's metrics, set by the role that sends and receives. */
  metrics?: Pick<Metrics, 'a2aEnvelopes'>;
}

/** A gateway key for development and tests when none is configured (never in production). */
export function generateGatewayKey(): string {
  return randomBytes(24).toString('base64url');
}

export function buildNetwork(
  config: Config,
  options: { gatewayKey: string; redis: RedisHandle; embeddedFetch?: typeof fetch },
) {
  const network = config.network;
  const clawpulse = network.gateway
    ? createClawPulseClient({
        baseUrl: network.gateway,
        apiKey: options.gatewayKey,
        timeoutMs: network.timeoutMs,
      })
    : createClawPulseClient({
        baseUrl: `${config.http.publicUrl}/clawpulse`,
        apiKey: options.gatewayKey,
        timeoutMs: network.timeoutMs,
        fetch: options.embeddedFetch,
      });
  return {
    clawpulse,
    gatewayKey: options.gatewayKey,
    breakers: createEnvelopeBreakers(options.redis, network.breaker),
    handlers: {},
  } satisfies NetworkServices;
}
