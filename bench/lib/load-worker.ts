/** Worker-thread entry for `runLoadInWorker` (load.ts): one run, then the result goes back. */
import { parentPort, workerData } from 'node:worker_threads';
import { type LoadOptions, type LoadTarget, runLoad } from './load.ts';

const { target, options } = workerData as { target: LoadTarget; options: LoadOptions };
const controller = new AbortController();
parentPort?.on('message', (message) => {
  if (message === 'stop') controller.abort();
});
parentPort?.postMessage(await runLoad(target, options, controller.signal));
parentPort?.close();
