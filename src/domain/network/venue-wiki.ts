/**
 * A venue's wiki: what each source says about the venue, fact by fact, with when it was said.
 *
 * Sources: the venue's own record as its owners edit it (OWNER_EDIT), a scan of its website
 * (SCAN, written through `recordScanFacts` when a scan's draft is applied to the venue), staff's
 * answers to guests' questions in the venue's inbox (STAFF_ANSWER) and guests' feedback comments
 * (GUEST_FEEDBACK). One fact per venue, key and source: a newer observation from a source
 * replaces what it said before.
 *
 * When two sources say different things about one key, a conflict is put before the venue's
 * staff, who choose the fact that holds (`resolveFactConflict`); until then the venue's agent
 * does not answer from that key. A source saying something new about a resolved key opens it again.
 *
 * `compileVenueWiki` (task `venue-wiki`, every 4 hours) reads what changed in each venue's
 * sources since its watermark, a bounded number of venues per run; writing a fact that is already
 * there changes nothing, so a run repeated changes nothing.
 */
import { z } from 'zod';
import { Prisma, type VenueFact, type VenueFactConflict } from '../../generated/prisma/client.ts';
import type { VenueFactSource } from '../../generated/prisma/enums.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';
import { defineTask } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Access } from '../organizations/access.ts';
import { parseInput } from '../validation.ts';
import { holdVenueOfTeam } from '../venues/venues.ts';
import { requireVenueTeam } from './staff-inbox.ts';
import { factsOf, hoursInWords } from './venue-facts.ts';
import { comparable, feedbackKey, isTimeBound, normalizeKey, questionKey } from './wiki-keys.ts';

/** Every 4 hours (src/worker/crontab.ts); the next tick is the retry. */
export const venueWikiTask = defineTask({ name: 'venue-wiki', schema: z.object({}), maxAttempts: 1 });

/** Venues compiled per run; the rest wait for the next run, those least recently compiled first. */
export const WIKI_VENUES_PER_RUN = 200;

/** Inbox answers and feedback comments read per venue per run; the rest are read next run. */
export const WIKI_ROWS_PER_VENUE = 500;

/**
 * How far behind the clock a watermark is set: a write whose transaction began before the run
 * read its sources, but committed after, carries an earlier time; it is read again next run
 * (writing it again changes nothing) rather than missed.
 */
export const READ_LAG_MS = 60_000;

/**
 * Whether a run that read a venue's sources moves its watermark to `through`. A run that changed
 * nothing while a source it read is still within the lag (newer than `through`) keeps the old
 * watermark: the venue is read again next run either way, and a run repeated at once then writes
 * nothing at all.
 */
export function movesMark(
  mark: Date | null | undefined,
  through: Date,
  latestRead: Date | null,
  changed: boolean,
): boolean {
  if (!mark || changed) return true;
  return latestRead === null || latestRead.getTime() <= through.getTime();
}

const latestOf = (...times: (Date | null | undefined)[]): Date | null =>
  times.reduce<Date | null>((a, b) => (b && (!a || b > a) ? b : a), null);

/** The longest fact text kept. */
export const FACT_TEXT_MAX = 2000;

export interface FactInput {
  /** What the fact is about: a venue fact topic (`phone`), a wiki topic (`pets`) or `question:…`. */
  key: string;
  text: string;
  /** When the source said it (default: now). */
  observedAt?: Date;
  /** What it was read from (a page's address, an inbox item's id). */
  sourceRef?: string | null;
}

const factSchema = z.object({
  key: z.string().trim().min(1, 'Name what the fact is about').max(200, 'A key is at most 200 characters'),
  text: z
    .string()
    .trim()
    .min(1, 'Write the fact')
    .max(FACT_TEXT_MAX, `A fact is at most ${FACT_TEXT_MAX} characters`),
  observedAt: z.date().optional(),
  sourceRef: z.string().max(2000).nullish(),
});

