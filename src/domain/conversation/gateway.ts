/**
 * The one way the consumer agent calls a language model. A call is checked against the budgets
 * first (the person's, their organisation's and the platform's; over any: no model call at all, the
 * refusal counted, and the platform's ceiling logged once a day), then goes to the model router
 * (src/integrations/llm/router.ts: Anthropic, or Ollama as the fallback, each behind its circuit
 * breaker); the answer is recorded in the usage ledger with its cost.
 *
 * When no model answers, the call fails with LlmUnavailableError, and nothing is recorded. A
 * request a provider refuses as wrong fails with the router's LlmRequestError: a bug to fix, not
 * something to tell the person about.
 */
import {
  type ModelRouter,
  type ModelRouterStatus,
  ModelsUnavailableError,
} from '../../integrations/llm/router.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { budgetStanding, costMicros, type ModelPrice, recordUsage, type TokenBudgets } from './budget.ts';
import {
  BudgetExceededError,
  type LlmGateway,
  type LlmRequest,
  type LlmResponse,
  LlmUnavailableError,
} from './messages.ts';

/** For /readyz: each configured provider's breaker (null: not configured). */
export type LlmGatewayStatus = ModelRouterStatus;

/** Local models cost nothing per token, unless LLM_PRICES says otherwise. */
const FREE: ModelPrice = { input: 0, output: 0 };

export function createLlmGateway(deps: {
  /** The models, built once by the composition root. */
  models: ModelRouter;
  budgets: TokenBudgets;
  /** Prices per model (LLM_PRICES). */
  prices: Record<string, ModelPrice>;
  /** A call's output limit when the request sets none. */
  maxOutputTokens: number;
  db: Db;
  logger: Logger;
  metrics?: Metrics | undefined;
  /** The clock for budgets and ledger rows; tests move it by hand. */
  now?: () => Date;
}): LlmGateway & { status(): LlmGatewayStatus; useMetrics(metrics: Metrics): void } {
  const { models, budgets, db, logger } = deps;
  // The process's registry, once its app exists (services are built before the app).
  let metrics = deps.metrics;
  const clock = deps.now ?? (() => new Date());
  const prices: Record<string, ModelPrice> = {
    ...Object.fromEntries(models.localModels.map((model) => [model, FREE])),
    ...deps.prices,
  };

  /** The UTC day whose platform ceiling this process has reported, so it is logged once a day. */
  let ceilingReported: string | null = null;

  /** Refuses a call over any of its budgets (counted, and the platform's ceiling logged). */
  async function enforceBudgets(request: LlmRequest): Promise<void> {
    const now = clock();
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
    let response: LlmResponse;
    try {
      response = await models.complete({
        purpose: request.purpose,
        system: request.system,
        messages: request.messages,
        ...(request.tools?.length ? { tools: request.tools } : {}),
        maxTokens: request.maxTokens ?? deps.maxOutputTokens,
        cacheConversation: request.purpose === 'conversation',
      });
    } catch (error) {
      if (error instanceof ModelsUnavailableError)
        throw new LlmUnavailableError(error.message, { cause: error.cause });
      throw error;
    }
    await charge(request, response);
    return response;
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

  return {
    complete,
    useMetrics(registry) {
      metrics = registry;
      models.useMetrics(registry);
    },
    status: () => models.status(),
  };
}
