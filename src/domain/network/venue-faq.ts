/**
 * A venue's FAQ: the questions guests ask its staff often, with the venue's answer.
 *
 * `compileVenueFaq` (task `venue-faq`, weekly) groups each venue's answered inbox questions of the
 * last FAQ_WINDOW_DAYS by their normalised question (wiki-keys.ts); a question asked FAQ_MIN_ASKS times
 * or more becomes a DRAFT entry with staff's latest answer. Staff approve it (editing the answer if
 * they like) or reject it; an APPROVED entry is answered by the venue's agent without staff and
 * shown to anyone who can see the venue. A later compile updates a draft's wording and every
 * entry's count, never an approved answer or a rejection.
 */
import { z } from 'zod';
import type { Prisma, VenueFaqEntry } from '../../generated/prisma/client.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { NotFoundError } from '../../platform/errors.ts';
import { defineTask } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Access } from '../organizations/access.ts';
import { parseInput } from '../validation.ts';
import { holdVenueOfTeam, requireVenue } from '../venues/venues.ts';
import { requireVenueTeam } from './staff-inbox.ts';
import { COMPILE_TRANSACTION, eachVenue, movesMark, READ_LAG_MS } from './venue-wiki.ts';
import { isTimeBound, questionKey } from './wiki-keys.ts';

/** Weekly (src/worker/crontab.ts); the next tick is the retry. */
export const venueFaqTask = defineTask({ name: 'venue-faq', schema: z.object({}), maxAttempts: 1 });

/** Asks of one question that make it frequent. */
export const FAQ_MIN_ASKS = 2;

/** How far back answered questions count. */
export const FAQ_WINDOW_DAYS = 180;

/** Venues compiled per run, and answered questions read per venue. */
export const FAQ_VENUES_PER_RUN = 200;
export const FAQ_ROWS_PER_VENUE = 2000;

export interface FaqCompileResult {
  venues: number;
  /** Entries created or changed. */
  written: number;
  /** Venues whose compile failed: each is logged, keeps its watermark and is tried next run. */
  failed: { venueId: string; error: string }[];
}

/** Compiles the FAQ of up to `limit` venues with questions answered since their watermark. */
export async function compileVenueFaq(
  db: Db,
  now: Date,
  options: { limit?: number; logger?: Logger } = {},
): Promise<FaqCompileResult> {
  const limit = options.limit ?? FAQ_VENUES_PER_RUN;
  const due = await db.$queryRaw<{ id: string }[]>`
    SELECT v.id FROM venues v
    LEFT JOIN venue_knowledge_marks m ON m.venue_id = v.id
    WHERE EXISTS (
      SELECT 1 FROM venue_inbox_items i
      WHERE i.venue_id = v.id AND i.kind = 'QUESTION' AND i.status = 'ANSWERED'
        AND (m.faq_through IS NULL OR i.resolved_at > m.faq_through))
    ORDER BY m.faq_through ASC NULLS FIRST, v.id
    LIMIT ${limit}`;
  let venues = 0;
  let written = 0;
  const failed = await eachVenue(
    due.map((v) => v.id),
    async (id) => {
      written += await compileOne(db, id, now);
      venues += 1;
    },
    'compiling the FAQ',
    options.logger,
  );
  return { venues, written, failed };
}

interface Group {
  key: string;
  asks: number;
  /** The newest ask, whose words and answer the entry shows. */
  itemId: string;
  question: string;
  answer: string;
  lastAskedAt: Date;
}

