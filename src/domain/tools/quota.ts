/**
 * The seam where an API key's daily tier quota meets tool calls. Every call an API key makes
 * through a tool (MCP, public A2A) passes through one `ToolQuota` before it runs, with the tool's
 * declared tier (`callers.tier`): the place to refuse a free key a pro tool, or a key past its
 * day's allowance, and to count a metered call. Until tiers exist every call is allowed; the
 * per-minute request limits (src/api/rate-limit.ts) already apply to each HTTP request.
 */
import type { AnyTool, ToolCaller } from './contract.ts';

/** Throws a DomainError (RateLimitedError, NotAllowedError) to refuse; resolves to allow. */
export type ToolQuota = (tool: AnyTool, caller: ToolCaller) => Promise<void>;

/** No tiers yet: every call is allowed and nothing is counted. */
export const unmeteredQuota: ToolQuota = async () => {};
