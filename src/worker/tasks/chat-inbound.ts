import { chatInboundTask, chatKey, drainChat } from '../../domain/channels/inbound.ts';
import { enqueue } from '../../platform/jobs.ts';
import { defineHandler } from '../task.ts';

/** Drains one chat's pending inbound messages, in order (see src/domain/channels/inbound.ts). */
export default defineHandler(chatInboundTask, async (chat, { services, logger }) => {
  await drainChat(
    {
      database: services.database,
      keyring: services.keyring,
      logger,
      handler: services.inbound,
      media: services.media,
      // Another drain holds this chat, or the handler asked for time: come back after it.
      retryLater: async (delayMs = 1000) => {
        await enqueue(services.db, chatInboundTask, chat, {
          runAt: new Date(Date.now() + delayMs),
          jobKey: chatKey(chat.platform, chat.account, chat.externalChatId),
          jobKeyMode: 'replace',
        });
      },
    },
    chat,
  );
});
