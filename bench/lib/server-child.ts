/**
 * Entry of a server child process: `node server-child.ts <scenario module URL>`. Waits for its
 * params over IPC, serves, answers load samples, and stops when told to or when the bench
 * process goes away (the IPC channel closes), so no server outlives a run.
 */
import type { Scenario, Served } from './scenario.ts';
import { loopSample } from './server.ts';
import type { ChildMessage, ParentMessage } from './server-protocol.ts';

const moduleUrl = process.argv[2];
if (!moduleUrl || !process.send) {
  console.error('server-child.ts is started by bench/lib/server.ts, not by hand');
  process.exit(2);
}

const reply = (message: ChildMessage) => process.send?.(message);
const scenario = ((await import(moduleUrl)) as { default: Scenario }).default;
let served: Served | undefined;
let stopping = false;

async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  try {
    await served?.stop();
  } catch (error) {
    console.error('server stop failed:', error);
    code = 1;
  }
  process.exit(code);
}

process.on('message', (message: ParentMessage) => {
  switch (message.type) {
    case 'serve':
      scenario.serve(message.params).then(
        (server) => {
          served = server;
          reply({ type: 'listening', port: server.port });
        },
        (error: unknown) => {
          reply({
            type: 'failed',
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          });
          void stop(1);
        },
      );
      break;
    case 'sample': {
      const cpu = process.cpuUsage();
      reply({ type: 'sample', sample: { ...loopSample(), cpuMicros: cpu.user + cpu.system } });
      break;
    }
    case 'stop':
      void stop(0);
      break;
  }
});
process.on('disconnect', () => void stop(0));
// Ctrl-C reaches the whole process group; the bench process decides when this server stops (it
// may still be draining a run), and the disconnect above covers a bench process that died.
process.on('SIGINT', () => {});
