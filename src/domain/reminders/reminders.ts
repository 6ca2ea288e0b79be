/**
 * Reminders a person asks their agent for ("remind me to call Ana at 6"): stored with the chat they
 * were asked in, and sent there (or to the person's most recent reachable chat, or else by email)
 * when due, once, by the `deliver-reminders` job.
 *
 * Limits, so a chat cannot turn the agent into a spam cannon or a store of years of notes: at most
 * REMINDER_LIMITS.maxPending pending per person, none in the past, none more than a year ahead.
 *
 * Exactly once: a run claims due reminders with `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
 * LOCKED) RETURNING`, and queues each one's message in the same transaction under the dedupe key
 * `reminder:<id>`. Two runs side by side claim disjoint rows; a run that dies rolls its claims back
 * with its messages; a claimed reminder is never claimed again.
 */
import { z } from 'zod';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';
import { defineTask } from '../../platform/jobs.ts';
import { freeTextSince, WINDOWED_PLATFORMS } from '../channels/outbound.ts';
import { noticeChat, queueNotice } from '../notices/notices.ts';
import { isValidTimeZone } from '../venues/hours.ts';

export const REMINDER_LIMITS = {
  /** Pending (not yet sent, not cancelled) reminders per person. */
  maxPending: 20,
  /** How far ahead a reminder may be set. */
  maxAheadDays: 365,
  textMaxChars: 500,
  /** Reminders claimed per transaction, and transactions per run: the rest waits for the next run. */
  batch: 100,
  batchesPerRun: 10,
} as const;

const DAY_MS = 86_400_000;
/**
 * A reminder sent this long after it was due says when it was for: a run every 5 minutes sends the
 * rest well within it. Later means the account was being deleted meanwhile (a reminder waits
 * while it is, and goes when it is restored), or the sending had stopped.
 */
export const REMINDER_LATE_AFTER_MS = 30 * 60_000;

/** Every 5 minutes (src/worker/crontab.ts); the next tick is the retry. */
export const deliverRemindersTask = defineTask({
  name: 'deliver-reminders',
  schema: z.object({}),
  maxAttempts: 1,
});

export interface ReminderRecord {
  id: string;
  text: string;
  dueAt: Date;
  createdAt: Date;
}

const UNITS: Record<string, number> = {
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: DAY_MS,
  day: DAY_MS,
  days: DAY_MS,
  w: 7 * DAY_MS,
  week: 7 * DAY_MS,
  weeks: 7 * DAY_MS,
};

const RELATIVE = /^(?:in\s+)?(\d{1,4})\s*([a-z]+)$/;
const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?$/;

/**
 * When a reminder is due: an ISO 8601 instant with its offset (`2026-12-05T18:00:00+08:00`), a
 * local date and time (`2026-12-05T18:00`, in `timeZone`, else UTC) or a span from now (`in 2
 * hours`, `30m`, `3 days`: days and weeks on the calendar of `timeZone`). Anything else is a
 * ValidationError on `when`.
 */
export function parseWhen(when: string, now: Date, timeZone: string | null): Date {
  const value = when.trim().toLowerCase();
  const relative = RELATIVE.exec(value);
  if (relative) {
    const unit = UNITS[relative[2]!];
    if (!unit)
      throw new ValidationError(`Unknown unit "${relative[2]}": use minutes, hours, days or weeks`, 'when');
    const count = Number(relative[1]);
    if (unit >= DAY_MS) {
      // Days and weeks on the person's calendar: "in 1 day" at 18:00 is 18:00 the next day, also
      // across a change of the clocks (a day is then 23 or 25 hours).
      const zoned = Temporal.Instant.fromEpochMilliseconds(now.getTime()).toZonedDateTimeISO(
        timeZone ?? 'UTC',
      );
      return new Date(zoned.add({ days: (count * unit) / DAY_MS }).epochMilliseconds);
    }
    return new Date(now.getTime() + count * unit);
  }
  const upper = when.trim().toUpperCase();
  if (LOCAL_DATE_TIME.test(upper)) {
    try {
      const zoned = Temporal.PlainDateTime.from(upper).toZonedDateTime(timeZone ?? 'UTC');
      return new Date(zoned.epochMilliseconds);
    } catch {
      throw new ValidationError(`"${when}" is not a date and time`, 'when');
    }
  }
  if (z.iso.datetime({ offset: true }).safeParse(upper).success) return new Date(upper);
  throw new ValidationError(
    `"${when}" is not a time: give an ISO date and time (2026-12-05T18:00) or a span ("in 2 hours")`,
    'when',
  );
}

