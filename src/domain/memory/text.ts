/**
 * Text as the memory area keeps and searches it. What people say reaches memories and the profile
 * through the model, and from there the system prompt: it is kept on one line, without the
 * characters that can hide or reorder text (control characters, bidirectional overrides).
 */

/** Line breaks and tabs become spaces (they would split a memory's line in the prompt). */
const SPACING = /[\t\n\v\f\r\u0085\u2028\u2029]/g;
/**
 * Other control characters, and the bidirectional embeddings, overrides and isolates that can make
 * text read differently from what it says. Joiners (U+200D) stay: emoji sequences need them.
 */
const INVISIBLE_BUT_SPACING = /(?![\t\n\v\f\r\u0085])[\p{Cc}\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;

/**
 * Text without what can hide or reorder it: well-formed UTF-16 (PostgreSQL refuses lone
 * surrogates, which become U+FFFD), no control characters but line breaks and tabs, no
 * bidirectional embeddings, overrides or isolates. What the model sends a tool goes through this.
 */
export function stripInvisible(value: string): string {
  return value.toWellFormed().replace(INVISIBLE_BUT_SPACING, '');
}

/**
 * One clean line: stripInvisible, NFC, line breaks and runs of white space as one space, trimmed.
 */
export function cleanText(value: string): string {
  return stripInvisible(value).normalize('NFC').replace(SPACING, ' ').replace(/\s+/gu, ' ').trim();
}

/**
 * The words of a text, lower-cased, in order: runs of letters and digits, which is how the
 * 'simple' text search configuration splits text into lexemes for the common cases ("nut-free" is
 * "nut" and "free" to both, "20:00" is "20" and "00").
 */
export function wordsOf(text: string): string[] {
  return (
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

/** Distinct words, first occurrence first, at most `max` of them (a message can be long). */
export function searchTermsOf(text: string, max: number): string[] {
  return [...new Set(wordsOf(text))].slice(0, max);
}

/** What makes two memories "the same": their words in order, ignoring case, punctuation and spacing. */
export function normalizedContent(text: string): string {
  return wordsOf(text).join(' ');
}
