/**
 * What the consumer agent remembers about a person: short facts and preferences it was told
 * ("allergic to peanuts", "likes a window table"), found again by their words, importance and
 * recency. The one place memories are written, ranked and forgotten: the agent's tools
 * (`remember`, `recall`), the system prompt, the `/forget` chat command and GraphQL all call these.
 *
 * Every function is scoped to one person's `userId`; none can reach another person's memories.
 * Callers decide who that person is (the signed-in person, the chat's user) and never take it from
 * input. Memories are private even from platform admins: no function here reads across people.
 *
 * Ranking (one SQL statement, `rankingCtes`):
 *
 *   score = 0.65 × relevance + 0.30 × (importance − 1) / 4 + 0.05 × recency
 *
 * - relevance ∈ [0, 1]: each word of the query scores 1 when the memory has it as a whole word and
 *   ½ when the memory only has a word starting with it (a partial word, at least 3 letters: "veg"
 *   finds "vegetarian"); each word is weighted by its rarity among the person's memories,
 *   ln(1 + N / n) for N memories of which n have the word, so "nuts" counts for more than "my";
 *   the sums are divided by the best one, so the best match has relevance 1. Without a query,
 *   relevance is 0 and the order is importance then recency.
 * - importance 1–5 maps to 0–1.
 * - recency = ½^(age / 30 days), age counted from `createdAt` (remembering a thing again renews it).
 *
 * So relevance weighs most (the best match, even of importance 1, outranks any memory that does
 * not match), then importance; recency can never outweigh one step of importance (0.05 < 0.075),
 * it orders memories of equal importance and relevance. Recall finds memories matching ANY of the
 * words, because a chat message is not a search query: most of its words will be in no memory, and
 * a memory that only shares a common word ("a", "my") with it ranks low by that word's weight.
 *
 * With an embedder (`options.search`, see embeddings.ts) relevance mixes meaning with words, by
 * reciprocal rank fusion: the memories matching the words are ranked by the weight above (r₁),
 * the `vectorCandidates` memories nearest to the query's vector with a cosine similarity of at
 * least `minSimilarity` by similarity (r₂), and each memory found by either gets
 * 1/(k + r₁) + 1/(k + r₂) (a missing rank adds nothing), divided by the best such sum. So "nuts"
 * still finds "allergic to peanuts" by meaning when no word matches, and a memory found both ways
 * ranks first. Memories without a vector of the embedder's model (not yet embedded) take part by
 * their words alone. Without an embedder, or when it fails or is slow, it is words alone.
 *
 * Superseded memories (merged or contradicted by dreaming, dreaming.ts) are history: never
 * recalled, listed or counted against the cap.
 */
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client.ts';
import type { MemoryKind } from '../../generated/prisma/enums.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';
import { parseInput } from '../validation.ts';
import { cosineSql, type MemorySearch, queryVector } from './embeddings.ts';
import { forgottenEntry, HABITS_FORGOTTEN, HABITS_PREFIX } from './meaning.ts';
import { cleanText, normalizedContent, searchTermsOf } from './text.ts';

export const MEMORY_KINDS = ['FACT', 'PREFERENCE', 'PATTERN'] as const satisfies readonly MemoryKind[];

export const MEMORY_LIMITS = {
  /** Characters of one memory, after cleaning. */
  contentMaxChars: 500,
  /** Memories kept per person; remembering more drops the least important and oldest. */
  perUser: 500,
  /** Most memories one recall returns. */
  recallMax: 50,
  /** Words of a query that count (a message can be long). */
  queryTerms: 16,
  /** A query word this long or longer also matches the words it starts. */
  prefixMinLength: 3,
} as const;

/** The weights of the ranking formula (see the top of this file). */
export const RANKING = {
  relevance: 0.65,
  importance: 0.3,
  recency: 0.05,
  halfLifeDays: 30,
  /** Reciprocal rank fusion's k: small, so the first few ranks of each list count clearly more. */
  fusionK: 10,
  /** Nearest memories by vector that take part in a recall. */
  vectorCandidates: 20,
  /** Below this cosine similarity a memory is not near enough to count as found by meaning. */
  minSimilarity: 0.35,
} as const;

/** How memories are listed to their owner (GraphQL uses the same order): newest first. */
export const MEMORY_LIST_ORDER = [
  { createdAt: 'desc' },
  { id: 'desc' },
] satisfies Prisma.MemoryOrderByWithRelationInput[];

