/**
 * The consumer side of the network: a person's own agent (`consumer-<userId>`) asking venues'
 * agents, and acting on their answers.
 *
 * - A guest's new REQUESTED booking at a venue whose agent is ACTIVE is a `booking.request`
 *   envelope from the guest's agent to the venue's, queued in the booking's own transaction
 *   (`venueAgentRequests`, a hook of the booking effects), with the check that tells the guest
 *   when no answer came in time (answer-due.ts). The same for every way a booking is made: chat,
 *   GraphQL, MCP, public A2A (an outside agent booking with an organisation's API key, source
 *   A2A); HELD bookings, bookings the venue's team makes and parties larger than a request
 *   carries (over 100, for the venue's team) are not requests to send.
 * - `askVenueAgent`: a person's question to a venue's agent (`venue.question`).
 * - `consumerAgentHandlers`: what the venue's answers mean, each in the handling's transaction.
 *   A venue agent of ours moves the booking itself with its answer (and the booking's effects tell
 *   the guest); an outside one does not share our bookings, so a booking still REQUESTED when its
 *   answer arrives is moved here.
 */
import { randomUUID } from 'node:crypto';
import type { A2aEnvelope, Booking, Venue } from '../../generated/prisma/client.ts';
import { consumerAgentId, parseAgentId, venueAgentId } from '../../integrations/clawpulse/wire.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { nameBasedUuid } from '../../platform/ids.ts';
import { jobToAdd } from '../../platform/jobs.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { ensureConsumerAgent, venueAgentPolicy, venueAgentPolicyOf } from '../agents/agents.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import { type BookingDeps, moveBookingOn } from '../bookings/bookings.ts';
import type { BookingChangeHook } from '../bookings/effects.ts';
import { bookingNoticeParams } from '../bookings/messages.ts';
import type { HandleContext, IntentHandler, IntentHandlers, VerifiedEnvelope } from '../envelopes/handle.ts';
import { INTENT_SCHEMAS } from '../envelopes/intents.ts';
import { queueEnvelope } from '../envelopes/outbox.ts';
import { queueNotice } from '../notices/notices.ts';
import { a2aAnswerDueTask, answerDueKey } from './answer-due.ts';

export interface ConsumerRequestSettings {
  keyring: SecretKeyring;
  /** The envelope's TTL (`A2A_ENVELOPE_TTL_MS`): the answer is due this long after the request. */
  envelopeTtlMs: number;
  now: () => Date;
}

/** The largest party a `booking.request` carries; a larger one is for the venue's team to answer. */
const LARGEST_REQUESTED_PARTY = INTENT_SCHEMAS['booking.request'].shape.partySize.maxValue ?? 100;

/** Whether a change is a guest's new request that the venue's agent must answer. */
function isNewGuestRequest(booking: Booking, from: string | null): boolean {
  return from === null && booking.status === 'REQUESTED' && booking.partySize <= LARGEST_REQUESTED_PARTY;
}

/**
 * The booking effects' hook that sends a guest's new request to the venue's ACTIVE agent: the
 * guest's consumer agent (made if need be: its key signs), the PENDING `booking.request` envelope
 * and the answer-due check, all in the booking's transaction. Venues without an active agent keep
 * the venue's team answering on the dashboard.
 */
export function venueAgentRequests(settings: ConsumerRequestSettings): BookingChangeHook {
  return async (tx, { booking, venue, from, known }) => {
    if (!isNewGuestRequest(booking, from)) return;
    const policy = known ? venueAgentPolicyOf(known.agent) : await venueAgentPolicy(tx, venue.id);
    if (!policy?.active) return;
    await queueBookingRequest(tx, settings, booking, venue);
  };
}

