/**
 * The keys a venue's wiki and FAQ file things under, and how a guest's question is matched to
 * them, without a model: deterministic, so the same question always finds the same answer.
 *
 * A question (or a feedback comment) gets a key in this order:
 * - one of the venue's own fact topics (`phone`, `hours`, …; src/domain/network/venue-facts.ts)
 *   when it names exactly one of them and nothing beyond them;
 * - one of the wiki's topics (`pets`, `parking`, `outdoor`, …) when it names exactly one and asks
 *   nothing more specific than the topic itself;
 * - else `question:` and its content words (stop words out, a plural's `s` off, sorted), so "Do
 *   you have a high chair?" and "Have you a high chair" are one question.
 */
import { type FactTopic, matchQuestion, normalize, wordsOf } from './venue-facts.ts';

/**
 * Topics guests ask about that the venue's record has no field for, with their words in the four
 * languages the agent reads. A word ending in `*` matches every word it begins (`dog*`: dogs).
 */
export const WIKI_TOPICS: Record<string, readonly string[]> = {
  pets: [
    'dog*',
    'pet',
    'pets',
    'cat',
    'cats',
    'perro*',
    'mascota*',
    'cachorro*',
    'cao',
    'caes',
    'animais',
    'anjing',
    'kucing',
    'hewan',
  ],
  parking: ['parking', 'car park', 'estacionamiento', 'aparcamiento', 'estacionamento', 'parkir*'],
  vegetarian: ['vegan*', 'vegetarian*', 'plant based'],
  gluten: ['gluten*', 'celiac*', 'coeliac*', 'celiaco*'],
  allergies: ['allerg*', 'alergi*', 'nut', 'nuts', 'peanut*'],
  accessibility: [
    'wheelchair*',
    'accessible',
    'accessibility',
    'step free',
    'silla de ruedas',
    'cadeira de rodas',
    'kursi roda',
  ],
  children: [
    'kids',
    'child*',
    'high chair*',
    'highchair*',
    'baby',
    'babies',
    'nino*',
    'trona*',
    'crianca*',
    'cadeirinha*',
    'bayi',
  ],
  outdoor: ['terrace*', 'outdoor*', 'outside', 'garden', 'patio', 'terraza*', 'esplanada*', 'teras'],
  wifi: ['wifi', 'wi fi', 'internet'],
  payment: [
    'card',
    'cards',
    'cash',
    'tarjeta*',
    'efectivo',
    'cartao',
    'cartoes',
    'dinheiro',
    'tunai',
    'kartu',
  ],
  smoking: ['smok*', 'fumar', 'fumadores', 'rokok', 'merokok'],
  events: ['private event*', 'private room*', 'evento*', 'acara'],
};

/**
 * Words that tie a question to a day: its answer may differ tomorrow, so it is never filed in the
 * wiki or the FAQ, and never answered from them.
 */
const TIME_BOUND = [
  'today',
  'tonight',
  'tomorrow',
  'now',
  'this evening',
  'hoy',
  'esta noche',
  'manana',
  'ahora',
  'hoje',
  'esta noite',
  'amanha',
  'agora',
  'hari ini',
  'malam ini',
  'besok',
  'sekarang',
];

/** Words that carry no meaning of their own in a question, in the four languages. */
const STOP_WORDS = new Set([
  // en
  'a',
  'an',
  'the',
  'i',
  'we',
  'you',
  'your',
  'our',
  'my',
  'me',
  'us',
  'do',
  'does',
  'is',
  'are',
  'am',
  'can',
  'could',
  'may',
  'have',
  'has',
  'got',
  'of',
  'to',
  'for',
  'in',
  'on',
  'at',
  'with',
  'any',
  'there',
  'it',
  'be',
  'please',
  'would',
  'will',
  'what',
  'how',
  'if',
  'and',
  'or',
  'hi',
  'hello',
  // es, pt
  'el',
  'la',
  'los',
  'las',
  'un',
  'una',
  'de',
  'del',
  'en',
  'que',
  'es',
  'hay',
  'tienen',
  'ustedes',
  'se',
  'puedo',
  'podemos',
  'por',
  'favor',
  'o',
  'os',
  'um',
  'uma',
  'da',
  'no',
  'na',
  'tem',
  'voces',
  'posso',
  'e',
  'y',
  'mi',
  'mis',
  'su',
  'sus',
  'tu',
  'meu',
  'minha',
  'meus',
  'minhas',
  'seu',
  'sua',
  // id
  'apa',
  'ada',
  'bisa',
  'saya',
  'kami',
  'anda',
  'kalian',
  'di',
  'ke',
  'yang',
  'ini',
  'itu',
]);

