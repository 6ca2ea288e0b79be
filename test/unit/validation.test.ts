import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseInput } from '../../src/domain/validation.ts';
import { ValidationError } from '../../src/platform/errors.ts';

/** The refusal parseInput throws for `input`, as { field, message }. */
function refusal(schema: z.ZodType, input: unknown, at?: string) {
  try {
    parseInput(schema, input, at);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return { field: (error as ValidationError).field, message: (error as ValidationError).message };
  }
  throw new Error('expected a refusal');
}

describe('the shared error map', () => {
  it('gives a rule without a sentence of its own one for a person, never the validator’s words', () => {
    const cases: [z.ZodType, unknown, string][] = [
      [z.object({ n: z.number() }), {}, 'This is required'],
      [z.object({ n: z.number() }), { n: 'five' }, 'Use a number'],
      [z.object({ n: z.number().int() }), { n: 1.5 }, 'Use a whole number'],
      [z.object({ n: z.number().min(5) }), { n: 2 }, 'Use 5 or more'],
      [z.object({ n: z.number().max(9) }), { n: 12 }, 'Use 9 or less'],
      [z.object({ s: z.string().min(1) }), { s: '' }, 'This cannot be empty'],
      [z.object({ s: z.string().min(3) }), { s: 'ab' }, 'Use at least 3 characters'],
      [z.object({ s: z.string().max(1) }), { s: 'ab' }, 'Use at most 1 character'],
      [z.object({ l: z.array(z.string()).min(1) }), { l: [] }, 'Give at least one'],
      [z.object({ l: z.array(z.string()).max(2) }), { l: ['a', 'b', 'c'] }, 'Give at most 2'],
      [z.object({ e: z.email() }), { e: 'nope' }, 'Enter a valid email address'],
      [z.object({ d: z.iso.date() }), { d: 'soon' }, 'Use a date such as 2026-12-24'],
      [z.object({ k: z.enum(['a', 'b']) }), { k: 'c' }, 'Use one of a, b'],
    ];
    for (const [schema, input, message] of cases) expect(refusal(schema, input).message).toBe(message);
  });

  it('keeps the sentence a rule names for itself', () => {
    const schema = z.object({ slotMinutes: z.number().min(5, 'A booking slot is at least 5 minutes') });
    expect(refusal(schema, { slotMinutes: 2 })).toEqual({
      field: 'slotMinutes',
      message: 'A booking slot is at least 5 minutes',
    });
  });

  it('names the path in the input as sent: list entries by index, unknown keys by name, a part by where it sits', () => {
    const handles = z.object({ socialHandles: z.array(z.object({ handle: z.string().regex(/^@?\w+$/) })) });
    expect(refusal(handles, { socialHandles: [{ handle: 'ok' }, { handle: 'not ok' }] }).field).toBe(
      'socialHandles.1.handle',
    );
    expect(refusal(z.object({ a: z.string() }).strict(), { a: 'x', b: 1 })).toEqual({
      field: 'b',
      message: 'There is no field b',
    });
    expect(refusal(z.array(z.iso.date()), ['2026-12-24', 'soon'], 'clearDates').field).toBe('clearDates.1');
  });
});