async function queueBookingRequest(
  tx: Tx,
  settings: ConsumerRequestSettings,
  booking: Booking,
  venue: Venue,
): Promise<void> {
  // The guest's name with their agent, which is made now if they have none.
  const guest = await tx.user.findUniqueOrThrow({
    where: { id: booking.guestId },
    select: { displayName: true, agent: { select: { id: true } } },
  });
  if (!guest.agent) await ensureConsumerAgent(tx, settings.keyring, booking.guestId);
  const now = settings.now();
  const rowId = randomUUID();
  // The request, its send and the check that an answer came, in one statement.
  await queueEnvelope(
    tx,
    {
      from: consumerAgentId(booking.guestId),
      to: venueAgentId(venue.id),
      intent: 'booking.request',
      payload: {
        venueId: venue.id,
        startsAt: booking.startsAt.toISOString(),
        partySize: booking.partySize,
        guestName: guest.displayName?.trim().slice(0, 200) || 'Guest',
        ...(booking.specialRequests?.trim() ? { notes: booking.specialRequests.trim() } : {}),
        clientKey: booking.clientKey ?? booking.id,
        bookingId: booking.id,
      },
      bookingId: booking.id,
      // Not worth answering once the booking itself would lapse.
      ...(booking.expiresAt ? { expiresAt: booking.expiresAt } : {}),
      now,
    },
    {
      rowId,
      jobs: [
        jobToAdd(
          a2aAnswerDueTask,
          { bookingId: booking.id, envelopeRowId: rowId },
          {
            runAt: new Date(now.getTime() + settings.envelopeTtlMs),
            jobKey: answerDueKey(booking.id),
            jobKeyMode: 'replace',
          },
        ),
      ],
    },
  );
}

/** Whether the booking was asked of the venue's agent (its `booking.request` was queued). */
export async function askedOfVenueAgent(db: DbOrTx, bookingId: string): Promise<boolean> {
  const request = await db.a2aEnvelope.findFirst({
    where: { bookingId, direction: 'OUTBOUND', intent: 'booking.request' },
    select: { id: true },
  });
  return request !== null;
}

/** Whether the venue has an ACTIVE agent that questions go to instead of its team's email. */
export async function venueAgentAnswers(db: DbOrTx, venueId: string): Promise<boolean> {
  return (await venueAgentPolicy(db, venueId))?.active === true;
}

/**
 * The id of the person's question asked under `key` (a chat turn's call, `callKey`): the same for
 * the same key, so the turn run again finds it asked. A new id without a key.
 */
export function venueQuestionId(userId: string, key: string | null): string {
  return key ? nameBasedUuid(`venue.question\u0000${userId}\u0000${key}`) : randomUUID();
}

/** Whether the question `questionId` was sent to a venue's agent already. */
export async function venueQuestionAsked(db: DbOrTx, questionId: string): Promise<boolean> {
  const asked = await db.a2aEnvelope.findFirst({
    where: { direction: 'OUTBOUND', envelopeId: questionId },
    select: { id: true },
  });
  return asked !== null;
}

/**
 * Sends the person's question to the venue's agent (`venue.question`), from their consumer agent.
 * Its answer comes back as a `venue.answer` envelope, which `consumerAgentHandlers` turns into a
 * notice. Returns the question's id (also the envelope's AGP id): `questionId` when given
 * (`venueQuestionId`), and then sent at most once.
 */
export async function askVenueAgent(
  db: Db,
  settings: Pick<ConsumerRequestSettings, 'keyring' | 'now'>,
  input: { userId: string; venueId: string; text: string; questionId?: string },
): Promise<{ questionId: string }> {
  const questionId = input.questionId ?? randomUUID();
  await db.$transaction(async (tx) => {
    if (input.questionId && (await venueQuestionAsked(tx, questionId))) return;
    await ensureConsumerAgent(tx, settings.keyring, input.userId);
    await queueEnvelope(tx, {
      from: consumerAgentId(input.userId),
      to: venueAgentId(input.venueId),
      intent: 'venue.question',
      payload: { text: input.text, questionId },
      envelopeId: questionId,
      now: settings.now(),
    });
  });
  return { questionId };
}

