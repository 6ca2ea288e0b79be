/**
 * The events of one verified Instagram webhook body, as the webhook pipeline records them
 * (`recordChannelEvents`): each messaging event with its receipts, classified by
 * `classifyInstagramEvent`. `accounts` are those that share the app secret the body was signed
 * with: Meta sends one app's events for all its Instagram accounts to one callback URL, so
 * `entry.id` picks the account. An entry for an account we do not know is kept, failed.
 */
import { createHash } from 'node:crypto';
import {
  classifyInstagramEvent,
  type InstagramAccountRef,
  type InstagramWebhook,
} from '../../integrations/instagram/webhook.ts';
import type { ChannelEvent } from './inbound.ts';

/** A stable id for an entry that carries none of its own: the same entry always hashes the same. */
function entryId(value: unknown): string {
  return `entry:${createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 40)}`;
}

export function instagramEvents(input: {
  via: InstagramAccountRef;
  accounts: readonly InstagramAccountRef[];
  body: InstagramWebhook;
}): ChannelEvent[] {
  const events: ChannelEvent[] = [];
  const byId = new Map(input.accounts.map((a) => [a.accountId, a]));
  for (const entry of input.body.entry) {
    // `time` is when Meta sent this copy; a redelivered entry is the same entry without it.
    const { time: _sentAt, ...stableEntry } = entry;
    const account = byId.get(entry.id);
    if (!account) {
      events.push({
        record: {
          platform: 'INSTAGRAM',
          account: input.via.name,
          externalId: entryId(stableEntry),
          externalChatId: null,
          eventType: 'unknown_account',
          raw: entry,
          normalized: null,
          status: 'FAILED',
          error: `entry for Instagram account ${entry.id}, which is not configured with this app secret`,
        },
      });
      continue;
    }
    const messaging = entry.messaging ?? [];
    if (messaging.length === 0) {
      // Comments, mentions in comments and other fields arrive as `changes`: kept, not handled.
      events.push({
        record: {
          platform: 'INSTAGRAM',
          account: account.name,
          externalId: entryId(stableEntry),
          externalChatId: null,
          eventType: 'changes' in entry ? 'changes' : 'empty_entry',
          raw: entry,
          normalized: null,
        },
      });
      continue;
    }
    for (const raw of messaging) {
      const event = classifyInstagramEvent(account, raw);
      events.push({
        record: {
          platform: 'INSTAGRAM',
          account: account.name,
          externalId: event.externalId,
          externalChatId: event.kind === 'invalid' ? null : event.externalChatId,
          eventType: event.eventType,
          raw: { entry: { id: entry.id, time: entry.time ?? null }, event: raw },
          normalized: event.kind === 'message' ? event.normalized : null,
          ...(event.kind === 'invalid' ? { status: 'FAILED' as const, error: event.error } : {}),
        },
        // Applied even for a redelivery: a receipt only moves a message forward, so applying it
        // twice is harmless, and a first delivery whose update failed gets a second chance.
        receipts:
          event.kind === 'status'
            ? event.mids.map((mid) => ({
                platform: 'INSTAGRAM' as const,
                externalMessageId: mid,
                status: event.status,
                at: event.at,
              }))
            : [],
      });
    }
  }
  return events;
}
