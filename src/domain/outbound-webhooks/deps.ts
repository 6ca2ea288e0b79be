/** What the webhook functions need, from a process's configuration and services. */
import type { Config } from '../../config/index.ts';
import type { Database, Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import type { WebhookSendDeps } from './delivery.ts';
import type { WebhookDeps } from './subscriptions.ts';
import type { TargetPolicy } from './targets.ts';

/** Which targets may be reached: public addresses, https in production, and the allow-list. */
export function webhookPolicy(config: Pick<Config, 'production' | 'webhooks'>): TargetPolicy {
  return { allowed: config.webhooks.allowed, requireHttps: config.production };
}

export function webhookDeps(input: {
  config: Pick<Config, 'production' | 'webhooks'>;
  db: Db;
  keyring: SecretKeyring;
  now: () => Date;
}): WebhookDeps {
  return { db: input.db, keyring: input.keyring, now: input.now, policy: webhookPolicy(input.config) };
}

export function webhookSendDeps(input: {
  config: Pick<Config, 'production' | 'webhooks'>;
  database: Database;
  keyring: SecretKeyring;
  logger: Logger;
  now: () => Date;
}): WebhookSendDeps {
  const { webhooks } = input.config;
  return {
    database: input.database,
    keyring: input.keyring,
    logger: input.logger,
    now: input.now,
    policy: webhookPolicy(input.config),
    timeoutMs: webhooks.timeoutMs,
    retryHours: webhooks.retryHours,
    disableAfterHours: webhooks.disableAfterHours,
  };
}
