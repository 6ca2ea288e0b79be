/**
 * Dreaming: what the agent remembers, tidied while nobody is talking.
 *
 * Light (nightly, `dream-light`), for each person with new material since their last dream:
 *
 * 1. Chats' summaries (summaries.ts) written since then become memories: each sentence that says
 *    something lasting about the person (a preference, a diet, an allergy, a date, where they
 *    live or work: `LASTING`) is kept, unless the person already has a memory of the same meaning
 *    or it reads like an instruction or points somewhere (`INSTRUCTION`).
 * 2. Duplicates merge: memories of the same meaning (`meaningOf`: the same words once stop words,
 *    auxiliaries and plural "s" are set aside, in any order, and the same polarity) become the
 *    newest of them, with the highest importance and the latest use of them all.
 * 3. Contradictions resolve, newest wins: two memories contradict when they say the same thing
 *    with opposite polarity ("likes spicy food" / "doesn't like spicy food", "drinks alcohol" /
 *    "drinks no alcohol", "likes" / "dislikes"), or give different values to the same attribute
 *    ("favourite cuisine is Japanese" / "favourite cuisine is Italian"; `ATTRIBUTES`).
 * 4. Unused memories fade: importance 2–4 drops by one when a memory has been neither remembered,
 *    recalled nor faded for `unusedDays`. Importance 5 (allergies, accessibility) never fades;
 *    1 is the floor.
 *
 * Merged and contradicted memories are not deleted: they are kept as history of the memory that
 * replaced them (`superseded_by_id`), never recalled, and forgotten with it.
 *
 * Deep (weekly, `dream-deep`), for each person not deep-dreamt for six days: their booking
 * habits (patterns.ts) are kept as one PATTERN memory, replacing the last one, and their profile's
 * gaps are filled: the usual party size when they gave none, dietary needs their memories state.
 * Nothing the person set is overwritten, and nothing they took off is put back.
 *
 * Deep dreaming writes only what the profile takes: a usual party above its limit (a few large
 * events, not a habit) is left out, and the dietary list stops at its limit, the person's own
 * entries first. One person's failure never stops the run: it is reported (`failed`), their
 * watermark moves on all the same, and they are tried again next week, so a person who always
 * fails cannot keep everyone behind them waiting. A person whose light dream fails is reported
 * and passed over too, but keeps their watermark (the summaries waiting to be read are not passed
 * over): they are tried each run after everyone else due, logged each time, and each failure is
 * made up for by one more person that run (up to `limit` more), so they take no one else's place.
 *
 * Accounts being deleted are left alone. Both are bounded (`limit` people a run, those waiting
 * longest first) and resumable: each person
 * done gets a watermark (`users.dreamed_at`, `users.deep_dreamed_at`), and the next run continues
 * with the rest. Both are deterministic (no model is called) and idempotent: a second run finds no
 * new material, no duplicate, no contradiction and nothing due to fade, and changes nothing.
 *
 * A person who asked to forget everything (`forgetAll`, recorded in `users.memory_forgotten_at`)
 * stays forgotten: a summary whose chain began before the forget is never read, and habits are
 * read only from bookings made after it. A memory forgotten on its own (`forgetMemory`,
 * `forgetMatching`) is not made again from a summary whose chain began before it was forgotten:
 * its meaning's digest is kept, with when (`users.forgotten_meanings`, meaning.ts).
 */
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client.ts';
import type { MemoryKind } from '../../generated/prisma/enums.ts';
import type { Db, Tx } from '../../platform/db.ts';
import { defineTask } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import {
  forgottenKey,
  forgottenSince,
  HABITS_FORGOTTEN,
  HABITS_PREFIX,
  identity,
  meaningOf,
  STOP,
  stem,
} from './meaning.ts';
import { keepWithinCap, MEMORY_LIMITS } from './memories.ts';
import { behaviourPatterns, describePatterns } from './patterns.ts';
import { dietaryTakenOff, getProfile, PROFILE_LIMITS, updateProfile } from './profile.ts';
import { cleanText, wordsOf } from './text.ts';

