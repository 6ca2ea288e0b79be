/**
 * A reply's Confirm buttons never go out without all of what they do: one more is refused when
 * the reply has as many buttons as a channel shows, or when its notes would no longer fit whole
 * as Telegram counts them, after its markup's escapes (a dot or a dash counts twice).
 */
import { describe, expect, it } from 'vitest';
import { escapedSize, requireReplyRoom, ToolRefusal } from '../../src/domain/tools/contract.ts';

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
});