export interface RecordResult {
  /** Facts created, changed or (with `replace`) removed. */
  written: number;
  /** Conflicts opened or reopened. */
  conflictsOpened: number;
}

/**
 * Records what `source` says about a venue, one fact per key (the latest observation of a key in
 * `facts` wins). A fact the source already gave, or one older than what it gave since, changes
 * nothing. With `replace`, the source's facts about keys not in `facts` are removed (the venue's
 * record no longer says them). Conflicts on the keys written are opened, reopened or closed.
 */
export async function recordVenueFacts(
  db: Db,
  venueId: string,
  facts: readonly FactInput[],
  source: VenueFactSource,
  options: { replace?: boolean; now?: Date } = {},
): Promise<RecordResult> {
  const now = options.now ?? new Date();
  const parsed = parseFacts(facts);
  if (!z.uuid().safeParse(venueId).success || !(await db.venue.findUnique({ where: { id: venueId } }))) {
    throw new NotFoundError('Venue not found');
  }
  return db.$transaction((tx) =>
    recordOn(tx, venueId, parsed, source, { replace: options.replace ?? false, now }),
  );
}

function parseFacts(facts: readonly FactInput[]): z.output<typeof factSchema>[] {
  return facts.map((fact, i) => {
    try {
      return parseInput(factSchema, fact);
    } catch (error) {
      if (error instanceof ValidationError) {
        throw new ValidationError(error.message, `facts.${i}${error.field ? `.${error.field}` : ''}`);
      }
      throw error;
    }
  });
}

/**
 * Records what a scan of the venue's website says (`websiteFacts` of its draft, worded as
 * `ownerFacts` words the record), while the venue is still `of.organizationId`'s (the scan's
 * organisation, whose team applied it), replacing what an earlier scan said. The venue's record facts
 * are brought up to date in the same transaction first: a field the owner has just taken from the
 * scan then agrees with the record at once, rather than standing as a conflict (and keeping the
 * venue's agent from answering from it) until the next compile. A field the owner did not take
 * and that differs from the record is a conflict for staff.
 */
export async function recordScanFacts(
  db: Db,
  of: { venueId: string; organizationId: string },
  facts: readonly FactInput[],
  options: { now?: Date } = {},
): Promise<RecordResult> {
  const { venueId } = of;
  const now = options.now ?? new Date();
  const parsed = parseFacts(facts);
  return db.$transaction(async (tx) => {
    // Only while the venue is still the scan's organisation's: a takeover since the draft was
    // applied leaves the new team's wiki to them.
    await holdVenueOfTeam(tx, venueId, of.organizationId);
    const venue = await tx.venue.findUnique({ where: { id: venueId }, include: { hours: true } });
    if (!venue) throw new NotFoundError('Venue not found');
    const record = await recordOn(tx, venueId, recordFacts(venue), 'OWNER_EDIT', { replace: true, now });
    const scan = await recordOn(tx, venueId, parsed, 'SCAN', { replace: true, now });
    return {
      written: record.written + scan.written,
      conflictsOpened: record.conflictsOpened + scan.conflictsOpened,
    };
  });
}

