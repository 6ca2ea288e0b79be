/**
 * The job queue for platform admins: jobs by task and state, failed ones with their last error,
 * and retry or cancel one. The queue logic lives in src/domain/operations/job-queue.ts.
 */
import { resolveCursorConnection } from '@pothos/plugin-relay';
import type { JobRecord } from '../../domain/operations/job-queue.ts';
import { builder } from '../builder.ts';
import { describedEnum } from './enums.ts';
import { mutation, payloadType } from './mutation.ts';

export const JobState = describedEnum('JobState', {
  QUEUED: 'Due now, waiting for a free worker.',
  RUNNING:
    'Locked by a worker (a dead worker’s jobs are freed once its heartbeat is WORKER_DEAD_AFTER_MS old).',
  SCHEDULED: 'Due later: enqueued for the future, or waiting out the backoff after a failure.',
  FAILED: 'No attempts left; kept with its last error until retried or cancelled.',
  SUPERSEDED:
    'Removed: its worker died while it ran and a newer job with the same key had replaced it, which does the work. The reason is its last error.',
});

export const Job = builder.node(builder.objectRef<JobRecord>('Job'), {
  description:
    'A background job in the queue. Completed jobs leave the queue; superseded ones recovery removed stay listed. Platform admins.',
  authScopes: { platformAdmin: true },
  id: { resolve: (job) => job.id },
  // `node(id:)` answers null to everyone else without reading the queue, so job ids reveal nothing.
  loadMany: async (ids, ctx) => (ctx.access.isPlatformAdmin ? ctx.domain.operations.jobsById(ids) : []),
  fields: (t) => ({
    jobId: t.exposeString('id', { description: 'The id in the worker’s logs (`job.id`).' }),
    taskIdentifier: t.exposeString('taskIdentifier'),
    state: t.expose('state', { type: JobState }),
    attempts: t.exposeInt('attempts', { description: 'Attempts made so far (the running one included).' }),
    maxAttempts: t.exposeInt('maxAttempts'),
    runAt: t.expose('runAt', {
      type: 'DateTime',
      description: 'When it is due (after a failure: when the next attempt is).',
    }),
    lockedAt: t.expose('lockedAt', { type: 'DateTime', nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    key: t.exposeString('key', {
      nullable: true,
      description: 'The job key: at most one pending job per key.',
    }),
  }),
});

builder.queryField('jobs', (t) =>
  t.connection({
    type: Job,
    description: 'Platform admins: jobs in the queue, newest first.',
    authScopes: { platformAdmin: true },
    args: {
      taskIdentifier: t.arg.string({ required: false }),
      state: t.arg({ type: JobState, required: false }),
    },
    resolve: (_root, args, ctx) =>
      resolveCursorConnection<Promise<JobRecord[]>>(
        { args, toCursor: (job: JobRecord) => job.id, defaultSize: 20, maxSize: 100 },
        ({ before, after, limit, inverted }) =>
          ctx.domain.operations.listJobs(
            { taskIdentifier: args.taskIdentifier, state: args.state },
            { before, after, limit, inverted },
          ),
      ),
  }),
);

const JobInput = builder.inputType('JobInput', {
  fields: (t) => ({ jobId: t.globalID({ for: Job }) }),
});

const JobPayload = payloadType('JobPayload', 'job', Job);

mutation('retryJob', {
  description: 'Platform admins: runs a queued, scheduled or failed job now, its attempts counted from zero.',
  input: JobInput,
  payload: JobPayload,
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({ job: await ctx.domain.operations.retryJob({ jobId: input.jobId.id }) }),
});

mutation('cancelJob', {
  description:
    'Platform admins: stops a job that is not running. It stays listed as FAILED ("Cancelled by an operator"), so `retryJob` undoes it.',
  input: JobInput,
  payload: JobPayload,
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({ job: await ctx.domain.operations.cancelJob({ jobId: input.jobId.id }) }),
});
