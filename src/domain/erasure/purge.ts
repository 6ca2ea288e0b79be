/**
 * The purge of deleted accounts: ACCOUNT_PURGE_AFTER_DAYS after a person deleted their account
 * (src/domain/identity/account-deletion.ts), the daily `purge-deleted-users` job erases or
 * anonymises everything personal, in every area that keeps some (README, "Account deletion", lists
 * each table). It lives apart from identity because it reaches into all the others (the venues'
 * FAQs among them), which identity itself must not depend on.
 */
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client.ts';
import { consumerAgentId } from '../../integrations/clawpulse/wire.ts';
import type { Db, Tx } from '../../platform/db.ts';
import { defineTask } from '../../platform/jobs.ts';
import { guestCancelRefusal, moveBookingOn } from '../bookings/bookings.ts';
import type { BookingEffects } from '../bookings/effects.ts';
import { canTransition } from '../bookings/status.ts';
import { ACCOUNT_PURGE_AFTER_DAYS } from '../identity/account-deletion.ts';
import { forgetGuestInFaq } from '../network/venue-faq.ts';
import { forgetFacts } from '../network/venue-wiki.ts';

/**
 * An envelope's payload without the person's words: no notes, reason or text (a change's notes
 * too), and their name as "Guest". (A payload that is no object is left: it holds none.)
 */
const REDACTED_PAYLOAD = Prisma.sql`CASE
  WHEN jsonb_typeof(e.payload) <> 'object' THEN e.payload
  WHEN e.payload ? 'guestName'
    THEN jsonb_set(e.payload - 'notes' - 'reason' - 'text' #- '{change,notes}', '{guestName}', '"Guest"'::jsonb)
  ELSE e.payload - 'notes' - 'reason' - 'text' #- '{change,notes}' END`;

/** Accounts purged per run; each in its own transaction. The rest waits for the next day. */
export const PURGE_LIMIT = 100;

const DAY_MS = 86_400_000;

/** Daily (src/worker/crontab.ts); the next tick is the retry. */
export const purgeDeletedUsersTask = defineTask({
  name: 'purge-deleted-users',
  schema: z.object({}),
  maxAttempts: 1,
});

/**
 * Purges accounts deleted ACCOUNT_PURGE_AFTER_DAYS ago or more, at most `limit` a run, each in
 * its own transaction holding the user's row (SKIP LOCKED: two runs side by side take different
 * accounts). A purged account is never purged again. Returns how many were purged.
 */