async function recordOn(
  tx: Tx,
  venueId: string,
  facts: readonly z.output<typeof factSchema>[],
  source: VenueFactSource,
  options: { replace: boolean; now: Date },
): Promise<RecordResult> {
  const latest = new Map<string, z.output<typeof factSchema> & { observedAt: Date }>();
  for (const fact of facts) {
    const key = normalizeKey(fact.key);
    const observedAt = fact.observedAt ?? options.now;
    const seen = latest.get(key);
    if (!seen || seen.observedAt.getTime() <= observedAt.getTime()) latest.set(key, { ...fact, observedAt });
  }
  const existing = new Map(
    (await tx.venueFact.findMany({ where: { venueId, source } })).map((f) => [f.key, f] as const),
  );
  const touched = new Set<string>();
  for (const [key, fact] of latest) {
    const had = existing.get(key);
    if (had && (comparable(had.text) === comparable(fact.text) || had.observedAt > fact.observedAt)) continue;
    await tx.venueFact.upsert({
      where: { venueId_key_source: { venueId, key, source } },
      create: {
        venueId,
        key,
        source,
        text: fact.text,
        observedAt: fact.observedAt,
        sourceRef: fact.sourceRef ?? null,
      },
      update: { text: fact.text, observedAt: fact.observedAt, sourceRef: fact.sourceRef ?? null },
    });
    touched.add(key);
  }
  if (options.replace) {
    const gone = [...existing.keys()].filter((key) => !latest.has(key));
    if (gone.length > 0) {
      await tx.venueFact.deleteMany({ where: { venueId, source, key: { in: gone } } });
      for (const key of gone) touched.add(key);
    }
  }
  let conflictsOpened = 0;
  for (const key of touched) {
    if (await settleConflict(tx, venueId, key)) conflictsOpened += 1;
  }
  return { written: touched.size, conflictsOpened };
}

/**
 * After a fact of `key` changed: sources that now disagree open a conflict (or reopen a resolved
 * one: something new was said since staff chose); sources that agree need none. True when a
 * conflict was opened or reopened.
 */
async function settleConflict(tx: Tx, venueId: string, key: string): Promise<boolean> {
  const facts = await tx.venueFact.findMany({ where: { venueId, key } });
  const disagree = new Set(facts.map((f) => comparable(f.text))).size > 1;
  const conflict = await tx.venueFactConflict.findUnique({ where: { venueId_key: { venueId, key } } });
  if (!disagree) {
    if (conflict) await tx.venueFactConflict.delete({ where: { id: conflict.id } });
    return false;
  }
  if (!conflict) {
    // An upsert, so a scan recording the same key at the same moment meets this row, not an error.
    await tx.venueFactConflict.upsert({
      where: { venueId_key: { venueId, key } },
      create: { venueId, key },
      update: {},
    });
    return true;
  }
  if (conflict.status === 'OPEN') return false;
  await tx.venueFactConflict.update({
    where: { id: conflict.id },
    data: { status: 'OPEN', chosenFactId: null, resolvedAt: null, resolvedById: null },
  });
  return true;
}

/**
 * Deletes the facts `where` names (a guest's words going with their account), and settles their
 * keys' conflicts as a write does: a key left with one voice has none, and a resolved one whose
 * chosen fact went is put before staff again. Without this a conflict of a deleted fact stayed
 * open, or resolved to nothing, and the venue's agent answered that key no more. How many went.
 */
export async function forgetFacts(tx: Tx, where: Prisma.VenueFactWhereInput): Promise<number> {
  const gone = await tx.venueFact.findMany({ where, select: { id: true, venueId: true, key: true } });
  if (gone.length === 0) return 0;
  await tx.venueFact.deleteMany({ where: { id: { in: gone.map((f) => f.id) } } });
  const keys = new Map(gone.map((f) => [`${f.venueId}\u0000${f.key}`, f]));
  for (const { venueId, key } of keys.values()) await settleConflict(tx, venueId, key);
  return gone.length;
}

/** The facts of the venue's own record, as its owners keep it. */
export function ownerFacts(venue: Parameters<typeof factsOf>[0] & { email: string | null }): FactInput[] {
  const facts = factsOf(venue);
  const lines: [string, string | null][] = [
    ['hours', facts.hours.length > 0 ? hoursInWords(facts.hours) : null],
    ['address', facts.address],
    ['phone', facts.phone],
    ['email', venue.email?.trim() || null],
    ['website', facts.website],
    ['price', facts.priceLevel ? '$'.repeat(facts.priceLevel) : null],
    ['cuisine', facts.cuisines.length > 0 ? facts.cuisines.join(', ') : null],
  ];
  return lines
    .filter((line): line is [string, string] => line[1] !== null)
    .map(([key, text]) => ({ key, text }));
}

