/**
 * The operators' view of the queue over GraphQL: platform admins list jobs by task and state
 * (page by page), retry and cancel them; everyone else is refused before anything runs.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CANCELLED } from '../../src/domain/operations/job-queue.ts';
import { defineTask, enqueue } from '../../src/platform/jobs.ts';
import { defineHandler } from '../../src/worker/handler.ts';
import { graphql } from '../generated/gql.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, createActors } from '../helpers/authz.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import {
  FAST_WORKER_ENV,
  jobRow,
  platformAdminToken,
  startWorkerApp,
  type WorkerApp,
  waitFor,
} from '../helpers/jobs.ts';

const listed = defineTask({ name: 'test-listed', schema: z.object({ n: z.number() }), maxAttempts: 4 });
const held = defineTask({ name: 'test-held', schema: z.object({}) });

let database: TestDatabase;
let app: TestApp;
let worker: WorkerApp;
let admin: string;
let actors: Actors;
let release: () => void;
const released = new Promise<void>((resolve) => {
  release = resolve;
});

beforeAll(async () => {
  database = await createTestDatabase();
  app = await startTestApp({ database, env: FAST_WORKER_ENV });
  // A worker that runs `test-held` jobs until the test lets them finish; `test-listed` jobs are
  // not its tasks, so they stay in the queue as enqueued.
  worker = await startWorkerApp(app, { handlers: [defineHandler(held, () => released)] });
  admin = await platformAdminToken(app);
  actors = await createActors(app);
});
afterAll(async () => {
  release();
  await worker?.stop();
  await app?.close();
  await database?.drop();
});

const Jobs = graphql(`
  query OperatorsJobs($task: String, $state: JobState, $first: Int, $after: String) {
    jobs(taskIdentifier: $task, state: $state, first: $first, after: $after) {
      edges {
        cursor
        node { id jobId taskIdentifier state attempts maxAttempts runAt lockedAt lastError createdAt key }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const RetryJob = graphql(`
  mutation OperatorsRetryJob($id: ID!) {
    retryJob(input: { jobId: $id }) {
      __typename
      ... on JobPayload { job { jobId state attempts runAt lastError } }
      ... on Error { message }
    }
  }
`);

const CancelJob = graphql(`
  mutation OperatorsCancelJob($id: ID!) {
    cancelJob(input: { jobId: $id }) {
      __typename
      ... on JobPayload { job { jobId state attempts maxAttempts lastError } }
      ... on Error { message }
    }
  }
`);

const JobNode = graphql(`
  query OperatorsJobNode($id: ID!) {
    node(id: $id) { __typename ... on Job { jobId state } }
  }
`);

const gid = (jobId: string) => encodeGlobalID('Job', jobId);

describe('listing jobs', () => {
  it('lists a task’s jobs by state, newest first, page by page', async () => {
    const queued = [];
    for (let n = 0; n < 3; n++)
      queued.push(await enqueue(app.services.db, listed, { n }, { jobKey: `listed-${n}` }));
    const later = await enqueue(
      app.services.db,
      listed,
      { n: 9 },
      { runAt: new Date(Date.now() + 3_600_000) },
    );

    const first = await app.gql(Jobs, { task: 'test-listed', state: 'QUEUED', first: 2 }, { token: admin });
    expect(first.errors, JSON.stringify(first.body)).toBeUndefined();
    expect(first.data?.jobs.edges.map((e) => e.node.jobId)).toEqual([queued[2]!.id, queued[1]!.id]);
    expect(first.data?.jobs.pageInfo.hasNextPage).toBe(true);
    expect(first.data?.jobs.edges[0]?.node).toEqual({
      id: gid(queued[2]!.id),
      jobId: queued[2]!.id,
      taskIdentifier: 'test-listed',
      state: 'QUEUED',
      attempts: 0,
      maxAttempts: 4,
      runAt: expect.any(String),
      lockedAt: null,
      lastError: null,
      createdAt: expect.any(String),
      key: 'listed-2',
    });

    const second = await app.gql(
      Jobs,
      { task: 'test-listed', state: 'QUEUED', first: 2, after: first.data?.jobs.pageInfo.endCursor },
      { token: admin },
    );
    expect(second.data?.jobs.edges.map((e) => e.node.jobId)).toEqual([queued[0]!.id]);
    expect(second.data?.jobs.pageInfo.hasNextPage).toBe(false);

    const scheduled = await app.gql(Jobs, { task: 'test-listed', state: 'SCHEDULED' }, { token: admin });
    expect(scheduled.data?.jobs.edges.map((e) => e.node.jobId)).toEqual([later.id]);
    const all = await app.gql(Jobs, { task: 'test-listed' }, { token: admin });
    expect(all.data?.jobs.edges).toHaveLength(4);
  });

  it('reads a page in the same number of statements, whatever its size', async () => {
    const statements = async (first: number) => {
      let count = 0;
      const stop = app.services.database.onQuery(() => {
        count += 1;
      });
      try {
        const page = await app.gql(Jobs, { task: 'test-listed', first }, { token: admin });
        expect(page.data?.jobs.edges).toHaveLength(first);
      } finally {
        stop();
      }
      return count;
    };
    expect(await statements(4)).toBe(await statements(1));
  });

  it('shows running jobs with their lock, and refuses to retry or cancel them', async () => {
    const job = await enqueue(app.services.db, held, {});
    await waitFor(
      async () => (await jobRow(app.services.db, job.id))?.state === 'RUNNING',
      'the job to start',
    );
    const running = await app.gql(Jobs, { task: 'test-held', state: 'RUNNING' }, { token: admin });
    expect(running.data?.jobs.edges.map((e) => e.node)).toMatchObject([
      { jobId: job.id, state: 'RUNNING', attempts: 1, lockedAt: expect.any(String) },
    ]);
    const conflict = { __typename: 'ConflictError', message: expect.stringContaining('is running') };
    const retried = await app.gql(RetryJob, { id: gid(job.id) }, { token: admin });
    expect(retried.data?.retryJob, JSON.stringify(retried.body)).toEqual(conflict);
    const cancelled = await app.gql(CancelJob, { id: gid(job.id) }, { token: admin });
    expect(cancelled.data?.cancelJob, JSON.stringify(cancelled.body)).toEqual(conflict);
    expect((await jobRow(app.services.db, job.id))?.state).toBe('RUNNING');
  });
});

describe('retrying and cancelling', () => {
  it('cancels a waiting job (kept as FAILED with the reason) and a retry undoes it', async () => {
    const job = await enqueue(app.services.db, listed, { n: 1 }, { runAt: new Date(Date.now() + 600_000) });

    const cancelled = await app.gql(CancelJob, { id: gid(job.id) }, { token: admin });
    expect(cancelled.data?.cancelJob).toEqual({
      __typename: 'JobPayload',
      job: { jobId: job.id, state: 'FAILED', attempts: 4, maxAttempts: 4, lastError: CANCELLED },
    });
    const failed = await app.gql(Jobs, { task: 'test-listed', state: 'FAILED' }, { token: admin });
    expect(failed.data?.jobs.edges.map((e) => [e.node.jobId, e.node.lastError])).toEqual([
      [job.id, CANCELLED],
    ]);

    const retried = await app.gql(RetryJob, { id: gid(job.id) }, { token: admin });
    expect(retried.data?.retryJob).toMatchObject({
      __typename: 'JobPayload',
      job: { jobId: job.id, state: 'QUEUED', attempts: 0 },
    });
    const payload = retried.data?.retryJob as { job: { runAt: string } };
    expect(new Date(payload.job.runAt).getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('answers NotFoundError for a job that finished or never existed', async () => {
    const response = await app.gql(RetryJob, { id: gid('999999999') }, { token: admin });
    expect(response.data?.retryJob).toEqual({
      __typename: 'NotFoundError',
      message: expect.stringContaining('999999999'),
    });
  });

  it('answers a ValidationError for an id no job can have (past a bigint), not an error of ours', async () => {
    const response = await app.gql(CancelJob, { id: gid('9999999999999999999') }, { token: admin });
    expect(response.data?.cancelJob).toEqual({
      __typename: 'ValidationError',
      message: 'This is not a job id',
    });
    const node = await app.gql(JobNode, { id: gid('9999999999999999999') }, { token: admin });
    expect(node.errors).toBeUndefined();
    expect(node.data?.node).toBeNull();
  });
});

describe('who may see the queue', () => {
  it('refuses everyone but platform admins, before anything runs, and changes nothing', async () => {
    const job = await enqueue(app.services.db, listed, { n: 5 }, { runAt: new Date(Date.now() + 600_000) });
    const before = await jobRow(app.services.db, job.id);
    const callers = [
      { token: undefined, code: 'UNAUTHENTICATED', message: 'Sign in to do this' },
      { token: actors.owner.token, code: 'FORBIDDEN', message: 'You are not allowed to do this' },
      { token: actors.keyWrite.secret, code: 'FORBIDDEN', message: 'You are not allowed to do this' },
    ];
    for (const { token, code, message } of callers) {
      for (const [document, variables, field] of [
        [Jobs, {}, 'jobs'],
        [RetryJob, { id: gid(job.id) }, 'retryJob'],
        [CancelJob, { id: gid(job.id) }, 'cancelJob'],
      ] as const) {
        const response = await app.gql(document as never, variables, { token });
        expect(response.body, `${field} as ${code}`).toEqual({
          data: null,
          errors: [{ message, locations: [{ line: 3, column: 3 }], path: [field], extensions: { code } }],
        });
      }
      // Through `node(id:)` a job is simply not there for them: not even its existence shows.
      const node = await app.gql(JobNode, { id: gid(job.id) }, { token });
      expect(node.body).toEqual({ data: { node: null } });
    }
    expect(await jobRow(app.services.db, job.id)).toEqual(before);

    const seen = await app.gql(JobNode, { id: gid(job.id) }, { token: admin });
    expect(seen.data?.node).toEqual({ __typename: 'Job', jobId: job.id, state: 'SCHEDULED' });
  });
});