export interface ConsumerAgentDeps {
  /** The booking machine: a booking still REQUESTED is moved with its effects. */
  bookings: Pick<BookingDeps, 'effects' | 'now'>;
  /** `a2aDecisionSeconds`, for decisions no venue agent of ours timed (see observeDecision). */
  metrics?: Pick<Metrics, 'a2aDecisionSeconds'>;
}

type AnswerIntent = 'booking.accepted' | 'booking.declined' | 'booking.escalated';

/**
 * The consumer agents' intent handlers: `booking.accepted`, `booking.declined`,
 * `booking.escalated` and `venue.answer` to `consumer-<userId>`. Merged by the wiring with the
 * venue agent's handlers (they handle other intents). Each returns a note for the envelope's row.
 */
export function consumerAgentHandlers(deps: ConsumerAgentDeps): IntentHandlers {
  return {
    'booking.accepted': answerHandler(deps, 'booking.accepted'),
    'booking.declined': answerHandler(deps, 'booking.declined'),
    'booking.escalated': answerHandler(deps, 'booking.escalated'),
    'venue.answer': venueAnswerHandler(),
  };
}

function answerHandler<I extends AnswerIntent>(deps: ConsumerAgentDeps, intent: I): IntentHandler<I> {
  return async (tx, envelope, context) => {
    const found = await answeredBooking(tx, envelope);
    if ('note' in found) return found.note;
    const { booking, venue } = found;

    if (booking.status !== 'REQUESTED') {
      // The venue's agent (ours) or its staff moved it already, and its effects told the guest.
      return `booking already ${booking.status}`;
    }
    if (intent === 'booking.escalated') {
      await queueNotice(tx, {
        userId: booking.guestId,
        bookingId: booking.id,
        kind: 'booking.escalated',
        params: bookingNoticeParams(booking, venue),
        dedupeKey: `booking:${booking.id}:escalated`,
        data: { venueId: venue.id, envelopeId: envelope.envelopeId },
      });
      if (!(await venueAgentPolicy(tx, venue.id))) observeDecision(deps, envelope, intent, context);
      return 'guest told: the venue’s team is checking';
    }
    const to = intent === 'booking.accepted' ? 'CONFIRMED' : 'DECLINED';
    // The booking is held (answeredBooking) and REQUESTED: the system may make either move.
    const moved = await moveBookingOn(tx, deps.bookings.effects, {
      bookingId: booking.id,
      to,
      actorKind: 'system',
      actorId: null,
      reason:
        envelope.payload.reason ??
        (to === 'CONFIRMED' ? 'accepted by the venue’s agent' : 'declined by the venue’s agent'),
      onlyFrom: ['REQUESTED'],
      alternatives: (envelope.payload.alternatives ?? []).map((at) => new Date(at)),
    });
    observeDecision(deps, envelope, intent, context);
    context.afterCommit(moved.afterCommit);
    return `booking ${to}`;
  };
}

/** The booking an answer is about, when it is the recipient's own request at the sender's venue. */
async function answeredBooking(
  tx: Tx,
  envelope: VerifiedEnvelope<AnswerIntent>,
): Promise<{ booking: Booking; venue: Venue } | { note: string }> {
  const to = parseAgentId(envelope.to);
  const from = parseAgentId(envelope.from);
  if (to?.kind !== 'consumer') return { note: `not for a consumer agent (${envelope.to})` };
  // An answer to a change (`booking.modify`) or a cancellation says nothing of whether the venue
  // takes the booking: only a request's answer moves it.
  if (envelope.repliesTo && envelope.repliesTo.intent !== 'booking.request') {
    return { note: `answers a ${envelope.repliesTo.intent}, not a booking request` };
  }
  // Held to the end of the handling: what is told to the guest and the move agree on one status.
  await tx.$queryRaw`SELECT id FROM bookings WHERE id = ${envelope.payload.bookingId}::uuid FOR UPDATE`;
  const booking = await tx.booking.findUnique({
    where: { id: envelope.payload.bookingId },
    include: { venue: true },
  });
  if (!booking || booking.guestId !== to.id) return { note: 'no such booking of this person' };
  if (from?.kind !== 'venue' || from.id !== booking.venueId) {
    return { note: `not from the booking’s venue (${envelope.from})` };
  }
  const { venue, ...row } = booking;
  return { booking: row, venue };
}