/** The record's facts as the wiki keeps them: said when the record last changed. */
function recordFacts(venue: Parameters<typeof ownerFacts>[0] & { updatedAt: Date }): FactInput[] {
  return ownerFacts(venue).map((f) => ({ ...f, observedAt: venue.updatedAt }));
}

export interface CompileResult {
  venues: number;
  written: number;
  conflictsOpened: number;
  /** Venues whose compile failed: each is logged, keeps its watermark and is tried next run. */
  failed: { venueId: string; error: string }[];
}

/**
 * One venue's compile: its own transaction, given as long as a venue's rows take to read and
 * write on a busy database (Prisma's default of 5 s is not).
 */
export const COMPILE_TRANSACTION = { timeout: 60_000, maxWait: 10_000 };

/**
 * Runs `compile` for each of `venueIds`, one venue's failure logged and counted without
 * stopping the venues after it (whose compiles are each their own transaction).
 */
export async function eachVenue(
  venueIds: readonly string[],
  compile: (venueId: string) => Promise<void>,
  what: string,
  logger?: Logger,
): Promise<{ venueId: string; error: string }[]> {
  const failed: { venueId: string; error: string }[] = [];
  for (const venueId of venueIds) {
    try {
      await compile(venueId);
    } catch (error) {
      failed.push({ venueId, error: error instanceof Error ? error.message : String(error) });
      logger?.warn({ 'venue.id': venueId, err: error }, `${what} failed for a venue; tried again next run`);
    }
  }
  return failed;
}

/**
 * Compiles the wiki of up to `limit` venues whose sources changed since their watermark (or that
 * were never compiled), least recently compiled first.
 */
export async function compileVenueWiki(
  db: Db,
  now: Date,
  options: { limit?: number; logger?: Logger } = {},
): Promise<CompileResult> {
  const limit = options.limit ?? WIKI_VENUES_PER_RUN;
  const due = await db.$queryRaw<{ id: string }[]>`
    SELECT v.id FROM venues v
    LEFT JOIN venue_knowledge_marks m ON m.venue_id = v.id
    WHERE m.facts_through IS NULL
       OR v.updated_at > m.facts_through
       OR EXISTS (
         SELECT 1 FROM venue_inbox_items i
         WHERE i.venue_id = v.id AND i.kind = 'QUESTION' AND i.status = 'ANSWERED'
           AND i.resolved_at > m.facts_through)
       OR EXISTS (
         SELECT 1 FROM booking_feedback f
         WHERE f.venue_id = v.id AND f.comment IS NOT NULL AND f.updated_at > m.facts_through)
    ORDER BY m.facts_through ASC NULLS FIRST, v.id
    LIMIT ${limit}`;
  const result: CompileResult = { venues: 0, written: 0, conflictsOpened: 0, failed: [] };
  result.failed = await eachVenue(
    due.map((v) => v.id),
    async (id) => {
      const compiled = await compileOne(db, id, now);
      result.venues += 1;
      result.written += compiled.written;
      result.conflictsOpened += compiled.conflictsOpened;
    },
    'compiling the wiki',
    options.logger,
  );
  return result;
}

