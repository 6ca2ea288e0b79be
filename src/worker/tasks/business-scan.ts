import { scanRunDeps } from '../../domain/scan/deps.ts';
import { businessScanTask, failScan, runScan } from '../../domain/scan/scans.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Reads a business's website into a report and an onboarding draft (src/domain/scan). */
export default defineHandler(
  businessScanTask,
  async ({ scanId }, { services, logger, job }: TaskContext<'config' | 'db' | 'now' | 'llm' | 'pubsub'>) => {
    const deps = scanRunDeps({ ...services, logger });
    try {
      const scan = await runScan(deps, scanId);
      logger.info({ 'scan.id': scanId, 'scan.status': scan?.status ?? 'missing' }, 'business scan finished');
    } catch (error) {
      // Our own failure (the database, a bug): retried, and the scan told once retries are spent.
      if (job.finalAttempt) await failScan(deps, scanId);
      throw error;
    }
  },
);
