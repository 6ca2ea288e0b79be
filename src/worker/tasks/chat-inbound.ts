import { chatInboundTask, chatKey, drainChat } from '../../domain/channels/inbound.ts';
import { enqueue } from '../../platform/jobs.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Drains one chat's pending inbound messages, in order (see src/domain/channels/inbound.ts). */
export default defineHandler(
  chatInboundTask,
  async (
    chat,
    { services, logger, job }: TaskContext<'database' | 'db' | 'keyring' | 'inbound' | 'media'>,
  ) => {
    const { retryAfterMs } = await drainChat(
      {
        database: services.database,
        keyring: services.keyring,
        logger,
        handler: services.inbound,
        media: services.media,
        signal: job.signal,
      },
      chat,
    );
    // Another drain holds this chat, or the handler asked for time: come back after it.
    if (retryAfterMs !== null) {
      await enqueue(services.db, chatInboundTask, chat, {
        runAt: new Date(Date.now() + retryAfterMs),
        jobKey: chatKey(chat.platform, chat.account, chat.externalChatId),
        jobKeyMode: 'replace',
      });
    }
  },
);
