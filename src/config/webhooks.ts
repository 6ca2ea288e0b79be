/**
 * Inbound webhooks (all of them): how long a recorded event may wait to commit with others
 * (group commit).
 *
 * Outbound webhooks: which targets may be reached despite being private addresses (and over
 * plain http in production), how long a delivery is retried, and when a failing subscription
 * is disabled.
 */
import { z } from 'zod';
import { allowListProblems, parseAllowList } from '../platform/address-policy.ts';
import { list, positiveInt } from './parse.ts';

export const webhooksEnv = z.object({
  WEBHOOK_ALLOWED_HOSTS: list,
  WEBHOOK_TIMEOUT_MS: positiveInt.max(60_000).default(10_000),
  WEBHOOK_RETRY_HOURS: positiveInt.default(72),
  WEBHOOK_DISABLE_AFTER_HOURS: positiveInt.default(120),
  WEBHOOK_BATCH_WINDOW_MS: z.coerce.number().int().min(0).max(1000).default(2),
  WEBHOOK_BATCH_MAX: positiveInt.max(10_000).default(200),
});
type WebhooksEnv = z.output<typeof webhooksEnv>;

export function webhooksConfig(e: WebhooksEnv) {
  return {
    /**
     * Targets allowed although they resolve to private, loopback or link-local addresses (and,
     * in production, over http): host names, matched exactly, and address ranges (CIDR).
     */
    allowed: parseAllowList(e.WEBHOOK_ALLOWED_HOSTS),
    /** How long one attempt waits for the receiver's answer. */
    timeoutMs: e.WEBHOOK_TIMEOUT_MS,
    /** How long a delivery is retried (with growing waits) before it is FAILED. */
    retryHours: e.WEBHOOK_RETRY_HOURS,
    /** A subscription whose attempts have all failed for this long is disabled, its owners told. */
    disableAfterHours: e.WEBHOOK_DISABLE_AFTER_HOURS,
    /**
     * Inbound events (every webhook's: the chat platforms', Stripe's, Lalamove's) are committed
     * in batches, one group commit per process: an event that arrives while a batch commits waits
     * for it, at most `windowMs` (0: each request commits alone), and a batch of `maxStatements`
     * events goes at once. Each request is answered after its batch's commit.
     */
    inboundBatch: { windowMs: e.WEBHOOK_BATCH_WINDOW_MS, maxStatements: e.WEBHOOK_BATCH_MAX },
  };
}

export function webhooksProblems(e: WebhooksEnv): string[] {
  return allowListProblems('WEBHOOK_ALLOWED_HOSTS', e.WEBHOOK_ALLOWED_HOSTS);
}