/**
 * Refuses a reminder nothing could deliver at `dueAt` unless the person writes again: no email,
 * no chat that will take a notice then (`noticeChat` at that time: a private Telegram chat, a
 * WhatsApp or Instagram chat they wrote in within the window before it), and the chat it is set
 * in, where they write now, a group (reminders go to their own chat) or on WhatsApp or Instagram
 * with the time past that window.
 */
async function requireReachableAt(
  tx: DbOrTx,
  userId: string,
  chatId: string | null,
  dueAt: Date,
  now: Date,
): Promise<void> {
  const person = await tx.user.findUnique({
    where: { id: userId },
    select: {
      email: true,
      chats: { where: { OR: [noticeChat(dueAt), ...(chatId ? [{ id: chatId }] : [])] }, take: 2 },
    },
  });
  if (!person || person.email) return;
  const here = person.chats.find((c) => c.id === chatId);
  // The chat they write in now takes free text until the window after this message closes.
  const hereTakesIt =
    here &&
    !here.shared &&
    here.unreachableAt === null &&
    (!(WINDOWED_PLATFORMS as readonly string[]).includes(here.platform) || freeTextSince(dueAt) < now);
  if (hereTakesIt || person.chats.some((c) => c.id !== chatId)) return;
  throw new ValidationError(
    here?.shared
      ? 'A reminder goes to your own chat with me, and you have none but this group: write to me directly first, or add an email address'
      : 'WhatsApp and Instagram let me write to you only within 24 hours of your last message, and you have no email address with me: pick a time within the next 23 hours, or add an email address',
    'when',
  );
}

/**
 * Sets a reminder for `userId`, within the limits (ValidationError otherwise, nothing stored). A
 * local `when` is read in `timeZone` when given (the zone the person was just told their time in),
 * else in their profile's. `key` names the act that sets it (a chat turn's call, `turnCallKey`):
 * the person's reminder set with that key before is returned as it is, and no other is made.
 */
export async function setReminder(
  db: Db,
  input: {
    userId: string;
    chatId: string | null;
    text: string;
    when: string;
    timeZone?: string | null;
    key?: string | null;
  },
  now: Date,
): Promise<ReminderRecord> {
  const text = input.text.trim();
  if (!text) throw new ValidationError('Say what to remind of', 'text');
  if (text.length > REMINDER_LIMITS.textMaxChars) {
    throw new ValidationError(`At most ${REMINDER_LIMITS.textMaxChars} characters`, 'text');
  }
  return db.$transaction(async (tx) => {
    // The person's row, locked: two reminders set at once are counted one after the other.
    const [person] = await tx.$queryRaw<{ time_zone: string | null }[]>`
      SELECT time_zone FROM users WHERE id = ${input.userId}::uuid FOR UPDATE`;
    if (!person) throw new NotFoundError('No such person');
    if (input.key) {
      const made = await tx.reminder.findUnique({
        where: { userId_turnKey: { userId: input.userId, turnKey: input.key } },
        select: { id: true, text: true, dueAt: true, createdAt: true },
      });
      if (made) return made;
    }
    const dueAt = parseWhen(input.when, now, input.timeZone ?? person.time_zone);
    if (dueAt.getTime() <= now.getTime()) throw new ValidationError('That time has already passed', 'when');
    if (dueAt.getTime() > now.getTime() + REMINDER_LIMITS.maxAheadDays * DAY_MS) {
      throw new ValidationError(`At most ${REMINDER_LIMITS.maxAheadDays} days ahead`, 'when');
    }
    await requireReachableAt(tx, input.userId, input.chatId, dueAt, now);
    const pending = await tx.reminder.count({
      where: { userId: input.userId, sentAt: null, cancelledAt: null },
    });
    if (pending >= REMINDER_LIMITS.maxPending) {
      throw new ValidationError(
        `You already have ${REMINDER_LIMITS.maxPending} reminders waiting: cancel one first`,
        'when',
      );
    }
    return tx.reminder.create({
      data: {
        userId: input.userId,
        chatId: input.chatId,
        text,
        dueAt,
        createdAt: now,
        turnKey: input.key ?? null,
      },
      select: { id: true, text: true, dueAt: true, createdAt: true },
    });
  });
}

