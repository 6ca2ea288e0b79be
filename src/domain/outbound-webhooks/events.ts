/**
 * What webhooks tell: the event types an organisation may subscribe to, and the booking change
 * hook that queues them. Deliveries are written in the transaction of the change that causes
 * them (an outbox), so a change that rolls back sends nothing and a committed one is never lost.
 *
 * Adding an event: its name in `WEBHOOK_EVENTS` (and the GraphQL enum), and a `queueWebhookEvent`
 * call in the transaction of the change it reports. Billing's are queued by src/domain/billing
 * (billing-events.ts says where).
 */
import { randomUUID } from 'node:crypto';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { BookingStatus } from '../../generated/prisma/enums.ts';
import type { DbOrTx, Tx } from '../../platform/db.ts';
import type { BookingChange, BookingChangeHook } from '../bookings/effects.ts';
import { wakeDrain } from './tasks.ts';

export const WEBHOOK_EVENTS = [
  'booking.requested',
  'booking.confirmed',
  'booking.declined',
  'booking.cancelled',
  'booking.completed',
  'billing.subscription.updated',
  'billing.invoice.finalized',
  'billing.invoice.paid',
  'billing.fee.accrued',
  'billing.fee.waived',
  'billing.credits.purchased',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The event a test delivery carries; not subscribable, sent to whoever asks. */
export const TEST_EVENT = 'webhook.test';

const BOOKING_EVENTS: Partial<Record<BookingStatus, WebhookEvent>> = {
  REQUESTED: 'booking.requested',
  CONFIRMED: 'booking.confirmed',
  DECLINED: 'booking.declined',
  CANCELLED_BY_GUEST: 'booking.cancelled',
  CANCELLED_BY_VENUE: 'booking.cancelled',
  COMPLETED: 'booking.completed',
};

/** The event a booking change is, or null when it is none a receiver is told of. */
export function bookingEvent(change: Pick<BookingChange, 'booking' | 'from'>): WebhookEvent | null {
  if (change.from === change.booking.status) return null;
  return BOOKING_EVENTS[change.booking.status] ?? null;
}

/** The booking as receivers see it: what the venue's organisation knows, no guest's details. */
export function bookingData(change: Pick<BookingChange, 'booking' | 'from'>): Prisma.InputJsonObject {
  const { booking } = change;
  return {
    bookingId: booking.id,
    venueId: booking.venueId,
    status: booking.status,
    previousStatus: change.from,
    partySize: booking.partySize,
    startsAt: booking.startsAt.toISOString(),
    endsAt: booking.endsAt.toISOString(),
    source: booking.source,
  };
}

/** The body of a delivery: Standard Webhooks' recommended `{ type, timestamp, data }`. */
export function eventBody(type: string, at: Date, data: Prisma.InputJsonObject): Prisma.InputJsonObject {
  return { type, timestamp: at.toISOString(), data };
}

/**
 * Queues `type` for every enabled subscription of the organisation that asked for it: one
 * delivery each (one `webhook-id` shared by all), and a wake of each subscription's drain, on
 * `tx`. Returns how many were queued.
 */
export async function queueWebhookEvent(
  tx: DbOrTx,
  input: {
    organizationId: string;
    type: WebhookEvent;
    data: Prisma.InputJsonObject;
    bookingId?: string | null;
    now: Date;
    /** The organisation's enabled subscriptions, when the caller read them already (by id). */
    enabled?: readonly { id: string; events: string[] }[];
  },
): Promise<number> {
  const subscriptions = input.enabled
    ? input.enabled.filter((s) => s.events.includes(input.type))
    : await tx.webhookSubscription.findMany({
        where: { organizationId: input.organizationId, enabled: true, events: { has: input.type } },
        select: { id: true },
        orderBy: { id: 'asc' },
      });
  if (subscriptions.length === 0) return 0;
  const messageId = `msg_${randomUUID()}`;
  const payload = eventBody(input.type, input.now, input.data);
  // Only to subscriptions there and enabled as the rows are written: one deleted or disabled since
  // it was read (a caller reads them before its locks) is passed over, and a delete in flight is
  // waited out (FOR KEY SHARE) rather than failing the insert, and the caller's change with it,
  // on the foreign key.
  const written = await tx.$queryRaw<{ subscription_id: string }[]>`
    WITH live AS (
      SELECT id FROM webhook_subscriptions
      WHERE id = ANY(${subscriptions.map((s) => s.id)}::uuid[]) AND enabled
      FOR KEY SHARE
    )
    INSERT INTO webhook_deliveries (id, subscription_id, message_id, event_type, booking_id, payload,
                                    queued_at, next_attempt_at)
    SELECT gen_random_uuid(), id, ${messageId}, ${input.type}, ${input.bookingId ?? null}::uuid,
           ${JSON.stringify(payload)}::jsonb, ${input.now}::timestamptz, ${input.now}::timestamptz
    FROM live ORDER BY id
    RETURNING subscription_id::text`;
  for (const { subscription_id } of written) await wakeDrain(tx, subscription_id);
  return written.length;
}

/** The booking change hook (src/wiring): a change a receiver is told of is queued for it. */
export function webhookEvents(options: { now: () => Date }): BookingChangeHook {
  return async (tx: Tx, change: BookingChange) => {
    const type = bookingEvent(change);
    const organizationId = change.venue.organizationId;
    if (!type || !organizationId) return;
    await queueWebhookEvent(tx, {
      organizationId,
      type,
      data: bookingData(change),
      bookingId: change.booking.id,
      now: options.now(),
      ...(change.known ? { enabled: change.known.webhookSubscriptions } : {}),
    });
  };
}
