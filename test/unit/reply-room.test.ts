/**
 * A reply's Confirm buttons never go out without all of what they do: one more is refused when
 * the reply has as many buttons as a channel shows, or when its notes would no longer fit whole
 * as Telegram counts them, after its markup's escapes (a dot or a dash counts twice).
 */
import { describe, expect, it } from 'vitest';
import { escapedSize, onReply, requireReplyRoom, ToolRefusal } from '../../src/domain/tools/contract.ts';
import { pieces } from '../../src/integrations/channel-sender.ts';

const reply = (notes: string[]) => ({
  replyButtons: notes.map((_, i) => ({ id: `b${i}`, title: `Confirm ${i + 1}` })),
  replyNotes: [...notes],
});

describe('room on a reply for one more Confirm', () => {
  it('counts what Telegram escapes twice', () => {
    expect(escapedSize('Table for 2.')).toBe(13);
    expect(escapedSize('a-b_c(d)!')).toBe(14);
    expect(escapedSize('Ολα καλά')).toBe(8);
  });

  it('has room for a first note that can be shown whole, and none for one that cannot', () => {
    expect(() => requireReplyRoom(reply([]), 'w'.repeat(2_100))).not.toThrow();
    expect(() => requireReplyRoom(reply([]), '.'.repeat(2_000))).toThrow(ToolRefusal);
  });

  it('refuses a note that fits as plain text but not once escaped', () => {
    const dots = '.'.repeat(1_200);
    // 1,200 + 1,200 characters would fit 3,000; escaped they are 4,800.
    expect(() => requireReplyRoom(reply([dots]), dots)).toThrow(ToolRefusal);
    const words = 'w'.repeat(1_200);
    expect(() => requireReplyRoom(reply([words]), words)).not.toThrow();
  });

  it('refuses a fourth button, a delivery quote as much as a held action', () => {
    expect(() => requireReplyRoom(reply(['one', 'two', 'three']), 'a quote')).toThrow(
      /as many Confirm buttons as it can/,
    );
  });

  it('takes the calls of one model step one after another, so together they cannot overfill it', async () => {
    const caller = reply([]);
    const note = 'w'.repeat(1_300);
    // As a hold does: check for room, wait (minting its code), then add its button and note.
    const add = () =>
      onReply(caller, async () => {
        requireReplyRoom(caller, note);
        await new Promise((resolve) => setTimeout(resolve, 10));
        caller.replyButtons.push({ id: `b${caller.replyButtons.length}`, title: 'Confirm' });
        caller.replyNotes.push(note);
      });
    const results = await Promise.allSettled([add(), add(), add()]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(caller.replyNotes).toHaveLength(2);
  });

  it('refuses a first note too long to show whole, saying to ask for a shorter one', () => {
    expect(() => requireReplyRoom(reply([]), '.'.repeat(2_000))).toThrow(/ask them for a shorter version/);
  });
});

describe('a note in parts', () => {
  it('breaks at a line break before a space, so its code line stays whole', () => {
    const note = `${'word '.repeat(30).trim()}\nTo do this, press Confirm or send: CONFIRM 111111 (within 30 min).`;
    const parts = pieces(note, 170, (t) => t.length);
    expect(parts.at(-1)).toBe('To do this, press Confirm or send: CONFIRM 111111 (within 30 min).');
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(170);
  });
});
