/**
 * The task contract and enqueueing: jobs commit or roll back with the caller's write, payloads
 * are checked as the worker will read them, declarations reach the job, job keys deduplicate.
 * No worker runs here, so every job stays in the queue to be looked at.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineTask,
  enqueue,
  enqueueAll,
  InvalidJobPayloadError,
  insertAndEnqueue,
  jobToAdd,
  noopTask,
} from '../../src/platform/jobs.ts';
import {
  providerEventPayload,
  readProviderEvent,
  recordProviderEvent,
} from '../../src/platform/provider-events.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { jobRow } from '../helpers/jobs.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

const unique = (label: string) => `${label}-${randomBytes(5).toString('hex')}`;

/** Jobs with this key, read on a connection of its own (what any worker would see). */
async function jobsWithKey(key: string) {
  const { rows } = await database.pool.query<{ id: string; run_at: Date; revision: number }>(
    'SELECT id::text, run_at, revision FROM graphile_worker.jobs WHERE key = $1',
    [key],
  );
  return rows;
}

/** The payload is not in graphile-worker's public view; the test looks inside to check it. */
async function payloadOf(id: string): Promise<unknown> {
  const { rows } = await database.pool.query(
    'SELECT payload FROM graphile_worker._private_jobs WHERE id = $1',
    [id],
  );
  return rows[0]?.payload;
}

