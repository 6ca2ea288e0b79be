/**
 * CPU time of the PostgreSQL backends serving one database, read from /proc (so only for a
 * PostgreSQL on this machine). Only a measurement's own processes use its database, so this is
 * PostgreSQL's work for that measurement, whatever else the machine runs.
 */
import { readFile } from 'node:fs/promises';
import type pg from 'pg';

/**
 * CPU time (user + system, in milliseconds) of every backend connected to `client`'s database,
 * by process id; null when it cannot be read.
 */
export async function backendCpu(client: pg.Client): Promise<Map<number, number> | null> {
  const { rows } = await client.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
  );
  const ticksPerSecond = 100; // USER_HZ, 100 on Linux whatever the kernel's own tick rate
  const times = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces), 1-based: utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      times.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond);
    } catch {
      return null;
    }
  }
  return times;
}

/**
 * The backends' CPU between two readings: a backend that started in between counts from zero
 * (pools open connections as they need them); one that ended in between is missed (none does:
 * pools keep busy connections).
 */
export function cpuBetween(
  before: Map<number, number> | null,
  after: Map<number, number> | null,
): number | null {
  if (!before || !after) return null;
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}
