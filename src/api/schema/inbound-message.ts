/**
 * Chat messages that could not be handled, for platform admins: listed with their errors, and
 * handed back to their chat's drain once the cause is mended. The rules live in
 * src/domain/operations/failed-inbound.ts.
 */
import { resolveCursorConnection } from '@pothos/plugin-relay';
import { errorSummary, type InboundMessageRecord } from '../../domain/operations/failed-inbound.ts';
import { builder } from '../builder.ts';
import { describedEnum } from './enums.ts';
import { mutation, payloadType } from './mutation.ts';

export const ChatChannel = describedEnum('ChatChannel', {
  TELEGRAM: 'Telegram (a bot).',
  WHATSAPP: 'WhatsApp (a Cloud API phone number).',
  INSTAGRAM: 'Instagram (a professional account’s messages).',
  CONSOLE: 'A conversation in the terminal (`npm run chat`).',
});

const InboundMessageStatus = describedEnum('InboundMessageStatus', {
  PENDING: 'Waiting for its chat’s drain.',
  PROCESSED: 'Handled.',
  IGNORED: 'Kept, not acted on (not a message the agent answers).',
  FAILED: 'Its handling failed; kept with the error until an operator retries it.',
});

export const InboundMessage = builder.node(builder.objectRef<InboundMessageRecord>('InboundMessage'), {
  description:
    'A chat message a platform delivered to us, as operators see it: where and when it came and how its handling ended, never what it says. Platform admins.',
  authScopes: { platformAdmin: true },
  id: { resolve: (message) => message.id },
  loadMany: async (ids, ctx) =>
    ctx.access.isPlatformAdmin ? ctx.domain.operations.inboundMessagesById(ids) : [],
  fields: (t) => ({
    channel: t.field({ type: ChatChannel, resolve: (message) => message.platform }),
    account: t.exposeString('account', {
      description:
        'Which of our accounts received it: a bot’s name, a phone number id, an Instagram account id.',
    }),
    externalChatId: t.exposeString('externalChatId', {
      nullable: true,
      description: 'The platform’s id of the chat.',
    }),
    eventType: t.exposeString('eventType'),
    status: t.field({ type: InboundMessageStatus, resolve: (message) => message.status }),
    error: t.string({
      nullable: true,
      description:
        'Why its handling failed: the error’s first line (the rest, which can carry what the call was given, is in the logs under the message’s id).',
      resolve: (message) => errorSummary(message.error),
    }),
    receivedAt: t.expose('receivedAt', { type: 'DateTime' }),
    processedAt: t.expose('processedAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.queryField('failedInboundMessages', (t) =>
  t.connection({
    type: InboundMessage,
    description:
      'Platform admins: chat messages whose handling failed (the person may have had no answer, or been asked to try again), newest first. Kept until retried, or deleted RETENTION_FAILED_INBOUND_DAYS after it arrived.',
    authScopes: { platformAdmin: true },
    args: { channel: t.arg({ type: ChatChannel, required: false }) },
    resolve: (_root, args, ctx) =>
      resolveCursorConnection<Promise<InboundMessageRecord[]>>(
        {
          args,
          toCursor: (message: InboundMessageRecord) => message.sequence.toString(),
          defaultSize: 20,
          maxSize: 100,
        },
        ({ before, after, limit, inverted }) =>
          ctx.domain.operations.failedInboundMessages(
            { platform: args.channel },
            { before, after, limit, inverted },
          ),
      ),
  }),
);

mutation('retryInboundMessage', {
  description:
    'Platform admins: hands a failed chat message back to its chat, which handles it as if it had just arrived (a reply already sent for it is not sent again).',
  input: (t) => ({ inboundMessageId: t.globalID({ for: InboundMessage }) }),
  payload: payloadType('RetryInboundMessagePayload', 'inboundMessage', InboundMessage),
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({
    inboundMessage: await ctx.domain.operations.retryInboundMessage({ id: input.inboundMessageId.id }),
  }),
});
