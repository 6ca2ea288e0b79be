/**
 * Where usage comes from. Each recorder derives its key from what was used, so running it twice
 * (a job retried, two workers at once) records nothing more.
 *
 * - A2A bookings: a booking that came through the agent network (made by an agent, source A2A, or
 *   asked of the venue's agent by a guest's agent) becomes CONFIRMED. Recorded in the booking's
 *   own transaction by a booking hook, against the venue's organisation.
 * - LLM tokens: every `llm_usage` row for an organisation, swept by `report-usage` before it
 *   reports (its tokens: input plus output; cache reads and writes are the provider's business).
 * - Conversations: a guest's agent talking to a venue's agent on a UTC day is one conversation
 *   (`conversation:{venueId}:{agentId}:{day}`), counted from the envelopes the venue's agent
 *   received. A venue plan includes some each month (config.usage.conversationsIncluded); the
 *   ones beyond, in the order they began, are recorded, also by `report-usage`. The plan is the
 *   organisation's plan when the sweep runs.
 */
import type { Plan } from '../../config/billing.ts';
import type { Db, Tx } from '../../platform/db.ts';
import { planStanding, type StandingDeps } from '../billing/standing.ts';
import type { BookingChangeHook } from '../bookings/effects.ts';
import { monthOf, recordUsage, usageKeys } from './events.ts';

/** Stripe takes meter events up to 35 days old; nothing older is worth collecting. */
export const STRIPE_METER_HORIZON_DAYS = 35;
const DAY = 86_400_000;

/** The booking hook that records a confirmed A2A booking against the venue's organisation. */
export function a2aBookingUsage(settings: { now: () => Date }): BookingChangeHook {
  return async (tx: Tx, { booking, venue, from, known }) => {
    if (booking.status !== 'CONFIRMED' || from === 'CONFIRMED' || !venue.organizationId) return;
    if (!known?.requestedThroughAgents && !(await cameThroughA2a(tx, booking.id, booking.source))) return;
    await recordUsage(tx, {
      organizationId: venue.organizationId,
      meter: 'A2A_BOOKING',
      quantity: 1,
      occurredAt: settings.now(),
      key: usageKeys.a2aBooking(booking.id),
    });
  };
}

async function cameThroughA2a(tx: Tx, bookingId: string, source: string): Promise<boolean> {
  if (source === 'A2A') return true;
  const envelopes = await tx.a2aEnvelope.count({ where: { bookingId, intent: 'booking.request' } });
  return envelopes > 0;
}

/**
 * Records the tokens of `llm_usage` rows made for organisations since the last ones recorded (an
 * hour's overlap, for rows committed late; at most STRIPE_METER_HORIZON_DAYS back). Returns how
 * many it recorded.
 */
export async function collectLlmUsage(db: Db, now: Date): Promise<number> {
  const horizon = new Date(now.getTime() - STRIPE_METER_HORIZON_DAYS * DAY);
  return db.$executeRaw`
    WITH since AS (
      SELECT greatest(${horizon}::timestamptz,
                      coalesce(max(occurred_at) - interval '1 hour', ${horizon}::timestamptz)) AS at
      FROM usage_events WHERE meter = 'LLM_TOKENS'
    )
    INSERT INTO usage_events (id, organization_id, meter, quantity, occurred_at, usage_key)
    SELECT gen_random_uuid(), u.organization_id, 'LLM_TOKENS', u.input_tokens + u.output_tokens,
           u.created_at, 'llm:' || u.id
    FROM llm_usage u, since
    WHERE u.organization_id IS NOT NULL AND u.created_at >= since.at
      AND u.input_tokens + u.output_tokens > 0
    ORDER BY u.created_at
    ON CONFLICT (usage_key) DO NOTHING`;
}

export interface ConversationDeps extends StandingDeps {
  /** Conversations each venue plan includes per month. */
  included: Readonly<Partial<Record<Plan, number>>>;
}

interface ConversationRow {
  organization_id: string;
  venue_id: string;
  from_agent: string;
  day: string;
  first_at: Date;
  n: bigint;
}

/**
 * Records the conversations beyond each organisation's allowance in the month holding `at`.
 * Returns how many it recorded.
 */
export async function collectConversations(db: Db, deps: ConversationDeps, at: Date): Promise<number> {
  const { start, end } = monthOf(at);
  const rows = await db.$queryRaw<ConversationRow[]>`
    WITH conversations AS (
      SELECT v.organization_id, v.id AS venue_id, e.from_agent,
             to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, min(e.created_at) AS first_at
      FROM venues v
      -- Each owned venue's agent's envelopes of the month, by (to_agent, created_at).
      JOIN a2a_envelopes e ON e.to_agent = 'venue-' || v.id::text
        AND e.created_at >= ${start} AND e.created_at < ${end}
      WHERE v.organization_id IS NOT NULL AND e.direction = 'INBOUND' AND e.state <> 'REJECTED'
      GROUP BY 1, 2, 3, 4
    )
    SELECT *, row_number() OVER (PARTITION BY organization_id ORDER BY first_at, venue_id, from_agent) AS n
    FROM conversations`;
  const byOrganization = Map.groupBy(rows, (row) => row.organization_id);
  let recorded = 0;
  for (const [organizationId, conversations] of byOrganization) {
    const { plan } = await planStanding(db, deps, organizationId, 'VENUE');
    const included = plan ? deps.included[plan] : undefined;
    // Without a venue plan in good standing a venue is not metered for conversations.
    if (included === undefined) continue;
    for (const row of conversations) {
      if (row.n <= BigInt(included)) continue;
      const done = await recordUsage(db, {
        organizationId,
        meter: 'CONVERSATION',
        quantity: 1,
        occurredAt: row.first_at,
        key: usageKeys.conversation(row.venue_id, row.from_agent, row.day),
      });
      if (done) recorded += 1;
    }
  }
  return recorded;
}
