/**
 * The agent network's services: the ClawPulse client every agent of ours talks through. With
 * CLAWPULSE_GATEWAY set it goes to that gateway over HTTP; without, to the gateway the product
 * serves itself (src/a2a/gateway): PostgreSQL inboxes, reached in-process through the same client
 * in every role, and served at `/clawpulse` by the api role for agents elsewhere. Beside it, the
 * envelope breakers (shared through Redis) and the registry of what each inbound intent means.
 */
import { randomBytes } from 'node:crypto';
import { createEmbeddedGateway, type EmbeddedGateway } from '../a2a/gateway/embedded.ts';
import type { Config } from '../config/index.ts';
import { isHostedAgent } from '../domain/agents/agents.ts';
import type { BookingEffects } from '../domain/bookings/effects.ts';
import type { LlmGateway } from '../domain/conversation/messages.ts';
import { createEnvelopeBreakers, type EnvelopeBreakers } from '../domain/envelopes/breakers.ts';
import type { IntentHandlers } from '../domain/envelopes/handle.ts';
import { consumerAgentHandlers } from '../domain/network/consumer-agent.ts';
import { venueAgentHandlers } from '../domain/network/venue-agent.ts';
import { type ClawPulseClient, createClawPulseClient } from '../integrations/clawpulse/client.ts';
import type { Db } from '../platform/db.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { RedisHandle } from '../platform/redis.ts';

export interface NetworkServices {
  clawpulse: ClawPulseClient;
  /** The gateway key in force (configured, or generated outside production). */
  gatewayKey: string;
  /** The embedded gateway, when no outside one is configured. */
  gateway: EmbeddedGateway | undefined;
  /** The envelope send breakers, global and per recipient, shared through Redis. */
  breakers: EnvelopeBreakers;
  /**
   * What each inbound intent means (src/domain/envelopes/handle.ts): filled in by the venue agent and
   * the consumer side; an intent with no handler is recorded as handled with a note.
   */
  handlers: IntentHandlers;
  /** Where envelope counts go: the app's metrics, set by the role that sends and receives. */
  metrics?: Pick<Metrics, 'a2aEnvelopes' | 'a2aDecisionSeconds' | 'a2aInboxLagSeconds'>;
}

/** A gateway key for development and tests when none is configured (never in production). */
export function generateGatewayKey(): string {
  return randomBytes(24).toString('base64url');
}

export function buildNetwork(
  config: Config,
  options: { db: Db; gatewayKey: string; logger: Logger; redis: RedisHandle; now?: () => Date },
): NetworkServices {
  const network = config.network;
  const envelopes = {
    breakers: createEnvelopeBreakers(options.redis, network.breaker),
    handlers: {},
  };
  if (network.gateway) {
    return {
      clawpulse: createClawPulseClient({
        baseUrl: network.gateway,
        apiKey: options.gatewayKey,
        timeoutMs: network.timeoutMs,
      }),
      gatewayKey: options.gatewayKey,
      gateway: undefined,
      ...envelopes,
    };
  }
  const gateway = createEmbeddedGateway({
    db: options.db,
    hostedHere: (agentId) => isHostedAgent(options.db, agentId, network.platformAgentId),
    apiKey: options.gatewayKey,
    visibilityTimeoutSeconds: network.visibilityTimeoutSeconds,
    bodyLimitBytes: config.http.bodyLimitBytes,
    logger: options.logger,
    now: options.now,
  });
  return {
    clawpulse: createClawPulseClient({
      baseUrl: gateway.baseUrl,
      apiKey: options.gatewayKey,
      timeoutMs: network.timeoutMs,
      fetch: gateway.fetch,
    }),
    gatewayKey: options.gatewayKey,
    gateway,
    ...envelopes,
  };
}

/**
 * What each inbound intent means, for the agents this product runs: the venue's business agent
 * (requests, questions, changes from guests' agents) and, beside it, the consumer side (answers
 * from venues). Built once the services they use exist; `metrics` is read when a handler runs,
 * since the role that handles envelopes sets it after start-up.
 */
export function networkHandlers(services: {
  network: NetworkServices;
  bookings: { effects: BookingEffects; requestMinutes: number };
  pubsub: { publish(topic: string, payload: unknown): Promise<void> };
  llm: LlmGateway;
  logger: Logger;
  now: () => Date;
}): IntentHandlers {
  const { network } = services;
  return {
    ...consumerAgentHandlers({
      bookings: { effects: services.bookings.effects, now: services.now },
      get metrics() {
        return network.metrics;
      },
    }),
    ...venueAgentHandlers({
      now: services.now,
      effects: services.bookings.effects,
      requestMinutes: services.bookings.requestMinutes,
      logger: services.logger,
      llm: services.llm,
      publish: (topic, payload) => services.pubsub.publish(topic, payload),
      get metrics() {
        return network.metrics;
      },
    }),
  };
}
