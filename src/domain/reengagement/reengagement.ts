/**
 * Re-engagement: a friendly word, at most once a week, to people who asked for it
 * (`users.reengagement_opt_in`, set by the person themselves) and have gone quiet. Nobody else
 * ever gets one: not people who never opted in, not accounts being deleted, not people without a
 * chat we can reach.
 *
 * Reach means what `queueNotice` (notices.ts) can deliver, chosen before anyone is picked: the
 * person has a chat with us they have not blocked (`unreachable_at`), and the notice has a way to
 * them: a private (not shared) chat that takes free text now, or else their email address.
 * WhatsApp and Instagram take free text only within 23 hours of the person's last message, which a
 * quiet person is long past, so in practice that chat is Telegram (or the console). Picking anyone
 * else would write a FAILED message and spend their week, every two weeks, for nothing.
 *
 * When: at 17:00 on the person's own clock (their profile's time zone, else the network's home
 * zone), when evenings get planned. The job runs hourly and takes the people whose clock reads
 * REENGAGEMENT.localHour at the run; a zone whose name the platform does not know is passed over
 * rather than failing the run for everyone.
 *
 * Quiet means: no message from them in any chat and nothing sent to them for REENGAGEMENT.quietDays.
 * Once a week means: `users.reengaged_at` is set, in the transaction that queues the message, and a
 * person reengaged within the last 7 days is not picked; the message's dedupe key names the ISO
 * week too, so even a week's two runs queue it once.
 */
import type { Db, DbOrTx } from '../../platform/db.ts';
import { cronPayload, defineTask } from '../../platform/jobs.ts';
import { noticeChatSql, queueNotice } from '../notices/notices.ts';

export const REENGAGEMENT = {
  /** Days without a message from or to the person before they are reengaged. */
  quietDays: 14,
  /** Days between two messages to one person, at least. */
  everyDays: 7,
  /** The hour on the person's clock the message is sent in. */
  localHour: 17,
  /** The clock of people whose zone we do not know: the network's home (WITA). */
  unknownZone: 'Asia/Makassar',
  /** People per transaction, and per run: the rest waits for the next day's run in their zone. */
  batch: 100,
  perRun: 1_000,
} as const;

const DAY_MS = 86_400_000;

/** Hourly (src/worker/crontab.ts); the next day's tick in the person's zone is the retry. */
export const reengagePeopleTask = defineTask({
  name: 'reengage-people',
  // The tick it was scheduled for: a run that starts late (a busy queue) still takes the zones
  // whose clocks read 17:xx at the tick, not at the start.
  schema: cronPayload.partial(),
  maxAttempts: 1,
});

/** Turns the person's check-in messages on or off; returns the setting now. */
export async function setReengagementOptIn(db: DbOrTx, userId: string, optIn: boolean): Promise<boolean> {
  const user = await db.user.update({
    where: { id: userId },
    data: { reengagementOptIn: optIn },
    select: { reengagementOptIn: true },
  });
  return user.reengagementOptIn;
}

/**
 * Whether a check-in could reach the person: one comes only after REENGAGEMENT.quietDays of
 * quiet, so it is whom `reengageQuietPeople` can reach then, by email or by a chat that takes a
 * notice at that moment (`noticeChatSql`: on WhatsApp and Instagram, none by then).
 */
export async function checkInsCanReach(db: DbOrTx, userId: string, now: Date): Promise<boolean> {
  const then = new Date(now.getTime() + REENGAGEMENT.quietDays * DAY_MS);
  const [row] = await db.$queryRaw<{ reach: boolean }[]>`
    SELECT (u.email IS NOT NULL
      OR EXISTS (SELECT 1 FROM chats c WHERE c.user_id = u.id AND ${noticeChatSql(then)})) AS reach
    FROM users u WHERE u.id = ${userId}::uuid`;
  return row?.reach ?? false;
}

