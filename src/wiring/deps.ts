/**
 * What each edge the composition root builds uses of the services: narrow views of `Services`,
 * so an edge's signature says what it depends on and a test can hand it just that.
 */
import type { Services } from './services.ts';

/** The raw webhook routes: where they record what arrives, and the channels' settings. */
export type WebhookDeps = Pick<Services, 'config' | 'database' | 'db' | 'billing'>;

/** Health, readiness and metrics: every dependency they report on. */
export type MonitoringDeps = Pick<
  Services,
  | 'config'
  | 'logger'
  | 'database'
  | 'db'
  | 'redis'
  | 'limiter'
  | 'llm'
  | 'network'
  | 'billing'
  | 'memorySearch'
>;

/**
 * The worker: what the runner needs to start (config, logger, the database's url) and every
 * service a task in src/worker/tasks/ reads. Each task's handler is typed by its own slice.
 */
export type WorkerDeps = Pick<
  Services,
  | 'config'
  | 'logger'
  | 'database'
  | 'db'
  | 'now'
  | 'bookings'
  | 'keyring'
  | 'inbound'
  | 'media'
  | 'senders'
  | 'buckets'
  | 'delivery'
  | 'network'
  | 'mailer'
  | 'billing'
  | 'apiQuota'
  | 'llm'
  | 'pubsub'
  | 'memorySearch'
>;
