/**
 * The intents our agents exchange (CLAWPULSE.md, "Intents between agents") and the schema of each
 * one's payload. An inbound envelope whose intent is not here, or whose payload does not pass its
 * schema, is REJECTED before anything acts on it; an outbound one is checked when it is queued,
 * so we never send what we would refuse.
 *
 * Free text (guest names, notes, questions, answers, reasons) is bounded here and is untrusted
 * wherever a model reads it.
 */
import { z } from 'zod';

const instant = z.iso.datetime({ offset: true });
const text = (max: number) => z.string().trim().min(1).max(max);

/** `booking.accepted` / `booking.declined` / `booking.escalated`: the venue's answer to a request. */
const bookingAnswer = z.strictObject({
  bookingId: z.uuid(),
  reason: text(2000).optional(),
  /** Free start times to offer instead (declined), ISO with offset. */
  alternatives: z.array(instant).max(20).optional(),
});

const freeText = z.strictObject({
  text: text(2000),
  /** Pairs an answer with its question (the question envelope's id, or the asker's own id). */
  questionId: z.uuid().optional(),
});

export const INTENT_SCHEMAS = {
  /** consumer → venue: please book this. */
  'booking.request': z.strictObject({
    venueId: z.uuid(),
    startsAt: instant,
    partySize: z.number().int().min(1).max(100),
    guestName: text(200),
    notes: text(2000).optional(),
    /** The requester's idempotency key: the same key asks for the same booking. */
    clientKey: text(200),
    /** The requester's booking, when both agents are on this platform (it is REQUESTED meanwhile). */
    bookingId: z.uuid().optional(),
  }),
  'booking.accepted': bookingAnswer,
  'booking.declined': bookingAnswer,
  'booking.escalated': bookingAnswer,
  /** consumer → venue: change a booking. */
  'booking.modify': z.strictObject({
    bookingId: z.uuid(),
    change: z
      .strictObject({
        startsAt: instant.optional(),
        partySize: z.number().int().min(1).max(100).optional(),
        notes: text(2000).optional(),
      })
      .refine((change) => Object.keys(change).length > 0, 'says nothing to change'),
  }),
  /** consumer → venue: cancel a booking. */
  'booking.cancel': z.strictObject({ bookingId: z.uuid(), reason: text(2000) }),
  'venue.question': freeText,
  'venue.answer': freeText,
  /** any → any: are you there? Nothing to do but record it. */
  'network.ping': z.object({}),
} as const satisfies Record<string, z.ZodType>;

export type Intent = keyof typeof INTENT_SCHEMAS;

export const INTENTS = Object.keys(INTENT_SCHEMAS) as Intent[];

/** The payload of an intent, as its schema outputs it. */
export type IntentPayload<I extends Intent = Intent> = z.output<(typeof INTENT_SCHEMAS)[I]>;

export function isIntent(value: unknown): value is Intent {
  return typeof value === 'string' && Object.hasOwn(INTENT_SCHEMAS, value);
}

/** The payload parsed by its intent's schema, or the reason it does not pass. */
export function parseIntentPayload<I extends Intent>(
  intent: I,
  payload: unknown,
): { ok: true; payload: IntentPayload<I> } | { ok: false; reason: string } {
  const parsed = INTENT_SCHEMAS[intent].safeParse(payload);
  return parsed.success
    ? { ok: true, payload: parsed.data as IntentPayload<I> }
    : { ok: false, reason: z.prettifyError(parsed.error).slice(0, 500) };
}
