import { acknowledge, chatInboundTask, chatKey, drainChat } from '../../domain/channels/inbound.ts';
import { enqueue } from '../../platform/jobs.ts';
import { defineHandler } from '../task.ts';

/** Drains one chat's pending inbound messages, in order (see src/domain/channels/inbound.ts). */
export default defineHandler(chatInboundTask, async (chat, { services, logger }) => {
  await drainChat(
    {
      database: services.database,
      keyring: services.keyring,
      logger,
      handler: acknowledge,
      media: services.media,
      // Another drain holds this chat: come back shortly, after it lets go.
      retryLater: async () => {
        await enqueue(services.db, chatInboundTask, chat, {
          runAt: new Date(Date.now() + 1000),
          jobKey: chatKey(chat.platform, chat.account, chat.externalChatId),
          jobKeyMode: 'replace',
        });
      },
    },
    chat,
  );
});
