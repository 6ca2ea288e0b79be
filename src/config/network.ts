/**
 * The agent network: the ClawPulse gateway our agents talk through (an outside one, or the
 * embedded one the product serves itself when none is named), and how envelopes are sent,
 * retried, received and guarded.
 */
import { z } from 'zod';
import { type Context, optional, positiveInt, trimSlash, url } from './parse.ts';

const seconds = z.coerce.number().int().min(1);

export const networkEnv = z.object({
  CLAWPULSE_GATEWAY: optional(url),
  CLAWPULSE_API_KEY: optional(z.string().min(16, 'at least 16 characters')),
  CLAWPULSE_PLATFORM_AGENT_ID: z
    .string()
    .regex(/^platform-[A-Za-z0-9_.-]{1,64}$/, 'must be platform-<name> (letters, digits, _ . -)')
    .default('platform-agnt'),
  CLAWPULSE_TIMEOUT_MS: positiveInt.default(10_000),
  CLAWPULSE_VISIBILITY_TIMEOUT_SECONDS: seconds.default(60),
  A2A_INBOX_POLL_SECONDS: seconds.max(3600).default(60),
  A2A_RESPONSE_POLL_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
  A2A_ENVELOPE_TTL_MS: z.coerce.number().int().min(1000).max(3_600_000).default(30_000),
  A2A_RETRY_DELAYS_SECONDS: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated whole seconds, e.g. 60,300,1500')
    .default('60,300,1500')
    .transform((v) => v.split(',').map(Number)),
  A2A_BREAKER_FAILURES: positiveInt.default(5),
  A2A_BREAKER_WINDOW_SECONDS: seconds.default(600),
  A2A_BREAKER_COOLDOWN_SECONDS: seconds.default(300),
  A2A_KEY_OVERLAP_SECONDS: z.coerce.number().int().min(0).default(86_400),
});
type NetworkEnv = z.output<typeof networkEnv>;

export function networkConfig(e: NetworkEnv) {
  return {
    /** An outside gateway's base URL; undefined: the embedded gateway (src/a2a/gateway). */
    gateway: e.CLAWPULSE_GATEWAY ? trimSlash(e.CLAWPULSE_GATEWAY) : undefined,
    /** Sent as `X-API-Key`; the embedded gateway requires it too. */
    apiKey: e.CLAWPULSE_API_KEY,
    /** The platform's own sender (`platform-<name>`). */
    platformAgentId: e.CLAWPULSE_PLATFORM_AGENT_ID,
    /** Deadline of each gateway call. */
    timeoutMs: e.CLAWPULSE_TIMEOUT_MS,
    /** The embedded gateway hands an unacknowledged message out again after this long. */
    visibilityTimeoutSeconds: e.CLAWPULSE_VISIBILITY_TIMEOUT_SECONDS,
    /** How often a venue agent's inbox is read when nothing wakes it sooner. */
    inboxPollSeconds: e.A2A_INBOX_POLL_SECONDS,
    /** How often a consumer agent's inbox is read while it awaits an answer. */
    responsePollMs: e.A2A_RESPONSE_POLL_MS,
    /** An envelope's `ttl_ms`: how long its answer is awaited before the person is told. */
    envelopeTtlMs: e.A2A_ENVELOPE_TTL_MS,
    /** Waits before each retry of a send that failed for now; FAILED when they are spent. */
    retryDelaysSeconds: e.A2A_RETRY_DELAYS_SECONDS,
    breaker: {
      failures: e.A2A_BREAKER_FAILURES,
      windowSeconds: e.A2A_BREAKER_WINDOW_SECONDS,
      cooldownSeconds: e.A2A_BREAKER_COOLDOWN_SECONDS,
    },
    /** How long an agent's previous signing key still verifies after a rotation. */
    keyOverlapSeconds: e.A2A_KEY_OVERLAP_SECONDS,
  };
}

export function networkProblems(e: NetworkEnv, { production }: Context): string[] {
  return production && !e.CLAWPULSE_API_KEY
    ? [
        'CLAWPULSE_API_KEY: required in production (the gateway key, for an outside gateway or the embedded one)',
      ]
    : [];
}
