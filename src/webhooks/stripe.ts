/**
 * `POST /webhooks/stripe`: Stripe's events (Checkout, subscriptions, invoices), through the
 * webhook pipeline (./pipeline.ts).
 *
 * Verify, record, enqueue, answer. `Stripe-Signature` is checked by the SDK over the raw bytes
 * against every configured secret (rotation) with Stripe's 300 s tolerance; a missing or wrong
 * one is a 400 (Stripe's convention) and nothing is stored. A verified event is recorded once by
 * its id (provider `stripe`) in the same statement that enqueues its `stripe-event` job, committed
 * with the other webhooks' events of the moment in one transaction (the group commit,
 * src/platform/group-commit.ts), and answered 200 once that has committed; a redelivery is
 * answered the same and adds nothing, and a batch that fails answers 500 to every delivery in it
 * and stores none of them (Stripe delivers them again). Nothing is applied here: the job applies
 * the event (domain/billing/stripe-events.ts), in whatever order, so batching changes no outcome.
 * With billing off the route answers 404.
 */
import type Stripe from 'stripe';
import { stripeEventTask } from '../domain/billing/stripe-events.ts';
import { type StripeClient, StripeSignatureError } from '../integrations/stripe/client.ts';
import type { GroupCommit } from '../platform/group-commit.ts';
import type { Metrics } from '../platform/metrics.ts';
import { recordProviderEvent } from '../platform/provider-events.ts';
import { webhookRoute } from './pipeline.ts';

export const STRIPE_PATH = '/webhooks/stripe';

export function stripeWebhook(options: {
  /** Where events are recorded: the webhooks' group commit. */
  inbound: GroupCommit;
  stripe: StripeClient | undefined;
  bodyLimitBytes: number;
  metrics: Metrics;
}) {
  return webhookRoute<StripeClient, Stripe.Event>(
    {
      provider: 'stripe',
      target: () => options.stripe,
      unknownTarget: { error: 'Billing is off: Stripe is not configured', outcome: 'unconfigured' },
      verifyBody: (body, req, stripe) => {
        const header = req.headers['stripe-signature'];
        try {
          const event = stripe.constructEvent(body, Array.isArray(header) ? header[0] : header);
          // Signed, but no event (`{}`, `[]`, a string, an id that is no string): refused, where
          // recording it threw and it was answered 500, to be sent again for days.
          const shape = event as unknown as { id?: unknown; type?: unknown } | null;
          if (
            !shape ||
            typeof shape !== 'object' ||
            typeof shape.id !== 'string' ||
            typeof shape.type !== 'string'
          ) {
            return { ok: false, status: 400, error: 'Not a Stripe event', reason: 'no id or type' };
          }
          return { ok: true, verified: event };
        } catch (error) {
          if (!(error instanceof StripeSignatureError)) {
            // A verified body that is not JSON: the SDK's parse fails after the signature held.
            return {
              ok: false,
              status: 400,
              error: 'Unreadable Stripe event',
              reason: (error as Error).message,
            };
          }
          return { ok: false, status: 400, error: 'Bad or missing Stripe signature', reason: error.message };
        }
      },
      record: async (event, _stripe, ctx) => {
        const { stored } = await recordProviderEvent(
          options.inbound,
          { provider: 'stripe', eventId: event.id, eventType: event.type, payload: event },
          stripeEventTask,
        );
        ctx.logger.info(
          { 'webhook.platform': 'stripe', 'stripe.event': event.id, 'stripe.type': event.type, stored },
          'Stripe event',
        );
        return stored ? 'accepted' : 'duplicate';
      },
    },
    options,
  );
}
