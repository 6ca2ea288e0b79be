/**
 * How long the daily `data-retention` job keeps the settled records that only serve as history
 * and as a guard against duplicates (src/domain/operations/retention.ts). Records still in
 * progress are never deleted, whatever these say.
 *
 * Each has a floor below which deleting a record could let its duplicate in: a provider or a
 * platform still redelivering it, or one of our own sweeps recording the same usage again (and
 * billing it twice).
 */
import { z } from 'zod';

const days = (floor: number, why: string) =>
  z.coerce
    .number()
    .int()
    .min(floor, `at least ${floor} ${floor === 1 ? 'day' : 'days'} (${why})`);

export const retentionEnv = z.object({
  RETENTION_PROVIDER_EVENTS_DAYS: days(30, 'Stripe keeps and can resend an event for 30 days').default(90),
  RETENTION_USAGE_EVENTS_DAYS: days(
    90,
    'the usage sweeps look back up to 35 days and would record a deleted event again',
  ).default(400),
  RETENTION_INBOUND_EVENTS_DAYS: days(8, 'WhatsApp redelivers an event for up to 7 days').default(30),
  RETENTION_FAILED_INBOUND_DAYS: days(8, 'WhatsApp redelivers an event for up to 7 days').default(90),
  RETENTION_MESSAGE_TEXT_DAYS: days(1, 'a message is sent, or given up, within hours').default(30),
});

export function retentionConfig(e: z.output<typeof retentionEnv>) {
  return {
    /** Stripe and Lalamove events, counted from when they were applied; unapplied ones are kept. */
    providerEventsDays: e.RETENTION_PROVIDER_EVENTS_DAYS,
    /** Usage events reported to Stripe (or abandoned), counted from when the usage happened. */
    usageEventsDays: e.RETENTION_USAGE_EVENTS_DAYS,
    /** Chat messages received and handled (or ignored); pending and failed ones are kept. */
    inboundEventsDays: e.RETENTION_INBOUND_EVENTS_DAYS,
    /** Chat messages received whose handling failed: time for an operator to retry them. */
    failedInboundDays: e.RETENTION_FAILED_INBOUND_DAYS,
    /**
     * What we sent (a reply's or a notice's text, buttons, an email's subject and address),
     * emptied this long after it was written once sent or given up; the row stays, its dedupe key
     * with it.
     */
    messageTextDays: e.RETENTION_MESSAGE_TEXT_DAYS,
  };
}
