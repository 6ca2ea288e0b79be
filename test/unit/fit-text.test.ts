/**
 * What a channel that carries less than a reply does with it: the reply is cut before the code's
 * own notes (what a Confirm button does, its code), which reach the person whole, on Telegram
 * (escaped, never ending in half an escape), WhatsApp (1,024 characters under buttons) and
 * Instagram (1,000 bytes).
 */
import { describe, expect, it } from 'vitest';
import { fitText } from '../../src/integrations/channel-sender.ts';
import { instagramRequests } from '../../src/integrations/instagram/client.ts';
import { escapeMarkdownV2 } from '../../src/integrations/telegram/client.ts';
import { whatsappMessage } from '../../src/integrations/whatsapp/client.ts';

const NOTES =
  '\n\nPrice: 140 HKD. From: Innocentre. To: Canton Rd.\nTo book it press Confirm or send: CONFIRM 123456';
const reply = (words: string) => `${words}${NOTES}`;

describe('fitting a reply to a channel', () => {
  it('keeps a text that fits as it is, and cuts one that does not before its notes', () => {
    expect(fitText('short', 10)).toBe('short');
    const long = reply('x'.repeat(2000));
    const fitted = fitText(long, 1024, { keepEnd: NOTES.length });
    expect(fitted).toHaveLength(1024);
    expect(fitted.endsWith(`…${NOTES}`)).toBe(true);
    // Without notes to keep, the end is cut.
    expect(fitText('abcdef', 4)).toBe('abc…');
  });

  it('measures bytes when told, never splitting a character', () => {
    const thai = 'สวัสดี'.repeat(100);
    const fitted = fitText(`${thai}${NOTES}`, 1000, {
      keepEnd: NOTES.length,
      size: (t) => Buffer.byteLength(t),
    });
    expect(Buffer.byteLength(fitted)).toBeLessThanOrEqual(1000);
    expect(fitted.endsWith(NOTES)).toBe(true);
    expect(fitted).not.toContain('\ufffd');
  });

  it('escapes each part, and never ends inside an escape', () => {
    const dots = '.'.repeat(3000);
    const fitted = fitText(reply(dots), 4096, { keepEnd: NOTES.length, escape: escapeMarkdownV2 });
    expect(fitted.length).toBeLessThanOrEqual(4096);
    expect(fitted.endsWith(escapeMarkdownV2(NOTES))).toBe(true);
    const head = fitted.slice(0, fitted.indexOf('…'));
    expect(head).toMatch(/^(\\\.)+$/);
    // Without notes: the cut text ends with a whole escape, not a lone backslash.
    const plain = fitText(dots, 4095, { escape: escapeMarkdownV2 });
    expect(plain.endsWith('\\.…') || plain.endsWith('…')).toBe(true);
    expect(plain.slice(0, -1)).toMatch(/^(\\\.)+$/);
  });

  it('keeps the notes under WhatsApp buttons and in an Instagram message', () => {
    const body = reply('A long list of venues. '.repeat(60));
    const content = { buttons: [{ id: 'delivery:confirm:t', title: 'Confirm' }], keepEnd: NOTES.length };
    const whatsapp = whatsappMessage(
      { externalChatId: '351900000000', windowOpen: true },
      { body, content },
    ) as {
      interactive: { body: { text: string } };
    };
    expect(whatsapp.interactive.body.text.length).toBeLessThanOrEqual(1024);
    expect(whatsapp.interactive.body.text.endsWith(NOTES)).toBe(true);
    const [instagram] = instagramRequests('ig-1', { body, content });
    const text = (instagram!.message as { text: string }).text;
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1000);
    expect(text.endsWith(NOTES)).toBe(true);
  });
});
