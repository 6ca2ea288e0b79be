/**
 * Ollama's chat API on loopback: `POST /api/chat` with a JSON body (model, messages, and
 * `stream: false`, the only mode this fake speaks) answered with one chat response in Ollama's
 * shape; errors are `{"error": "…"}`. Scripted like the Anthropic fake: queued replies, then the
 * handler, then a plain "ok".
 */
import type { FakeReply, ScriptedFake } from './anthropic.ts';
import { startScriptedFake } from './anthropic.ts';

export type { FakeReply, RecordedRequest } from './anthropic.ts';

export async function startFakeOllama(): Promise<ScriptedFake> {
  return startScriptedFake({
    path: '/api/chat',
    notFound: () => ({ error: 'not found' }),
    refuse(_request, body) {
      if (typeof body !== 'object' || body === null) return ollamaError(400, 'invalid request body');
      if (typeof body.model !== 'string' || !body.model) return ollamaError(400, 'model is required');
      if (!Array.isArray(body.messages)) return ollamaError(400, 'messages is required');
      // Ollama streams NDJSON unless told not to; this fake answers only whole responses.
      if (body.stream !== false) return ollamaError(400, 'the fake Ollama only answers with stream: false');
      return null;
    },
    fallback: (body) => ({ body: ollamaMessage({ text: 'ok', model: body.model }) }),
  });
}

/** A non-streamed `/api/chat` response body. */
export function ollamaMessage(input: {
  text?: string;
  toolCalls?: { name: string; arguments: unknown }[];
  model?: string;
  promptTokens?: number;
  evalTokens?: number;
}): unknown {
  const toolCalls = input.toolCalls ?? [];
  return {
    model: input.model ?? 'qwen3:8b',
    created_at: new Date().toISOString(),
    message: {
      role: 'assistant',
      content: input.text ?? '',
      ...(toolCalls.length
        ? {
            tool_calls: toolCalls.map((call) => ({
              function: { name: call.name, arguments: call.arguments },
            })),
          }
        : {}),
    },
    done: true,
    done_reason: 'stop',
    total_duration: 900_000_000,
    load_duration: 3_000_000,
    prompt_eval_count: input.promptTokens ?? 20,
    prompt_eval_duration: 300_000_000,
    eval_count: input.evalTokens ?? 8,
    eval_duration: 550_000_000,
  };
}

/** An error reply in Ollama's shape (404 is what it says for a model it has not pulled). */
export function ollamaError(status: number, message: string): FakeReply {
  return { status, body: { error: message } };
}