/** One venue: its record, then the inbox answers and feedback since its watermark, then the watermark. */
async function compileOne(db: Db, venueId: string, now: Date): Promise<RecordResult> {
  return db.$transaction(async (tx) => {
    const venue = await tx.venue.findUnique({ where: { id: venueId }, include: { hours: true } });
    if (!venue) return { written: 0, conflictsOpened: 0 };
    const mark = await tx.venueKnowledgeMark.findUnique({ where: { venueId } });
    const since = mark?.factsThrough ?? new Date(0);
    let through = new Date(now.getTime() - READ_LAG_MS);
    const total: RecordResult = { written: 0, conflictsOpened: 0 };
    const add = (r: RecordResult) => {
      total.written += r.written;
      total.conflictsOpened += r.conflictsOpened;
    };
    const options = { replace: false, now };

    add(await recordOn(tx, venueId, recordFacts(venue), 'OWNER_EDIT', { ...options, replace: true }));

    const answered = await tx.venueInboxItem.findMany({
      // Only answers staff said hold for every guest: one written to a guest may name them.
      where: { venueId, kind: 'QUESTION', status: 'ANSWERED', answerForAll: true, resolvedAt: { gt: since } },
      orderBy: [{ resolvedAt: 'asc' }, { id: 'asc' }],
      take: WIKI_ROWS_PER_VENUE,
    });
    through = cutOff(through, answered, (i) => i.resolvedAt!);
    const asked = await stillWritten(tx, 'venue_inbox_items', 'guest_text', answered);
    add(
      await recordOn(
        tx,
        venueId,
        answered.flatMap((item) => {
          if (!asked.has(item.id)) return [];
          const key = item.guestText && !isTimeBound(item.guestText) ? questionKey(item.guestText) : null;
          return key && item.answer
            ? [{ key, text: item.answer, observedAt: item.resolvedAt!, sourceRef: item.id }]
            : [];
        }),
        'STAFF_ANSWER',
        options,
      ),
    );

    const feedback = await tx.bookingFeedback.findMany({
      where: { venueId, comment: { not: null }, updatedAt: { gt: since } },
      orderBy: [{ updatedAt: 'asc' }, { id: 'asc' }],
      take: WIKI_ROWS_PER_VENUE,
    });
    through = cutOff(through, feedback, (f) => f.updatedAt);
    const commented = await stillWritten(tx, 'booking_feedback', 'comment', feedback);
    add(
      await recordOn(
        tx,
        venueId,
        feedback.flatMap((f) => {
          if (!commented.has(f.id)) return [];
          const key = f.comment ? feedbackKey(f.comment) : null;
          return key && f.comment ? [{ key, text: f.comment, observedAt: f.updatedAt, sourceRef: f.id }] : [];
        }),
        'GUEST_FEEDBACK',
        options,
      ),
    );

    const latestRead = latestOf(venue.updatedAt, answered.at(-1)?.resolvedAt, feedback.at(-1)?.updatedAt);
    const changed = total.written > 0 || total.conflictsOpened > 0;
    if (movesMark(mark?.factsThrough, through, latestRead, changed)) {
      await tx.venueKnowledgeMark.upsert({
        where: { venueId },
        create: { venueId, factsThrough: through },
        update: { factsThrough: through },
      });
    }
    return total;
  }, COMPILE_TRANSACTION);
}

/**
 * Of `rows`, those whose guest's words (`column`) are still there, each held FOR SHARE until the
 * compile commits: the purge of an account empties them before it deletes the facts made of them,
 * so it either waits for the facts written here (and deletes them after), or has emptied the
 * words first and nothing is written from them.
 */
async function stillWritten(
  tx: Tx,
  table: 'venue_inbox_items' | 'booking_feedback',
  column: 'guest_text' | 'comment',
  rows: readonly { id: string }[],
): Promise<Set<string>> {
  if (!rows.length) return new Set();
  const held = await tx.$queryRaw<{ id: string }[]>`
    SELECT id::text FROM ${Prisma.raw(table)}
    WHERE id = ANY(${rows.map((r) => r.id)}::uuid[]) AND ${Prisma.raw(column)} IS NOT NULL
    ORDER BY id FOR SHARE`;
  return new Set(held.map((r) => r.id));
}

/**
 * The watermark after reading `rows` (oldest first, at most the page size): unchanged when all
 * were read, else just before the last row read, so the rest come next run.
 */
