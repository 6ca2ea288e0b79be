/**
 * Usage events: what an organisation used that Stripe bills by a meter (confirmed A2A bookings,
 * agent conversations beyond the venue plan's allowance, language-model tokens, paid API calls
 * that credits did not cover, API keys' requests per day).
 *
 * Each is recorded once: its key is derived from what was used (`a2a-booking:{bookingId}`,
 * `conversation:{venueId}:{agent}:{day}`, `llm:{llmUsageId}`, `api-call:{requestId}`,
 * `api-requests:{apiKeyId}:{day}`), and the
 * insert does nothing when the key is taken, so a recorder that runs twice, or two at once, leaves
 * one row. Reporting them to Stripe is report.ts's job.
 */
import type { UsageMeter } from '../../generated/prisma/enums.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { ValidationError } from '../../platform/errors.ts';
import { type Access, MANAGERS } from '../organizations/access.ts';

export type { UsageMeter };

export const USAGE_METERS = [
  'A2A_BOOKING',
  'CONVERSATION',
  'LLM_TOKENS',
  'API_CALL',
  'API_REQUEST',
] as const satisfies readonly UsageMeter[];

/** The keys usage is recorded by, one per kind of thing used. */
export const usageKeys = {
  a2aBooking: (bookingId: string) => `a2a-booking:${bookingId}`,
  conversation: (venueId: string, agentId: string, day: string) =>
    `conversation:${venueId}:${agentId}:${day}`,
  llm: (llmUsageId: string) => `llm:${llmUsageId}`,
  apiCall: (requestId: string) => `api-call:${requestId}`,
  apiRequests: (apiKeyId: string, day: string) => `api-requests:${apiKeyId}:${day}`,
};

export interface UsageInput {
  organizationId: string;
  meter: UsageMeter;
  /** More than zero. */
  quantity: bigint | number;
  occurredAt: Date;
  /** Derived from what was used (usageKeys): the same key is the same usage. */
  key: string;
}

/**
 * Records usage once by its key. True when this call recorded it, false when the key was taken
 * (recorded before, or by a concurrent call). Runs in the caller's transaction when given one,
 * so usage recorded with a change rolls back with it.
 */
export async function recordUsage(db: DbOrTx, input: UsageInput): Promise<boolean> {
  if (typeof input.quantity === 'number' && !Number.isSafeInteger(input.quantity)) {
    throw new ValidationError('A quantity is a whole number', 'quantity');
  }
  const quantity = BigInt(input.quantity);
  if (quantity <= 0n) throw new ValidationError('A quantity is more than zero', 'quantity');
  if (!input.key.trim()) throw new ValidationError('Usage needs a key', 'key');
  // ON CONFLICT DO NOTHING, not a read then a write: two recorders at once cannot both insert.
  const inserted = await db.$executeRaw`
    INSERT INTO usage_events (id, organization_id, meter, quantity, occurred_at, usage_key)
    VALUES (gen_random_uuid(), ${input.organizationId}::uuid, ${input.meter}::"UsageMeter", ${quantity},
            ${input.occurredAt}, ${input.key})
    ON CONFLICT (usage_key) DO NOTHING`;
  return inserted === 1;
}

export interface MeterUsage {
  meter: UsageMeter;
  /** Everything recorded this month. */
  quantity: bigint;
  /** Of which reported to Stripe. */
  reported: bigint;
  /** Of which still to be reported. */
  pending: bigint;
}

/** The first instant of the calendar month (UTC) holding `at`, and of the next one. */
export function monthOf(at: Date): { start: Date; end: Date } {
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const end = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return { start, end };
}

/**
 * The organisation's usage in the calendar month (UTC) holding `at`, one row per meter (zero for
 * a meter with none). Abandoned usage (never billable) counts as neither reported nor pending.
 */
export async function usageInMonth(db: DbOrTx, organizationId: string, at: Date): Promise<MeterUsage[]> {
  const { start, end } = monthOf(at);
  const rows = await db.$queryRaw<
    { meter: UsageMeter; quantity: bigint; reported: bigint; pending: bigint }[]
  >`
    SELECT meter::text AS meter,
           sum(quantity)::bigint AS quantity,
           coalesce(sum(quantity) FILTER (WHERE reported_at IS NOT NULL), 0)::bigint AS reported,
           coalesce(sum(quantity) FILTER (WHERE reported_at IS NULL AND abandoned_at IS NULL), 0)::bigint AS pending
    FROM usage_events
    WHERE organization_id = ${organizationId}::uuid AND occurred_at >= ${start} AND occurred_at < ${end}
    GROUP BY meter`;
  return USAGE_METERS.map((meter) => {
    const row = rows.find((r) => r.meter === meter);
    return {
      meter,
      quantity: row?.quantity ?? 0n,
      reported: row?.reported ?? 0n,
      pending: row?.pending ?? 0n,
    };
  });
}

/**
 * This month's usage for the organisation's dashboard, or null for anyone but its owners and
 * admins (and platform admins): STAFF see nothing of billing.
 */
export async function organizationUsage(
  deps: { db: DbOrTx; now: () => Date },
  access: Access,
  organizationId: string,
): Promise<MeterUsage[] | null> {
  if (!(await access.has(organizationId, MANAGERS))) return null;
  return usageInMonth(deps.db, organizationId, deps.now());
}
