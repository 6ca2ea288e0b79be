/**
 * Chats' summaries, kept for dreaming. A chat's history is summarised when it grows long
 * (conversation/sessions.ts); each new summary is recorded here, one row per chat and person
 * (in a group, each member's session is their own) holding the latest, so light dreaming (dreaming.ts) can turn what lasts in it into memories. The session
 * itself lives in Redis and expires; this row outlives it only until the next light dream, which
 * clears its text once read (the row stays, for the chain's start).
 *
 * `startedAt` says when this chain of summaries began: a summary written from no previous one
 * starts a chain now; one that continues a previous summary keeps the chain's start, or has none
 * (null) when the row is gone, as after a forgetAll, so a summary carrying talk from before a
 * forget is never dreamt over.
 */
import type { DbOrTx } from '../../platform/db.ts';
import { cleanText } from './text.ts';

export async function recordSessionSummary(
  db: DbOrTx,
  input: { userId: string; chatId: string; summary: string; continued: boolean; now: Date },
): Promise<void> {
  const summary = cleanText(input.summary);
  if (!summary) return;
  const started = input.continued ? null : input.now;
  await db.$executeRaw`
    INSERT INTO session_summaries (chat_id, user_id, summary, started_at, updated_at)
    VALUES (${input.chatId}::uuid, ${input.userId}::uuid, ${summary}, ${started}::timestamptz, ${input.now}::timestamptz)
    ON CONFLICT (chat_id, user_id) DO UPDATE SET
      summary = EXCLUDED.summary,
      updated_at = EXCLUDED.updated_at,
      started_at = CASE WHEN ${input.continued} THEN session_summaries.started_at ELSE EXCLUDED.started_at END`;
}
