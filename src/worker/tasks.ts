import type { TaskList } from 'graphile-worker';
import type { Services } from '../services.ts';

/** Every task the worker runs, by task identifier. Each lives in its own file under tasks/. */
export function taskList(_services: Services): TaskList {
  return {};
}
