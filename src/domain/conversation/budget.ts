/**
 * The usage ledger (`llm_usage`, one row per answered model call) and the budgets read from it: a
 * person's tokens per UTC day, an organisation's per UTC month, and the whole platform's per UTC
 * day (tokens, and optionally cost).
 *
 * Budgets count the tokens a call made the model process afresh: input, cache writes and output.
 * Cache reads are left out: they are the same stable prefix read again at a tenth of the price,
 * and counting them would let a long system prompt, not the conversation, use up a budget.
 *
 * A person's daily budget is earned. A new account may use `newUserDailyTokens` a day, doubled for
 * each earlier UTC day on which it used a model, up to `userDailyTokens`: otherwise every sign-up
 * would bring a full budget with it, and accounts, which cost nothing to make, would multiply what
 * the platform can be made to spend. Days of use count, not the account's age, since an account
 * that only waits costs its maker nothing either. The platform's ceiling bounds the rest: past it,
 * no call is made for anyone until midnight UTC. Its running total is `llm_daily_usage`, kept by a
 * trigger on the ledger, so checking it is one primary-key read.
 *
 * A budget is checked before a call and charged after it, so calls already under way when a
 * budget runs out still finish and are recorded: a budget can be overshot by those, never by more
 * (a person's turns run one at a time under their lock).
 */

import type { DbOrTx } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import { BudgetExceededError, type BudgetScope, type LlmUsageFigures } from './messages.ts';

export interface TokenBudgets {
  userDailyTokens: number;
  organizationMonthlyTokens: number;
  /** A new account's daily tokens, doubled by each earlier day of use, up to `userDailyTokens`. */
  newUserDailyTokens: number;
  platformDailyTokens: number;
  /** The platform's daily ceiling in millionths of a dollar; null for none. */
  platformDailyMicros: number | null;
}

export interface BudgetSubject {
  userId?: string | null;
  organizationId?: string | null;
}

export interface PlatformUsage {
  tokens: number;
  costMicros: number;
}

export interface BudgetStanding {
  /** The budget that refuses the call, or null when it may go ahead. */
  refusal: BudgetScope | null;
  /** The platform's usage today, for operators' metrics. */
  platform: PlatformUsage;
}

/** Throws BudgetExceededError when any budget of the call is used up. */
export async function checkBudget(
  db: DbOrTx,
  subject: BudgetSubject,
  budgets: TokenBudgets,
  now: Date = new Date(),
): Promise<void> {
  const { refusal } = await budgetStanding(db, subject, budgets, now);
  if (refusal) throw new BudgetExceededError(refusal);
}

/**
 * Where a call stands against its budgets: the person's day (their own allowance), the
 * organisation's month, the platform's day, in that order, so a person over their own budget
 * hears about theirs rather than that the platform is busy.
 */
export async function budgetStanding(
  db: DbOrTx,
  subject: BudgetSubject,
  budgets: TokenBudgets,
  now: Date = new Date(),
): Promise<BudgetStanding> {
  const used = await tokensUsed(db, subject, now);
  const refusal = await (async (): Promise<BudgetScope | null> => {
    // Below a new account's allowance nobody needs their history looked at.
    if (subject.userId && used.user >= Math.min(budgets.newUserDailyTokens, budgets.userDailyTokens)) {
      const allowance = await dailyAllowance(db, subject.userId, budgets, now);
      if (used.user >= allowance) return allowance < budgets.userDailyTokens ? 'new_account' : 'user';
    }
    if (used.organization >= budgets.organizationMonthlyTokens) return 'organization';
    if (used.platform.tokens >= budgets.platformDailyTokens) return 'platform';
    if (budgets.platformDailyMicros !== null && used.platform.costMicros >= budgets.platformDailyMicros)
      return 'platform';
    return null;
  })();
  return { refusal, platform: used.platform };
}

/**
 * A person's tokens for today: `newUserDailyTokens` doubled for each earlier UTC day on which they
 * used a model, at most `userDailyTokens`. Only as many days as can still raise it are counted.
 */
export async function dailyAllowance(
  db: DbOrTx,
  userId: string,
  budgets: TokenBudgets,
  now: Date,
): Promise<number> {
  const base = Math.min(budgets.newUserDailyTokens, budgets.userDailyTokens);
  const doublings = Math.ceil(Math.log2(budgets.userDailyTokens / base));
  if (doublings <= 0) return budgets.userDailyTokens;
  // Walks back from today one active day at a time (each step one probe of the (user_id,
  // created_at) index), at most `doublings` steps: the cost does not grow with the person's history.
  const today = startOfUtcDay(now).toISOString();
  const [row] = await db.$queryRaw<{ days: bigint }[]>`
    WITH RECURSIVE active (day, step) AS (
      SELECT (SELECT (created_at AT TIME ZONE 'UTC')::date FROM llm_usage
               WHERE user_id = ${userId}::uuid AND created_at < ${today}::timestamptz
               ORDER BY created_at DESC LIMIT 1), 1
      UNION ALL
      SELECT (SELECT (u.created_at AT TIME ZONE 'UTC')::date FROM llm_usage u
               WHERE u.user_id = ${userId}::uuid AND u.created_at < (a.day::timestamp AT TIME ZONE 'UTC')
               ORDER BY u.created_at DESC LIMIT 1), a.step + 1
        FROM active a
       WHERE a.day IS NOT NULL AND a.step < ${doublings}
    )
    SELECT COUNT(day)::bigint AS days FROM active`;
  const days = Number(row?.days ?? 0);
  return Math.min(budgets.userDailyTokens, base * 2 ** days);
}

