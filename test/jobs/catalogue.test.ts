/**
 * Every line of the crontab (src/worker/crontab.ts), whatever it is: a schedule added later is
 * covered here without a word changed.
 *
 * (a) Runs once across two workers. Two worker processes (each with a pool of its own) start on
 *     one database at the same moment with the real crontab and the real tasks. Each schedule's
 *     most recent tick is made due at once, as after downtime: graphile-worker backfills a tick
 *     when the schedule is known (`_private_known_crontabs`), its last execution is before the
 *     tick and the tick lies within the line's `fill`. So the test records each schedule's last
 *     execution as just before its latest tick, and gives each line a `fill` reaching back to it.
 *     Both workers then try to schedule every tick, and the conditional update of
 *     `last_execution` lets one of them. A trigger on the queue records every job the crontab
 *     adds; each (schedule, tick) must have exactly one, and every job must complete.
 *
 * (b) Safe to run twice. Over a seeded database (the demo network, and something due for each
 *     task: reminders, a deleted account past its purge, a quiet person who opted in, overdue
 *     bookings, expired codes and tokens, waiting messages), each scheduled task runs as a worker
 *     runs it, and then again: the second run must leave every table as the first left it. The
 *     comparison is a digest per table of `public` (every row as JSON, sorted). Left out:
 *     graphile-worker's own schema (a task may queue follow-up jobs again, which their job keys
 *     make harmless) and `_prisma_migrations`; no column of any table is left out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoNetwork } from '../../src/domain/demo/seed.ts';
import { setReminder } from '../../src/domain/reminders/reminders.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { crontab } from '../../src/worker/crontab.ts';
import { parseSchedules } from '../../src/worker/crontab-check.ts';
import { handlers } from '../../src/worker/task-list.ts';
import { createBooking } from '../factories/bookings.ts';
import { createPerson, tag } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import {
  type AppPair,
  runDueJobs,
  startAppPair,
  startWorkerApp,
  type WorkerApp,
  waitFor,
} from '../helpers/jobs.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 86_400_000;
const schedules = parseSchedules(crontab, handlers);
/** Tasks the seed below gives something to do. */
const SEEDED_WORK = [
  'deliver-reminders',
  'booking-sweep',
  'purge-deleted-users',
  'reengage-people',
  'data-retention',
];

/** The latest minute at or before `at` that the schedule matches (at most 400 days back). */
function lastTick(item: (typeof schedules)[number], at: number): Date {
  for (let t = Math.floor(at / MINUTE) * MINUTE; t > at - 400 * DAY; t -= MINUTE) {
    const d = new Date(t);
    const digest = {
      min: d.getUTCMinutes(),
      hour: d.getUTCHours(),
      date: d.getUTCDate(),
      month: d.getUTCMonth() + 1,
      dow: d.getUTCDay(),
    };
    if (item.match(digest)) return d;
  }
  throw new Error(`schedule ${item.identifier} has no tick in 400 days`);
}

/** The crontab with each line's `fill` set to `fills[id]` minutes. */
function withFills(fills: Map<string, number>): string {
  return crontab
    .split('\n')
    .map((line) => {
      const match = /^(\s*(?:\S+\s+){6})\?(\S+)(.*)$/.exec(line);
      if (!match || line.trim().startsWith('#')) return line;
      const options = new URLSearchParams(match[2]);
      const minutes = fills.get(options.get('id')!);
      if (minutes === undefined) throw new Error(`no fill for ${line}`);
      options.set('fill', `${minutes}m`);
      return `${match[1]}?${options.toString()}${match[3]}`;
    })
    .join('\n');
}

