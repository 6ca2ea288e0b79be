/**
 * The one error the language model clients (Anthropic, Ollama) throw, read by the router
 * (llm/router.ts). On its own so that the clients and the router, which imports them, share it
 * without importing each other.
 */
import type { ProviderFailure } from './llm/messages.ts';

/** A provider call that failed, with why in the router's terms. */
export class ProviderCallError extends Error {
  readonly reason: ProviderFailure;
  /** The HTTP status, when the provider answered at all. */
  readonly status: number | null;
  constructor(
    /** Names the error: `AnthropicCallError`, `OllamaCallError`. */
    provider: 'Anthropic' | 'Ollama',
    reason: ProviderFailure,
    status: number | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = `${provider}CallError`;
    this.reason = reason;
    this.status = status;
  }
}
