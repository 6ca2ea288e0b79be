/**
 * The agent network's services: the ClawPulse client every agent of ours talks through. With
 * CLAWPULSE_GATEWAY set it goes to that gateway over HTTP; without, to the gateway the product
 * serves itself (src/a2a/gateway), through the same client.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/index.ts';
import { type ClawPulseClient, createClawPulseClient } from '../integrations/clawpulse/client.ts';

export interface NetworkServices {
  clawpulse: ClawPulseClient;
  /** The gateway key in force (configured, or generated outside production). */
  gatewayKey: string;
}

/** A gateway key for development and tests when none is configured (never in production). */
export function generateGatewayKey(): string {
  return randomBytes(24).toString('base64url');
}

export function buildNetwork(config: Config, options: { gatewayKey: string; embeddedFetch?: typeof fetch }) {
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
  return { clawpulse, gatewayKey: options.gatewayKey } satisfies NetworkServices;
}
