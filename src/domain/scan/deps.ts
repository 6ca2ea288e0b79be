/** What the `business-scan` job needs, from a process's configuration and services. */
import type { Config } from '../../config/index.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { LlmGateway } from '../conversation/messages.ts';
import type { ScanProgressPayload, ScanRunDeps } from './scans.ts';

export function scanRunDeps(input: {
  config: Pick<Config, 'scan' | 'llm'>;
  db: Db;
  logger: Logger;
  now: () => Date;
  llm: LlmGateway;
  pubsub: { publish: (topic: string, payload: ScanProgressPayload) => Promise<void> };
}): ScanRunDeps {
  const { scan, llm } = input.config;
  return {
    db: input.db,
    logger: input.logger,
    now: input.now,
    web: {
      allowed: scan.allowed,
      userAgent: scan.userAgent,
      maxPageBytes: scan.maxPageBytes,
      maxRedirects: scan.maxRedirects,
      pageTimeoutMs: scan.pageTimeoutMs,
    },
    maxPages: scan.maxPages,
    totalTimeoutMs: scan.totalTimeoutMs,
    // Without a configured model the classification lane is skipped rather than failed.
    llm: llm.anthropic || llm.ollama ? input.llm : undefined,
    publish: input.pubsub.publish,
  };
}
