/**
 * Instagram webhooks recorded: every messaging event the parser classified
 * (src/integrations/instagram/webhook.ts) stored on its own, each in its own transaction with its
 * chat's drain job, and receipts applied to what we sent.
 */
import {
  classifyInstagramEvent,
  derivedId,
  type InstagramAccountRef,
  type InstagramWebhook,
} from '../../integrations/instagram/webhook.ts';
import type { Db } from '../../platform/db.ts';
import { recordInbound } from './inbound.ts';
import { applyDeliveryStatus } from './outbound.ts';

export interface IngestResult {
  /** Events stored for the first time. */
  stored: number;
  /** Events Meta had delivered before. */
  duplicates: number;
  /** New events to be processed (messages, postbacks, quick replies). */
  messages: number;
  /** Outbound rows moved forward by receipts. */
  statusesApplied: number;
}

/**
 * Records every event of a verified webhook body: each in its own transaction with its chat's
 * drain job (see `recordInbound`). `accounts` are those that share the app secret the body was
 * signed with: Meta sends one app's events for all its Instagram accounts to one callback URL,
 * so `entry.id` picks the account. An entry for an account we do not know is kept, failed.
 */
export async function ingestInstagramWebhook(
  db: Db,
  input: { via: InstagramAccountRef; accounts: InstagramAccountRef[]; body: InstagramWebhook },
): Promise<IngestResult> {
  const result: IngestResult = { stored: 0, duplicates: 0, messages: 0, statusesApplied: 0 };
  const byId = new Map(input.accounts.map((a) => [a.accountId, a]));
  for (const entry of input.body.entry) {
    // `time` is when Meta sent this copy; a redelivered entry is the same entry without it.
    const { time: _sentAt, ...stableEntry } = entry;
    const account = byId.get(entry.id);
    if (!account) {
      const { stored } = await recordInbound(db, {
        platform: 'INSTAGRAM',
        account: input.via.name,
        externalId: derivedId('entry', stableEntry),
        externalChatId: null,
        eventType: 'unknown_account',
        raw: entry,
        normalized: null,
        status: 'FAILED',
        error: `entry for Instagram account ${entry.id}, which is not configured with this app secret`,
      });
      result[stored ? 'stored' : 'duplicates'] += 1;
      continue;
    }
    const events = entry.messaging ?? [];
    if (events.length === 0) {
      // Comments, mentions in comments and other fields arrive as `changes`: kept, not handled.
      const { stored } = await recordInbound(db, {
        platform: 'INSTAGRAM',
        account: account.name,
        externalId: derivedId('entry', stableEntry),
        externalChatId: null,
        eventType: 'changes' in entry ? 'changes' : 'empty_entry',
        raw: entry,
        normalized: null,
      });
      result[stored ? 'stored' : 'duplicates'] += 1;
      continue;
    }
    for (const raw of events) {
      const event = classifyInstagramEvent(account, raw);
      const { stored } = await recordInbound(db, {
        platform: 'INSTAGRAM',
        account: account.name,
        externalId: event.externalId,
        externalChatId: event.kind === 'invalid' ? null : event.externalChatId,
        eventType: event.eventType,
        raw: { entry: { id: entry.id, time: entry.time ?? null }, event: raw },
        normalized: event.kind === 'message' ? event.normalized : null,
        ...(event.kind === 'invalid' ? { status: 'FAILED' as const, error: event.error } : {}),
      });
      result[stored ? 'stored' : 'duplicates'] += 1;
      if (stored && event.kind === 'message') result.messages += 1;
      if (event.kind === 'status') {
        // Applied even for a redelivery: a receipt only moves a message forward, so applying it
        // twice is harmless, and a first delivery whose update failed gets a second chance.
        // It is one indexed UPDATE, no slower than the insert, so it runs before the answer.
        for (const mid of event.mids) {
          result.statusesApplied += await applyDeliveryStatus(db, {
            platform: 'INSTAGRAM',
            externalMessageId: mid,
            status: event.status,
            at: event.at,
          });
        }
      }
    }
  }
  return result;
}