export interface MemoryRecord {
  id: string;
  userId: string;
  kind: MemoryKind;
  content: string;
  /** 1 (trivia) to 5 (never forget: allergies, accessibility). */
  importance: number;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface RecalledMemory extends MemoryRecord {
  /** How well the memory matches the query, 0 to 1 (1 for the best match; 0 without a query). */
  relevance: number;
  /** The ranking score (see the top of this file). */
  score: number;
}

export interface MemoryOptions {
  /** The clock (tests move it). */
  now?: () => Date;
}

export interface RecallOptions extends MemoryOptions {
  /** Mixes vector similarity into relevance (see the top of this file); words alone without it. */
  search?: MemorySearch;
}

const memorySelect = {
  id: true,
  userId: true,
  kind: true,
  content: true,
  importance: true,
  createdAt: true,
  lastUsedAt: true,
} as const satisfies Prisma.MemorySelect;

/** The columns of a MemoryRecord, from the memories table under `alias`. */
const recordColumns = (alias: string) => {
  const t = Prisma.raw(alias);
  return Prisma.sql`${t}.id, ${t}.user_id AS "userId", ${t}.kind::text AS kind, ${t}.content,
    ${t}.importance::int AS importance, ${t}.created_at AS "createdAt", ${t}.last_used_at AS "lastUsedAt"`;
};

const content = z
  .string({ error: 'Say what to remember' })
  .transform(cleanText)
  .pipe(
    z
      .string()
      .min(1, 'Say what to remember')
      .max(MEMORY_LIMITS.contentMaxChars, `At most ${MEMORY_LIMITS.contentMaxChars} characters`),
  );

const rememberSchema = z.object({
  content,
  kind: z.enum(MEMORY_KINDS, { error: 'One of FACT, PREFERENCE, PATTERN' }).nullish(),
  importance: z
    .number({ error: 'A whole number from 1 to 5' })
    .int('A whole number from 1 to 5')
    .min(1, 'A whole number from 1 to 5')
    .max(5, 'A whole number from 1 to 5')
    .nullish(),
});

export interface RememberInput {
  content: string;
  /** FACT unless said; remembering a thing again keeps its kind unless a kind is given. */
  kind?: MemoryKind | null;
  /** 1–5, 3 unless said. */
  importance?: number | null;
}

export interface RememberResult {
  memory: MemoryRecord;
  /** False when a memory with the same words already existed and was renewed instead. */
  created: boolean;
  /** How many of the person's other memories were dropped to stay within the cap. */
  evicted: number;
}

/**
 * Remembers something about the person.
 *
 * A memory with the same words in the same order (case, punctuation and spacing aside) is renewed
 * rather than repeated: it takes the new wording, the higher of the two importances, the new kind
 * if one is given, and `createdAt` = now (so it counts as recent again).
 *
 * A person keeps at most `MEMORY_LIMITS.perUser` memories. Beyond that, the least important go
 * first, and among equals the one least recently remembered or used; the memory just written is
 * always kept, since the person has just said it.
 *
 * Runs in a transaction holding a per-person advisory lock, so two remembers of the same thing at
 * once make one memory and the cap holds.
 */
export async function remember(
  db: Db,
  userId: string,
  rawInput: RememberInput,
  options: MemoryOptions & { cap?: number } = {},
): Promise<RememberResult> {
  const input = parseInput(rememberSchema, rawInput);
  const now = options.now?.() ?? new Date();
  const cap = options.cap ?? MEMORY_LIMITS.perUser;
  const key = sameness(input.content);

  return db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`memories:${userId}`}, 0))`;
    // Every memory of the person, to compare their words: at most `cap` short rows, and remember
    // is a rare call (the model decides something is worth keeping).
    const existing = await tx.memory.findMany({
      where: { userId, supersededAt: null },
      select: { id: true, content: true, importance: true },
    });
    const twin = existing.find((m) => sameness(m.content) === key);
    if (twin) {
      const memory = await tx.memory.update({
        where: { id: twin.id },
        data: {
          content: input.content,
          importance: Math.max(twin.importance, input.importance ?? 0),
          createdAt: now,
          ...(input.kind ? { kind: input.kind } : {}),
          // New words, a new vector (the memory-embed sweep).
          ...(input.content !== twin.content ? { embeddingModel: null } : {}),
        },
        select: memorySelect,
      });
      return { memory, created: false, evicted: 0 };
    }
    const memory = await tx.memory.create({
      data: {
        userId,
        content: input.content,
        kind: input.kind ?? 'FACT',
        importance: input.importance ?? 3,
        createdAt: now,
      },
      select: memorySelect,
    });
    const evicted = existing.length + 1 > cap ? await keepWithinCap(tx, userId, cap, memory.id) : 0;
    return { memory, created: true, evicted };
  });
}

/**
 * Keeps a person's live memories to `cap`: beyond it the least important, least recently made or
 * used go (`keep`, the one just written, stays whatever). How many went. Whatever writes memories
 * (remember, dreaming) ends with this.
 */
export function keepWithinCap(tx: Tx, userId: string, cap: number, keep?: string): Promise<number> {
  const kept = keep ? Prisma.sql`AND id <> ${keep}::uuid` : Prisma.empty;
  return tx.$executeRaw`
    DELETE FROM memories WHERE id IN (
      SELECT id FROM memories
      WHERE user_id = ${userId}::uuid AND superseded_at IS NULL ${kept}
      ORDER BY importance DESC, greatest(created_at, coalesce(last_used_at, created_at)) DESC, id DESC
      OFFSET ${Math.max(keep ? cap - 1 : cap, 0)})`;
}

/** The key two memories share when they say the same thing. Text without words compares as is. */
function sameness(text: string): string {
  return normalizedContent(text) || text.toLowerCase();
}

const recallSchema = z.object({
  query: z.string().max(2000, 'At most 2000 characters').nullish(),
  limit: z
    .number()
    .int('A whole number')
    .min(1, 'At least 1')
    .max(MEMORY_LIMITS.recallMax, `At most ${MEMORY_LIMITS.recallMax}`)
    .nullish(),
});

/**
 * The person's memories that best match `query`, best first (see the ranking at the top of this
 * file), or without a query the most important and recent ones. Marks what it returns as used
 * (`lastUsedAt`), in the same statement.
 */
export async function recall(
  db: DbOrTx,
  userId: string,
  rawInput: { query?: string | null; limit?: number | null } = {},
  options: RecallOptions = {},
): Promise<RecalledMemory[]> {
  const input = parseInput(recallSchema, rawInput);
  const now = options.now?.() ?? new Date();
  const query = cleanText(input.query ?? '');
  const terms = searchTermsOf(query, MEMORY_LIMITS.queryTerms);
  const vector = terms.length && options.search ? await queryVector(options.search, query) : null;
  const rows = await db.$queryRaw<RankedRow[]>`
    WITH ${rankingCtes({ userId, terms, vector, now, onlyMatching: terms.length > 0, limit: input.limit ?? 10 })},
    touched AS (
      UPDATE memories SET last_used_at = ${now}::timestamptz
      FROM ranked WHERE memories.id = ranked.id
      RETURNING memories.id)
    SELECT * FROM ranked ORDER BY position`;
  return rows.map((row) => ({ ...toRecalled(row), lastUsedAt: now }));
}

const promptSchema = z.object({
  text: z.string().nullish(),
  limit: z.number().int().min(1).max(MEMORY_LIMITS.recallMax).nullish(),
  maxChars: z.number().int().min(1).nullish(),
});

/**
 * The memories to put in the system prompt for the person's current message: all the person's
 * memories ranked by the one score against the message's words, so those matching the message
 * come first and the most important others fill the rest (an allergy of importance 5 outranks a
 * trivial memory that merely shares "a" or "on" with the message). At most `limit` (8) of them and
 * at most `maxChars` (1,600) characters of content together: a memory too long for what is left
 * is skipped and a shorter one may still fit. Marks those it returns as used.
 */
export async function memoriesForPrompt(
  db: DbOrTx,
  userId: string,
  rawInput: { text?: string | null; limit?: number | null; maxChars?: number | null },
  options: RecallOptions = {},
): Promise<MemoryRecord[]> {
  const input = parseInput(promptSchema, rawInput);
  const now = options.now?.() ?? new Date();
  const limit = input.limit ?? 8;
  let budget = input.maxChars ?? 1600;
  const text = cleanText(input.text ?? '');
  const terms = searchTermsOf(text, MEMORY_LIMITS.queryTerms);
  const vector = terms.length && options.search ? await queryVector(options.search, text) : null;
  const ranked = await db.$queryRaw<RankedRow[]>`
    WITH ${rankingCtes({ userId, terms, vector, now, onlyMatching: false, limit })}
    SELECT * FROM ranked ORDER BY position`;
  const chosen: MemoryRecord[] = [];
  for (const row of ranked) {
    if (row.content.length > budget) continue;
    budget -= row.content.length;
    const { relevance: _relevance, score: _score, ...record } = toRecalled(row);
    chosen.push({ ...record, lastUsedAt: now });
  }
  if (chosen.length) {
    await db.memory.updateMany({
      where: { userId, id: { in: chosen.map((m) => m.id) } },
      data: { lastUsedAt: now },
    });
  }
  return chosen;
}

interface RankedRow extends RecalledMemory {
  position: bigint;
}

function toRecalled(row: RankedRow): RecalledMemory {
  // Raw SQL hands numerics back as strings or bigints.
  const { position: _position, ...memory } = row;
  return {
    ...memory,
    importance: Number(row.importance),
    relevance: Number(row.relevance),
    score: Number(row.score),
  };
}

/**
 * The common table expressions that rank one person's memories, ending in `ranked` (at most
 * `limit` rows with `relevance`, `score` and their `position`). With `onlyMatching`, only
 * memories matching at least one term.
 *
 * Scans the person's memories (by the user_id index; a few hundred at most) rather than using the
 * GIN index: relevance needs every memory's score against every term anyway.
 */
function rankingCtes(input: {
  userId: string;
  terms: string[];
  /** The query's vector: relevance then fuses words and meaning. */
  vector: Awaited<ReturnType<typeof queryVector>>;
  now: Date;
  onlyMatching: boolean;
  limit: number;
}): Prisma.Sql {
  const { relevance: wRelevance, importance: wImportance, recency: wRecency, halfLifeDays } = RANKING;
  const { vector } = input;
  // `relevant` (id, weight): the words' weights, or their fusion with the nearest vectors.
  const relevant = vector
    ? Prisma.sql`
    by_words AS (
      SELECT id, row_number() OVER (ORDER BY weight DESC, id) AS r FROM matched
    ),
    by_meaning AS (
      SELECT id, row_number() OVER (ORDER BY similarity DESC, id) AS r
      FROM (
        SELECT mine.id, ${cosineSql(Prisma.sql`mine.embedding`, vector.values, vector.support)} AS similarity
        FROM mine
        WHERE mine.embedding_model = ${vector.model} AND cardinality(mine.embedding) = ${vector.values.length}
      ) near
      WHERE similarity >= ${RANKING.minSimilarity}
      ORDER BY similarity DESC, id
      LIMIT ${RANKING.vectorCandidates}
    ),
    relevant AS (
      SELECT id, coalesce(1.0 / (${RANKING.fusionK} + by_words.r), 0)::float8
        + coalesce(1.0 / (${RANKING.fusionK} + by_meaning.r), 0)::float8 AS weight
      FROM by_words FULL JOIN by_meaning USING (id)
    )`
    : Prisma.sql`
    relevant AS (SELECT id, weight FROM matched)`;
  const order = Prisma.sql`score DESC, created_at DESC, id DESC`;
  return Prisma.sql`
    terms AS (
      -- Quoted, so no word can be read as tsquery syntax.
      SELECT word,
        to_tsquery('simple', quote_literal(word)) AS whole,
        CASE WHEN char_length(word) >= ${MEMORY_LIMITS.prefixMinLength}
          THEN to_tsquery('simple', quote_literal(word) || ':*') END AS prefix
      FROM unnest(${input.terms}::text[]) AS word
    ),
    mine AS (
      SELECT * FROM memories WHERE user_id = ${input.userId}::uuid AND superseded_at IS NULL
    ),
    hits AS (
      SELECT mine.id, terms.word,
        CASE WHEN mine.search_document @@ terms.whole THEN 1.0::float8
             WHEN terms.prefix IS NOT NULL AND mine.search_document @@ terms.prefix THEN 0.5::float8
             ELSE 0::float8 END AS hit
      FROM mine CROSS JOIN terms
    ),
    weights AS (
      -- A word found in few of the person's memories says more than one found in most.
      SELECT word, ln(1 + (SELECT count(*) FROM mine)::float8 / count(*)) AS idf
      FROM hits WHERE hit > 0 GROUP BY word
    ),
    matched AS (
      SELECT hits.id, sum(hits.hit * weights.idf) AS weight
      FROM hits JOIN weights USING (word) WHERE hits.hit > 0 GROUP BY hits.id
    ),${relevant},
    scored AS (
      SELECT mine.*,
        coalesce(relevant.weight / nullif(max(relevant.weight) OVER (), 0), 0)::float8 AS relevance,
        power(0.5, greatest(extract(epoch FROM ${input.now}::timestamptz - mine.created_at), 0)::float8
          / ${86_400 * halfLifeDays}::float8) AS recency
      FROM mine LEFT JOIN relevant USING (id)
      ${input.onlyMatching ? Prisma.sql`WHERE relevant.id IS NOT NULL` : Prisma.empty}
    ),
    scored_twice AS (
      SELECT *, (${wRelevance}::float8 * relevance
        + ${wImportance}::float8 * (importance - 1) / 4.0
        + ${wRecency}::float8 * recency)::float8 AS score
      FROM scored
    ),
    ranked AS (
      SELECT ${recordColumns('scored_twice')}, relevance, score,
        row_number() OVER (ORDER BY ${order}) AS position
      FROM scored_twice
      ORDER BY ${order}
      LIMIT ${input.limit}
    )`;
}

const pageSchema = z.object({
  first: z.number().int().min(1, 'At least 1').max(100, 'At most 100').nullish(),
  after: z.uuid('Not a cursor from this list').nullish(),
});

export interface MemoryPage {
  memories: MemoryRecord[];
  hasNextPage: boolean;
  /** Pass as `after` for the next page; null on an empty page. */
  endCursor: string | null;
}

/** The person's memories, newest first (`MEMORY_LIST_ORDER`), `first` (20) at a time. */
export async function listMemories(
  db: DbOrTx,
  userId: string,
  rawPage: { first?: number | null; after?: string | null } = {},
): Promise<MemoryPage> {
  const page = parseInput(pageSchema, rawPage);
  const first = page.first ?? 20;
  let after: Prisma.MemoryWhereInput = {};
  if (page.after) {
    const cursor = await db.memory.findFirst({
      where: { id: page.after, userId, supersededAt: null },
      select: { id: true, createdAt: true },
    });
    if (!cursor) throw new ValidationError('Not a cursor from this list', 'after');
    after = {
      OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }],
    };
  }
  const rows = await db.memory.findMany({
    where: { userId, supersededAt: null, ...after },
    orderBy: MEMORY_LIST_ORDER,
    take: first + 1,
    select: memorySelect,
  });
  const memories = rows.slice(0, first);
  return { memories, hasNextPage: rows.length > first, endCursor: memories.at(-1)?.id ?? null };
}

/**
 * Forgets one of the person's memories, with its history (what it replaced). NotFoundError for
 * anyone else's, history, or an unknown id.
 */
export async function forgetMemory(
  db: Db,
  userId: string,
  memoryId: string,
  options: MemoryOptions = {},
): Promise<MemoryRecord> {
  const notFound = new NotFoundError('No such memory');
  if (!z.uuid().safeParse(memoryId).success) throw notFound;
  const [deleted] = await forgetWhere(
    db,
    userId,
    Prisma.sql`m.id = ${memoryId}::uuid AND m.superseded_at IS NULL`,
    options,
  );
  if (!deleted) throw notFound;
  return deleted;
}

/** How many forgotten meanings a person's row keeps, newest first. */
const FORGOTTEN_MEANINGS_KEPT = 200;

/**
 * Runs `run` in a transaction holding the person's memory lock (remember's and dreaming's): a
 * dream under way finishes first, or starts after and sees what `run` did.
 */
function underMemoryLock<T>(db: Db, userId: string, run: (tx: Tx) => Promise<T>): Promise<T> {
  return db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`memories:${userId}`}, 0))`;
    return run(tx);
  });
}

