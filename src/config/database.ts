/**
 * PostgreSQL and Redis. Left unset, the product looks for them at the local defaults and falls
 * back to an embedded PostgreSQL and per-process stand-ins for Redis; set, they must answer.
 */
import { z } from 'zod';
import { bool, type Context, optional, positiveInt } from './parse.ts';

export const databaseEnv = z.object({
  DATABASE_URL: optional(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')),
  DATABASE_POOL_SIZE: positiveInt.default(10),
  DATABASE_PREPARED_STATEMENTS: z.coerce.number().int().min(0).default(500),
  DATABASE_CONNECT_TIMEOUT_MS: positiveInt.default(10_000),
  REDIS_URL: optional(z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')),
  REDIS_KEY_PREFIX: z.string().default('agnt:'),
  EMBEDDED_POSTGRES_DIR: z.string().default('.data/postgres'),
  SEED_DEMO: bool.default(true),
});
type DatabaseEnv = z.output<typeof databaseEnv>;

export function databaseConfig(e: DatabaseEnv) {
  return {
    /** Set when DATABASE_URL was given: then it must answer, no embedded fallback. */
    url: e.DATABASE_URL,
    defaultUrl: 'postgresql://postgres@127.0.0.1:5432/agnt',
    poolSize: e.DATABASE_POOL_SIZE,
    /** Distinct statements each connection keeps prepared (parsed and planned once); 0: none. */
    preparedStatements: e.DATABASE_PREPARED_STATEMENTS,
    /** How long a query or a lock waits for a pool's connection before it fails. */
    connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
    embeddedDir: e.EMBEDDED_POSTGRES_DIR,
    seedDemo: e.SEED_DEMO,
  };
}

export function redisConfig(e: DatabaseEnv) {
  return {
    url: e.REDIS_URL,
    defaultUrl: 'redis://127.0.0.1:6379',
    keyPrefix: e.REDIS_KEY_PREFIX,
  };
}

export function databaseProblems(e: DatabaseEnv, { production }: Context): string[] {
  return production && !e.DATABASE_URL ? ['DATABASE_URL: required in production'] : [];
}
