/**
 * The one inbound webhook pipeline: every provider's POST route is
 *
 *   find its target (a bot, a number, an account) → verify → read the body → verify the bytes →
 *   record each event once, with the job that handles it → answer 200
 *
 * and nothing else runs before the answer: the work happens in the job. A provider is a
 * `WebhookProvider` description of those steps; the pipeline owns their order, the answers and
 * the `webhook_requests_total{platform,outcome}` count.
 *
 * - Unknown target: 404 (`outcome` the description's `unknownTarget`), body not read.
 * - `verifyRequest` (headers only) refuses before the body is read, so a caller without the
 *   secret costs nothing more; `verifyBody` checks a signature over the raw bytes, never a
 *   re-serialisation. A refusal is a 401 (`unauthorized`), or the status the provider's
 *   convention asks for (Stripe: 400), and nothing is stored.
 * - `record` stores what the verified body holds, each event once by the provider's event id,
 *   with its job (see `recordInbound` for the chat platforms, `recordProviderEvent` for the
 *   others); it returns the outcome to count. Bodies we cannot read are recorded too, as failed,
 *   and still answered 200 so the provider stops redelivering them.
 * - Every provider records through the one group commit (src/platform/group-commit.ts): the
 *   answer waits for the commit of the batch its events went in, and a batch that fails is a 500
 *   (`error`) to every request in it, with nothing of it stored.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type RequestContext, readBody, sendJson } from '../platform/http.ts';
import type { Metrics } from '../platform/metrics.ts';

/** Why a request is refused: the 401's message, and a reason for the log. */
export interface Refusal {
  error: string;
  reason?: string;
  /** The answer's status: 401 unless the provider's convention differs (Stripe expects 400). */
  status?: 400 | 401;
}

/** What `verifyBody` found: the verified content `record` gets, or a refusal. */
export type Verification<Verified> = { ok: true; verified: Verified } | ({ ok: false } & Refusal);

export interface WebhookProvider<Target, Verified = Buffer> {
  /** The `platform` label of `webhook_requests_total`. */
  provider: string;
  /** Who the delivery is for, from the request (its URL); undefined is a 404. */
  target(ctx: RequestContext): Target | undefined;
  /** The 404's message and outcome. */
  unknownTarget?: { error: string; outcome: string };
  /** Checks what needs no body (a shared secret in a header). */
  verifyRequest?(req: IncomingMessage, target: Target): Refusal | null;
  /**
   * A body that is no event at all and only needs a 200 (a provider's registration ping);
   * returns the outcome to count, or null for a delivery. Runs before `verifyBody`.
   */
  ping?(body: Buffer): string | null;
  /**
   * Checks the raw body (a signature over its exact bytes) and hands `record` what it verified.
   * Without it, `record` gets the body itself.
   */
  verifyBody?(
    body: Buffer,
    req: IncomingMessage,
    target: Target,
    ctx: RequestContext,
  ): Verification<Verified>;
  /** Records the verified body's events, each once, with their jobs; returns the outcome. */
  record(verified: Verified, target: Target, ctx: RequestContext, body: Buffer): Promise<string>;
}

/** The route handler running `provider` through the pipeline. */
export function webhookRoute<Target, Verified = Buffer>(
  provider: WebhookProvider<Target, Verified>,
  options: { bodyLimitBytes: number; metrics: Metrics },
) {
  const count = (outcome: string) => options.metrics.webhooks.inc({ platform: provider.provider, outcome });
  const refuse = (res: ServerResponse, ctx: RequestContext, refusal: Refusal) => {
    count('unauthorized');
    if (refusal.reason) {
      ctx.logger.warn(
        { 'webhook.platform': provider.provider, 'webhook.reason': refusal.reason },
        'refused a webhook',
      );
    }
    sendJson(res, refusal.status ?? 401, { error: refusal.error });
  };

  return async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const target = provider.target(ctx);
    if (target === undefined) {
      const unknown = provider.unknownTarget ?? { error: 'Not found', outcome: 'unknown_target' };
      req.resume();
      count(unknown.outcome);
      sendJson(res, 404, { error: unknown.error });
      return;
    }
    const early = provider.verifyRequest?.(req, target);
    if (early) {
      req.resume();
      refuse(res, ctx, early);
      return;
    }
    const body = await readBody(req, options.bodyLimitBytes);
    const ping = provider.ping?.(body);
    if (ping) {
      count(ping);
      sendJson(res, 200, { ok: true });
      return;
    }
    const check = provider.verifyBody?.(body, req, target, ctx) ?? { ok: true, verified: body as Verified };
    if (!check.ok) {
      refuse(res, ctx, check);
      return;
    }
    let outcome: string;
    try {
      outcome = await provider.record(check.verified, target, ctx, body);
    } catch (error) {
      // Nothing was stored (a failed batch stores none of its events): the HTTP layer answers
      // 500, and the provider delivers again.
      count('error');
      throw error;
    }
    count(outcome);
    sendJson(res, 200, { ok: true });
  };
}