/** The person's reminders still to be sent, soonest first. */
export function pendingReminders(db: DbOrTx, userId: string): Promise<ReminderRecord[]> {
  return db.reminder.findMany({
    where: { userId, sentAt: null, cancelledAt: null },
    orderBy: { dueAt: 'asc' },
    select: { id: true, text: true, dueAt: true, createdAt: true },
  });
}

/**
 * Cancels one of the person's pending reminders. Someone else's, a sent one or one already
 * cancelled is NotFoundError (nothing to cancel), so nobody learns of others' reminders.
 */
export async function cancelReminder(
  db: DbOrTx,
  userId: string,
  reminderId: string,
  now: Date,
): Promise<ReminderRecord> {
  const { count } = await db.reminder.updateMany({
    where: { id: reminderId, userId, sentAt: null, cancelledAt: null },
    data: { cancelledAt: now },
  });
  if (count !== 1) throw new NotFoundError('No such pending reminder');
  return db.reminder.findUniqueOrThrow({
    where: { id: reminderId },
    select: { id: true, text: true, dueAt: true, createdAt: true },
  });
}

/**
 * Sends every reminder due at `now` (at most `batch × batches` per run), each exactly once: see the
 * top of this file. A person whose account is being deleted gets none. Returns how many were sent.
 */
export async function deliverDueReminders(
  db: Db,
  now: Date,
  limits: { batch: number; batches: number } = {
    batch: REMINDER_LIMITS.batch,
    batches: REMINDER_LIMITS.batchesPerRun,
  },
): Promise<number> {
  let sent = 0;
  for (let round = 0; round < limits.batches; round++) {
    const claimed = await db.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<
        {
          id: string;
          user_id: string;
          chat_id: string | null;
          text: string;
          due_at: Date;
          time_zone: string | null;
        }[]
      >`
        UPDATE reminders r SET sent_at = ${now}
        FROM users u
        WHERE u.id = r.user_id AND r.id IN (
          SELECT due.id FROM reminders due JOIN users owner ON owner.id = due.user_id
          WHERE due.sent_at IS NULL AND due.cancelled_at IS NULL AND due.due_at <= ${now}
            AND owner.deleted_at IS NULL
          ORDER BY due.due_at
          LIMIT ${limits.batch}
          FOR UPDATE OF due SKIP LOCKED)
        RETURNING r.id::text, r.user_id::text, r.chat_id::text, r.text, r.due_at, u.time_zone`;
      for (const row of rows) {
        const late = now.getTime() - row.due_at.getTime() > REMINDER_LATE_AFTER_MS;
        const timeZone = row.time_zone && isValidTimeZone(row.time_zone) ? row.time_zone : 'UTC';
        await queueNotice(tx, {
          userId: row.user_id,
          kind: 'reminder',
          params: { text: row.text, late: late ? { dueAt: row.due_at, timeZone } : null },
          chatId: row.chat_id,
          dedupeKey: `reminder:${row.id}`,
          data: { reminderId: row.id },
        });
      }
      return rows.length;
    });
    sent += claimed;
    if (claimed < limits.batch) break;
  }
  return sent;
}
