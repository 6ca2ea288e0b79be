/**
 * Which language model answers a call: Anthropic, or Ollama when Anthropic is not configured, is
 * failing, or its circuit is open. Each provider has a circuit breaker of its own.
 *
 * What a failure means decides what happens next:
 * - timeout, network, 429, 5xx, 529: the provider is in trouble. Its breaker counts a failure and
 *   the call falls back (logged at warn, counted in `llm_fallbacks_total`).
 * - 401, 402, 403, 404: our key, bill or model name is wrong. Same, but logged at error, because
 *   someone has to fix it and waiting will not.
 * - any other 4xx: our request is wrong. Another provider would not make it right, and falling
 *   back would hide the bug, so the call fails with LlmRequestError.
 * When no provider answers, the call fails with ModelsUnavailableError.
 *
 * Budgets and the usage ledger are business rules and live in the conversation's gateway
 * (src/domain/conversation/gateway.ts), which calls this.
 */
import {
  type BreakerSnapshot,
  type CircuitBreaker,
  createCircuitBreaker,
} from '../../platform/circuit-breaker.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { createAnthropicClient } from '../anthropic/client.ts';
import { createOllamaClient } from '../ollama/client.ts';
import { ProviderCallError } from '../provider-call-error.ts';
import type {
  ChatMessage,
  LlmPurpose,
  LlmResponse,
  ProviderClient,
  ProviderFailure,
  ProviderName,
  SystemPart,
  ToolSpec,
} from './messages.ts';

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

/** No provider answered (none configured, all failing or open); `cause` is the last failure. */
export class ModelsUnavailableError extends Error {
  constructor(message = 'No language model is available right now', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelsUnavailableError';
  }
}

/** The model settings of LLM_* and ANTHROPIC_* / OLLAMA_* (config.llm has this shape). */
export interface ModelRouterConfig {
  anthropic?: { apiKey: string; baseUrl: string } | undefined;
  /** Anthropic's model per purpose. */
  models: Record<LlmPurpose, string>;
  ollama?: { url: string; model: string } | undefined;
  timeoutMs: number;
  /** Consecutive failures that open a provider's circuit, and how long it stays open. */
  breaker: { failures: number; cooldownMs: number };
}

/** One call as the router takes it: the purpose picks each provider's model. */
export interface ModelCall {
  purpose: LlmPurpose;
  system: SystemPart[];
  messages: ChatMessage[];
  tools?: ToolSpec[];
  maxTokens: number;
  cacheConversation?: boolean;
}

export interface ProviderStatus extends BreakerSnapshot {
  /** The models this provider is called with. */
  models: string[];
}

/** For /readyz: each configured provider's breaker (null: not configured). */
export interface ModelRouterStatus {
  /** Some configured provider would take a call now. */
  available: boolean;
  anthropic: ProviderStatus | null;
  ollama: ProviderStatus | null;
}

export interface ModelRouter {
  complete(call: ModelCall): Promise<LlmResponse>;
  status(): ModelRouterStatus;
  /** Models run on our own machines (Ollama's): they cost nothing per token. */
  localModels: string[];
  /** The process's metrics registry, once its app exists (services are built before the app). */
  useMetrics(metrics: Metrics): void;
}

interface Provider extends ProviderClient {
  name: ProviderName;
  models: Record<LlmPurpose, string>;
  breaker: CircuitBreaker;
}

export function createModelRouter(
  config: ModelRouterConfig,
  deps: {
    logger: Logger;
    metrics?: Metrics | undefined;
    /** The clock of the breakers; tests move it by hand. */
    now?: () => Date;
  },
): ModelRouter {
  const { logger } = deps;
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

  if (providers.length === 0)
    logger.warn('no language model configured: set ANTHROPIC_API_KEY or OLLAMA_URL');

  async function complete(call: ModelCall): Promise<LlmResponse> {
    let lastFailure: unknown = null;
    for (const [index, provider] of providers.entries()) {
      const next = providers[index + 1];
      if (!provider.breaker.allow()) {
        lastFailure = new Error(`${provider.name}: circuit open`);
        if (next) metrics?.llmFallbacks.inc({ from: provider.name, to: next.name, reason: 'circuit_open' });
        logger.debug({ 'llm.provider': provider.name }, 'circuit open: provider skipped');
        continue;
      }
      const model = provider.models[call.purpose];
      const started = performance.now();
      try {
        const response = await provider.complete({
          model,
          system: call.system,
          messages: call.messages,
          ...(call.tools?.length ? { tools: call.tools } : {}),
          maxTokens: call.maxTokens,
          cacheConversation: call.cacheConversation,
        });
        provider.breaker.success();
        observe(provider.name, model, 'ok', started);
        return response;
      } catch (error) {
        const reason = failureOf(error);
        if (reason === null || reason === 'rejected') {
          // The provider answered (or never saw the call): nothing against it, and no reason to
          // think another provider would do better.
          provider.breaker.success();
          observe(provider.name, model, reason ?? 'error', started);
          if (reason === null) throw error;
          const { status } = error as ProviderCallError;
          throw new LlmRequestError(provider.name, status, (error as Error).message, { cause: error });
        }
        observe(provider.name, model, 'failed', started);
        failed(provider, next, model, reason, error);
        lastFailure = error;
      }
    }
    throw new ModelsUnavailableError(providers.length ? undefined : 'No language model is configured', {
      cause: lastFailure,
    });
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
    localModels: config.ollama ? [config.ollama.model] : [],
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
  if (error instanceof ProviderCallError) return error.reason;
  return null;
}
