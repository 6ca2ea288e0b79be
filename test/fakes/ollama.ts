/**
 * Ollama's chat API on loopback: `POST /api/chat` with a JSON body (model, messages, and
 * `stream: false`, the only mode this fake speaks) answered with one chat response in Ollama's
 * shape; errors are `{"error": "…"}`. Scripted like the Anthropic fake: queued replies, then the
 * handler, then a plain "ok".
 *
 * And its embed API: `POST /api/embed` with `{ model, input }` (a text or a list of texts)
 * answered with `{ model, embeddings }`, each vector `fakeEmbedding(text)`: deterministic, and
 * carrying some meaning through a small synonym table, so recall by vectors can be tested.
 */
import type { FakeReply, ScriptedFake } from './anthropic.ts';
import { startScriptedFake } from './anthropic.ts';

export type { FakeReply, RecordedRequest } from './anthropic.ts';

export interface FakeOllama extends ScriptedFake {
  /** The bodies of `/api/embed` calls, in order. */
  embedRequests: unknown[];
  /** Answers `/api/embed` with this instead of vectors (null: vectors again). */
  failEmbeds(reply: FakeReply | null): void;
}

export async function startFakeOllama(): Promise<FakeOllama> {
  const embedRequests: unknown[] = [];
  let embedFailure: FakeReply | null = null;
  const fake = await startScriptedFake({
    routes: {
      '/api/embed': (body) => {
        embedRequests.push(body);
        if (embedFailure) return embedFailure;
        if (typeof body?.model !== 'string' || !body.model) return ollamaError(400, 'model is required');
        const input: unknown = body.input;
        const texts = typeof input === 'string' ? [input] : input;
        if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string'))
          return ollamaError(400, 'input must be a string or a list of strings');
        return {
          body: {
            model: body.model,
            embeddings: texts.map(fakeEmbedding),
            total_duration: 14_000_000,
            load_duration: 1_000_000,
            prompt_eval_count: texts.length * 8,
          },
        };
      },
    },
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
  return {
    ...fake,
    embedRequests,
    failEmbeds(reply) {
      embedFailure = reply;
    },
  };
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

/** Dimensions of the fake's vectors. */
export const FAKE_EMBEDDING_DIMENSIONS = 256;

/**
 * Words the fake embedder takes to mean the same (a real model learns this; the fake is told).
 * Each group is one concept: "nuts" and "peanut" land on the same dimension.
 */
const SYNONYMS: readonly (readonly string[])[] = [
  ['nut', 'peanut', 'almond', 'cashew'],
  ['allergy', 'allergie', 'allergic'],
  ['pork', 'pig', 'ham', 'bacon'],
  ['dairy', 'milk', 'lactose', 'cheese', 'cream'],
  ['coriander', 'cilantro', 'herb'],
  ['budget', 'spend', 'price', 'cost', 'euro', 'money', 'expensive', 'cheap'],
  ['alcohol', 'beer', 'drink', 'cocktail', 'booze'],
  ['loud', 'noisy', 'noise', 'quiet'],
  ['dine', 'dines', 'eat', 'dinner', 'supper'],
  ['metro', 'car', 'travel', 'transport', 'bus', 'drive', 'taxi'],
  ['terrace', 'outdoor', 'outside', 'patio'],
  ['summer', 'hot', 'sunny', 'heat'],
  ['kid', 'children', 'child'],
  ['work', 'office', 'job'],
  ['staff', 'waiter', 'waitres', 'server'],
  ['language', 'portuguese', 'english', 'speak'],
  ['wheelchair', 'accessible', 'access', 'ramp'],
  ['wife', 'husband', 'partner', 'spouse'],
  ['celebrate', 'celebrated', 'celebration'],
  ['dog', 'pet', 'puppy'],
];
const CONCEPT = new Map(SYNONYMS.flatMap((group) => group.map((word) => [word, group[0]!] as const)));
const STOPWORDS = new Set(
  'a an and any are as at be by can do does for from has have i in is it its me my of on or our should so the to we what when where which with you your'.split(
    ' ',
  ),
);

/**
 * The fake's embedding of a text: a hashed bag of its words' concepts (plural "s" dropped, the
 * synonym table applied, common words left out), L2-normalised. Deterministic, and texts sharing
 * meaning by the table are near each other.
 */
export function fakeEmbedding(text: string): number[] {
  const vector = new Array<number>(FAKE_EMBEDDING_DIMENSIONS).fill(0);
  for (const raw of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    if (STOPWORDS.has(raw)) continue;
    const word = raw.length > 3 && raw.endsWith('s') ? raw.slice(0, -1) : raw;
    const concept = CONCEPT.get(word) ?? CONCEPT.get(raw) ?? word;
    vector[fnv1a(concept) % FAKE_EMBEDDING_DIMENSIONS]! += 1;
  }
  const norm = Math.hypot(...vector);
  return norm ? vector.map((x) => x / norm) : vector;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const char of text) {
    hash ^= char.codePointAt(0)!;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
