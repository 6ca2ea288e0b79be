/**
 * Answering a guest's question from the venue's approved FAQ and its wiki, for the venue's agent
 * (src/domain/network/venue-agent.ts), after its record's own facts and before a model or staff.
 *
 * The question's key (wiki-keys.ts) is matched against approved FAQ entries first (staff wrote those
 * answers for guests), then against the wiki's facts. A fact answers when its key is open to no
 * conflict: the fact staff chose when they resolved one, else what the venue itself said (staff's
 * answer, then its record, then its website); a guest's feedback never answers on its own. A
 * question tied to a day ("tonight") is never answered here.
 */
import type { VenueFact } from '../../generated/prisma/client.ts';
import type { VenueFactSource } from '../../generated/prisma/enums.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { type FactLanguage, type FactTopic, matchQuestion, topicLabel } from './venue-facts.ts';
import { isTimeBound, keySimilarity, questionKey, SAME_QUESTION } from './wiki-keys.ts';

export interface WikiAnswer {
  text: string;
  how: 'faq' | 'wiki';
  key: string;
}

/** Sources that speak for the venue, most trusted first. */
const VENUE_SOURCES: readonly VenueFactSource[] = ['STAFF_ANSWER', 'OWNER_EDIT', 'SCAN'];

const LABELLED: readonly string[] = ['hours', 'address', 'phone', 'website', 'menu', 'price', 'cuisine'];

/** The best of `candidates` for `key` (most similar, then most recent), when similar enough. */
function bestMatch<T>(key: string, candidates: readonly T[], keyOf: (c: T) => string, at: (c: T) => Date) {
  let best: { candidate: T; score: number } | null = null;
  for (const candidate of candidates) {
    const score = keySimilarity(key, keyOf(candidate));
    if (score < SAME_QUESTION) continue;
    if (
      !best ||
      score > best.score ||
      (score === best.score && at(candidate).getTime() > at(best.candidate).getTime())
    ) {
      best = { candidate, score };
    }
  }
  return best?.candidate ?? null;
}

/** The answer to `question` from the venue's approved FAQ or its wiki, or null. */
export async function answerFromWiki(
  db: DbOrTx,
  venueId: string,
  question: string,
): Promise<WikiAnswer | null> {
  if (isTimeBound(question)) return null;
  const key = questionKey(question);
  if (!key) return null;

  const entries = await db.venueFaqEntry.findMany({ where: { venueId, status: 'APPROVED' } });
  const entry = bestMatch(
    key,
    entries,
    (e) => e.questionKey,
    (e) => e.lastAskedAt,
  );
  if (entry) return { text: entry.answer, how: 'faq', key: entry.questionKey };

  const [facts, conflicts] = await Promise.all([
    db.venueFact.findMany({ where: { venueId } }),
    db.venueFactConflict.findMany({ where: { venueId } }),
  ]);
  const byKey = new Map<string, VenueFact[]>();
  for (const fact of facts) byKey.set(fact.key, [...(byKey.get(fact.key) ?? []), fact]);
  const factKey = bestMatch(
    key,
    [...byKey.keys()],
    (k) => k,
    (k) => new Date(Math.max(...byKey.get(k)!.map((f) => f.observedAt.getTime()))),
  );
  if (!factKey) return null;
  const ofKey = byKey.get(factKey)!;
  const conflict = conflicts.find((c) => c.key === factKey);
  let fact: VenueFact | undefined;
  if (conflict) {
    if (conflict.status === 'OPEN') return null;
    fact = ofKey.find((f) => f.id === conflict.chosenFactId);
  } else {
    fact = VENUE_SOURCES.map((source) => ofKey.find((f) => f.source === source)).find(Boolean);
  }
  if (!fact) return null;
  const text = LABELLED.includes(factKey)
    ? `${topicLabel(factKey as Exclude<FactTopic, 'booking'>, languageOf(question))}: ${fact.text}`
    : fact.text;
  return { text, how: 'wiki', key: factKey };
}

function languageOf(question: string): FactLanguage {
  return matchQuestion(question).language;
}
