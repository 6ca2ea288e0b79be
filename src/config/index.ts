/**
 * Every environment variable the product reads, parsed and validated once.
 *
 * Nothing else in the codebase reads `process.env`. Each concern (http, auth, database, channels,
 * llm, …) has its own schema and shape in this folder; `loadConfig()` parses them together and
 * reports every bad variable in one message; `main.ts` prints it and exits. Tests build a config
 * with `loadConfig({...})` and override only what they need.
 */
import { z } from 'zod';
import { agentsConfig, agentsEnv, agentsProblems } from './agents.ts';
import { authConfig, authEnv, authProblems, mailConfig, mailEnv, mailProblems } from './auth.ts';
import { billingConfig, billingEnv, billingProblems } from './billing.ts';
import { bookingsConfig, bookingsEnv } from './bookings.ts';
import { channelsConfig, channelsEnv } from './channels.ts';
import { databaseConfig, databaseEnv, databaseProblems, redisConfig } from './database.ts';
import {
  deliveryConfig,
  deliveryEnv,
  deliveryProblems,
  directionsConfig,
  placesEnv,
  weatherConfig,
} from './delivery.ts';
import { feesConfig, feesEnv } from './fees.ts';
import { generalEnv } from './general.ts';
import { graphqlConfig, graphqlEnv } from './graphql.ts';
import { httpConfig, httpEnv, httpProblems } from './http.ts';
import { consumerAgentConfig, llmConfig, llmEnv, llmProblems, sessionsConfig } from './llm.ts';
import { memoryConfig, memoryEnv, memoryProblems } from './memory.ts';
import { monitoringConfig, monitoringEnv, monitoringProblems } from './monitoring.ts';
import { networkConfig, networkEnv, networkProblems } from './network.ts';
import type { Context } from './parse.ts';
import { rateLimitsConfig, rateLimitsEnv } from './rate-limits.ts';
import { retentionConfig, retentionEnv } from './retention.ts';
import { scanConfig, scanEnv, scanProblems } from './scan.ts';
import { usageConfig, usageEnv, usageProblems } from './usage.ts';
import { webhooksConfig, webhooksEnv, webhooksProblems } from './webhooks.ts';
import { workerConfig, workerEnv, workerProblems } from './worker.ts';

/** All concerns' variables as one schema, so one parse names every bad variable at once. */
const envSchema = z.object({
  ...generalEnv.shape,
  ...httpEnv.shape,
  ...monitoringEnv.shape,
  ...databaseEnv.shape,
  ...graphqlEnv.shape,
  ...authEnv.shape,
  ...agentsEnv.shape,
  ...mailEnv.shape,
  ...rateLimitsEnv.shape,
  ...workerEnv.shape,
  ...retentionEnv.shape,
  ...channelsEnv.shape,
  ...llmEnv.shape,
  ...memoryEnv.shape,
  ...deliveryEnv.shape,
  ...placesEnv.shape,
  ...bookingsEnv.shape,
  ...networkEnv.shape,
  ...billingEnv.shape,
  ...usageEnv.shape,
  ...feesEnv.shape,
  ...webhooksEnv.shape,
  ...scanEnv.shape,
});
type ParsedEnv = z.output<typeof envSchema>;

export type Env = z.input<typeof envSchema>;

export type Config = ReturnType<typeof shape>;

export class ConfigError extends Error {
  readonly issues: string[];
  constructor(issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

function shape(e: ParsedEnv, context: Context) {
  return {
    env: e.NODE_ENV,
    production: context.production,
    role: e.ROLE,
    logLevel: e.LOG_LEVEL,
    http: httpConfig(e, context),
    monitoring: monitoringConfig(e),
    database: databaseConfig(e),
    redis: redisConfig(e),
    graphql: graphqlConfig(e, context),
    auth: authConfig(e),
    agents: agentsConfig(e),
    mail: mailConfig(e),
    rateLimits: rateLimitsConfig(e),
    worker: workerConfig(e),
    retention: retentionConfig(e),
    channels: channelsConfig(e),
    consumerAgent: consumerAgentConfig(e),
    llm: llmConfig(e),
    sessions: sessionsConfig(e),
    memory: memoryConfig(e),
    delivery: deliveryConfig(e),
    weather: weatherConfig(e),
    directions: directionsConfig(e),
    bookings: bookingsConfig(e),
    network: networkConfig(e),
    billing: billingConfig(e),
    usage: usageConfig(e),
    fees: feesConfig(e),
    webhooks: webhooksConfig(e),
    scan: scanConfig(e),
  };
}

/** Rules across variables, and what production requires, once every variable parsed. */
function problems(e: ParsedEnv, context: Context): string[] {
  return [
    ...authProblems(e, context),
    ...databaseProblems(e, context),
    ...mailProblems(e, context),
    ...llmProblems(e, context),
    ...memoryProblems(e),
    ...agentsProblems(e, context),
    ...monitoringProblems(e, context),
    ...httpProblems(e),
    ...deliveryProblems(e),
    ...workerProblems(e),
    ...networkProblems(e, context),
    ...billingProblems(e, context),
    ...usageProblems(e),
    ...webhooksProblems(e),
    ...scanProblems(e),
  ];
}

/** Parses an environment (by default `process.env`); throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  const context = { production: e.NODE_ENV === 'production' };
  const found = problems(e, context);
  if (found.length > 0) throw new ConfigError(found);
  return shape(e, context);
}

/** The names of every variable read here (the README table and .env.example list each one). */
export const ENV_VARIABLES: readonly string[] = Object.keys(envSchema.shape);
