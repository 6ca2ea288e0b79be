/**
 * WhatsApp deliveries recorded: each event the parser made of a body
 * (src/integrations/whatsapp/webhook.ts) stored on its own, and receipts applied to what we sent.
 */
import type { WhatsAppEvent } from '../../integrations/whatsapp/webhook.ts';
import type { Db } from '../../platform/db.ts';
import { recordInbound } from './inbound.ts';
import { applyDeliveryStatus } from './outbound.ts';

/**
 * Stores a delivery's events one by one, in payload order (so a chat's messages keep their
 * order), and moves outbound rows forward by their receipts. Returns how many were new.
 *
 * A receipt is applied before it is recorded, every time it arrives: `applyDeliveryStatus` only
 * moves a row forward, so a redelivered receipt changes nothing, and a crash between the two
 * cannot lose the update (Meta redelivers and it is applied then). It is one indexed UPDATE, the
 * only work done before the answer besides storing.
 */
export async function recordWhatsAppEvents(
  db: Db,
  events: WhatsAppEvent[],
): Promise<{ stored: number; duplicates: number; failed: number; actionable: number }> {
  const counts = { stored: 0, duplicates: 0, failed: 0, actionable: 0 };
  for (const { record, delivery } of events) {
    if (delivery) await applyDeliveryStatus(db, delivery);
    const { stored } = await recordInbound(db, record);
    if (!stored) counts.duplicates += 1;
    else {
      counts.stored += 1;
      if (record.status === 'FAILED') counts.failed += 1;
      else if (record.normalized || delivery || record.status === 'PROCESSED') counts.actionable += 1;
    }
  }
  return counts;
}