const DAY_MS = 86_400_000;

export const DREAM_LIMITS = {
  /** A memory neither remembered, recalled nor faded for this long loses a step of importance. */
  unusedDays: 90,
  /** Deep dreaming comes back to a person after this long. */
  deepEveryDays: 6,
  /** Memories one summary can give; sentences longer than `sentenceMaxChars` are not kept. */
  perSummary: 5,
  sentenceMaxChars: 200,
} as const;

/** The nightly schedule (src/worker/crontab.ts); the next night is the retry. */
export const dreamLightTask = defineTask({ name: 'dream-light', schema: z.object({}), maxAttempts: 1 });
/** The weekly schedule. */
export const dreamDeepTask = defineTask({ name: 'dream-deep', schema: z.object({}), maxAttempts: 1 });

// ---------------------------------------------------------------------------------------------
// Light

/** Sentences of a summary that say something lasting about the person. */
const LASTING =
  /\b(prefer|prefers|preferred|like|likes|love|loves|enjoy|enjoys|hate|hates|dislike|dislikes|allergic|allergy|allergies|intolerant|vegetarian|vegan|pescatarian|halal|kosher|gluten|birthday|anniversary|always|usually|never|favourite|favorite|lives|works|wheelchair)\b/i;
const PREFERENCE = /\b(prefer|like|love|enjoy|hate|dislike|favou?rite)/i;
const VITAL = /\b(allerg|intoleran|wheelchair|anaphyla)/i;
/**
 * A summary is the model's account of a chat that may have carried text from outside (a web page,
 * a venue's answer): a sentence that addresses the agent or points somewhere is never kept, since
 * a memory steers every later conversation.
 */
const INSTRUCTION =
  /(https?:|www\.|@|\b(ignore|instruction|instructions|prompt|system|assistant|agent|tool|tools|must|password|token)\b)/i;
/** How summaries speak of the person; a memory is about them already. */
const SPEAKER = /^(?:the (?:person|user|guest|customer)|they|he|she)\s+(?:is\s+|are\s+)?/i;

/** The memories a summary gives (at most DREAM_LIMITS.perSummary), in its order. */
export function lastingSentences(
  summary: string,
): { content: string; kind: MemoryKind; importance: number }[] {
  const out: { content: string; kind: MemoryKind; importance: number }[] = [];
  for (const raw of cleanText(summary).split(/(?<=[.!?;])\s+/)) {
    const sentence = raw.replace(/[.!?;]+$/, '').trim();
    if (!sentence || sentence.length > DREAM_LIMITS.sentenceMaxChars) continue;
    if (!LASTING.test(sentence) || INSTRUCTION.test(sentence)) continue;
    const about = sentence.replace(SPEAKER, '');
    const content = `${about[0]!.toUpperCase()}${about.slice(1)}`;
    out.push({
      content,
      kind: PREFERENCE.test(content) ? 'PREFERENCE' : 'FACT',
      importance: VITAL.test(content) ? 4 : 2,
    });
    if (out.length >= DREAM_LIMITS.perSummary) break;
  }
  return out;
}

export interface LightDreamResult {
  people: number;
  /** Memories made from chats' summaries. */
  fromSummaries: number;
  /** Memories merged into a newer one of the same meaning. */
  merged: number;
  /** Memories a newer one contradicted. */
  contradicted: number;
  /** Memories whose importance faded a step. */
  faded: number;
  /** People whose dream failed, with why; the run went on without them, and the next tries again. */
  failed: { userId: string; error: string }[];
}

