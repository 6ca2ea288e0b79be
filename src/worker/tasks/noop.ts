import { setTimeout as sleep } from 'node:timers/promises';
import { noopTask } from '../../platform/jobs.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/**
 * Does nothing, for `holdMs` if asked. A hold cut short by a shutdown throws, so the job is
 * retried rather than counted as done.
 */
export default defineHandler(noopTask, async ({ holdMs }, context: TaskContext<never>) => {
  if (holdMs) await sleep(holdMs, undefined, { signal: context.job.signal });
});
