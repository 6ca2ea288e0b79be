/**
 * What a memory means, by rule (no model): the same words once stop words, auxiliaries and plural
 * "s" are set aside, in any order, with a polarity ("does not eat pork" is the opposite of "eats
 * pork") and, for "<attribute> is <value>", the attribute. Dreaming (dreaming.ts) merges memories
 * of one meaning and resolves contradictions by it; forgetting (memories.ts) keeps the meanings
 * forgotten (`forgottenKey`) so that dreaming does not bring them back.
 */
import { createHash } from 'node:crypto';
import { normalizedContent, wordsOf } from './text.ts';

/** Words that say nothing about what a memory means. Negations are not among them. */
export const STOP = new Set(
  'a an the to of and or in on at for with by from as is are am was were be been being i me my mine he she they them their his her its it s person user guest really very also'.split(
    ' ',
  ),
);
/** Auxiliaries around a negation ("does not", "doesn't", "won't"). */
const AUX = new Set(
  'do does did doesn don didn will won would wouldn can cannot can couldn isn aren wasn'.split(' '),
);
/** Words that turn a statement round. `t` is what remains of "n't" once split into words. */
const NEGATIONS = new Set(['not', 'no', 'never', 't', 'nor']);
/** Verbs that are another's negation: "dislikes X" contradicts "likes X". */
const OPPOSITES: Record<string, string> = { dislike: 'like', hate: 'like', detest: 'like', avoid: 'eat' };
/** A copula's subject names an attribute with one value when it has one of these words. */
const ATTRIBUTES = new Set(
  'favourite favorite usual preferred name birthday anniversary budget home address phone email seat table language drink cuisine party size diet'.split(
    ' ',
  ),
);
const COPULAS = new Set(['is', 'are', 'was', 'were']);

export function stem(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

export interface Meaning {
  /** The memory's content words, stemmed, sorted, without polarity. */
  key: string;
  /** Whether it says the opposite of its key ("does not eat pork"). */
  negative: boolean;
  /** For "<attribute> is <value>": the attribute, whose value a newer memory replaces. */
  attribute: string | null;
}

/** What a memory means, by the rules at the top of this file. */
export function meaningOf(text: string): Meaning {
  const words = wordsOf(text);
  let negative = false;
  const kept: string[] = [];
  for (const [index, word] of words.entries()) {
    if (NEGATIONS.has(word)) {
      negative = !negative;
      continue;
    }
    if (word === 'longer' && words[index - 1] === 'no') continue;
    if (AUX.has(word) || STOP.has(word)) continue;
    let stemmed = stem(word);
    const opposite = OPPOSITES[stemmed];
    if (opposite) {
      negative = !negative;
      stemmed = opposite;
    }
    kept.push(stemmed);
  }
  const key = [...new Set(kept)].sort().join(' ') || normalizedContent(text) || text.toLowerCase();
  const copula = words.findIndex((word) => COPULAS.has(word));
  let attribute: string | null = null;
  if (copula > 0 && copula < words.length - 1) {
    const subject = words
      .slice(0, copula)
      .filter((w) => !STOP.has(w))
      .map(stem);
    if (subject.some((w) => ATTRIBUTES.has(w))) attribute = subject.join(' ');
  }
  return { key, negative, attribute };
}

/** Same meaning: the key and the polarity. */
export const identity = (m: Meaning) => `${m.negative ? '-' : '+'}${m.key}`;

/**
 * What is kept of a forgotten memory: a digest of its meaning, not its words, so that dreaming
 * can tell a summary's sentence of that meaning without the words being kept.
 */
export function forgottenKey(content: string): string {
  return createHash('sha256')
    .update(identity(meaningOf(content)))
    .digest('base64url')
    .slice(0, 22);
}

/** How a person's booking habits memory (dreaming's PATTERN, worked out from bookings) begins. */
export const HABITS_PREFIX = 'Booking habits: ';

/**
 * The forgotten entry (`habits@ms`, beside the digests) that says when the person last forgot
 * their booking habits: dreaming works them out again only from bookings made since.
 */
export const HABITS_FORGOTTEN = 'habits';

/** A forgotten memory as a person's row keeps it: its meaning's digest and when (`digest@ms`). */
export function forgottenEntry(content: string, at: Date): string {
  return `${forgottenKey(content)}@${at.getTime()}`;
}

/** The kept entries (forgottenEntry) as digest → when it was forgotten (ms); unreadable ones left out. */
export function forgottenSince(entries: readonly string[] | null): Map<string, number> {
  const since = new Map<string, number>();
  for (const entry of entries ?? []) {
    const [key, at] = entry.split('@');
    const ms = Number(at);
    if (key && Number.isFinite(ms) && !since.has(key)) since.set(key, ms);
  }
  return since;
}