/**
 * Deletes the person's memories `where` finds (alias `m`), with the history each keeps (what it
 * superseded), under their memory lock, and keeps their meanings among the person's forgotten
 * ones (digests, with when: meaning.ts), so that dreaming does not make them again from a summary
 * begun before; forgetting their booking habits also keeps when (HABITS_FORGOTTEN). Returns the
 * memories that were in use, oldest first.
 */
function forgetWhere(
  db: Db,
  userId: string,
  where: Prisma.Sql,
  options: MemoryOptions,
): Promise<MemoryRecord[]> {
  const now = options.now?.() ?? new Date();
  return underMemoryLock(db, userId, async (tx) => {
    // The history by name, not by the cascade, whose rows RETURNING would not list: a superseded
    // memory's meaning is forgotten with the one that superseded it (history is one level deep).
    const deleted = await tx.$queryRaw<(MemoryRecord & { history: boolean })[]>`
      DELETE FROM memories m WHERE m.user_id = ${userId}::uuid AND (${where} OR m.superseded_by_id IN (
        SELECT m.id FROM memories m WHERE m.user_id = ${userId}::uuid AND ${where}))
      RETURNING ${recordColumns('m')}, m.superseded_at IS NOT NULL AS history`;
    if (deleted.length) {
      // Their words leave the taste graph's explanations at once (the graph's rebuild, which the
      // delete schedules, comes within the hour): "because you told me …" quotes no forgotten memory.
      await tx.$executeRaw`
        UPDATE taste_edges
        SET evidence = jsonb_set(evidence, '{memories}', coalesce(
              (SELECT jsonb_agg(e) FROM jsonb_array_elements(evidence->'memories') AS e
               WHERE NOT (e->>'id' = ANY(${deleted.map((m) => m.id)}::text[]))), '[]'::jsonb))
        WHERE user_id = ${userId}::uuid AND jsonb_typeof(evidence->'memories') = 'array'`;
      const entries = [...new Set(deleted.map((m) => forgottenEntry(m.content, now)))];
      if (deleted.some((m) => m.kind === 'PATTERN' && m.content.startsWith(HABITS_PREFIX))) {
        entries.unshift(`${HABITS_FORGOTTEN}@${now.getTime()}`);
      }
      // The newest entry of each meaning (these first), the newest FORGOTTEN_MEANINGS_KEPT meanings.
      await tx.$executeRaw`
        UPDATE users SET forgotten_meanings = ARRAY(
          SELECT (array_agg(k ORDER BY i))[1]
          FROM unnest(${entries}::text[] || coalesce(forgotten_meanings, '{}')) WITH ORDINALITY AS t(k, i)
          GROUP BY split_part(k, '@', 1) ORDER BY min(i) LIMIT ${FORGOTTEN_MEANINGS_KEPT})
        WHERE id = ${userId}::uuid`;
    }
    return deleted
      .filter((m) => !m.history)
      .map(({ history: _history, ...m }) => ({ ...m, importance: Number(m.importance) }))
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
  });
}

