/**
 * The slow-operation log: a GraphQL operation or job that takes SLOW_OPERATION_MS or longer is
 * logged (warn) with its statement count and where its time went; a faster one is not. Two apps
 * on one database, one with a threshold every operation passes, one with a threshold none does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue, noopTask } from '../../src/platform/jobs.ts';
import { graphql } from '../generated/gql.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { runDueJobs } from '../helpers/jobs.ts';
import { capturingLogger } from '../helpers/logs.ts';

const Viewer = graphql(`
  query Viewer {
    viewer { email memberships { id role organization { id name members(first: 10) { totalCount } } } }
  }
`);

const strictLogs = capturingLogger('warn');
const lenientLogs = capturingLogger('warn');
let strict: TestApp;
let lenient: TestApp;

beforeAll(async () => {
  strict = await startTestApp({ env: { SLOW_OPERATION_MS: '1' }, logger: strictLogs.logger });
  lenient = await startTestApp({
    database: strict.database,
    env: { SLOW_OPERATION_MS: '60000' },
    logger: lenientLogs.logger,
  });
});
afterAll(async () => {
  await lenient?.close();
  await strict?.close();
});

const slowLines = (lines: typeof strictLogs.lines, msg: string) => lines.filter((line) => line.msg === msg);

describe('slow-operation log', () => {
  it('logs a GraphQL operation over the threshold with its statements and time in SQL, and not one under it', async () => {
    for (const app of [strict, lenient]) {
      const { token } = await app.signIn();
      const viewer = await app.gql(Viewer, {}, { token });
      expect(viewer.errors, JSON.stringify(viewer.body)).toBeUndefined();
    }

    const [line] = slowLines(strictLogs.lines, 'slow GraphQL operation').filter(
      (l) => l['graphql.operation'] === 'Viewer',
    );
    expect(line).toMatchObject({ level: 40, 'graphql.type': 'query' });
    const fields = line as unknown as Record<string, number>;
    // The viewer and their memberships are read: at least one statement, and its time.
    expect(fields['sql.statements']).toBeGreaterThanOrEqual(1);
    expect(fields.duration_ms).toBeGreaterThanOrEqual(1);
    expect(fields['sql.ms']).toBeGreaterThan(0);

    expect(slowLines(lenientLogs.lines, 'slow GraphQL operation')).toEqual([]);
  });

  it('logs a job over the threshold, and not one under it', async () => {
    await enqueue(strict.services.db, noopTask, { holdMs: 20 });
    await runDueJobs(strict, ['noop']);
    const [line] = slowLines(strictLogs.lines, 'slow job');
    expect(line).toMatchObject({ level: 40, 'sql.statements': 0, 'sql.ms': 0 });
    // Over the threshold of 1 ms (a 20 ms timer may fire a hair early by the clock measuring it).
    expect((line as unknown as Record<string, number>).duration_ms).toBeGreaterThanOrEqual(1);

    await enqueue(lenient.services.db, noopTask, { holdMs: 20 });
    await runDueJobs(lenient, ['noop']);
    expect(slowLines(lenientLogs.lines, 'slow job')).toEqual([]);
  });
});