describe('every scheduled task', () => {
  describe('started by two workers at the same tick', () => {
    let pair: AppPair;
    let workers: WorkerApp[] = [];

    beforeAll(async () => {
      pair = await startAppPair();
    });
    afterAll(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await pair?.close();
    });

    it('runs each tick once', { timeout: 120_000 }, async () => {
      const pool = pair.database.pool;
      await pool.query(`
        CREATE TABLE test_cron_jobs (job_id bigint, task text, tick text, backfilled boolean);
        CREATE FUNCTION test_record_cron_job() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.payload::jsonb ? '_cron' THEN
            INSERT INTO test_cron_jobs
            SELECT NEW.id, t.identifier, NEW.payload->'_cron'->>'ts', (NEW.payload->'_cron'->>'backfilled')::boolean
            FROM graphile_worker._private_tasks t WHERE t.id = NEW.task_id;
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER test_record_cron_job AFTER INSERT ON graphile_worker._private_jobs
          FOR EACH ROW EXECUTE FUNCTION test_record_cron_job();`);

      // Each schedule known, last run just before its latest tick; its fill reaches that tick
      // (with room for the seconds until the workers start).
      const now = Date.now();
      const ticks = new Map(schedules.map((item) => [item.identifier, lastTick(item, now)]));
      const fills = new Map(
        [...ticks].map(([id, tick]) => [id, Math.ceil((now - tick.getTime()) / MINUTE) + 2]),
      );
      for (const [id, tick] of ticks) {
        await pool.query(
          `INSERT INTO graphile_worker._private_known_crontabs (identifier, known_since, last_execution)
           VALUES ($1, $2, $2)`,
          [id, new Date(tick.getTime() - 1)],
        );
      }

      const test = withFills(fills);
      workers = await Promise.all([
        startWorkerApp(pair.a, { crontab: test }),
        startWorkerApp(pair.b, { crontab: test }),
      ]);

      type Row = { job_id: string; task: string; tick: string; backfilled: boolean };
      const recorded = async () => (await pool.query<Row>('SELECT * FROM test_cron_jobs')).rows;
      // Every schedule's latest tick is queued...
      await waitFor(
        async () => {
          const rows = await recorded();
          return schedules.every((item) =>
            rows.some(
              (r) => r.task === item.task && Date.parse(r.tick) === ticks.get(item.identifier)!.getTime(),
            ),
          );
        },
        'every schedule’s latest tick to be queued',
        30_000,
      ).catch(async (error) => {
        throw new Error(`${error.message}; queued: ${JSON.stringify(await recorded())}`);
      });
      // ... and every job the crontab queued runs to completion (completed jobs leave the queue).
      await waitFor(
        async () => {
          const { rows } = await pool.query(
            `SELECT j.id FROM graphile_worker._private_jobs j JOIN test_cron_jobs c ON c.job_id = j.id`,
          );
          return rows.length === 0;
        },
        'every scheduled job to complete',
        60_000,
      ).catch(async (error) => {
        const { rows } = await pool.query(
          `SELECT c.task, j.attempts, j.last_error FROM graphile_worker._private_jobs j
           JOIN test_cron_jobs c ON c.job_id = j.id`,
        );
        throw new Error(`${error.message}: ${JSON.stringify(rows)}`);
      });

      const rows = await recorded();
      const perTick = new Map<string, number>();
      for (const r of rows) {
        const key = `${r.task} ${new Date(r.tick).toISOString()}`;
        perTick.set(key, (perTick.get(key) ?? 0) + 1);
      }
      // Once each, for every tick either worker scheduled (a minute may have passed meanwhile).
      expect([...perTick].filter(([, n]) => n !== 1)).toEqual([]);
      for (const item of schedules) {
        expect(
          perTick.get(`${item.task} ${ticks.get(item.identifier)!.toISOString()}`),
          item.identifier,
        ).toBe(1);
      }
    });
  });

  describe('run twice over a seeded database', () => {
    let app: TestApp;

    beforeAll(async () => {
      app = await startTestApp();
      await seed(app);
    });
    afterAll(() => app?.close());

    for (const item of schedules) {
      it(`${item.identifier}: the second run changes nothing`, async () => {
        const run = async () => {
          const handler = handlers.find((h) => h.name === item.task)!;
          const tick = lastTick(item, app.clock.now().getTime()).toISOString();
          await enqueue(app.services.db, handler.declaration, {
            ...(item.payload ?? {}),
            _cron: { ts: tick, backfilled: false },
          } as never);
          await runDueJobs(app, [item.task]);
          // runOnce may resolve before the job's completion is written: wait for the job to leave
          // the queue (done), or to be unlocked with its error (failed).
          const left = () =>
            app.services.database.pool
              .query('SELECT last_error FROM graphile_worker.jobs WHERE task_identifier = $1', [item.task])
              .then((r) => r.rows);
          await waitFor(
            async () => (await left()).every((job) => job.last_error !== null),
            `${item.task} to finish`,
          );
          expect(await left(), `${item.task} failed`).toEqual([]);
        };
        const before = await digest(app);
        await run();
        const first = await digest(app);
        // The seed gives these work to do, so their first run is seen to change something.
        if (SEEDED_WORK.includes(item.task)) expect(first).not.toEqual(before);
        await run();
        const second = await digest(app);
        const changed = [...first].filter(([table, sum]) => second.get(table) !== sum).map(([t]) => t);
        expect(changed).toEqual([]);
      });
    }
  });
});