async function compileOne(db: Db, venueId: string, now: Date): Promise<number> {
  return db.$transaction(async (tx) => {
    const answered = await tx.venueInboxItem.findMany({
      where: {
        venueId,
        kind: 'QUESTION',
        status: 'ANSWERED',
        // Only answers staff said hold for every guest: one written to a guest may name them.
        answerForAll: true,
        answer: { not: null },
        resolvedAt: { gt: new Date(now.getTime() - FAQ_WINDOW_DAYS * 86_400_000) },
      },
      orderBy: [{ resolvedAt: 'desc' }, { id: 'desc' }],
      take: FAQ_ROWS_PER_VENUE,
    });
    const groups = new Map<string, Group>();
    for (const item of answered) {
      if (!item.guestText || !item.answer || isTimeBound(item.guestText)) continue;
      const key = questionKey(item.guestText);
      if (!key) continue;
      const group = groups.get(key);
      if (group) group.asks += 1;
      else {
        // Newest first: the first of a group is its latest ask.
        groups.set(key, {
          key,
          asks: 1,
          itemId: item.id,
          question: item.guestText.trim(),
          answer: item.answer,
          lastAskedAt: item.resolvedAt!,
        });
      }
    }
    const existing = new Map(
      (await tx.venueFaqEntry.findMany({ where: { venueId } })).map((e) => [e.questionKey, e] as const),
    );
    let written = 0;
    for (const group of groups.values()) {
      if (group.asks < FAQ_MIN_ASKS) continue;
      const entry = existing.get(group.key);
      if (!entry) {
        if (!(await stillAsked(tx, group.itemId))) continue;
        await tx.venueFaqEntry.create({
          data: {
            venueId,
            questionKey: group.key,
            question: group.question,
            questionItemId: group.itemId,
            answer: group.answer,
            askedCount: group.asks,
            lastAskedAt: group.lastAskedAt,
          },
        });
        written += 1;
        continue;
      }
      const change: Prisma.VenueFaqEntryUpdateInput = {};
      if (entry.askedCount !== group.asks) change.askedCount = group.asks;
      if (entry.lastAskedAt.getTime() !== group.lastAskedAt.getTime()) change.lastAskedAt = group.lastAskedAt;
      // Staff's decision stands: only a draft follows the latest wording.
      if (entry.status === 'DRAFT') {
        if (entry.questionItemId !== group.itemId && (await stillAsked(tx, group.itemId))) {
          if (entry.question !== group.question) change.question = group.question;
          change.questionItem = { connect: { id: group.itemId } };
        }
        if (entry.answer !== group.answer) change.answer = group.answer;
      }
      if (Object.keys(change).length > 0) {
        await tx.venueFaqEntry.update({ where: { id: entry.id }, data: change });
        written += 1;
      }
    }
    const through = new Date(now.getTime() - READ_LAG_MS);
    const mark = await tx.venueKnowledgeMark.findUnique({ where: { venueId } });
    if (movesMark(mark?.faqThrough, through, answered[0]?.resolvedAt ?? null, written > 0)) {
      await tx.venueKnowledgeMark.upsert({
        where: { venueId },
        create: { venueId, faqThrough: through },
        update: { faqThrough: through },
      });
    }
    return written;
  }, COMPILE_TRANSACTION);
}

/**
 * Whether an ask still has its guest's words, its row held until the compile commits: an erasure
 * emptying them waits for the entry written from them, or has emptied them first.
 */
async function stillAsked(tx: DbOrTx, itemId: string): Promise<boolean> {
  const rows = await tx.$queryRaw<unknown[]>`
    SELECT 1 FROM venue_inbox_items WHERE id = ${itemId}::uuid AND guest_text IS NOT NULL FOR SHARE`;
  return rows.length > 0;
}

// --- for the venue's staff, and the public ---

/** The drafts waiting for the team's decision, most asked first. */
export async function faqDrafts(
  db: DbOrTx,
  access: Access,
  input: { venueId: string },
  query: Omit<Prisma.VenueFaqEntryFindManyArgs, 'where' | 'orderBy'> = {},
) {
  await requireVenueTeam(db, access, input.venueId);
  return db.venueFaqEntry.findMany({
    ...query,
    where: { venueId: input.venueId, status: 'DRAFT' },
    orderBy: [{ askedCount: 'desc' }, { id: 'asc' }],
  });
}

/** The venue's approved entries, most asked first: for anyone who may see the venue. */
export async function venueFaq(
  db: DbOrTx,
  access: Access,
  input: { venueId: string },
  query: Omit<Prisma.VenueFaqEntryFindManyArgs, 'where' | 'orderBy'> = {},
) {
  await requireVenue(db, access, input.venueId);
  return db.venueFaqEntry.findMany({
    ...query,
    where: { venueId: input.venueId, status: 'APPROVED' },
    orderBy: [{ askedCount: 'desc' }, { id: 'asc' }],
  });
}

/** The organisation that owns an entry's venue, or null (for authorising before the real work). */
export async function organizationOfFaqEntry(db: DbOrTx, entryId: string): Promise<string | null> {
  if (!z.uuid().safeParse(entryId).success) return null;
  const entry = await db.venueFaqEntry.findUnique({
    where: { id: entryId },
    select: { venue: { select: { organizationId: true } } },
  });
  return entry?.venue.organizationId ?? null;
}

