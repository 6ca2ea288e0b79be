/**
 * A Confirm button never reaches the person without what it does. WhatsApp carries 1,024
 * characters in a message with buttons and Instagram 1,000 bytes; when what a reply's buttons do
 * is longer than that, the reply is split so that each button comes in a message that shows its
 * whole note, rather than the notes being cut under every button.
 */
import { describe, expect, it } from 'vitest';
import type { OutboundContent } from '../../src/integrations/channel-sender.ts';
import { instagramRequests } from '../../src/integrations/instagram/client.ts';
import { whatsappMessages } from '../../src/integrations/whatsapp/client.ts';

const note = (n: number, what: string) =>
  `${n}. ${what}\nTo do this, press Confirm ${n} or send: CONFIRM ${String(n).repeat(6)} (within 30 min).`;

/** A reply as the consumer agent queues it: the model's text, then the notes, one per button. */
function reply(text: string, notes: string[]): { body: string; content: OutboundContent } {
  const tail = `\n\n${notes.join('\n')}`;
  return {
    body: `${text}${tail}`,
    content: {
      buttons: notes.map((_, i) => ({ id: `confirm:${'t'.repeat(42)}${i}`, title: `Confirm ${i + 1}` })),
      keepEnd: tail.length,
      notes,
    },
  };
}

const question = `Send Sneaky Bar this question: "${'Is there step-free access from the river side, and can we bring a cake? '.repeat(6).trim()}"`;
const notes = [
  note(1, question),
  note(
    2,
    `Send Casa Simples this question: "${'Do you have a quiet corner table for a birthday dinner? '.repeat(8).trim()}"`,
  ),
  note(3, 'Cancel your booking at Casa Simples on 2031-05-02 at 20:00 (2 people).'),
];

describe('notes longer than a message with buttons carries', () => {
  it('on WhatsApp, each button comes in a message whose body holds its whole note', () => {
    const message = reply('Here is what I can do for you.', notes);
    expect(message.content.keepEnd).toBeGreaterThan(1024);
    const sent = whatsappMessages({ externalChatId: '351900000001', windowOpen: true }, message) as {
      type: string;
      text?: { body: string };
      interactive?: {
        body: { text: string };
        action: { buttons: { reply: { id: string; title: string } }[] };
      };
    }[];
    // The model's own words first, then the notes with their buttons.
    expect(sent[0]).toMatchObject({ type: 'text', text: { body: 'Here is what I can do for you.' } });
    const shown = sent.flatMap((m) =>
      (m.interactive?.action.buttons ?? []).map((b) => ({
        title: b.reply.title,
        body: m.interactive!.body.text,
      })),
    );
    expect(shown.map((b) => b.title)).toEqual(['Confirm 1', 'Confirm 2', 'Confirm 3']);
    for (const [index, button] of shown.entries()) {
      expect(button.body.length).toBeLessThanOrEqual(1024);
      expect(button.body).toContain(notes[index]);
    }
  });

  it('on Instagram, each quick reply comes under text holding its whole note, within 1,000 bytes', () => {
    // Greek: two bytes a letter, so the notes are far over 1,000 bytes.
    const greek = notes.map((n, i) =>
      i === 2 ? n : n.replace(/"[^"]+"/, `"${'Έχετε ήσυχο τραπέζι; '.repeat(12)}"`),
    );
    const requests = instagramRequests('ig-1', reply('Να τι μπορώ να κάνω.', greek));
    const shown = requests.flatMap((r) => {
      const message = r.message as { text: string; quick_replies?: { title: string }[] };
      expect(Buffer.byteLength(message.text)).toBeLessThanOrEqual(1000);
      return (message.quick_replies ?? []).map((q) => ({ title: q.title, text: message.text }));
    });
    expect(shown.map((b) => b.title)).toEqual(['Confirm 1', 'Confirm 2', 'Confirm 3']);
    for (const [index, button] of shown.entries()) expect(button.text).toContain(greek[index]);
  });

  it('sends a note too long for any message with buttons without its button, whole where it can', () => {
    const long = note(1, `Tell Casa Simples your visit was 5 out of 5 with "${'Lovely. '.repeat(200)}".`);
    const sent = whatsappMessages(
      { externalChatId: '351900000001', windowOpen: true },
      reply('Shall I send it?', [long]),
    ) as { type: string; text?: { body: string }; interactive?: unknown }[];
    expect(sent.some((m) => m.interactive)).toBe(false);
    // Shown whole, code and all: the person can still type the code.
    expect(sent.map((m) => m.text?.body)).toContain(long);
  });

  it('on Instagram, sends a note over any one message whole, in parts, its code in the last', () => {
    // About 1,900 characters of Greek: nearly 3,800 bytes, so no one message (1,000 bytes) holds it.
    const long = note(1, `Πείτε στο Casa Simples: "${'Υπέροχο φαγητό και ευγενικό προσωπικό. '.repeat(48)}"`);
    const requests = instagramRequests('ig-1', reply('Να το στείλω;', [long]));
    const texts = requests.map((r) => (r.message as { text: string; quick_replies?: unknown }).text);
    for (const text of texts) expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1000);
    expect(requests.some((r) => (r.message as { quick_replies?: unknown }).quick_replies)).toBe(false);
    // Nothing of the note is lost, and its code arrives, at the end.
    const joined = texts.slice(1).join(' ').replace(/\s+/g, ' ');
    expect(joined).toBe(long.replace(/\s+/g, ' '));
    expect(texts.at(-1)).toMatch(/send: CONFIRM 111111 \(within 30 min\)\.$/);
  });

  it('keeps a reply whose notes fit as one message, the model’s text cut before them', () => {
    const short = [note(1, 'Cancel your booking at Casa Simples on 2031-05-02 at 20:00 (2 people).')];
    const sent = whatsappMessages(
      { externalChatId: '351900000001', windowOpen: true },
      reply('word '.repeat(400), short),
    ) as { interactive: { body: { text: string }; action: { buttons: unknown[] } } }[];
    expect(sent).toHaveLength(1);
    expect(sent[0]!.interactive.body.text.length).toBeLessThanOrEqual(1024);
    expect(sent[0]!.interactive.body.text.endsWith(short[0]!)).toBe(true);
    expect(sent[0]!.interactive.action.buttons).toHaveLength(1);
  });
});
