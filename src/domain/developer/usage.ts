/**
 * API keys' requests per day, for the organisation's dashboard and for billing.
 *
 * The counts are made in Redis as requests arrive (quota.ts); the `api-usage-flush` job (every
 * five minutes) copies those of every day Redis still keeps (today's and the two before: a day
 * the job could not run through, its worker or Redis down, is still copied whole once it runs)
 * into `api_key_daily_usage`. The copy takes the
 * greater of the stored and the counted number, so a rerun, two runs at once, or Redis having
 * lost its counters never lowers what was stored.
 *
 * Billing: once a UTC day is over (the first run after midnight, having flushed that day's last
 * counts), each key's day becomes one usage event on the API_REQUEST meter with the day's
 * requests as its quantity, keyed `api-requests:{apiKeyId}:{day}`, so it is recorded once however
 * often the job runs; `report-usage` sends it to Stripe like any other usage. One event per key
 * per day, not per request: no database write is added to a request.
 */
import type { DayCounters } from '../../platform/day-counters.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';
import { cronPayload, defineTask } from '../../platform/jobs.ts';
import { type Access, MANAGERS } from '../organizations/access.ts';
import { recordUsage, usageKeys } from '../usage/events.ts';
import { KEEP_AFTER_DAY_MS, utcDay } from './quota.ts';
import { type DeveloperTier, dailyLimit, developerTier, type TierDeps } from './tiers.ts';

export const apiUsageFlushTask = defineTask({
  name: 'api-usage-flush',
  schema: cronPayload.partial(),
  // The next tick is the retry.
  maxAttempts: 3,
});

export interface ApiUsageDeps extends TierDeps {
  db: Db;
  counters: DayCounters;
  limits: Readonly<Record<DeveloperTier, number>>;
}

const DAY_MS = 86_400_000;
/** Usage events recorded per transaction. */
const RECORD_BATCH = 500;

export interface FlushOutcome {
  /** Key-days written (today's and the days before whose counts are still kept). */
  flushed: number;
  /** Usage events recorded for days that are over. */
  recorded: number;
}

/** The job: flushes the counts, then records the days that are over as usage (see above). */
export async function flushApiUsage(deps: ApiUsageDeps): Promise<FlushOutcome> {
  const now = deps.now();
  const today = utcDay(now);
  let flushed = 0;
  // Oldest first; every day whose counters are kept, before any finished day is recorded.
  for (let back = KEEP_AFTER_DAY_MS / DAY_MS; back >= 0; back--) {
    const day = utcDay(new Date(now.getTime() - back * DAY_MS));
    flushed += await flushDay(deps, day, back === 0);
  }
  return { flushed, recorded: await recordFinishedDays(deps.db, today) };
}

async function flushDay(deps: ApiUsageDeps, day: string, current: boolean): Promise<number> {
  const counts = await deps.counters.all(day);
  if (counts.size === 0) return 0;
  // Keys deleted since (their organisation was) have nothing left to count against.
  const keys = await deps.db.apiKey.findMany({
    where: { id: { in: [...counts.keys()] } },
    select: { id: true, organizationId: true },
  });
  const tiers = new Map<string, DeveloperTier>();
  for (const organizationId of new Set(keys.map((k) => k.organizationId))) {
    tiers.set(organizationId, await developerTier(deps, organizationId));
  }
  const ids = keys.map((k) => k.id);
  const requests = keys.map((k) => counts.get(k.id) ?? 0);
  const limits = keys.map((k) => dailyLimit(deps.limits, tiers.get(k.organizationId) ?? 'FREE'));
  // A day already over keeps the limit it had; only today's follows the tier as it is now.
  return deps.db.$executeRaw`
    INSERT INTO api_key_daily_usage (api_key_id, day, requests, request_limit)
    SELECT t.id, ${day}::date, t.requests, t.request_limit
    FROM unnest(${ids}::uuid[], ${requests}::int[], ${limits}::int[]) AS t(id, requests, request_limit)
    ON CONFLICT (api_key_id, day) DO UPDATE
    SET requests = GREATEST(api_key_daily_usage.requests, EXCLUDED.requests),
        request_limit = CASE WHEN ${current} THEN EXCLUDED.request_limit ELSE api_key_daily_usage.request_limit END,
        updated_at = now()`;
}

