/** The consumer agent: whether it answers, its language models and budgets, and its chat sessions. */
import { z } from 'zod';
import { bool, type Context, json, optional, positiveInt, trimSlash, url } from './parse.ts';

export const llmEnv = z.object({
  // Consumer agent: off, inbound messages are stored and acknowledged but not answered.
  CONSUMER_AGENT: bool.default(true),
  // With no model reachable, a message is tried again this often, and given up after so long.
  AGENT_UNAVAILABLE_RETRY_MS: positiveInt.default(60_000),
  AGENT_GIVE_UP_MINUTES: positiveInt.default(60),
  // Language models: Anthropic when its key is set; Ollama as the fallback.
  ANTHROPIC_API_KEY: optional(z.string().min(10)),
  ANTHROPIC_BASE_URL: url.default('https://api.anthropic.com'),
  ANTHROPIC_MODEL_CONVERSATION: z.string().min(1).default('claude-sonnet-4-6'),
  ANTHROPIC_MODEL_CHEAP: z.string().min(1).default('claude-haiku-4-5'),
  OLLAMA_URL: optional(url),
  OLLAMA_MODEL: z.string().min(1).default('qwen3:8b'),
  LLM_TIMEOUT_MS: positiveInt.default(60_000),
  LLM_MAX_OUTPUT_TOKENS: positiveInt.default(1024),
  LLM_BREAKER_FAILURES: positiveInt.default(5),
  LLM_BREAKER_COOLDOWN_MS: positiveInt.default(30_000),
  // Prices per million tokens, {"<model>":{"input":3,"output":15}}, over the built-in table.
  LLM_PRICES: optional(
    json(
      z.record(z.string(), z.object({ input: z.number().nonnegative(), output: z.number().nonnegative() }), {
        error: 'a JSON object of {"<model>":{"input":<USD per Mtok>,"output":<USD per Mtok>}}',
      }),
    ),
  ),
  LLM_USER_DAILY_TOKENS: positiveInt.default(200_000),
  LLM_ORG_MONTHLY_TOKENS: positiveInt.default(20_000_000),
  // A new chat account's daily tokens, doubled by each earlier day it was used, up to the above.
  LLM_NEW_USER_DAILY_TOKENS: positiveInt.default(40_000),
  // The whole platform's daily ceiling, in tokens and (optionally) in US dollars.
  LLM_PLATFORM_DAILY_TOKENS: positiveInt.default(50_000_000),
  LLM_PLATFORM_DAILY_USD: optional(z.coerce.number().positive()),
  LLM_LOCK_LEASE_MS: positiveInt.default(120_000),
  TOOL_TIMEOUT_MS: positiveInt.default(5000),
  // Chat sessions in Redis, Fernet-encrypted: keys comma-separated, the first encrypts.
  SESSION_KEYS: optional(
    z
      .string()
      .regex(
        /^[A-Za-z0-9_-]{43}=(,[A-Za-z0-9_-]{43}=)*$/,
        'must be Fernet keys (32 bytes, url-safe base64) separated by commas, the first one encrypting',
      ),
  ),
  SESSION_IDLE_HOURS: positiveInt.default(72),
  SESSION_HISTORY_TOKENS: positiveInt.default(6000),
});
type LlmEnv = z.output<typeof llmEnv>;

export function consumerAgentConfig(e: LlmEnv) {
  return {
    enabled: e.CONSUMER_AGENT,
    /** With no model reachable: retry a message this often, and fail it (kept) once this old. */
    unavailableRetryMs: e.AGENT_UNAVAILABLE_RETRY_MS,
    giveUpAfterMs: e.AGENT_GIVE_UP_MINUTES * 60_000,
  };
}

export function llmConfig(e: LlmEnv) {
  return {
    anthropic: e.ANTHROPIC_API_KEY
      ? { apiKey: e.ANTHROPIC_API_KEY, baseUrl: trimSlash(e.ANTHROPIC_BASE_URL) }
      : undefined,
    /** Model per purpose: conversation turns, and cheap work such as summaries. */
    models: { conversation: e.ANTHROPIC_MODEL_CONVERSATION, cheap: e.ANTHROPIC_MODEL_CHEAP },
    ollama: e.OLLAMA_URL ? { url: trimSlash(e.OLLAMA_URL), model: e.OLLAMA_MODEL } : undefined,
    timeoutMs: e.LLM_TIMEOUT_MS,
    maxOutputTokens: e.LLM_MAX_OUTPUT_TOKENS,
    /** Consecutive failures that open a provider's circuit, and how long it stays open. */
    breaker: { failures: e.LLM_BREAKER_FAILURES, cooldownMs: e.LLM_BREAKER_COOLDOWN_MS },
    prices: e.LLM_PRICES ?? {},
    budgets: {
      userDailyTokens: e.LLM_USER_DAILY_TOKENS,
      organizationMonthlyTokens: e.LLM_ORG_MONTHLY_TOKENS,
      newUserDailyTokens: Math.min(e.LLM_NEW_USER_DAILY_TOKENS, e.LLM_USER_DAILY_TOKENS),
      platformDailyTokens: e.LLM_PLATFORM_DAILY_TOKENS,
      platformDailyMicros:
        e.LLM_PLATFORM_DAILY_USD === undefined ? null : Math.round(e.LLM_PLATFORM_DAILY_USD * 1_000_000),
    },
    /** How long one user's running turn holds their lock if its worker dies. */
    lockLeaseMs: e.LLM_LOCK_LEASE_MS,
    toolTimeoutMs: e.TOOL_TIMEOUT_MS,
  };
}

export function sessionsConfig(e: LlmEnv) {
  return {
    /** Fernet keys; the first encrypts, every one decrypts. Outside production, one is generated. */
    keys: e.SESSION_KEYS?.split(',') ?? [],
    idleSeconds: e.SESSION_IDLE_HOURS * 3600,
    historyTokens: e.SESSION_HISTORY_TOKENS,
  };
}

export function llmProblems(e: LlmEnv, { production }: Context): string[] {
  return production && !e.SESSION_KEYS
    ? ['SESSION_KEYS: required in production to encrypt chat sessions']
    : [];
}