/** True when `phrase` (a word, words, or a stem ending in `*`) is in the normalised text. */
function hasPhrase(normalized: string, phrase: string): boolean {
  return phrase.endsWith('*')
    ? normalized.includes(` ${phrase.slice(0, -1)}`)
    : normalized.includes(` ${phrase} `);
}

/** The wiki topics a text names. */
export function wikiTopicsOf(text: string): string[] {
  const normalized = normalize(text);
  return Object.entries(WIKI_TOPICS)
    .filter(([, words]) => words.some((w) => hasPhrase(normalized, w)))
    .map(([topic]) => topic);
}

/** True when the text ties itself to a day ("tonight", "hoy"). */
export function isTimeBound(text: string): boolean {
  const normalized = normalize(text);
  return TIME_BOUND.some((w) => hasPhrase(normalized, w));
}

/** The words that carry a question's meaning: stop words out, a plural's `s` off, once each, sorted. */
export function contentWords(text: string): string[] {
  const words = wordsOf(text)
    .filter((w) => !STOP_WORDS.has(w))
    .map(stem);
  return [...new Set(words)].sort();
}

/**
 * Words that ask about a topic in general rather than one side of it ("Are dogs allowed?", "Can
 * I bring my dog?"): a question with only these besides its topic's words is about the topic.
 */
const GENERAL_WORDS = new Set([
  'allowed',
  'allow',
  'bring',
  'welcome',
  'come',
  'along',
  'ok',
  'okay',
  'possible',
  'accept',
  'take',
  'offer',
  'option',
  'available',
  'also',
  'nearby',
  'near',
  'permitted',
  'friendly',
  'use',
  'permiten',
  'permitido',
  'traer',
  'llevar',
  'aceptan',
  'pode',
  'levar',
  'aceitam',
  'boleh',
  'bawa',
  'tersedia',
]);

/** A word as contentWords gives it: a plural's `s` off. */
function stem(word: string): string {
  return word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word;
}

/** True when `word` is one of the words of `phrases` (a `*` word covers every word it begins). */
function covered(word: string, phrases: readonly string[]): boolean {
  return phrases.some((phrase) =>
    phrase.split(' ').some((p) => (p.endsWith('*') ? word.startsWith(p.slice(0, -1)) : stem(p) === word)),
  );
}

/** The prefix of keys that are a question's own words rather than a topic. */
export const QUESTION_KEY_PREFIX = 'question:';

/** The venue fact topics that have a value of their own (a wish to book is not a fact). */
type ValueTopic = Exclude<FactTopic, 'booking'>;

/** The key a question (or comment) is filed under; null when it has no words to file. */
export function questionKey(text: string): string | null {
  const facts = matchQuestion(text).topics.filter((t): t is ValueTopic => t !== 'booking');
  const wiki = wikiTopicsOf(text);
  const words = contentWords(text);
  if (facts.length === 1 && wiki.length === 0) return facts[0]!;
  // A question about one side of a topic ("Is the terrace heated?") is its own question: the
  // topic's general answer ("Yes, twelve tables outside") would not answer it.
  if (
    wiki.length === 1 &&
    facts.length === 0 &&
    words.every((w) => GENERAL_WORDS.has(w) || covered(w, WIKI_TOPICS[wiki[0]!]!))
  ) {
    return wiki[0]!;
  }
  return words.length > 0 ? `${QUESTION_KEY_PREFIX}${words.join(' ')}` : null;
}

/** The topic a guest's comment is about, when exactly one wiki topic (feedback on the rest is opinion). */
export function feedbackKey(comment: string): string | null {
  const wiki = wikiTopicsOf(comment);
  return wiki.length === 1 ? wiki[0]! : null;
}

/**
 * How closely two keys name the same question: 1 for the same key; for two `question:` keys the
 * share of content words they have in common (Jaccard); 0 otherwise.
 */
export function keySimilarity(a: string, b: string): number {
  if (a === b) return 1;
  if (!a.startsWith(QUESTION_KEY_PREFIX) || !b.startsWith(QUESTION_KEY_PREFIX)) return 0;
  const left = new Set(a.slice(QUESTION_KEY_PREFIX.length).split(' '));
  const right = new Set(b.slice(QUESTION_KEY_PREFIX.length).split(' '));
  const shared = [...left].filter((w) => right.has(w)).length;
  return shared / (left.size + right.size - shared);
}

/** Two keys this similar are one question. */
export const SAME_QUESTION = 0.6;

/**
 * The form two texts are compared in: their words, without spaces or punctuation ("+351 21" =
 * "35121"). A text of no words (a price level, "$$") is compared as written, spaces aside, so "$"
 * and "$$" differ.
 */
export function comparable(text: string): string {
  return wordsOf(text).join('') || text.replace(/\s+/g, '');
}

/** A key as stored: trimmed, lower case, at most 200 characters. */
export function normalizeKey(key: string): string {
  return key.trim().toLowerCase().slice(0, 200);
}
