/**
 * Telegram text messages as the webhook hands them to recordInbound, for tests of what happens
 * to received messages after that (draining, recovery, the outbox sweep).
 */
import type { InboundRecord } from '../../src/domain/channels/inbound.ts';
import type { NormalizedMessage } from '../../src/domain/channels/normalized.ts';

/** A text from Ana in `chat` on the bot `account`, with the message id `id`. */
export function inboundText(input: {
  account: string;
  chat: string;
  id: string;
  text: string;
  raw?: Record<string, unknown>;
}): InboundRecord {
  const { account, chat, id, text } = input;
  const normalized: NormalizedMessage = {
    platform: 'TELEGRAM',
    account,
    externalChatId: chat,
    externalMessageId: id,
    sender: { externalId: chat, displayName: 'Ana', language: 'pt' },
    text,
    images: [],
    location: null,
    contact: null,
    button: null,
    replyTo: null,
    sentAt: new Date().toISOString(),
  };
  return {
    platform: 'TELEGRAM',
    account,
    externalId: id,
    externalChatId: chat,
    eventType: 'message',
    raw: input.raw ?? { update_id: id },
    normalized,
  };
}
