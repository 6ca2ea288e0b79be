/**
 * The WhatsApp numbers and Instagram account the channel tests talk through, the app's settings
 * that point them at their fakes, and messages queued for a person.
 */
import { type OutboundContent, queueMessage } from '../../src/domain/channels/outbound.ts';
import type { TestApp } from '../helpers/app.ts';

/** The Meta app's secret, shared by its numbers. */
export const WHATSAPP_APP_SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
export const D360_SECRET = 'the-360dialog-webhook-secret';
/** A number on Meta's Cloud API. */
export const WHATSAPP_META = {
  name: 'main',
  phoneNumberId: '100000000001',
  provider: 'meta',
  accessToken: 'EAAG-main-access-token',
  appSecret: WHATSAPP_APP_SECRET,
  verifyToken: 'the-verify-token-we-chose',
};
/** A number through 360dialog. */
export const WHATSAPP_D360 = {
  name: 'd360',
  phoneNumberId: '100000000009',
  provider: '360dialog',
  accessToken: 'd360-api-key-of-the-number',
  webhookSecret: D360_SECRET,
};

/** Both numbers, their APIs at the fake's addresses. */
export function whatsappEnv(api: { url: string; graphUrl: string }) {
  return {
    WHATSAPP_NUMBERS: JSON.stringify([WHATSAPP_META, WHATSAPP_D360]),
    WHATSAPP_GRAPH_API_URL: api.graphUrl,
    WHATSAPP_DIALOG_API_URL: api.url,
  };
}

/** A venue's Instagram account. */
export const INSTAGRAM_ACCOUNT = {
  name: 'venue-ig',
  accountId: '17841400000000001',
  accessToken: 'EAAGtesttokenforinstagramsends01',
  appSecret: 'fedcba9876543210fedcba9876543210',
  verifyToken: 'the-verify-token-for-tests',
};

/** The account, its Graph API at the fake's address. */
export function instagramEnv(api: { url: string }) {
  return {
    INSTAGRAM_ACCOUNTS: JSON.stringify([INSTAGRAM_ACCOUNT]),
    INSTAGRAM_GRAPH_API_URL: `${api.url}/v23.0`,
  };
}

/** Messages queued for people, each under a dedupe key of its own starting with `prefix`. */
export function outbox(get: () => TestApp, prefix = 'test') {
  let seq = 0;
  return {
    /** Queues a message for the person; returns its dedupe key. */
    async send(userId: string, body: string, content?: OutboundContent) {
      const dedupeKey = `${prefix}:${Date.now()}:${seq++}`;
      await queueMessage(get().services.db, { userId, kind: 'test', body, dedupeKey, content });
      return dedupeKey;
    },
    /** The queued message's row now. */
    row: (dedupeKey: string) => get().services.db.outboundMessage.findUniqueOrThrow({ where: { dedupeKey } }),
  };
}
