/**
 * The dreaming tasks as the worker runs them: their crontab lines parse, and `dream-light` and
 * `dream-deep` do their work through the job queue, with a second run changing nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dreamDeepTask, dreamLightTask } from '../../src/domain/memory/dreaming.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { crontab } from '../../src/worker/crontab.ts';
import { parseSchedules } from '../../src/worker/crontab-check.ts';
import { handlers } from '../../src/worker/task-list.ts';
import { createPerson } from '../factories/people.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { runDueJobs } from '../helpers/jobs.ts';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({ env: { DREAM_PEOPLE_PER_RUN: '50' } });
});
afterAll(() => app?.close());

describe('dreaming jobs', () => {
  it('are scheduled nightly and weekly, each under its own id', () => {
    const schedules = parseSchedules(crontab, handlers).filter((s) => s.task.startsWith('dream-'));
    expect(schedules.map((s) => [s.task, s.identifier])).toEqual([
      ['dream-light', 'dream-light'],
      ['dream-deep', 'dream-deep'],
    ]);
  });

  it('dream-light and dream-deep run through the queue, and running them again changes nothing', async () => {
    const db = app.services.db;
    const userId = (await createPerson(db, { label: 'dream-jobs' })).id;
    const now = app.clock.now();
    await db.memory.create({
      data: { userId, content: 'Vegetarian', createdAt: new Date(now.getTime() - 60_000) },
    });
    await db.memory.create({ data: { userId, content: 'vegetarian!', importance: 4, createdAt: now } });

    const run = async () => {
      await enqueue(db, dreamLightTask, {});
      await enqueue(db, dreamDeepTask, {});
      await runDueJobs(app, ['dream-light', 'dream-deep']);
    };
    await run();
    const active = await db.memory.findMany({ where: { userId, supersededAt: null } });
    expect(active.map((m) => [m.content, m.importance])).toEqual([['vegetarian!', 4]]);
    const user = await db.user.findUniqueOrThrow({ where: { id: userId } });
    expect(user.profile).toEqual({ dietary: ['vegetarian'] });
    expect(user.dreamedAt).toBeInstanceOf(Date);
    expect(user.deepDreamedAt).toBeInstanceOf(Date);

    const before = await db.memory.findMany({ where: { userId }, orderBy: { id: 'asc' } });
    await run();
    expect(await db.memory.findMany({ where: { userId }, orderBy: { id: 'asc' } })).toEqual(before);
    expect(await db.user.findUniqueOrThrow({ where: { id: userId } })).toEqual(user);
  });
});
