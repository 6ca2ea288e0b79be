/**
 * Ollama's embed API: `POST /api/embed` with `{ model, input: [texts] }`, answered with
 * `{ model, embeddings: [[…], …] }`, one vector per text in order (L2-normalised by Ollama).
 */

export interface OllamaEmbedClient {
  readonly model: string;
  /** One vector per text, in order. Throws OllamaEmbedError when Ollama fails or answers oddly. */
  embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
}

export class OllamaEmbedError extends Error {
  /** The HTTP status, when Ollama answered at all. */
  readonly status: number | null;
  constructor(message: string, status: number | null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OllamaEmbedError';
    this.status = status;
  }
}

export function createOllamaEmbedClient(options: {
  url: string;
  model: string;
  timeoutMs: number;
}): OllamaEmbedClient {
  return {
    model: options.model,
    async embed(texts, call = {}) {
      if (texts.length === 0) return [];
      const signals = [AbortSignal.timeout(options.timeoutMs), ...(call.signal ? [call.signal] : [])];
      let response: Response;
      try {
        response = await fetch(`${options.url}/api/embed`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: options.model, input: texts }),
          signal: AbortSignal.any(signals),
        });
      } catch (error) {
        throw new OllamaEmbedError(`Ollama embed unreachable: ${(error as Error).message}`, null, {
          cause: error,
        });
      }
      let body: { embeddings?: unknown; error?: string };
      try {
        body = (await response.json()) as typeof body;
      } catch (error) {
        throw new OllamaEmbedError(`Ollama embed ${response.status}: unreadable answer`, response.status, {
          cause: error,
        });
      }
      if (!response.ok) {
        throw new OllamaEmbedError(
          `Ollama embed ${response.status}: ${body.error ?? response.statusText}`,
          response.status,
        );
      }
      const vectors = body.embeddings;
      if (
        !Array.isArray(vectors) ||
        vectors.length !== texts.length ||
        !vectors.every(
          (v) =>
            Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x)),
        )
      ) {
        throw new OllamaEmbedError('Ollama embed: the answer is not one vector of numbers per text', 200);
      }
      return vectors as number[][];
    },
  };
}