/**
 * `a2aDecisionSeconds` for a decision no venue agent of ours recorded: an answer that moved a
 * booking still REQUESTED (a venue agent of ours moves it with its answer, and records its own
 * decisions), or an escalation from a venue with no agent of ours. From our request being queued
 * to its answer being handled, by outcome (accept, decline, escalate).
 */
function observeDecision(
  deps: ConsumerAgentDeps,
  envelope: VerifiedEnvelope<AnswerIntent>,
  intent: AnswerIntent,
  context: HandleContext,
) {
  const request = envelope.repliesTo;
  const metrics = deps.metrics;
  if (!metrics || request?.intent !== 'booking.request') return;
  const seconds = Math.max(0, (deps.bookings.now().getTime() - request.createdAt.getTime()) / 1000);
  context.afterCommit(() => metrics.a2aDecisionSeconds.observe({ outcome: OUTCOMES[intent] }, seconds));
}

const OUTCOMES: Record<AnswerIntent, string> = {
  'booking.accepted': 'accept',
  'booking.declined': 'decline',
  'booking.escalated': 'escalate',
};

function venueAnswerHandler(): IntentHandler<'venue.answer'> {
  return async (tx, envelope) => {
    const to = parseAgentId(envelope.to);
    const from = parseAgentId(envelope.from);
    if (to?.kind !== 'consumer') return `not for a consumer agent (${envelope.to})`;
    if (from?.kind !== 'venue') return `not from a venue’s agent (${envelope.from})`;
    const venue = await tx.venue.findUnique({ where: { id: from.id }, select: { id: true, name: true } });
    if (!venue) return 'no such venue';
    const person = await tx.user.findUnique({ where: { id: to.id }, select: { id: true } });
    if (!person) return 'no such person';
    // Only an answer to a question this person asked this venue reaches them: a venue's agent
    // cannot write to people who never asked it anything.
    const asked = await askedQuestion(tx, envelope);
    if (!asked) return 'not acted on: it answers no question this person asked the venue';
    const text = (asked.payload as { text?: unknown } | null)?.text;
    const question = typeof text === 'string' ? text : null;
    await queueNotice(tx, {
      userId: person.id,
      kind: 'venue.answer',
      params: { venue: venue.name, answer: envelope.payload.text, ...(question ? { question } : {}) },
      dedupeKey: `venue-answer:${envelope.envelopeId}`,
      data: { venueId: venue.id, envelopeId: envelope.envelopeId },
    });
    return 'person told the venue’s answer';
  };
}

/**
 * The question an answer goes with, when the recipient asked it of the sender: the envelope it
 * replies to, or its `questionId`; null for an answer to no question of theirs.
 */
async function askedQuestion(
  tx: Tx,
  envelope: VerifiedEnvelope<'venue.answer'>,
): Promise<A2aEnvelope | null> {
  const { repliesTo } = envelope;
  return repliesTo?.intent === 'venue.question' &&
    repliesTo.fromAgent === envelope.to &&
    repliesTo.toAgent === envelope.from
    ? repliesTo
    : envelope.payload.questionId
      ? await tx.a2aEnvelope.findFirst({
          where: {
            direction: 'OUTBOUND',
            intent: 'venue.question',
            envelopeId: envelope.payload.questionId,
            fromAgent: envelope.to,
            toAgent: envelope.from,
          },
        })
      : null;
}
