/**
 * When a platform says a message was sent is taken at its word only when it can be: a time in
 * milliseconds where seconds are meant (the year 58903), before the year 1, or no instant at all
 * is when we received it. Such a time, as a chat's last message, kept every reply to the chat
 * outside WhatsApp's and Instagram's 24-hour window for good, or failed the drain's writes.
 */
import { describe, expect, it } from 'vitest';
import { classifyInstagramEvent } from '../../src/integrations/instagram/webhook.ts';
import { sentAt } from '../../src/integrations/normalized-message.ts';
import { normalizeTelegramUpdate, parseTelegramUpdate } from '../../src/integrations/telegram/updates.ts';
import { parseWhatsAppPayload, whatsappEvents } from '../../src/integrations/whatsapp/webhook.ts';

const now = new Date('2026-12-07T15:00:00.000Z');

describe('sentAt', () => {
  it("keeps a platform's plausible time, and gives ours for one that cannot be", () => {
    expect(sentAt(Date.parse('2026-12-07T14:59:30Z'), now)).toBe('2026-12-07T14:59:30.000Z');
    expect(sentAt(Date.parse('2026-12-08T14:00:00Z'), now)).toBe('2026-12-08T14:00:00.000Z');
    for (const odd of [
      1_733_580_000_000 * 1000,
      -62_135_596_801_000,
      253_402_300_800_000,
      Number.NaN,
      1e308,
    ]) {
      expect(sentAt(odd, now), String(odd)).toBe(now.toISOString());
    }
  });
});

describe("the platforms' message times", () => {
  it('a Telegram date in milliseconds, or before the year 1, is when we received it', () => {
    for (const date of [1_733_580_000_000, -62_135_596_801, 10_000_000_000_000]) {
      const update = parseTelegramUpdate({
        update_id: 1,
        message: { message_id: 1, date, chat: { id: 7 }, from: { id: 7, first_name: 'Ana' }, text: 'hi' },
      });
      expect(update.success, String(date)).toBe(true);
      const message = normalizeTelegramUpdate('bot', update.update!);
      const at = Date.parse(message!.sentAt);
      expect(Math.abs(at - Date.now()), String(date)).toBeLessThan(60_000);
    }
  });

  it('a WhatsApp message time in milliseconds and a status before the year 1 are when we received them', () => {
    const payload = parseWhatsAppPayload({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: 'waba',
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '351210000000', phone_number_id: 'phone-1' },
                contacts: [{ wa_id: '351910000000', profile: { name: 'Ana' } }],
                messages: [
                  {
                    from: '351910000000',
                    id: 'wamid.1',
                    timestamp: '1733580000000',
                    type: 'text',
                    text: { body: 'hi' },
                  },
                ],
                statuses: [
                  {
                    id: 'wamid.ours',
                    status: 'read',
                    timestamp: '-62135596801',
                    recipient_id: '351910000000',
                  },
                ],
              },
            },
          ],
        },
      ],
    });
    expect(payload.success).toBe(true);
    const events = whatsappEvents(payload.payload!, { account: 'main', accountFor: () => 'main', now });
    const message = events.find((e) => e.record.normalized)?.record.normalized;
    expect(message?.sentAt).toBe(now.toISOString());
    const status = events.find((e) => e.delivery)?.delivery;
    expect(status?.at).toEqual(now);
  });

  it('an Instagram timestamp past the year 9999 is when we received it, not an error', () => {
    const classified = classifyInstagramEvent(
      { name: 'main', accountId: '17841400000000000' },
      {
        sender: { id: '900' },
        recipient: { id: '17841400000000000' },
        timestamp: 1e16,
        message: { mid: 'm1', text: 'hi' },
      },
    );
    if (classified.kind !== 'message') throw new Error(`expected a message, got ${classified.kind}`);
    const at = Date.parse(classified.normalized.sentAt);
    expect(Math.abs(at - Date.now())).toBeLessThan(60_000);
  });
});
