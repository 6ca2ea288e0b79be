/** What the bench ran on, and where the CPU time went during a measurement. */
import os from 'node:os';
import { performance } from 'node:perf_hooks';

export function describeMachine(): string {
  const cpus = os.cpus();
  const memoryGiB = Math.round(os.totalmem() / 2 ** 30);
  return `node ${process.version}, ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${memoryGiB} GiB`;
}

export interface CpuWindow {
  /** Busy cores of the whole machine, on average (0..number of cores). */
  machineCores: number;
  /** Cores used by this (the bench) process, all threads included. */
  benchCores: number;
}

/** Starts measuring CPU use; `stop()` returns the averages over the window. */
export function measureCpu(): { stop(): CpuWindow } {
  const machineBefore = machineTimes();
  const benchBefore = process.cpuUsage();
  const startedAt = performance.now();
  return {
    stop() {
      const machineAfter = machineTimes();
      const bench = process.cpuUsage(benchBefore);
      const wallMs = performance.now() - startedAt;
      const totalMs = machineAfter.totalMs - machineBefore.totalMs;
      return {
        machineCores:
          totalMs > 0 ? ((machineAfter.busyMs - machineBefore.busyMs) / totalMs) * os.cpus().length : 0,
        benchCores: wallMs > 0 ? (bench.user + bench.system) / 1000 / wallMs : 0,
      };
    },
  };
}

/** Summed CPU times of every core since boot. */
function machineTimes(): { busyMs: number; totalMs: number } {
  let busyMs = 0;
  let totalMs = 0;
  for (const { times } of os.cpus()) {
    const total = times.user + times.nice + times.sys + times.irq + times.idle;
    totalMs += total;
    busyMs += total - times.idle;
  }
  return { busyMs, totalMs };
}
