/**
 * The seam where an API key's daily tier quota meets tool calls. Every call an API key makes
 * through a tool (MCP, public A2A) passes through one `ToolQuota` before it runs: one tool call
 * is one request against the key's day (developer/quota.ts), and a key past its day's requests
 * gets a refusal that says when the quota resets, which every adapter returns as an error result
 * (MCP: `isError`). The per-minute request limits (src/api/rate-limit.ts) apply to each HTTP
 * request besides.
 *
 * What a tier allows beyond its quota is the business rule's own, not a tool's: booking at the
 * network's venues with a key needs the pro tier whichever way it asks (GraphQL, MCP, public A2A:
 * `requireProForGuestBookings` in developer/tiers.ts, which createBooking calls), and such a
 * booking is a paid call (usage/paid-calls.ts).
 */
import { type QuotaDeps, spendApiRequest } from '../developer/quota.ts';
import type { AnyTool, ToolCaller } from './contract.ts';

/** Throws a DomainError (RateLimitedError, NotAllowedError) to refuse; resolves to allow. */
export type ToolQuota = (tool: AnyTool, caller: ToolCaller) => Promise<void>;

/** Every call allowed and nothing counted (people in chat; tests of the contract itself). */
export const unmeteredQuota: ToolQuota = async () => {};

/**
 * Each API key's tool call counts against the key's daily quota; people's calls are not counted.
 * Past the quota it throws DailyQuotaExceededError, whose code and message (when the quota
 * resets) the runner hands back as the call's error result.
 */
export function dailyToolQuota(deps: QuotaDeps): ToolQuota {
  return async (_tool, caller) => {
    const actor = caller.actor;
    if (actor?.kind !== 'apiKey') return;
    await spendApiRequest(deps, actor);
  };
}
