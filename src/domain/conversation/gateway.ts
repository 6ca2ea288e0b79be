/**
 * The one way the consumer agent calls a language model. A call is checked against the budgets
 * first (the person's, their organisation's and the platform's; over any: no model call at all, the
 * refusal counted, and the platform's ceiling logged once a day), then goes to Anthropic, or to Ollama when
 * Anthropic is not configured, is failing, or its circuit is open; the answer is recorded in the
 * usage ledger with its cost.
 *
 * What a failure means decides what happens next:
 * - timeout, network, 429, 5xx, 529: the provider is in trouble. Its breaker counts a failure and
 *   the call falls back (logged at warn, counted in `llm_fallbacks_total`).
 * - 401, 402, 403, 404: our key, bill or model name is wrong. Same, but logged at error, because
 *   someone has to fix it and waiting will not.
 * - any other 4xx: our request is wrong. Another provider would not make it right, and falling
 *   back would hide the bug, so the call fails with LlmRequestError.
 * When no provider answers, the call fails with LlmUnavailableError, and nothing is recorded.
 */
import type { Config } from '../../config/index.ts';
import { AnthropicCallError, createAnthropicClient } from '../../integrations/anthropic/client.ts';
import { createOllamaClient, OllamaCallError } from '../../integrations/ollama/client.ts';
import {
  type BreakerSnapshot,
  type CircuitBreaker,
  createCircuitBreaker,
} from '../../platform/circuit-breaker.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { budgetStanding, costMicros, type ModelPrice, recordUsage } from './budget.ts';
import {
  BudgetExceededError,
  type ChatMessage,
  type LlmGateway,
  type LlmPurpose,
  type LlmRequest,
  type LlmResponse,
  LlmUnavailableError,
  type SystemPart,
  type ToolSpec,
} from './messages.ts';

/** Why a provider call failed, as the provider clients report it. */
export type ProviderFailure =
  | 'timeout'
  | 'network'
  | 'rate_limited'
  | 'overloaded'
  | 'server_error'
  | 'misconfigured'
  | 'rejected';

/** One call as a provider client takes it: the request with the model and limits decided. */
export interface ProviderCall {
  model: string;
  system: SystemPart[];
  messages: ChatMessage[];
  tools?: ToolSpec[];
  maxTokens: number;
  /** Cache the conversation up to its last message (a tool loop sends it again next round). */
  cacheConversation?: boolean;
}

export type ProviderName = LlmResponse['provider'];

/** The provider refused the request itself (a 4xx other than auth): a bug on our side, not an outage. */
export class LlmRequestError extends Error {
  readonly provider: ProviderName;
  readonly status: number | null;
  constructor(provider: ProviderName, status: number | null, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LlmRequestError';
    this.provider = provider;
    this.status = status;
  }
}

export interface ProviderStatus extends BreakerSnapshot {
  /** The models this provider is called with. */
  models: string[];
}

/** For /readyz: each configured provider's breaker (null: not configured). */
export interface LlmGatewayStatus {
  /** Some configured provider would take a call now. */
  available: boolean;
  anthropic: ProviderStatus | null;
  ollama: ProviderStatus | null;
}

interface Provider {
  name: ProviderName;
  models: Record<LlmPurpose, string>;
  breaker: CircuitBreaker;
  complete(call: ProviderCall): Promise<LlmResponse>;
}

/** Local models cost nothing per token, unless LLM_PRICES says otherwise. */
const FREE: ModelPrice = { input: 0, output: 0 };