describe('enqueue in the writer’s transaction', () => {
  it('adds no job when the transaction rolls back, and exactly one when it commits', async () => {
    const db = database.prisma;
    const rolledBack = { name: unique('Rolled back org'), key: unique('rolled-back') };
    await expect(
      db.$transaction(async (tx) => {
        await tx.organization.create({ data: { name: rolledBack.name } });
        await enqueue(tx, noopTask, {}, { jobKey: rolledBack.key });
        throw new Error('a later step of the write fails');
      }),
    ).rejects.toThrow('a later step of the write fails');
    expect(await db.organization.count({ where: { name: rolledBack.name } })).toBe(0);
    expect(await jobsWithKey(rolledBack.key)).toEqual([]);

    const committed = { name: unique('Committed org'), key: unique('committed') };
    const job = await db.$transaction(async (tx) => {
      await tx.organization.create({ data: { name: committed.name } });
      const added = await enqueue(tx, noopTask, { holdMs: 5 }, { jobKey: committed.key });
      // Until the commit, no other connection (no worker) can see the job.
      expect(await jobsWithKey(committed.key)).toEqual([]);
      return added;
    });
    expect(await db.organization.count({ where: { name: committed.name } })).toBe(1);
    expect((await jobsWithKey(committed.key)).map((j) => j.id)).toEqual([job.id]);
    expect(await jobRow(db, job.id)).toMatchObject({
      taskIdentifier: 'noop',
      state: 'QUEUED',
      attempts: 0,
      maxAttempts: noopTask.maxAttempts,
      key: committed.key,
    });
    expect(await payloadOf(job.id)).toEqual({ holdMs: 5 });
  });

  it('refuses a payload its schema rejects, before touching the database', async () => {
    const before = await database.pool.query('SELECT count(*)::int AS n FROM graphile_worker.jobs');
    await expect(enqueue(database.prisma, noopTask, { holdMs: -1 })).rejects.toThrow(InvalidJobPayloadError);
    await expect(enqueue(database.prisma, noopTask, { holdMs: 'soon' } as never)).rejects.toThrow(
      /Invalid payload for task "noop"[\s\S]*holdMs/,
    );
    const after = await database.pool.query('SELECT count(*)::int AS n FROM graphile_worker.jobs');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('checks the payload in the JSON form the worker will read', async () => {
    // A Date becomes a string on the way through the queue, so a schema expecting a Date would
    // fail every run; that is caught here, in the producer, instead.
    const dated = defineTask({ name: 'test-dated', schema: z.object({ at: z.date() }) });
    await expect(enqueue(database.prisma, dated, { at: new Date() })).rejects.toThrow(InvalidJobPayloadError);
    const stamped = defineTask({ name: 'test-stamped', schema: z.object({ at: z.iso.datetime() }) });
    const job = await enqueue(database.prisma, stamped, { at: new Date(0).toISOString() });
    expect(await payloadOf(job.id)).toEqual({ at: '1970-01-01T00:00:00.000Z' });
  });

  it('gives the job its run time, priority and the declaration’s attempt limit', async () => {
    const limited = defineTask({ name: 'test-limited', schema: z.object({}), maxAttempts: 7 });
    const runAt = new Date(Date.now() + 3_600_000);
    const job = await enqueue(database.prisma, limited, {}, { runAt, priority: 5 });
    expect(job.runAt.toISOString()).toBe(runAt.toISOString());
    expect(await jobRow(database.prisma, job.id)).toMatchObject({
      taskIdentifier: 'test-limited',
      state: 'SCHEDULED',
      maxAttempts: 7,
      runAt,
    });
    const { rows } = await database.pool.query('SELECT priority FROM graphile_worker.jobs WHERE id = $1', [
      job.id,
    ]);
    expect(rows[0].priority).toBe(5);
  });
});

describe('job keys', () => {
  const later = (minutes: number) => new Date(Date.now() + minutes * 60_000);

  it('replace (the default): one job, with the latest payload and run time', async () => {
    const key = unique('replace');
    const first = await enqueue(database.prisma, noopTask, { holdMs: 1 }, { jobKey: key, runAt: later(10) });
    const second = await enqueue(database.prisma, noopTask, { holdMs: 2 }, { jobKey: key, runAt: later(20) });
    expect(second.id).toBe(first.id);
    const jobs = await jobsWithKey(key);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.run_at.getTime()).toBe(second.runAt.getTime());
    expect(await payloadOf(first.id)).toEqual({ holdMs: 2 });
  });

  it('preserve_run_at: one job, keeping the first run time (throttling)', async () => {
    const key = unique('preserve');
    const first = await enqueue(database.prisma, noopTask, { holdMs: 1 }, { jobKey: key, runAt: later(10) });
    await enqueue(
      database.prisma,
      noopTask,
      { holdMs: 2 },
      { jobKey: key, jobKeyMode: 'preserve_run_at', runAt: later(20) },
    );
    const jobs = await jobsWithKey(key);
    expect(jobs.map((j) => [j.id, j.run_at.getTime()])).toEqual([[first.id, first.runAt.getTime()]]);
    expect(await payloadOf(first.id)).toEqual({ holdMs: 2 });
  });

  it('unsafe_dedupe: the existing job is left as it was', async () => {
    const key = unique('dedupe');
    const first = await enqueue(database.prisma, noopTask, { holdMs: 1 }, { jobKey: key, runAt: later(10) });
    await enqueue(
      database.prisma,
      noopTask,
      { holdMs: 2 },
      { jobKey: key, jobKeyMode: 'unsafe_dedupe', runAt: later(20) },
    );
    const jobs = await jobsWithKey(key);
    expect(jobs.map((j) => [j.id, j.run_at.getTime()])).toEqual([[first.id, first.runAt.getTime()]]);
    expect(await payloadOf(first.id)).toEqual({ holdMs: 1 });
  });

  it('deduplicates within one transaction and across concurrent ones', async () => {
    const key = unique('concurrent');
    await database.prisma.$transaction(async (tx) => {
      await enqueue(tx, noopTask, {}, { jobKey: key });
      await enqueue(tx, noopTask, {}, { jobKey: key });
    });
    await Promise.all(
      Array.from({ length: 5 }, () =>
        database.prisma.$transaction((tx) => enqueue(tx, noopTask, {}, { jobKey: key })),
      ),
    );
    expect(await jobsWithKey(key)).toHaveLength(1);
  });
});

describe('several jobs in one statement (enqueueAll)', () => {
  const later = (minutes: number) => new Date(Date.now() + minutes * 60_000);

  it('adds each as enqueue would, with its own key, mode, run time and payload', async () => {
    const [fresh, kept, replaced] = [unique('all-fresh'), unique('all-kept'), unique('all-replaced')];
    const keptJob = await enqueue(
      database.prisma,
      noopTask,
      { holdMs: 1 },
      { jobKey: kept, runAt: later(5) },
    );
    await enqueue(database.prisma, noopTask, { holdMs: 1 }, { jobKey: replaced, runAt: later(5) });
    const statements: string[] = [];
    const stop = database.onQuery(({ query }) => void statements.push(query));
    try {
      await enqueueAll(database.prisma, [
        jobToAdd(noopTask, { holdMs: 3 }, { jobKey: fresh, runAt: later(30) }),
        jobToAdd(noopTask, { holdMs: 4 }, { jobKey: kept, jobKeyMode: 'preserve_run_at', runAt: later(40) }),
        jobToAdd(noopTask, { holdMs: 5 }, { jobKey: replaced, runAt: later(50) }),
      ]);
      await enqueueAll(database.prisma, []);
    } finally {
      stop();
    }
    expect(statements).toHaveLength(1);
    const [freshJob] = await jobsWithKey(fresh);
    expect(Math.abs(freshJob!.run_at.getTime() - later(30).getTime())).toBeLessThan(60_000);
    expect(await payloadOf(freshJob!.id)).toEqual({ holdMs: 3 });
    // preserve_run_at kept the first run time; replace took the new one.
    expect((await jobsWithKey(kept)).map((j) => [j.id, j.run_at.getTime()])).toEqual([
      [keptJob.id, keptJob.runAt.getTime()],
    ]);
    expect(await payloadOf(keptJob.id)).toEqual({ holdMs: 4 });
    const [replacedJob] = await jobsWithKey(replaced);
    expect(replacedJob!.run_at.getTime()).toBeGreaterThan(later(45).getTime());
    expect(await payloadOf(replacedJob!.id)).toEqual({ holdMs: 5 });
  });

  it('adds none of them when one payload is refused, and none when the transaction rolls back', async () => {
    const [good, rolledBack] = [unique('all-good'), unique('all-rolled-back')];
    await expect(
      enqueueAll(database.prisma, [
        jobToAdd(noopTask, {}, { jobKey: good }),
        jobToAdd(noopTask, { holdMs: -1 }, { jobKey: unique('all-bad') }),
      ]),
    ).rejects.toThrow(InvalidJobPayloadError);
    expect(await jobsWithKey(good)).toEqual([]);
    await expect(
      database.prisma.$transaction(async (tx) => {
        await enqueueAll(tx, [jobToAdd(noopTask, {}, { jobKey: rolledBack })]);
        throw new Error('a later step of the write fails');
      }),
    ).rejects.toThrow('a later step of the write fails');
    expect(await jobsWithKey(rolledBack)).toEqual([]);
  });
});

describe('defineTask', () => {
  it('takes kebab-case names (task files and crontab lines use them) and sane attempt limits', () => {
    expect(() => defineTask({ name: 'Booking.Expire', schema: z.object({}) })).toThrow(/kebab-case/);
    expect(() => defineTask({ name: 'booking-expire', schema: z.object({}), maxAttempts: 0 })).toThrow(
      /maxAttempts/,
    );
    const task = defineTask({ name: 'booking-expire', schema: z.object({}) });
    expect(task.maxAttempts).toBe(25);
    // Named queues are refused by the type: ordering is the domain's job.
    // @ts-expect-error queueName is never
    defineTask({ name: 'test-queued', schema: z.object({}), queueName: 'per-chat' });
  });
});

describe('insertAndEnqueue: a row and its job in one statement', () => {
  const events = (provider: string) =>
    database.prisma.providerEvent.findMany({ where: { provider }, select: { eventId: true } });
  const jobsOf = async (task: string) =>
    (
      await database.pool.query<{ id: string }>(
        'SELECT id::text FROM graphile_worker.jobs WHERE task_identifier = $1',
        [task],
      )
    ).rows;

  it.each([
    { via: 'the pool', db: () => database },
    { via: 'Prisma', db: () => database.prisma },
  ])(
    'through $via, adds the job only with a new row, and neither with a payload its task refuses',
    async ({ db }) => {
      const task = defineTask({ name: unique('test-provider-event'), schema: providerEventPayload });
      const provider = unique('test');
      const event = { provider, eventId: 'E1', eventType: 'THING_HAPPENED', payload: { a: 1 } };
      expect(await recordProviderEvent(db(), event, task)).toEqual({ stored: true });
      expect(await recordProviderEvent(db(), event, task)).toEqual({ stored: false });
      expect(await events(provider)).toEqual([{ eventId: 'E1' }]);
      const [job, ...more] = await jobsOf(task.name);
      expect(more).toEqual([]);
      const { id } = providerEventPayload.parse(await payloadOf(job!.id));
      expect(await readProviderEvent(database.prisma, id)).toMatchObject({
        eventId: 'E1',
        payload: { a: 1 },
      });

      const strict = defineTask({ name: unique('test-strict'), schema: z.object({ n: z.number() }) });
      await expect(
        insertAndEnqueue(
          db(),
          {
            name: 'test-insert-provider-event',
            text: `INSERT INTO provider_events (id, provider, event_id, event_type, payload)
                 VALUES (gen_random_uuid(), $1::text, 'E2', 'T', '{}'::jsonb) ON CONFLICT DO NOTHING RETURNING 1`,
            values: [provider],
          },
          strict,
          { n: 'not a number' } as never,
        ),
      ).rejects.toBeInstanceOf(InvalidJobPayloadError);
      expect(await events(provider)).toEqual([{ eventId: 'E1' }]);
      expect(await jobsOf(strict.name)).toEqual([]);
    },
  );
});