/**
 * Tokens counted against the budgets: the person's since the start of the UTC day, the
 * organisation's since the start of the UTC month (0 for whichever is not given), and the
 * platform's today. One statement; each person or organisation half is a range scan of its
 * (id, created_at) index, the platform's a primary-key read.
 */
export async function tokensUsed(
  db: DbOrTx,
  subject: BudgetSubject,
  now: Date = new Date(),
): Promise<{ user: number; organization: number; platform: PlatformUsage }> {
  const userId = subject.userId ?? null;
  const organizationId = subject.organizationId ?? null;
  const day = startOfUtcDay(now).toISOString();
  const [row] = await db.$queryRaw<
    { user: bigint; organization: bigint; platformTokens: bigint | null; platformMicros: bigint | null }[]
  >`
    SELECT
      (SELECT COALESCE(SUM(input_tokens + cache_write_tokens + output_tokens), 0)::bigint
         FROM llm_usage
        WHERE user_id = ${userId}::uuid AND created_at >= ${day}::timestamptz) AS "user",
      (SELECT COALESCE(SUM(input_tokens + cache_write_tokens + output_tokens), 0)::bigint
         FROM llm_usage
        WHERE organization_id = ${organizationId}::uuid AND created_at >= ${startOfUtcMonth(now).toISOString()}::timestamptz) AS "organization",
      (SELECT tokens FROM llm_daily_usage WHERE day = (${day}::timestamptz AT TIME ZONE 'UTC')::date) AS "platformTokens",
      (SELECT cost_micros FROM llm_daily_usage WHERE day = (${day}::timestamptz AT TIME ZONE 'UTC')::date) AS "platformMicros"`;
  return {
    user: Number(row?.user ?? 0),
    organization: Number(row?.organization ?? 0),
    platform: { tokens: Number(row?.platformTokens ?? 0), costMicros: Number(row?.platformMicros ?? 0) },
  };
}

export interface UsageEntry {
  userId?: string | null;
  organizationId?: string | null;
  purpose: string;
  provider: string;
  model: string;
  usage: LlmUsageFigures;
  costMicros: bigint;
  /** Defaults to the database's clock. */
  createdAt?: Date;
}

/** Writes one ledger row for an answered call. */
export async function recordUsage(db: DbOrTx, entry: UsageEntry): Promise<void> {
  await db.llmUsage.create({
    data: {
      userId: entry.userId ?? null,
      organizationId: entry.organizationId ?? null,
      purpose: entry.purpose,
      provider: entry.provider,
      model: entry.model,
      inputTokens: entry.usage.inputTokens,
      outputTokens: entry.usage.outputTokens,
      cacheReadTokens: entry.usage.cacheReadTokens,
      cacheWriteTokens: entry.usage.cacheWriteTokens,
      costMicros: entry.costMicros,
      ...(entry.createdAt ? { createdAt: entry.createdAt } : {}),
    },
  });
}

/** US dollars per million tokens. */
export interface ModelPrice {
  input: number;
  output: number;
}

/**
 * Anthropic's list prices. A model name with a date suffix (claude-haiku-4-5-20251001) takes the
 * price of its family; LLM_PRICES overrides or adds entries.
 */
export const BUILT_IN_PRICES: Readonly<Record<string, ModelPrice>> = {
  'claude-opus-4-5': { input: 5, output: 25 },
  'claude-sonnet-4-5': { input: 3, output: 15 },
  'claude-sonnet-4-6': { input: 3, output: 15 },
  'claude-haiku-4-5': { input: 1, output: 5 },
};

/** Cache reads and writes are priced against the model's input price. */
const CACHE_READ_FACTOR = 0.1;
const CACHE_WRITE_FACTOR = 1.25;

const warnedUnknown = new Set<string>();

/**
 * What a call cost, in millionths of a dollar. A price per million tokens is exactly the price of
 * one token in micro-dollars. A model with no price costs 0 and is logged once per process.
 */
export function costMicros(
  model: string,
  usage: LlmUsageFigures,
  prices: Readonly<Record<string, ModelPrice>> = {},
  logger?: Logger,
): bigint {
  const price = priceOf(model, prices);
  if (!price) {
    if (!warnedUnknown.has(model)) {
      warnedUnknown.add(model);
      logger?.warn({ 'llm.model': model }, 'no price known for this model: its calls are recorded at 0');
    }
    return 0n;
  }
  const micros =
    usage.inputTokens * price.input +
    usage.outputTokens * price.output +
    usage.cacheReadTokens * price.input * CACHE_READ_FACTOR +
    usage.cacheWriteTokens * price.input * CACHE_WRITE_FACTOR;
  return BigInt(Math.round(micros));
}

function priceOf(model: string, prices: Readonly<Record<string, ModelPrice>>): ModelPrice | undefined {
  const table = { ...BUILT_IN_PRICES, ...prices };
  const exact = table[model];
  if (exact) return exact;
  // The longest name the model's name starts with: claude-haiku-4-5-20251001 → claude-haiku-4-5.
  const family = Object.keys(table)
    .filter((name) => model.startsWith(`${name}-`))
    .sort((a, b) => b.length - a.length)[0];
  return family ? table[family] : undefined;
}

function startOfUtcDay(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

function startOfUtcMonth(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}