/** Records each finished key-day not yet recorded as one usage event, marking it in the same transaction. */
async function recordFinishedDays(db: Db, today: string): Promise<number> {
  let recorded = 0;
  for (;;) {
    const done = await db.$transaction(async (tx) => {
      // SKIP LOCKED: two runs at once take different rows (the usage key would stop a double anyway).
      const rows = await tx.$queryRaw<
        { api_key_id: string; day: string; requests: number; organization_id: string }[]
      >`
        SELECT u.api_key_id::text, to_char(u.day, 'YYYY-MM-DD') AS day, u.requests, k.organization_id::text
        FROM api_key_daily_usage u JOIN api_keys k ON k.id = u.api_key_id
        WHERE u.usage_recorded_at IS NULL AND u.day < ${today}::date
        ORDER BY u.day
        LIMIT ${RECORD_BATCH}
        FOR UPDATE OF u SKIP LOCKED`;
      let count = 0;
      for (const row of rows) {
        if (row.requests > 0) {
          const inserted = await recordUsage(tx, {
            organizationId: row.organization_id,
            meter: 'API_REQUEST',
            quantity: row.requests,
            occurredAt: new Date(`${row.day}T00:00:00Z`),
            key: usageKeys.apiRequests(row.api_key_id, row.day),
          });
          if (inserted) count += 1;
        }
        await tx.$executeRaw`
          UPDATE api_key_daily_usage SET usage_recorded_at = now()
          WHERE api_key_id = ${row.api_key_id}::uuid AND day = ${row.day}::date`;
      }
      return { rows: rows.length, count };
    });
    recorded += done.count;
    if (done.rows < RECORD_BATCH) return recorded;
  }
}

export interface DayUsage {
  /** The UTC day, `YYYY-MM-DD`. */
  day: string;
  requests: number;
  /** The key's daily limit that day (today: its tier's limit now). */
  limit: number;
}

export const MAX_USAGE_DAYS = 90;

/**
 * A key's requests per UTC day for the last `days` days (today included, newest first, a day
 * without requests as zero), for its organisation's owners and admins (and platform admins);
 * NotFoundError for anyone else, as for a key that does not exist. Today's count is the live one.
 */
export async function apiKeyUsage(
  deps: ApiUsageDeps,
  access: Access,
  input: { apiKeyId: string; days: number },
): Promise<DayUsage[]> {
  if (!Number.isInteger(input.days) || input.days < 1 || input.days > MAX_USAGE_DAYS) {
    throw new ValidationError(`Ask for 1 to ${MAX_USAGE_DAYS} days`, 'days');
  }
  const key = await deps.db.apiKey.findUnique({
    where: { id: input.apiKeyId },
    select: { id: true, organizationId: true },
  });
  if (!key || !(await access.has(key.organizationId, MANAGERS))) throw new NotFoundError('No such API key');
  const now = deps.now();
  const today = utcDay(now);
  const first = utcDay(new Date(now.getTime() - (input.days - 1) * DAY_MS));
  const [rows, live, tier] = await Promise.all([
    storedDays(deps.db, key.id, first, today),
    deps.counters.read(key.id, today),
    developerTier(deps, key.organizationId),
  ]);
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const limitNow = dailyLimit(deps.limits, tier);
  return Array.from({ length: input.days }, (_, i) => {
    const day = utcDay(new Date(now.getTime() - i * DAY_MS));
    const row = byDay.get(day);
    if (day === today) return { day, requests: Math.max(row?.requests ?? 0, live), limit: limitNow };
    return { day, requests: row?.requests ?? 0, limit: row?.limit ?? limitNow };
  });
}

function storedDays(db: DbOrTx, apiKeyId: string, first: string, last: string) {
  return db.$queryRaw<DayUsage[]>`
    SELECT to_char(day, 'YYYY-MM-DD') AS day, requests, request_limit AS "limit"
    FROM api_key_daily_usage
    WHERE api_key_id = ${apiKeyId}::uuid AND day BETWEEN ${first}::date AND ${last}::date`;
}