/** "2026-W49": the ISO week of `now` (UTC). */
export function isoWeek(now: Date): string {
  const date = Temporal.Instant.fromEpochMilliseconds(now.getTime()).toZonedDateTimeISO('UTC').toPlainDate();
  return `${date.yearOfWeek}-W${String(date.weekOfYear).padStart(2, '0')}`;
}

/** The hour (0–23) `now` reads on `zone`'s clock, or null for a zone name the platform does not know. */
function hourIn(zone: string, now: Date): number | null {
  try {
    return Temporal.Instant.fromEpochMilliseconds(now.getTime()).toZonedDateTimeISO(zone).hour;
  } catch {
    return null;
  }
}

/**
 * The zones, of those people who opted in live in, whose clock reads REENGAGEMENT.localHour at
 * `now`; `unknown` says whether people without a zone are in that hour too.
 */
async function zonesAtTheHour(db: Db, now: Date): Promise<{ zones: string[]; unknown: boolean }> {
  const rows = await db.$queryRaw<{ zone: string }[]>`
    SELECT DISTINCT time_zone AS zone FROM users
    WHERE reengagement_opt_in AND deleted_at IS NULL AND time_zone IS NOT NULL`;
  return {
    zones: rows.map((row) => row.zone).filter((zone) => hourIn(zone, now) === REENGAGEMENT.localHour),
    unknown: hourIn(REENGAGEMENT.unknownZone, now) === REENGAGEMENT.localHour,
  };
}

/**
 * Queues the week's message for every quiet person who opted in and whose clock reads
 * REENGAGEMENT.localHour at `now` (see the top); how many.
 */
export async function reengageQuietPeople(
  db: Db,
  now: Date,
  limits: { batch: number; perRun: number } = REENGAGEMENT,
): Promise<number> {
  const { zones, unknown } = await zonesAtTheHour(db, now);
  if (zones.length === 0 && !unknown) return 0;
  const quietSince = new Date(now.getTime() - REENGAGEMENT.quietDays * DAY_MS);
  const lastBefore = new Date(now.getTime() - REENGAGEMENT.everyDays * DAY_MS);
  const week = isoWeek(now);
  // Whom queueNotice can reach: by email, or by a chat that takes a notice now.
  const noticeChat = noticeChatSql(now);
  let queued = 0;
  while (queued < limits.perRun) {
    const take = Math.min(limits.batch, limits.perRun - queued);
    const picked = await db.$transaction(async (tx) => {
      const people = await tx.$queryRaw<{ id: string; display_name: string | null }[]>`
        UPDATE users SET reengaged_at = ${now}
        WHERE id IN (
          SELECT u.id FROM users u
          WHERE u.reengagement_opt_in AND u.deleted_at IS NULL
            AND (u.time_zone = ANY(${zones}::text[]) OR (${unknown} AND u.time_zone IS NULL))
            AND (u.reengaged_at IS NULL OR u.reengaged_at <= ${lastBefore})
            AND EXISTS (SELECT 1 FROM chats c WHERE c.user_id = u.id AND c.unreachable_at IS NULL)
            AND (u.email IS NOT NULL OR EXISTS (SELECT 1 FROM chats c WHERE c.user_id = u.id AND ${noticeChat}))
            AND NOT EXISTS (SELECT 1 FROM chats c WHERE c.user_id = u.id AND c.last_inbound_at > ${quietSince})
            AND NOT EXISTS (SELECT 1 FROM outbound_messages m WHERE m.user_id = u.id AND m.created_at > ${quietSince})
          ORDER BY u.reengaged_at NULLS FIRST, u.id
          LIMIT ${take}
          FOR UPDATE OF u SKIP LOCKED)
        RETURNING id::text, display_name`;
      for (const person of people) {
        await queueNotice(tx, {
          userId: person.id,
          kind: 'account.reengagement',
          params: { name: person.display_name?.trim().split(/\s+/)[0] ?? null },
          dedupeKey: `reengagement:${person.id}:${week}`,
          data: { week },
        });
      }
      return people.length;
    });
    queued += picked;
    if (picked < take) break;
  }
  return queued;
}