interface ActiveMemory {
  id: string;
  content: string;
  importance: number;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** One light dream over at most `limit` people with new material (see the top of this file). */
export async function dreamLight(
  db: Db,
  options: { now: Date; limit: number; logger?: Logger },
): Promise<LightDreamResult> {
  const { now } = options;
  const fadeBefore = new Date(now.getTime() - DREAM_LIMITS.unusedDays * DAY_MS);
  const result: LightDreamResult = {
    people: 0,
    fromSummaries: 0,
    merged: 0,
    contradicted: 0,
    faded: 0,
    failed: [],
  };
  // A person whose dream fails keeps their watermark (see below), so they come first again next
  // run: each failure is made up for by one more person this run (up to `limit` more in all), so
  // people who always fail cannot take everyone else's places.
  const tried: string[] = [];
  let take = options.limit;
  while (take > 0) {
    const people = await dueForLightDream(db, fadeBefore, take, tried);
    const failedBefore = result.failed.length;
    for (const { id } of people) {
      tried.push(id);
      let one: Omit<LightDreamResult, 'people' | 'failed'>;
      try {
        one = await db.$transaction((tx) => dreamOfPerson(tx, id, now, fadeBefore), DREAM_TRANSACTION);
      } catch (error) {
        // One person's failure must not stop everyone after them. Unlike the deep dream's, their
        // watermark stays: moving it would pass over the summaries waiting to be read (whose text
        // is cleared once read), so they are tried each run, logged each time, until the cause is
        // mended.
        const message = error instanceof Error ? error.message : String(error);
        result.failed.push({ userId: id, error: message });
        options.logger?.warn(
          { 'user.id': id, err: error },
          'light dream failed for a person; tried again next run',
        );
        // They come after everyone else due until a dream of theirs succeeds.
        await db.user
          .update({ where: { id }, data: { lightDreamFailedAt: now } })
          .catch((failure: unknown) =>
            options.logger?.warn({ 'user.id': id, err: failure }, 'could not record a failed light dream'),
          );
        continue;
      }
      result.people += 1;
      result.fromSummaries += one.fromSummaries;
      result.merged += one.merged;
      result.contradicted += one.contradicted;
      result.faded += one.faded;
    }
    take =
      people.length < take
        ? 0
        : Math.min(result.failed.length - failedBefore, 2 * options.limit - tried.length);
  }
  return result;
}

/**
 * Up to `take` people with new material for a light dream, not among `tried`: a memory written or
 * renewed since their last dream, a summary written since, or a memory due to fade. Those waiting
 * longest first, so a run cut short is continued by the next; those whose dream failed since their
 * last one after everyone else (the longest failed first among them), so people who always fail
 * never take the places of a run.
 */
function dueForLightDream(db: Db, fadeBefore: Date, take: number, tried: readonly string[]) {
  return db.$queryRaw<{ id: string }[]>`
    SELECT u.id FROM users u
    WHERE u.deleted_at IS NULL AND u.id <> ALL(${tried}::uuid[]) AND (EXISTS (
        SELECT 1 FROM memories m
        WHERE m.user_id = u.id AND m.superseded_at IS NULL
          AND (u.dreamed_at IS NULL OR m.created_at > u.dreamed_at
               OR (m.importance BETWEEN 2 AND 4 AND ${unusedSince(fadeBefore)})))
      OR EXISTS (
        SELECT 1 FROM session_summaries s
        WHERE s.user_id = u.id AND s.summary <> '' AND (u.dreamed_at IS NULL OR s.updated_at > u.dreamed_at)))
    ORDER BY CASE WHEN u.light_dream_failed_at > coalesce(u.dreamed_at, '-infinity')
                  THEN u.light_dream_failed_at END NULLS FIRST,
             u.dreamed_at NULLS FIRST, u.id
    LIMIT ${take}`;
}

/**
 * One person's dream, light or deep, is one transaction: longer than the client's default (5 s),
 * so a person with many memories is not failed for the time their dream takes.
 */
const DREAM_TRANSACTION = { timeout: 60_000, maxWait: 10_000 };

/** SQL: memory `m` has been neither remembered, recalled nor faded since `before`. */
function unusedSince(before: Date) {
  return Prisma.sql`greatest(m.created_at, coalesce(m.last_used_at, m.created_at), coalesce(m.decayed_at, m.created_at)) < ${before}::timestamptz`;
}

async function dreamOfPerson(
  tx: Tx,
  userId: string,
  now: Date,
  fadeBefore: Date,
): Promise<Omit<LightDreamResult, 'people' | 'failed'>> {
  // The same lock as remember(): a memory written meanwhile waits for the dream, and is then new
  // material for the next one.
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`memories:${userId}`}, 0))`;
  const [user] = await tx.$queryRaw<
    { dreamedAt: Date | null; forgottenAt: Date | null; forgottenMeanings: string[] }[]
  >`
    SELECT dreamed_at AS "dreamedAt", memory_forgotten_at AS "forgottenAt",
           forgotten_meanings AS "forgottenMeanings"
    FROM users WHERE id = ${userId}::uuid
    FOR UPDATE`;
  if (!user) return { fromSummaries: 0, merged: 0, contradicted: 0, faded: 0 };

  const active = await tx.$queryRaw<ActiveMemory[]>`
    SELECT id, content, importance::int AS importance, created_at AS "createdAt", last_used_at AS "lastUsedAt"
    FROM memories WHERE user_id = ${userId}::uuid AND superseded_at IS NULL`;
  const known = new Set(active.map((m) => identity(meaningOf(m.content))));

  // 1. Summaries since the last dream, never one whose chain began before a forget. Once read
  // (or skipped), a summary's text is cleared: what lasts is now a memory, and the rest of a chat
  // is not kept beyond its session. The row stays, with the chain's start, for the next summary.
  const summaries = await tx.$queryRaw<
    { chatId: string; summary: string; updatedAt: Date; startedAt: Date | null; usable: boolean }[]
  >`
    SELECT chat_id AS "chatId", summary, updated_at AS "updatedAt", started_at AS "startedAt",
      (${user.forgottenAt}::timestamptz IS NULL
       OR (started_at IS NOT NULL AND started_at > ${user.forgottenAt}::timestamptz)) AS usable
    FROM session_summaries
    WHERE user_id = ${userId}::uuid AND summary <> '' AND updated_at <= ${now}::timestamptz
      AND (${user.dreamedAt}::timestamptz IS NULL OR updated_at > ${user.dreamedAt}::timestamptz)
    ORDER BY updated_at, chat_id`;
  let fromSummaries = 0;
  // What the person forgot one by one is not made again from a summary whose chain began before
  // they forgot it (what they said then); said again in a later chain, it is.
  const forgotten = forgottenSince(user.forgottenMeanings);
  for (const { summary, startedAt } of summaries.filter((s) => s.usable)) {
    for (const memory of lastingSentences(summary)) {
      const meaning = identity(meaningOf(memory.content));
      const forgottenAt = forgotten.get(forgottenKey(memory.content));
      const saidBefore = forgottenAt !== undefined && (startedAt?.getTime() ?? 0) <= forgottenAt;
      if (known.has(meaning) || saidBefore) continue;
      known.add(meaning);
      const [row] = await tx.$queryRaw<ActiveMemory[]>`
        INSERT INTO memories (id, user_id, kind, content, importance, created_at)
        VALUES (gen_random_uuid(), ${userId}::uuid, ${memory.kind}::"MemoryKind", ${memory.content},
                ${memory.importance}, ${now}::timestamptz)
        RETURNING id, content, importance::int AS importance, created_at AS "createdAt", last_used_at AS "lastUsedAt"`;
      active.push(row!);
      fromSummaries += 1;
    }
  }
  if (summaries.length) {
    // Only the versions read: a summary written meanwhile is read by the next dream.
    await tx.$executeRaw`
      UPDATE session_summaries SET summary = ''
      WHERE user_id = ${userId}::uuid AND (chat_id, updated_at) IN (
        SELECT * FROM unnest(${summaries.map((s) => s.chatId)}::uuid[], ${summaries.map((s) => s.updatedAt)}::timestamptz[]))`;
  }

  // 2 and 3. Newest first: a memory whose meaning a newer one has is merged into it; one whose
  // key (opposite polarity) or attribute a newer one has is contradicted by it.
  const newestFirst = [...active].sort(
    (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id),
  );
  const winners = new Map<string, ActiveMemory>();
  const byKey = new Map<string, ActiveMemory>();
  const byAttribute = new Map<string, ActiveMemory>();
  const merges = new Map<string, { survivor: ActiveMemory; losers: ActiveMemory[] }>();
  const contradictions: { loser: ActiveMemory; winner: ActiveMemory }[] = [];
  for (const memory of newestFirst) {
    const meaning = meaningOf(memory.content);
    const same = winners.get(identity(meaning));
    if (same) {
      const merge = merges.get(same.id) ?? { survivor: same, losers: [] };
      merge.losers.push(memory);
      merges.set(same.id, merge);
      continue;
    }
    const contradicting =
      byKey.get(meaning.key) ?? (meaning.attribute ? byAttribute.get(meaning.attribute) : undefined);
    if (contradicting) {
      contradictions.push({ loser: memory, winner: contradicting });
      continue;
    }
    winners.set(identity(meaning), memory);
    byKey.set(meaning.key, memory);
    if (meaning.attribute) byAttribute.set(meaning.attribute, memory);
  }
  let merged = 0;
  for (const { survivor, losers } of merges.values()) {
    const all = [survivor, ...losers];
    const importance = Math.max(...all.map((m) => m.importance));
    const used = all.map((m) => m.lastUsedAt?.getTime() ?? 0).reduce((a, b) => Math.max(a, b), 0);
    await tx.$executeRaw`
      UPDATE memories SET importance = ${importance},
        last_used_at = ${used ? new Date(used) : null}::timestamptz
      WHERE id = ${survivor.id}::uuid`;
    merged += await supersede(
      tx,
      losers.map((m) => m.id),
      survivor.id,
      now,
    );
  }
  let contradicted = 0;
  for (const { loser, winner } of contradictions) {
    contradicted += await supersede(tx, [loser.id], winner.id, now);
  }

  // 4. Fading.
  const faded = await tx.$executeRaw`
    UPDATE memories m SET importance = m.importance - 1, decayed_at = ${now}::timestamptz
    WHERE m.user_id = ${userId}::uuid AND m.superseded_at IS NULL
      AND m.importance BETWEEN 2 AND 4 AND ${unusedSince(fadeBefore)}`;

  // What the summaries added counts against the person's cap, as what they asked to keep does.
  if (fromSummaries) await keepWithinCap(tx, userId, MEMORY_LIMITS.perUser);
  await tx.$executeRaw`UPDATE users SET dreamed_at = ${now}::timestamptz WHERE id = ${userId}::uuid`;
  return { fromSummaries, merged, contradicted, faded };
}

/** Keeps `ids` as history of `winnerId`; their own history follows them to the winner. */
async function supersede(tx: Tx, ids: string[], winnerId: string, now: Date): Promise<number> {
  await tx.$executeRaw`
    UPDATE memories SET superseded_by_id = ${winnerId}::uuid
    WHERE superseded_by_id = ANY(${ids}::uuid[])`;
  // `importance` is named so the taste graph's trigger (UPDATE OF … importance) marks the person
  // changed: a memory turned history no longer counts for their taste.
  return tx.$executeRaw`
    UPDATE memories SET superseded_by_id = ${winnerId}::uuid, superseded_at = ${now}::timestamptz,
      importance = importance
    WHERE id = ANY(${ids}::uuid[]) AND superseded_at IS NULL`;
}

// ---------------------------------------------------------------------------------------------
// Deep

/**
 * Words that put someone else in a memory ("my wife is vegetarian", "our son's nut allergy"): what
 * it says of a diet is theirs, not the person's.
 */
const SOMEONE_ELSE = new Set([
  'wife',
  'husband',
  'partner',
  'boyfriend',
  'girlfriend',
  'fiance',
  'fiancee',
  'spouse',
  'son',
  'daughter',
  'kid',
  'kids',
  'child',
  'children',
  'baby',
  'toddler',
  'mother',
  'mom',
  'mum',
  'father',
  'dad',
  'parents',
  'brother',
  'sister',
  'grandma',
  'grandpa',
  'friend',
  'friends',
  'colleague',
  'colleagues',
  'boss',
  'guest',
  'guests',
  'family',
  'he',
  'she',
  'his',
  'hers',
  'her',
  'him',
  'they',
  'their',
  'them',
]);

/** What a memory says of the person's own diet, as the profile lists it ("nut allergy"). */
export function dietaryOf(content: string): string[] {
  const meaning = meaningOf(content);
  if (meaning.negative) return [];
  const words = wordsOf(content);
  if (words.some((word) => SOMEONE_ELSE.has(word.replace(/'s$/, '')))) return [];
  const found = new Set<string>();
  for (const diet of ['vegetarian', 'vegan', 'pescatarian', 'halal', 'kosher']) {
    if (words.includes(diet)) found.add(diet);
  }
  if (words.includes('gluten')) found.add('gluten-free');
  if (words.includes('lactose')) found.add('lactose intolerant');
  // "allergic to peanuts", "peanut allergy"
  const to = words.indexOf('allergic');
  const allergen = to >= 0 && words[to + 1] === 'to' ? words[to + 2] : words[words.indexOf('allergy') - 1];
  if (allergen && !STOP.has(allergen)) found.add(`${stem(allergen)} allergy`);
  return [...found];
}

export interface DeepDreamResult {
  /** People dreamt over this run (those who failed are not counted). */
  people: number;
  /** People whose habits memory was written anew. */
  habits: number;
  /** People whose profile gained something. */
  profiles: number;
  /** People whose dream failed, with why; the run went on without them and they are due next week. */
  failed: { userId: string; error: string }[];
}

/** One deep dream over at most `limit` people (see the top of this file). */
export async function dreamDeep(
  db: Db,
  options: { now: Date; limit: number; logger?: Logger },
): Promise<DeepDreamResult> {
  const { now } = options;
  const due = new Date(now.getTime() - DREAM_LIMITS.deepEveryDays * DAY_MS);
  const people = await db.$queryRaw<{ id: string }[]>`
    SELECT u.id FROM users u
    WHERE u.deleted_at IS NULL
      AND (u.deep_dreamed_at IS NULL OR u.deep_dreamed_at <= ${due}::timestamptz)
      AND (EXISTS (SELECT 1 FROM memories m WHERE m.user_id = u.id AND m.superseded_at IS NULL)
           OR EXISTS (SELECT 1 FROM bookings b WHERE b.guest_id = u.id))
    ORDER BY u.deep_dreamed_at NULLS FIRST, u.id
    LIMIT ${options.limit}`;
  const result: DeepDreamResult = { people: 0, habits: 0, profiles: 0, failed: [] };
  for (const person of people) {
    let one: { habits: boolean; changed: boolean };
    try {
      one = await db.$transaction((tx) => deepDreamOfPerson(tx, person.id, now), DREAM_TRANSACTION);
    } catch (error) {
      // One person's failure must not stop everyone after them. Their watermark moves on as if
      // they were done (outside the rolled-back transaction): left unset, they would come first
      // again every week, fail again and hold the whole run up for good.
      const message = error instanceof Error ? error.message : String(error);
      result.failed.push({ userId: person.id, error: message });
      options.logger?.warn(
        { 'user.id': person.id, err: error },
        'deep dream failed for a person; tried again next week',
      );
      await db.$executeRaw`UPDATE users SET deep_dreamed_at = ${now}::timestamptz WHERE id = ${person.id}::uuid`;
      continue;
    }
    result.people += 1;
    if (one.habits) result.habits += 1;
    if (one.changed) result.profiles += 1;
  }
  return result;
}

async function deepDreamOfPerson(
  tx: Tx,
  userId: string,
  now: Date,
): Promise<{ habits: boolean; changed: boolean }> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`memories:${userId}`}, 0))`;
  // When they last forgot everything, or their booking habits, as it is under the lock (a forget
  // while this run went through the others counts): nothing from before it comes back as a habit.
  const [fresh] = await tx.$queryRaw<{ forgottenAt: Date | null; forgottenMeanings: string[] | null }[]>`
    SELECT memory_forgotten_at AS "forgottenAt", forgotten_meanings AS "forgottenMeanings"
    FROM users WHERE id = ${userId}::uuid`;
  const since = Math.max(
    fresh?.forgottenAt?.getTime() ?? -Infinity,
    forgottenSince(fresh?.forgottenMeanings ?? null).get(HABITS_FORGOTTEN) ?? -Infinity,
  );
  const patterns = await behaviourPatterns(tx, userId, now, {
    madeAfter: Number.isFinite(since) ? new Date(since) : null,
  });
  const habits = await keepHabits(tx, userId, describePatterns(patterns), now);
  if (habits) await keepWithinCap(tx, userId, MEMORY_LIMITS.perUser);

  // The profile as it is under the person's row lock: a need they take off meanwhile (chat, the
  // app) waits for this, or is seen by it, and is never written back.
  await tx.$executeRaw`SELECT 1 FROM users WHERE id = ${userId}::uuid FOR UPDATE`;
  const profile = await getProfile(tx, userId);
  const memories = await tx.memory.findMany({
    where: { userId, supersededAt: null },
    select: { content: true },
  });
  // What the person took off stays off, whatever an older memory still says.
  const takenOff = new Set(await dietaryTakenOff(tx, userId));
  const remembered = memories
    .flatMap((m) => dietaryOf(m.content))
    .filter((diet) => !takenOff.has(diet) && diet.length <= PROFILE_LIMITS.dietaryItemMaxChars);
  // The profile holds so many entries and no more (updateProfile refuses a longer list): the
  // person's own come first, then what memories add, until it is full.
  const dietary = [...new Set([...profile.dietary, ...remembered])].slice(0, PROFILE_LIMITS.dietaryMaxItems);
  const patch: Parameters<typeof updateProfile>[2] = {};
  if (dietary.length > profile.dietary.length) patch.dietary = dietary;
  // Bookings take larger parties than a profile's usual size (a team dinner, an event): such a
  // "usual" size is not one to plan a table around, so it is left out rather than cut to the limit.
  const party = patterns.usualPartySize;
  if (!profile.usualPartySize && party && party >= 1 && party <= PROFILE_LIMITS.partySizeMax) {
    patch.usualPartySize = party;
  }
  const changed = Object.keys(patch).length > 0;
  if (changed) await updateProfile(tx, userId, patch);
  await tx.$executeRaw`UPDATE users SET deep_dreamed_at = ${now}::timestamptz WHERE id = ${userId}::uuid`;
  return { habits, changed };
}

/**
 * Keeps the person's habits as one PATTERN memory: written when they changed, the previous one
 * deleted (it was worked out, not said, so it is not kept as history). True when written.
 */
async function keepHabits(tx: Tx, userId: string, sentence: string | null, now: Date): Promise<boolean> {
  const previous = await tx.memory.findMany({
    where: { userId, kind: 'PATTERN', supersededAt: null, content: { startsWith: HABITS_PREFIX } },
    select: { id: true, content: true },
  });
  if (!sentence) return false;
  const content = `${HABITS_PREFIX}${sentence}`.slice(0, 500);
  if (previous.length === 1 && previous[0]!.content === content) return false;
  if (previous.length) await tx.memory.deleteMany({ where: { id: { in: previous.map((m) => m.id) } } });
  await tx.memory.create({ data: { userId, kind: 'PATTERN', content, importance: 2, createdAt: now } });
  return true;
}