export function createLlmGateway(deps: {
  config: Config['llm'];
  db: Db;
  logger: Logger;
  metrics?: Metrics;
  /** The clock for budgets, breakers and ledger rows; tests move it by hand. */
  now?: () => Date;
}): LlmGateway & { status(): LlmGatewayStatus; useMetrics(metrics: Metrics): void } {
  const { config, db, logger } = deps;
  // The process's registry, once its app exists (services are built before the app).
  let metrics = deps.metrics;
  const clock = deps.now ?? (() => new Date());
  const breaker = () => createCircuitBreaker({ ...config.breaker, now: () => clock().getTime() });

  const anthropic: Provider | null = config.anthropic
    ? {
        name: 'anthropic',
        models: config.models,
        breaker: breaker(),
        ...createAnthropicClient({ ...config.anthropic, timeoutMs: config.timeoutMs, logger }),
      }
    : null;
  const ollamaModel = config.ollama?.model;
  const ollama: Provider | null = config.ollama
    ? {
        name: 'ollama',
        // Ollama runs the one model it was given, whatever the purpose.
        models: { conversation: config.ollama.model, cheap: config.ollama.model },
        breaker: breaker(),
        ...createOllamaClient({ url: config.ollama.url, timeoutMs: config.timeoutMs }),
      }
    : null;
  // In order of preference.
  const providers = [anthropic, ollama].filter((p): p is Provider => p !== null);
  const prices: Record<string, ModelPrice> = {
    ...(ollamaModel ? { [ollamaModel]: FREE } : {}),
    ...config.prices,
  };

  if (providers.length === 0)
    logger.warn('no language model configured: set ANTHROPIC_API_KEY or OLLAMA_URL');

  /** The UTC day whose platform ceiling this process has reported, so it is logged once a day. */
  let ceilingReported: string | null = null;

  /** Refuses a call over any of its budgets (counted, and the platform's ceiling logged). */
  async function enforceBudgets(request: LlmRequest): Promise<void> {
    const now = clock();
    const { budgets } = config;
    const { refusal, platform } = await budgetStanding(db, request, budgets, now);
    metrics?.llmPlatformBudgetUsed.set({ limit: 'tokens' }, platform.tokens / budgets.platformDailyTokens);
    if (budgets.platformDailyMicros !== null)
      metrics?.llmPlatformBudgetUsed.set(
        { limit: 'cost' },
        platform.costMicros / budgets.platformDailyMicros,
      );
    if (!refusal) return;
    metrics?.llmBudgetRefusals.inc({ scope: refusal });
    const day = now.toISOString().slice(0, 10);
    if (refusal === 'platform' && ceilingReported !== day) {
      ceilingReported = day;
      logger.error(
        {
          'budget.scope': refusal,
          'llm.platform_tokens': platform.tokens,
          'llm.platform_cost_micros': platform.costMicros,
          'budget.platform_tokens': budgets.platformDailyTokens,
          'budget.platform_micros': budgets.platformDailyMicros,
        },
        'the platform daily model ceiling is reached: no model is called, and people are told the assistant is busy, until midnight UTC',
      );
    }
    throw new BudgetExceededError(refusal);
  }

  async function complete(request: LlmRequest): Promise<LlmResponse> {
    if (!request.budgetChecked) await enforceBudgets(request);

    let lastFailure: unknown = null;
    for (const [index, provider] of providers.entries()) {
      const next = providers[index + 1];
      if (!provider.breaker.allow()) {
        lastFailure = new Error(`${provider.name}: circuit open`);
        if (next) metrics?.llmFallbacks.inc({ from: provider.name, to: next.name, reason: 'circuit_open' });
        logger.debug({ 'llm.provider': provider.name }, 'circuit open: provider skipped');
        continue;
      }
      const model = provider.models[request.purpose];
      const started = performance.now();
      try {
        const response = await provider.complete({
          model,
          system: request.system,
          messages: request.messages,
          ...(request.tools?.length ? { tools: request.tools } : {}),
          maxTokens: request.maxTokens ?? config.maxOutputTokens,
          cacheConversation: request.purpose === 'conversation',
        });
        provider.breaker.success();
        observe(provider.name, model, 'ok', started);
        await charge(request, response);
        return response;
      } catch (error) {
        const reason = failureOf(error);
        if (reason === null || reason === 'rejected') {
          // The provider answered (or never saw the call): nothing against it, and no reason to
          // think another provider would do better.
          provider.breaker.success();
          observe(provider.name, model, reason ?? 'error', started);
          if (reason === null) throw error;
          const { status } = error as AnthropicCallError | OllamaCallError;
          throw new LlmRequestError(provider.name, status, (error as Error).message, { cause: error });
        }
        observe(provider.name, model, 'failed', started);
        failed(provider, next, model, reason, error);
        lastFailure = error;
      }
    }
    const unavailable = new LlmUnavailableError(
      providers.length ? undefined : 'No language model is configured',
    );
    unavailable.cause = lastFailure;
    throw unavailable;
  }

  /** A provider in trouble: its breaker counts it, and the switch to the next is logged and counted. */
  function failed(
    provider: Provider,
    next: Provider | undefined,
    model: string,
    reason: ProviderFailure,
    error: unknown,
  ): void {
    const wasOpen = provider.breaker.snapshot().state === 'open';
    provider.breaker.failure();
    if (next) metrics?.llmFallbacks.inc({ from: provider.name, to: next.name, reason });
    const fields = {
      err: error,
      'llm.provider': provider.name,
      'llm.model': model,
      'llm.reason': reason,
      'llm.fallback': next?.name ?? null,
    };
    const what = next
      ? `${provider.name} failed (${reason}): falling back to ${next.name}`
      : `${provider.name} failed (${reason})`;
    // Waiting will not fix a wrong key or model name: someone has to.
    if (reason === 'misconfigured') logger.error(fields, `${what}; check its key and model name`);
    else logger.warn(fields, what);
    const after = provider.breaker.snapshot();
    if (!wasOpen && after.state === 'open') {
      logger.warn(
        { 'llm.provider': provider.name, 'llm.retry_at': after.retryAt?.toISOString() },
        `${provider.name} circuit opened after ${after.consecutiveFailures} failures in a row`,
      );
    }
  }

  /** One ledger row per answered call. A lost row must not lose the answer already paid for. */
  async function charge(request: LlmRequest, response: LlmResponse): Promise<void> {
    const { usage } = response;
    for (const [kind, tokens] of [
      ['input', usage.inputTokens],
      ['output', usage.outputTokens],
      ['cache_read', usage.cacheReadTokens],
      ['cache_write', usage.cacheWriteTokens],
    ] as const) {
      if (tokens)
        metrics?.llmTokens.inc({ provider: response.provider, model: response.model, kind }, tokens);
    }
    try {
      await recordUsage(db, {
        userId: request.userId ?? null,
        organizationId: request.organizationId ?? null,
        purpose: request.purpose,
        provider: response.provider,
        model: response.model,
        usage,
        costMicros: costMicros(response.model, usage, prices, logger),
        createdAt: clock(),
      });
    } catch (error) {
      logger.error(
        { err: error, 'user.id': request.userId, 'llm.provider': response.provider },
        'could not record model usage',
      );
    }
  }

  function observe(provider: ProviderName, model: string, outcome: string, started: number): void {
    metrics?.llmCalls.inc({ provider, model, outcome });
    metrics?.llmCallDuration.observe({ provider, outcome }, (performance.now() - started) / 1000);
  }

  function statusOf(provider: Provider | null): ProviderStatus | null {
    if (!provider) return null;
    return { ...provider.breaker.snapshot(), models: [...new Set(Object.values(provider.models))] };
  }

  return {
    complete,
    useMetrics(registry) {
      metrics = registry;
    },
    status() {
      const anthropicStatus = statusOf(anthropic);
      const ollamaStatus = statusOf(ollama);
      return {
        available: [anthropicStatus, ollamaStatus].some((s) => s !== null && s.state !== 'open'),
        anthropic: anthropicStatus,
        ollama: ollamaStatus,
      };
    },
  };
}

/** Why a provider call failed, or null when the error is not a provider's (a bug of ours). */
function failureOf(error: unknown): ProviderFailure | null {
  if (error instanceof AnthropicCallError || error instanceof OllamaCallError) return error.reason;
  return null;
}