/**
 * Forgets everything about the person: every memory (history too), and the chats' summaries kept
 * for dreaming; and records when, so dreaming never makes memories again from anything said before
 * (dreaming.ts). One statement, under the person's memory lock (remember's and dreaming's): a dream
 * under way finishes first and its memories are forgotten with the rest, or starts after and sees
 * the forget. Returns how many memories there were (history not counted).
 */
export async function forgetAll(db: DbOrTx, userId: string, options: MemoryOptions = {}): Promise<number> {
  // The lock lasts a transaction: the caller's, or one of its own.
  if ('$connect' in db) return (db as Db).$transaction((tx) => forgetAll(tx, userId, options));
  const now = options.now?.() ?? new Date();
  await db.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`memories:${userId}`}, 0))`;
  const [row] = await db.$queryRaw<{ count: number }[]>`
    WITH forgotten AS (
      DELETE FROM memories WHERE user_id = ${userId}::uuid RETURNING superseded_at
    ),
    summaries AS (
      DELETE FROM session_summaries WHERE user_id = ${userId}::uuid
    ),
    explained AS (
      UPDATE taste_edges SET evidence = jsonb_set(evidence, '{memories}', '[]'::jsonb)
      WHERE user_id = ${userId}::uuid AND jsonb_typeof(evidence->'memories') = 'array'
    ),
    marked AS (
      UPDATE users SET memory_forgotten_at = ${now}::timestamptz WHERE id = ${userId}::uuid
    )
    SELECT count(*) FILTER (WHERE superseded_at IS NULL)::int AS count FROM forgotten`;
  return row?.count ?? 0;
}

/**
 * `/forget <words>`: forgets the person's memories that contain every one of the words (each as a
 * whole word or, from 3 letters, the start of one: "/forget peanut" forgets "allergic to
 * peanuts"). Returns what it forgot, oldest first, so the chat can say so.
 */
export async function forgetMatching(
  db: Db,
  userId: string,
  text: string,
  options: MemoryOptions = {},
): Promise<MemoryRecord[]> {
  const words = searchTermsOf(cleanText(text), MEMORY_LIMITS.queryTerms);
  if (!words.length) throw new ValidationError('Say which words to forget', 'text');
  // Words are letters and digits only (wordsOf), quoted all the same.
  const query = words
    .map((w) => (w.length >= MEMORY_LIMITS.prefixMinLength ? `'${w}':*` : `'${w}'`))
    .join(' & ');
  // History matching the words goes too (the person asked for those words to be gone); what
  // the chat is told is the memories that were in use.
  return forgetWhere(db, userId, Prisma.sql`m.search_document @@ to_tsquery('simple', ${query})`, options);
}
