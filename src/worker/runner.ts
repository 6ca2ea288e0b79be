/**
 * The graphile-worker runner: every background job and schedule runs here, in the `worker` role
 * (and in `all`). Jobs are handed out with `SKIP LOCKED`, so any number of workers share the work.
 */
import { type Runner, run, Logger as WorkerLogger } from 'graphile-worker';
import type { Logger } from '../platform/logger.ts';
import type { Services } from '../services.ts';
import { taskList } from './tasks.ts';

export interface WorkerHandle {
  running(): boolean;
  stop(): Promise<void>;
}

export async function startWorker(services: Services): Promise<WorkerHandle> {
  let stopped = false;
  const runner: Runner = await run({
    pgPool: services.database.pool,
    concurrency: services.config.worker.concurrency,
    taskList: taskList(services),
    noHandleSignals: true,
    pollInterval: 1000,
    crontab: '',
    logger: workerLogger(services.logger),
  });
  runner.promise.catch((error) => services.logger.error({ err: error }, 'worker stopped with an error'));
  return {
    running: () => !stopped,
    async stop() {
      if (stopped) return;
      stopped = true;
      await runner.stop();
    },
  };
}

/** graphile-worker's log lines, as structured pino lines under `worker.*`. */
function workerLogger(logger: Logger): WorkerLogger {
  return new WorkerLogger((scope) => {
    const child = logger.child({
      component: 'worker',
      'worker.label': scope.label,
      'job.id': scope.jobId,
      'job.task': scope.taskIdentifier,
    });
    return (level, message, meta) => {
      const method =
        level === 'error' ? 'error' : level === 'warning' ? 'warn' : level === 'debug' ? 'debug' : 'info';
      child[method](meta ?? {}, message);
    };
  });
}
