import { businessScanTask, failScan, runScan } from '../../domain/scan/scans.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Reads a business's website into a report and an onboarding draft (src/domain/scan). */
export default defineHandler(
  businessScanTask,
  async ({ scanId }, { services, logger, job }: TaskContext<'config' | 'db' | 'now' | 'llm' | 'pubsub'>) => {
    const { scan } = services.config;
    const deps = {
      db: services.db,
      logger,
      now: services.now,
      web: {
        allowed: scan.allowed,
        userAgent: scan.userAgent,
        maxPageBytes: scan.maxPageBytes,
        maxRedirects: scan.maxRedirects,
        pageTimeoutMs: scan.pageTimeoutMs,
      },
      maxPages: scan.maxPages,
      totalTimeoutMs: scan.totalTimeoutMs,
      llm: services.config.llm.anthropic || services.config.llm.ollama ? services.llm : undefined,
      publish: services.pubsub.publish,
    };
    try {
      const done = await runScan(deps, scanId);
      logger.info({ 'scan.id': scanId, 'scan.status': done?.status ?? 'missing' }, 'business scan finished');
    } catch (error) {
      // Our own failure (the database, a bug): retried, and the scan told once retries are spent.
      if (job.finalAttempt) await failScan(deps, scanId);
      throw error;
    }
  },
);