function cutOff<T>(through: Date, rows: readonly T[], at: (row: T) => Date): Date {
  if (rows.length < WIKI_ROWS_PER_VENUE) return through;
  const last = at(rows[rows.length - 1]!).getTime() - 1;
  return last < through.getTime() ? new Date(last) : through;
}

// --- for the venue's staff ---

/** The venue's facts, by key then source, for its team. */
export async function venueFacts(
  db: DbOrTx,
  access: Access,
  input: { venueId: string },
  query: Omit<Prisma.VenueFactFindManyArgs, 'where' | 'orderBy'> = {},
): Promise<VenueFact[]> {
  await requireVenueTeam(db, access, input.venueId);
  return db.venueFact.findMany({
    ...query,
    where: { venueId: input.venueId },
    orderBy: [{ key: 'asc' }, { source: 'asc' }],
  });
}

/** The venue's conflicts (all, or those in `status`), oldest first, for its team. */
export async function venueFactConflicts(
  db: DbOrTx,
  access: Access,
  input: { venueId: string; status?: VenueFactConflict['status'] | null },
  query: Omit<Prisma.VenueFactConflictFindManyArgs, 'where' | 'orderBy'> = {},
) {
  await requireVenueTeam(db, access, input.venueId);
  return db.venueFactConflict.findMany({
    ...query,
    where: { venueId: input.venueId, ...(input.status ? { status: input.status } : {}) },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
}

/** The facts a conflict is between. */
export function factsOfConflict(
  db: DbOrTx,
  conflict: Pick<VenueFactConflict, 'venueId' | 'key'>,
  query: Omit<Prisma.VenueFactFindManyArgs, 'where' | 'orderBy'> = {},
) {
  return db.venueFact.findMany({
    ...query,
    where: { venueId: conflict.venueId, key: conflict.key },
    orderBy: { source: 'asc' },
  });
}

/** The organisation that owns a conflict's venue, or null (for authorising before the real work). */
export async function organizationOfFactConflict(db: DbOrTx, conflictId: string): Promise<string | null> {
  if (!z.uuid().safeParse(conflictId).success) return null;
  const conflict = await db.venueFactConflict.findUnique({
    where: { id: conflictId },
    select: { venue: { select: { organizationId: true } } },
  });
  return conflict?.venue.organizationId ?? null;
}

/** A conflict with its venue's owner (what deciding who may read it needs); throws when there is none. */
export function findFactConflictWithOwnerOrThrow(db: DbOrTx, conflictId: string) {
  return db.venueFactConflict.findUniqueOrThrow({
    where: { id: conflictId },
    include: { venue: { select: { organizationId: true } } },
  });
}

/**
 * Resolves a conflict by choosing the fact that holds, one of the facts it is between; the venue's
 * agent answers from that fact from now on. Choosing again changes the choice.
 */
export async function resolveFactConflict(
  db: Db,
  access: Access,
  input: { conflictId: string; factId: string },
  now: Date,
): Promise<VenueFactConflict> {
  access.requireWrite();
  const resolvedById = access.requireUserId();
  const conflict = z.uuid().safeParse(input.conflictId).success
    ? await db.venueFactConflict.findUnique({ where: { id: input.conflictId } })
    : null;
  if (!conflict) throw new NotFoundError('Conflict not found');
  const checked = await requireVenueTeam(db, access, conflict.venueId);
  return db.$transaction(async (tx) => {
    await holdVenueOfTeam(tx, conflict.venueId, checked.organizationId);
    const fact = z.uuid().safeParse(input.factId).success
      ? await tx.venueFact.findUnique({ where: { id: input.factId } })
      : null;
    if (!fact || fact.venueId !== conflict.venueId || fact.key !== conflict.key) {
      throw new ValidationError('Choose one of the facts this conflict is between', 'factId');
    }
    return tx.venueFactConflict.update({
      where: { id: conflict.id },
      data: { status: 'RESOLVED', chosenFactId: fact.id, resolvedAt: now, resolvedById },
    });
  });
}