export async function purgeDeletedUsers(
  deps: { db: Db; effects: BookingEffects },
  now: Date,
  limit = PURGE_LIMIT,
): Promise<number> {
  const cutoff = new Date(now.getTime() - ACCOUNT_PURGE_AFTER_DAYS * DAY_MS);
  let purged = 0;
  for (let n = 0; n < limit; n++) {
    const done = await deps.db.$transaction(async (tx) => {
      const [user] = await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text FROM users
        WHERE deleted_at IS NOT NULL AND purged_at IS NULL AND deleted_at <= ${cutoff}
        ORDER BY deleted_at LIMIT 1 FOR UPDATE SKIP LOCKED`;
      if (!user) return null;
      return purgeUser(tx, deps.effects, user.id, now);
    });
    if (!done) break;
    // The cancelled bookings' live updates, once the purge is committed.
    for (const afterCommit of done.afterCommit) await afterCommit();
    purged += 1;
  }
  return purged;
}

/** The reason a booking cancelled by the purge gives in its history. */
export const ACCOUNT_DELETED_REASON = "the guest's account was deleted";

/**
 * Cancels, as the guest, the person's bookings still to come: nobody will come for them, and the
 * venue is told as for any cancellation. A confirmed booking whose time has come is the venue's
 * to settle. What to run once the transaction has committed.
 */
async function cancelBookingsToCome(
  tx: Tx,
  effects: BookingEffects,
  userId: string,
  now: Date,
): Promise<(() => Promise<void>)[]> {
  const live = await tx.booking.findMany({
    where: { guestId: userId, status: { in: ['REQUESTED', 'HELD', 'CONFIRMED'] } },
    select: { id: true, status: true, startsAt: true },
    orderBy: { startsAt: 'asc' },
  });
  const afterCommit: (() => Promise<void>)[] = [];
  for (const booking of live) {
    if (guestCancelRefusal(booking, now) || !canTransition(booking.status, 'CANCELLED_BY_GUEST', 'guest'))
      continue;
    const moved = await moveBookingOn(tx, effects, {
      bookingId: booking.id,
      to: 'CANCELLED_BY_GUEST',
      actorKind: 'guest',
      actorId: userId,
      reason: ACCOUNT_DELETED_REASON,
    });
    afterCommit.push(moved.afterCommit);
  }
  return afterCommit;
}

/**
 * The organisations of `organizationIds` nobody is in any more (their last member was this
 * account, which could leave them behind: src/domain/identity/account-deletion.ts), with no venue
 * and nothing of the money's record naming them: deleted, with their keys, webhook subscriptions,
 * invitations and scans. One the money's record names stays, with nobody in it (its keys are
 * refused: no owner is left).
 */
async function deleteLeftBehind(tx: Tx, organizationIds: string[]): Promise<void> {
  if (!organizationIds.length) return;
  await tx.$executeRaw`
    DELETE FROM organizations o
    WHERE o.id = ANY(${organizationIds}::uuid[])
      AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM venues v WHERE v.organization_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM venue_claims c
                      WHERE c.organization_id = o.id AND c.status IN ('PENDING', 'APPROVED'))
      AND NOT EXISTS (SELECT 1 FROM billing_customers b WHERE b.organization_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM billing_subscriptions s WHERE s.organization_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM usage_events u WHERE u.organization_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM booking_fees f WHERE f.organization_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM fee_invoices i WHERE i.organization_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM llm_usage l WHERE l.organization_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM ledger_accounts a
                      WHERE a.owner_kind = 'ORGANIZATION' AND a.owner_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM credits_refunds r WHERE r.organization_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM credits_disputes d WHERE d.organization_id = o.id)`;
}

/** Erases and anonymises one account's personal data (README, "Account deletion"). */
async function purgeUser(
  tx: Tx,
  effects: BookingEffects,
  userId: string,
  now: Date,
): Promise<{ afterCommit: (() => Promise<void>)[] }> {
  // First, so that what the cancellations write for the person (their notices) goes below too.
  const afterCommit = await cancelBookingsToCome(tx, effects, userId, now);
  // Questions staff have not answered yet: nobody is there to read the answer.
  await tx.$executeRaw`
    UPDATE venue_inbox_items SET status = 'CLOSED', resolved_at = ${now}
    WHERE guest_id = ${userId}::uuid AND status = 'OPEN'`;
  // What the person wrote and what was written to them, in their chats. A group (shared) is
  // everyone's who writes there, whoever opened it: only their own messages go from it (by the
  // sender, their identity on that platform), and it stays, with the others' messages and
  // summaries.
  await tx.$executeRaw`
    DELETE FROM inbound_events e USING chats c
    WHERE c.user_id = ${userId}::uuid AND NOT c.shared AND e.platform = c.platform
      AND e.account = c.account AND e.external_chat_id = c.external_chat_id`;
  await tx.$executeRaw`
    DELETE FROM inbound_events e USING chats c, channel_identities i
    WHERE c.shared AND i.user_id = ${userId}::uuid AND i.platform = c.platform
      AND e.platform = c.platform AND e.account = c.account AND e.external_chat_id = c.external_chat_id
      AND e.normalized->'sender'->>'externalId' = i.external_id`;
  await tx.$executeRaw`DELETE FROM outbound_messages WHERE user_id = ${userId}::uuid`;
  await tx.$executeRaw`DELETE FROM reminders WHERE user_id = ${userId}::uuid`;
  await tx.$executeRaw`DELETE FROM chats WHERE user_id = ${userId}::uuid AND NOT shared`;
  await tx.$executeRaw`DELETE FROM channel_identities WHERE user_id = ${userId}::uuid`;
  // What the agent knew, and the record of what it did for them.
  await tx.$executeRaw`DELETE FROM memories WHERE user_id = ${userId}::uuid`;
  // Summaries of their turns in a chat that is not theirs (a group another member opened).
  await tx.$executeRaw`DELETE FROM session_summaries WHERE user_id = ${userId}::uuid`;
  await tx.$executeRaw`DELETE FROM taste_edges WHERE user_id = ${userId}::uuid`;
  await tx.$executeRaw`DELETE FROM tool_calls WHERE user_id = ${userId}::uuid`;
  await tx.$executeRaw`DELETE FROM confirmations WHERE user_id = ${userId}::uuid`;
  // Sessions and sign-in.
  await tx.$executeRaw`DELETE FROM refresh_tokens WHERE user_id = ${userId}::uuid`;
  await tx.$executeRaw`
    DELETE FROM sign_in_codes WHERE email = (SELECT email FROM users WHERE id = ${userId}::uuid)`;
  const memberOf = await tx.membership.findMany({ where: { userId }, select: { organizationId: true } });
  await tx.$executeRaw`DELETE FROM memberships WHERE user_id = ${userId}::uuid`;
  await deleteLeftBehind(
    tx,
    memberOf.map((m) => m.organizationId),
  );
  // Deliveries: quotes never ordered go; an order stays (it was paid) without addresses or driver.
  await tx.$executeRaw`
    DELETE FROM delivery_quotes q WHERE q.user_id = ${userId}::uuid
      AND NOT EXISTS (SELECT 1 FROM delivery_orders o WHERE o.quote_id = q.id)`;
  await tx.$executeRaw`UPDATE delivery_quotes SET stops = '[]'::jsonb WHERE user_id = ${userId}::uuid`;
  await tx.$executeRaw`
    UPDATE delivery_orders SET driver = NULL, share_link = NULL WHERE user_id = ${userId}::uuid`;
  // Bookings stay the venue's record: without the guest's words; the request the venue's agent
  // received names a "Guest" and carries no notes.
  await tx.$executeRaw`
    UPDATE bookings SET notes = NULL, special_requests = NULL WHERE guest_id = ${userId}::uuid`;
  // Their reasons in the bookings' history (a cancellation's, a change's): what changed and when
  // stays, their words go.
  await tx.$executeRaw`
    UPDATE booking_transitions t
    SET reason = CASE WHEN t.reason IN ('created', ${ACCOUNT_DELETED_REASON}) THEN t.reason
                      WHEN t.from_status = t.to_status AND t.reason LIKE 'changed %'
                        THEN regexp_replace(t.reason, ' [(].*$', '', 's')
                      ELSE NULL END
    FROM bookings b
    WHERE t.booking_id = b.id AND b.guest_id = ${userId}::uuid
      AND (t.actor_kind = 'guest' OR t.actor_id = ${userId}::uuid) AND t.reason IS NOT NULL`;
  // Their words first (a wiki compile under way either holds them and its facts are deleted
  // below, or finds them gone: venue-wiki.ts `stillWritten`).
  // (In the compile's order, inbox items then feedback, so that neither waits on the other.)
  // Staff's answer to them alone (or why they declined) may name them and goes too; an answer
  // given for every guest is the venue's.
  await tx.$executeRaw`
    UPDATE venue_inbox_items
    SET guest_text = NULL, answer = CASE WHEN answer_for_all THEN answer ELSE NULL END
    WHERE guest_id = ${userId}::uuid`;
  await tx.$executeRaw`UPDATE booking_feedback SET comment = NULL WHERE guest_id = ${userId}::uuid`;
  // The venue's wiki kept a comment's words as a fact of its own (GUEST_FEEDBACK), and staff's
  // answer to their question keyed by their words (STAFF_ANSWER, when staff gave it to all): they
  // go with them, and the conflicts they were part of are settled again.
  const feedback = await tx.bookingFeedback.findMany({ where: { guestId: userId }, select: { id: true } });
  const asked = await tx.venueInboxItem.findMany({ where: { guestId: userId }, select: { id: true } });
  await forgetFacts(tx, {
    OR: [
      { source: 'GUEST_FEEDBACK', sourceRef: { in: feedback.map((f) => f.id) } },
      { source: 'STAFF_ANSWER', sourceRef: { in: asked.map((i) => i.id) } },
    ],
  });
  // A venue's FAQ showing a question in their words shows another guest's ask of it, or goes.
  await forgetGuestInFaq(tx, userId);
  // Their bookings' envelopes: no notes, no reason (a cancellation's), no change's notes.
  await tx.$executeRaw`
    UPDATE a2a_envelopes e SET envelope = NULL, payload = ${REDACTED_PAYLOAD}
    FROM bookings b WHERE e.booking_id = b.id AND b.guest_id = ${userId}::uuid`;
  // What went between their agent and venues that no booking links: their questions and the
  // answers, in their words, and the REJECTED copies of their requests and cancellations (a
  // replay, a resend after a crash: stored without a booking, with their name, notes and reason).
  // (Each by an index: what they sent by its sender, what they were sent by its recipient.)
  await tx.$executeRaw`
    UPDATE a2a_envelopes e SET envelope = NULL, payload = ${REDACTED_PAYLOAD}
    WHERE e.booking_id IS NULL AND e.from_agent = ${consumerAgentId(userId)}`;
  await tx.$executeRaw`
    UPDATE a2a_envelopes e SET envelope = NULL, payload = ${REDACTED_PAYLOAD}
    WHERE e.booking_id IS NULL AND e.to_agent = ${consumerAgentId(userId)}`;
  // Their own agent stops; the row stays for the envelopes and bookings that name it, without the
  // name they gave it or the contact they put in it.
  await tx.$executeRaw`
    UPDATE agents SET status = 'RETIRED', name = 'AGNT',
      dna = CASE WHEN jsonb_typeof(dna) = 'object'
                 THEN jsonb_set(dna || '{"escalationContact": null}'::jsonb, '{persona,name}', '"AGNT"'::jsonb, false)
                 ELSE dna END
    WHERE user_id = ${userId}::uuid`;
  // Invitations to their address name it, and so do their emails (kept under whoever sent them):
  // the organisations that sent them keep no record of it.
  await tx.$executeRaw`
    WITH address AS (SELECT email FROM users WHERE id = ${userId}::uuid),
    sent AS (
      DELETE FROM outbound_messages m USING organization_invitations i, address a
      WHERE i.email = a.email AND m.user_id = i.invited_by_id
        AND m.kind = 'organization.invitation' AND m.data->>'invitationId' = i.id::text)
    DELETE FROM organization_invitations WHERE email = (SELECT email FROM address)`;
  await tx.user.update({
    where: { id: userId },
    data: {
      email: null,
      displayName: null,
      profile: {},
      language: null,
      latitude: null,
      longitude: null,
      timeZone: null,
      reengagementOptIn: false,
      reengagedAt: null,
      forgottenMeanings: [],
      purgedAt: now,
    },
  });
  return { afterCommit };
}
