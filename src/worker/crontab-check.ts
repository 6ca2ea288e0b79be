/**
 * Checks the crontab against this codebase's rules and turns it into graphile-worker's parsed
 * cron items. Kept apart from crontab.ts so that file holds nothing but schedules.
 */
import { type ParsedCronItem, parseCrontab } from 'graphile-worker';
import type { TaskHandler } from './handler.ts';

/** `<five time fields> <task> [?options] [{json payload}]`, as graphile-worker reads a line. */
const LINE = /^(\S+\s+\S+\s+\S+\s+\S+\s+\S+)\s+([_a-zA-Z][_a-zA-Z0-9:/_-]*)(?:\s+\?(\S+))?(?:\s+(\{.*\}))?$/;

export class CrontabError extends Error {
  override name = 'CrontabError';
}

/**
 * Parses `text` for a worker running `handlers`. Every problem is reported at once, by line.
 * Lines without `max=` get their task's declared attempt limit, so a scheduled job retries like
 * an enqueued one.
 */
export function parseSchedules(text: string, handlers: readonly TaskHandler[]): ParsedCronItem[] {
  const byName = new Map(handlers.map((h) => [h.name, h]));
  const problems: string[] = [];
  const lines = text.split('\n');
  const out = lines.map((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return raw;
    const where = `crontab line ${index + 1} (${line})`;
    const match = LINE.exec(line);
    if (!match) {
      problems.push(`${where}: expected "<minute> <hour> <day> <month> <weekday> <task> ?id=… [payload]"`);
      return raw;
    }
    const [, time = '', task = '', optionText = '', payloadText] = match;
    if (!lines[index - 1]?.trim().startsWith('#')) {
      problems.push(`${where}: needs a comment line above it saying what it does and why`);
    }
    const options = new URLSearchParams(optionText);
    if (!options.get('id')) problems.push(`${where}: needs a permanent ?id=`);
    if (options.has('queue')) problems.push(`${where}: named queues are not used; drop queue=`);
    const handler = byName.get(task);
    if (!handler) {
      problems.push(`${where}: no task "${task}" in src/worker/task-list.ts`);
      return raw;
    }
    let payload: Record<string, unknown> = {};
    try {
      payload = payloadText ? JSON.parse(payloadText) : {};
    } catch {
      problems.push(`${where}: the payload is not JSON`);
    }
    const sample = { ...payload, _cron: { ts: new Date(0).toISOString(), backfilled: false } };
    if (!handler.declaration.schema.safeParse(sample).success) {
      problems.push(`${where}: task "${task}" would reject this payload`);
    }
    if (options.has('max')) return raw;
    options.set('max', String(handler.declaration.maxAttempts));
    return [time, task, `?${options.toString()}`, payloadText].filter(Boolean).join(' ');
  });
  if (problems.length)
    throw new CrontabError(`Invalid crontab:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  try {
    return parseCrontab(out.join('\n'));
  } catch (error) {
    throw new CrontabError(`Invalid crontab: ${(error as Error).message}`);
  }
}