/** An entry with its venue (what deciding who may read it needs); throws when there is none. */
export function findFaqEntryWithVenueOrThrow(db: DbOrTx, entryId: string) {
  return db.venueFaqEntry.findUniqueOrThrow({
    where: { id: entryId },
    include: { venue: { select: { organizationId: true, status: true } } },
  });
}

const approveSchema = z.object({
  question: z.string().trim().min(1, 'Write the question').max(500, 'Use at most 500 characters').optional(),
  answer: z.string().trim().min(1, 'Write an answer').max(2000, 'Use at most 2000 characters').optional(),
});

/**
 * Approves an entry, with the answer (and the question, which is a guest's own words until staff
 * reword it) edited when given: the agent answers with it, and everyone reads it.
 */
export async function approveFaqEntry(
  db: Db,
  access: Access,
  input: { entryId: string; question?: string | null; answer?: string | null },
  now: Date,
): Promise<VenueFaqEntry> {
  const { question, answer } = parseInput(approveSchema, {
    question: input.question ?? undefined,
    answer: input.answer ?? undefined,
  });
  return decide(db, access, input.entryId, {
    status: 'APPROVED',
    // Reworded, the question is staff's words, no longer a guest's.
    ...(question ? { question, questionItemId: null } : {}),
    ...(answer ? { answer } : {}),
    decidedAt: now,
  });
}

/** Rejects an entry: never shown, never answered with; later compiles keep it rejected. */
export function rejectFaqEntry(db: Db, access: Access, input: { entryId: string }, now: Date) {
  return decide(db, access, input.entryId, { status: 'REJECTED', decidedAt: now });
}

async function decide(
  db: Db,
  access: Access,
  entryId: string,
  change: Pick<
    Prisma.VenueFaqEntryUncheckedUpdateInput,
    'status' | 'question' | 'questionItemId' | 'answer' | 'decidedAt'
  >,
): Promise<VenueFaqEntry> {
  access.requireWrite();
  const decidedById = access.requireUserId();
  const entry = z.uuid().safeParse(entryId).success
    ? await db.venueFaqEntry.findUnique({ where: { id: entryId } })
    : null;
  if (!entry) throw new NotFoundError('FAQ entry not found');
  const checked = await requireVenueTeam(db, access, entry.venueId);
  // The question sent back as it stands (a form shows it filled in) is still the guest's words.
  const { questionItemId, ...rest } = change;
  const reworded = change.question !== undefined && change.question !== entry.question;
  return db.$transaction(async (tx) => {
    await holdVenueOfTeam(tx, entry.venueId, checked.organizationId);
    return tx.venueFaqEntry.update({
      where: { id: entry.id },
      data: { ...rest, ...(reworded ? { questionItemId } : {}), decidedById },
    });
  });
}

/**
 * Takes a guest's words out of the FAQ when their account is erased: an entry whose question shows
 * an ask of theirs shows instead the newest other guest's ask of the same question, and goes when
 * there is none (its asks were all theirs; a later compile brings it back from others' asks). An
 * answer is the venue's and stays with its entry. Run in the purge's transaction after their asks'
 * words are emptied: a compile writing one of their asks' words takes that ask's row first
 * (`stillAsked`), so either it wrote before and is seen here, or it finds the words gone.
 */
export async function forgetGuestInFaq(tx: DbOrTx, guestId: string): Promise<void> {
  const entries = await tx.venueFaqEntry.findMany({ where: { questionItem: { guestId } } });
  for (const entry of entries) {
    const asks = await tx.venueInboxItem.findMany({
      where: {
        venueId: entry.venueId,
        kind: 'QUESTION',
        status: 'ANSWERED',
        guestText: { not: null },
        OR: [{ guestId: null }, { guestId: { not: guestId } }],
      },
      select: { id: true, guestText: true },
      orderBy: [{ resolvedAt: 'desc' }, { id: 'desc' }],
      take: FAQ_ROWS_PER_VENUE,
    });
    const other = asks.find((ask) => ask.guestText && questionKey(ask.guestText) === entry.questionKey);
    // Only while it still shows their words: staff may have reworded or decided it meanwhile.
    const still = { id: entry.id, questionItemId: entry.questionItemId };
    if (other) {
      await tx.venueFaqEntry.updateMany({
        where: still,
        data: { question: other.guestText!.trim(), questionItemId: other.id },
      });
    } else {
      await tx.venueFaqEntry.deleteMany({ where: still });
    }
  }
}
