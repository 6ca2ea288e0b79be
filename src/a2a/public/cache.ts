/**
 * `booking.search` answers, kept five minutes per API key and normalised query (the reference
 * network's promise, and what spares the database an agent that repeats itself). The cache wraps
 * the search tool's own `run`, so the tool runner still checks the input, the caller, the quota
 * and writes the audit row for every call; only the search itself is skipped on a hit. Entries
 * live in Redis (shared by every `api` process) or, on per-process stand-ins, in this process.
 */
import { createHash } from 'node:crypto';
import type { AnyTool, ToolCaller } from '../../domain/tools/contract.ts';
import type { RedisHandle } from '../../platform/redis.ts';

export const SEARCH_CACHE_SECONDS = 300;
/** The most entries one process keeps without Redis; the oldest go first. */
const MEMORY_ENTRIES = 5_000;

export interface AnswerCache {
  get(key: string): Promise<unknown | undefined>;
  set(key: string, value: unknown): Promise<void>;
}

export function answerCache(redis: RedisHandle, ttlSeconds = SEARCH_CACHE_SECONDS): AnswerCache {
  const client = redis.client;
  if (client) {
    const prefixed = (key: string) => `${redis.keyPrefix}a2a:cache:${key}`;
    return {
      async get(key) {
        const raw = await client.get(prefixed(key));
        return raw === null ? undefined : JSON.parse(raw);
      },
      async set(key, value) {
        await client.set(prefixed(key), JSON.stringify(value), 'EX', ttlSeconds);
      },
    };
  }
  const entries = new Map<string, { value: unknown; expires: number }>();
  return {
    async get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expires <= Date.now()) {
        entries.delete(key);
        return undefined;
      }
      return structuredClone(entry.value);
    },
    async set(key, value) {
      entries.delete(key);
      entries.set(key, { value: structuredClone(value), expires: Date.now() + ttlSeconds * 1000 });
      // A Map iterates in insertion order: the first key is the oldest.
      while (entries.size > MEMORY_ENTRIES) entries.delete(entries.keys().next().value as string);
    },
  };
}

/**
 * A query in one spelling: strings trimmed, lower-cased and single-spaced, lists sorted, absent
 * fields dropped, keys in order. "  Sushi  Bar" and "sushi bar" are one query.
 */
export function normaliseQuery(input: unknown): unknown {
  if (typeof input === 'string') return input.trim().replace(/\s+/g, ' ').toLowerCase();
  if (Array.isArray(input)) return input.map(normaliseQuery).sort();
  if (input && typeof input === 'object') {
    return Object.fromEntries(
      Object.entries(input)
        .filter(([, value]) => value !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]) => [key, normaliseQuery(value)]),
    );
  }
  return input;
}

/** The tool, its answers cached per API key and normalised (already validated) input. */
export function cachedTool<C extends ToolCaller>(tool: AnyTool<C>, cache: AnswerCache): AnyTool<C> {
  return {
    ...tool,
    async run(input, caller, signal) {
      const actor = caller.actor;
      // Only API keys come this way; anyone else is answered fresh.
      if (actor?.kind !== 'apiKey') return tool.run(input, caller, signal);
      const digest = createHash('sha256')
        .update(JSON.stringify(normaliseQuery(input)))
        .digest('base64url');
      const key = `${tool.name}:${actor.apiKeyId}:${digest}`;
      const hit = await cache.get(key);
      if (hit !== undefined) return hit;
      const value = await tool.run(input, caller, signal);
      await cache.set(key, value);
      return value;
    },
  };
}
