import { chatSendTask, drainSends, sendKey } from '../../domain/channels/outbound.ts';
import { enqueue } from '../../platform/jobs.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Sends one chat's pending messages, in order, within the channel's limits. */
export default defineHandler(
  chatSendTask,
  async (
    { chatId },
    { services, logger, job }: TaskContext<'database' | 'db' | 'senders' | 'buckets' | 'now'>,
  ) => {
    const { retryAfterMs } = await drainSends(
      {
        database: services.database,
        senders: services.senders,
        buckets: services.buckets,
        logger,
        now: services.now,
        signal: job.signal,
      },
      chatId,
    );
    // This job holds the key while it runs, so this adds the chat's next drain (graphile-worker
    // moves the key to the new job) rather than replacing the running one.
    if (retryAfterMs !== null) {
      await enqueue(
        services.db,
        chatSendTask,
        { chatId },
        { runAt: new Date(Date.now() + retryAfterMs), jobKey: sendKey(chatId), jobKeyMode: 'replace' },
      );
    }
  },
);
