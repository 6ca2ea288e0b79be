/**
 * An agent's "DNA": who it is (persona), what it can do (capabilities, tools), and for a venue
 * agent how it decides bookings (policy) and whom it calls when it cannot (escalation contact).
 * Stored as JSON on the agent; this schema is the only way in, so unknown tools or capabilities
 * never reach the database.
 */
import { z } from 'zod';
import type { AgentKind } from '../../generated/prisma/enums.ts';
import { ValidationError } from '../../platform/errors.ts';
import { parseInput } from '../validation.ts';

/** Tools the consumer agent may be given (the conversation issue implements them). */
export const CONSUMER_TOOLS = [
  'search_venues',
  'suggest_venues',
  'get_venue_details',
  'check_availability',
  'create_booking',
  'modify_booking',
  'cancel_booking',
  'list_my_bookings',
  'leave_feedback',
  'get_weather',
  'get_directions',
  'remember',
  'recall',
  'update_profile',
  'set_reminder',
  'ask_venue',
  'quote_delivery',
  'confirm_delivery',
  'get_delivery_status',
] as const;

/** Tools a venue's business agent may be given. */
export const VENUE_TOOLS = [
  'check_availability',
  'accept_booking',
  'decline_booking',
  'propose_alternative',
  'answer_question',
  'escalate_to_staff',
  'venue_create_booking',
  'venue_send_menu',
  'escalate_to_human',
] as const;

export const AGENT_TOOLS = [...new Set([...CONSUMER_TOOLS, ...VENUE_TOOLS])] as const;

export const CAPABILITIES = [
  'bookings',
  'questions',
  'waitlist',
  'events',
  'menu',
  'delivery',
  'memory',
] as const;

export const TONES = ['warm', 'friendly', 'formal', 'playful', 'concise'] as const;

const languageTag = z.string().regex(/^[a-z]{2,3}(-[A-Z]{2})?$/, 'Use a language tag such as en or pt-BR');

const personaSchema = z.object({
  name: z.string().trim().min(1, 'Give the agent a name').max(60),
  tone: z.enum(TONES, { error: `Tone is one of ${TONES.join(', ')}` }),
  languages: z.array(languageTag).min(1, 'At least one language').max(10),
});

const bookingPolicySchema = z
  .object({
    /** Accept requests that fit the booking rules without asking anyone. */
    autoAcceptWithinRules: z.boolean(),
    /** Parties larger than this go to staff; null: never. */
    askStaffAbovePartySize: z.number().int().min(1).max(500).nullable(),
    /** Times no booking is taken (private events, renovations). */
    blackoutWindows: z
      .array(
        z
          .object({
            startsAt: z.iso.datetime({ offset: true }),
            endsAt: z.iso.datetime({ offset: true }),
            reason: z.string().max(200).optional(),
          })
          .refine((w) => Date.parse(w.startsAt) < Date.parse(w.endsAt), {
            message: 'A window ends after it starts',
            path: ['endsAt'],
          }),
      )
      .max(100),
  })
  .strict();

const escalationSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    email: z.email().optional(),
    phone: z
      .string()
      .regex(/^\+[1-9]\d{6,14}$/, 'Use an international number such as +351912345678')
      .optional(),
  })
  .refine((c) => c.email || c.phone, { message: 'Give an email or a phone number', path: ['email'] });

export const dnaSchema = z
  .object({
    persona: personaSchema,
    capabilities: z
      .array(z.enum(CAPABILITIES, { error: (i) => `Unknown capability "${String(i.input)}"` }))
      .max(20),
    tools: z.array(z.enum(AGENT_TOOLS, { error: (i) => `Unknown tool "${String(i.input)}"` })).max(40),
    bookingPolicy: bookingPolicySchema.nullable().default(null),
    escalationContact: escalationSchema.nullable().default(null),
  })
  .strict();

export type AgentDna = z.output<typeof dnaSchema>;

/**
 * Validates DNA for an agent of `kind`; a ValidationError names the field as the client sent it
 * (`tools.2`), the DNA's fields being the fields of its input. Venue agents may use venue tools
 * only and consumer agents consumer tools only.
 */
export function parseDna(kind: AgentKind, input: unknown): AgentDna {
  const dna = parseInput(dnaSchema, input);
  const allowed: readonly string[] =
    kind === 'VENUE' ? VENUE_TOOLS : kind === 'CONSUMER' ? CONSUMER_TOOLS : AGENT_TOOLS;
  const tools = z.array(
    z.string().refine((tool) => allowed.includes(tool), {
      error: (i) => `A ${kind.toLowerCase()} agent cannot use the tool "${String(i.input)}"`,
    }),
  );
  parseInput(tools, dna.tools, 'tools');
  if (kind !== 'VENUE' && dna.bookingPolicy) {
    throw new ValidationError('Only venue agents have a booking policy', 'bookingPolicy');
  }
  return { ...dna, capabilities: [...new Set(dna.capabilities)], tools: [...new Set(dna.tools)] };
}

export function defaultVenueDna(venueName: string): AgentDna {
  return {
    persona: { name: `${venueName} concierge`, tone: 'warm', languages: ['en'] },
    capabilities: ['bookings', 'questions'],
    tools: [...VENUE_TOOLS],
    bookingPolicy: { autoAcceptWithinRules: true, askStaffAbovePartySize: 8, blackoutWindows: [] },
    escalationContact: null,
  };
}

export function defaultConsumerDna(): AgentDna {
  return {
    persona: { name: 'AGNT', tone: 'friendly', languages: ['en'] },
    capabilities: ['bookings', 'questions', 'memory', 'delivery'],
    tools: [...CONSUMER_TOOLS],
    bookingPolicy: null,
    escalationContact: null,
  };
}
