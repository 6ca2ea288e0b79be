/**
 * The crontab's rules, checked when a worker starts: a comment and a permanent id on every line,
 * known tasks, payloads the task accepts, and the task's own attempt limit.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cronPayload, defineTask } from '../../src/platform/jobs.ts';
import { crontab } from '../../src/worker/crontab.ts';
import { CrontabError, parseSchedules } from '../../src/worker/crontab-check.ts';
import { defineHandler } from '../../src/worker/handler.ts';
import { handlers } from '../../src/worker/task-list.ts';

const summary = defineHandler(
  defineTask({
    name: 'test-summary',
    schema: cronPayload.extend({ kind: z.enum(['morning', 'evening']).default('morning') }),
    maxAttempts: 4,
  }),
  async () => {},
);

describe('the crontab', () => {
  it('the one in src/worker/crontab.ts passes for the tasks the worker runs', () => {
    expect(() => parseSchedules(crontab, handlers)).not.toThrow();
  });

  it('turns each line into a schedule with its id, backfill and the task’s attempt limit', () => {
    const [item, other] = parseSchedules(
      `
# Morning summaries; hourly, the task picks the venues whose morning it is.
0 * * * * test-summary ?id=summary-morning&fill=2h {"kind":"morning"}
# Evening summaries, with attempts of their own.
30 18 * * * test-summary ?id=summary-evening&max=2 {"kind":"evening"}
`,
      [summary],
    );
    expect(item).toMatchObject({
      task: 'test-summary',
      identifier: 'summary-morning',
      payload: { kind: 'morning' },
      options: { backfillPeriod: 2 * 3_600_000, maxAttempts: 4 },
    });
    expect(other).toMatchObject({ identifier: 'summary-evening', options: { maxAttempts: 2 } });
    expect(item!.match({ min: 0, hour: 7, date: 1, month: 1, dow: 1 })).toBe(true);
    expect(item!.match({ min: 1, hour: 7, date: 1, month: 1, dow: 1 })).toBe(false);
  });

  it('refuses lines without a comment or an id, unknown tasks, queues and payloads the task rejects', () => {
    const broken = `
0 * * * * test-summary ?id=no-comment
# No id.
0 * * * * test-summary
# Unknown task.
0 * * * * test-nothing ?id=nothing
# A queue.
0 * * * * test-summary ?id=queued&queue=summaries
# A payload the task rejects.
0 * * * * test-summary ?id=bad-payload {"kind":"noon"}
# Not a crontab line.
every hour test-summary ?id=words
`;
    let error: unknown;
    try {
      parseSchedules(broken, [summary]);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CrontabError);
    const message = (error as Error).message;
    expect(message).toContain(
      'line 2 (0 * * * * test-summary ?id=no-comment): needs a comment line above it',
    );
    expect(message).toContain('line 4 (0 * * * * test-summary): needs a permanent ?id=');
    expect(message).toContain('line 6 (0 * * * * test-nothing ?id=nothing): no task "test-nothing"');
    expect(message).toContain(
      'line 8 (0 * * * * test-summary ?id=queued&queue=summaries): named queues are not used',
    );
    expect(message).toContain(
      `line 10 (0 * * * * test-summary ?id=bad-payload {"kind":"noon"}): task "test-summary" would reject this payload`,
    );
    expect(message).toContain('line 12 (every hour test-summary ?id=words): expected');
  });

  it('refuses two schedules with one id (each id is one schedule’s memory of its ticks)', () => {
    expect(() =>
      parseSchedules(
        `
# One.
0 * * * * test-summary ?id=same
# Two.
30 * * * * test-summary ?id=same
`,
        [summary],
      ),
    ).toThrow(/duplicate identifiers found: 'same'/);
  });
});