/** A zone whose clock reads 17:xx at `at` (the Etc/GMT zones are whole hours, signs reversed). */
function zoneAtFivePm(at: number): string {
  let offset = 17 - new Date(at).getUTCHours();
  if (offset > 14) offset -= 24;
  return offset === 0 ? 'Etc/GMT' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
}

/** One md5 per table of `public` (but `_prisma_migrations`) over its rows as JSON, sorted. */
async function digest(app: TestApp): Promise<Map<string, string>> {
  const pool = app.services.database.pool;
  const { rows: tables } = await pool.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'
     ORDER BY table_name`,
  );
  const sums = new Map<string, string>();
  for (const { name } of tables) {
    const { rows } = await pool.query<{ sum: string }>(
      `SELECT md5(coalesce(string_agg(row, E'\\n' ORDER BY row), '')) AS sum
       FROM (SELECT to_jsonb(t)::text AS row FROM "${name}" t) rows`,
    );
    sums.set(name, rows[0]!.sum);
  }
  return sums;
}

/** The demo network, and something due for each task of the catalogue. */
async function seed(app: TestApp): Promise<void> {
  const db = app.services.db;
  await seedDemoNetwork(db, app.services.keyring);
  const now = app.clock.now().getTime();
  const chatOf = (userId: string, lastInboundAt: Date) =>
    db.chat.create({
      data: { platform: 'TELEGRAM', account: 'agnt_bot', externalChatId: tag(8), userId, lastInboundAt },
    });

  // Reminders due, and one not yet.
  const reminded = await createPerson(db, { displayName: 'Ana' });
  const chat = await chatOf(reminded.id, new Date(now - DAY));
  for (const when of ['in 1 minute', 'in 2 minutes', 'in 3 days']) {
    await setReminder(
      db,
      { userId: reminded.id, chatId: chat.id, text: `Due ${when}`, when },
      new Date(now - 10 * MINUTE),
    );
  }
  await db.reminder.updateMany({
    where: { userId: reminded.id },
    data: { createdAt: new Date(now - 10 * MINUTE) },
  });
  // A message waiting over a minute with no job (outbox-sweep).
  await db.outboundMessage.create({
    data: {
      userId: reminded.id,
      chatId: chat.id,
      kind: 'reply',
      body: 'Hello',
      dedupeKey: `seed:${tag(8)}`,
      createdAt: new Date(now - 5 * MINUTE),
    },
  });

  // A deleted account past its purge, with personal data.
  const gone = await createPerson(db, { displayName: 'Gone', deletedAt: new Date(now - 40 * DAY) });
  await chatOf(gone.id, new Date(now - 45 * DAY));
  await db.memory.create({ data: { userId: gone.id, content: 'likes fado' } });

  // Quiet people who opted in, whose clocks read 17:00 this hour and the next (re-engagement's
  // hour, whichever the run falls in), and one who did not opt in.
  for (const ahead of [0, 1]) {
    const timeZone = zoneAtFivePm(now + ahead * HOUR);
    const quiet = await createPerson(db, { displayName: 'Quiet', reengagementOptIn: true, timeZone });
    await chatOf(quiet.id, new Date(now - 30 * DAY));
  }
  await chatOf((await createPerson(db, { displayName: 'Silent' })).id, new Date(now - 30 * DAY));

  // Bookings whose jobs were lost.
  const venue = await createBookableVenue(db, {});
  const at = (minutes: number) => new Date(now + minutes * MINUTE);
  await createBooking(db, {
    venueId: venue.id,
    guestId: reminded.id,
    status: 'REQUESTED',
    startsAt: at(600),
    expiresAt: at(-60),
  });
  await createBooking(db, {
    venueId: venue.id,
    guestId: reminded.id,
    status: 'CONFIRMED',
    startsAt: at(-240),
  });
  await createBooking(db, {
    venueId: venue.id,
    guestId: reminded.id,
    status: 'SEATED',
    startsAt: at(-600),
    endsAt: at(-400),
  });

  // Expired sign-in codes and a dead refresh-token family.
  await db.signInCode.create({
    data: { email: 'old@example.com', codeHash: tag(16), expiresAt: new Date(now - 3 * DAY) },
  });
  await db.refreshToken.create({
    data: {
      userId: reminded.id,
      familyId: crypto.randomUUID(),
      tokenHash: tag(16),
      expiresAt: new Date(now - 3 * DAY),
    },
  });
}
