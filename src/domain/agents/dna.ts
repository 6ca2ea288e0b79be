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

export type AgentTool = (typeof AGENT_TOOLS)[number];

/**
 * The tool catalogue's version. DNA records the version it was written at (`toolsVersion`), so
 * that a tool added since can be told from a tool its owner left out (see storedDna).
 */
export const TOOLS_VERSION = 1;

/**
 * The version each tool joined the catalogue in, for tools added after version 1 (the catalogue
 * above as it stood when DNA began recording its version). Adding a tool: its name in
 * CONSUMER_TOOLS or VENUE_TOOLS, here with TOOLS_VERSION + 1, and TOOLS_VERSION raised; every DNA
 * written earlier then offers it, edited or not.
 */
export const TOOL_ADDED_IN: Partial<Record<AgentTool, number>> = {};

/**
 * Every default tool list an agent was given before DNA recorded its version (this file's history,
 * parallel branches included), as sets. A stored list with exactly the tools of one of them was
 * never edited (an edit that lands on an earlier default is taken for none), so the agent gets
 * today's default: without this, people whose agents were made before `leave_feedback`,
 * `set_reminder` or `suggest_venues` never got them, since a turn offers only the listed tools.
 * Frozen: never edit, never extend (versions take over).
 */
const UNVERSIONED_DEFAULTS: Record<'CONSUMER' | 'VENUE', readonly (readonly string[])[]> = (() => {
  const consumerFirst = [
    'search_venues',
    'get_venue_details',
    'check_availability',
    'create_booking',
    'modify_booking',
    'cancel_booking',
    'list_my_bookings',
    'get_weather',
    'get_directions',
    'remember',
    'recall',
    'update_profile',
    'ask_venue',
    'quote_delivery',
    'confirm_delivery',
    'get_delivery_status',
  ];
  const venueFirst = [
    'check_availability',
    'accept_booking',
    'decline_booking',
    'propose_alternative',
    'answer_question',
    'escalate_to_staff',
  ];
  const feedback = [...consumerFirst, 'leave_feedback'];
  return {
    CONSUMER: [
      consumerFirst,
      feedback,
      [...feedback, 'set_reminder'],
      [...feedback, 'suggest_venues'],
      [...feedback, 'set_reminder', 'suggest_venues'],
    ],
    VENUE: [venueFirst, [...venueFirst, 'venue_create_booking', 'venue_send_menu', 'escalate_to_human']],
  };
})();

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

/** DNA as written: valid then, with the catalogue version then (absent on DNA written before versions). */
export type StoredDna = AgentDna & { toolsVersion?: number };

/** What bringing a tool list up to date needs to know of the catalogue (one kind's). */
export interface ToolCatalogue {
  /** The kind's tools now, in the order they are offered; also its default list. */
  tools: readonly string[];
  /** The version a tool joined in; absent: version 1. */
  addedIn: Partial<Record<string, number>>;
  /** Default lists from before versions (UNVERSIONED_DEFAULTS). */
  unversionedDefaults: readonly (readonly string[])[];
}

/**
 * A stored tool list brought up to date, without overriding an owner's choice. Unversioned (written
 * before DNA recorded its version, so at version 1 at most): a list with exactly the tools of an
 * earlier default was never edited and becomes today's default; any other is taken as written at
 * version 1. Then every tool that joined the catalogue after the list's version is added, its
 * owner having had no chance to leave it out. Tools no longer in the catalogue are kept: dropping
 * one is a decision for a migration, not a read.
 */
export function toolsUpToDate(
  stored: { tools: readonly string[]; toolsVersion?: number },
  catalogue: ToolCatalogue,
): string[] {
  if (
    stored.toolsVersion === undefined &&
    catalogue.unversionedDefaults.some((d) => sameSet(d, stored.tools))
  ) {
    return [...catalogue.tools];
  }
  const version = stored.toolsVersion ?? 1;
  const added = catalogue.tools.filter(
    (tool) => (catalogue.addedIn[tool] ?? 1) > version && !stored.tools.includes(tool),
  );
  return [...stored.tools, ...added];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((x) => right.has(x));
}

/**
 * The DNA an agent acts by: its stored DNA with its tool list brought up to date (toolsUpToDate).
 * Every reader goes through this (a turn, the dashboard, the gateway's profile), so all see the
 * same tools; the row itself changes only when the DNA is written again.
 */
export function storedDna(kind: AgentKind, json: unknown): StoredDna {
  const dna = json as StoredDna;
  const tools = kind === 'CONSUMER' ? CONSUMER_TOOLS : kind === 'VENUE' ? VENUE_TOOLS : null;
  // The platform's own agent has no DNA (`{}`).
  if (!tools || !Array.isArray(dna.tools)) return dna;
  const upToDate = toolsUpToDate(dna, {
    tools,
    addedIn: TOOL_ADDED_IN,
    unversionedDefaults: UNVERSIONED_DEFAULTS[kind as 'CONSUMER' | 'VENUE'],
  });
  return { ...dna, tools: upToDate as AgentDna['tools'], toolsVersion: TOOLS_VERSION };
}

/**
 * Validates DNA for an agent of `kind`; a ValidationError names the field as the client sent it
 * (`tools.2`), the DNA's fields being the fields of its input. Venue agents may use venue tools
 * only and consumer agents consumer tools only.
 */
export function parseDna(kind: AgentKind, input: unknown): AgentDna {
  // DNA as read (defaults, storedDna) carries its toolsVersion: the writer sets it anew, so a
  // read-change-write is not refused for it.
  const record = input !== null && typeof input === 'object' && !Array.isArray(input);
  const { toolsVersion: _, ...fields } = record ? (input as Record<string, unknown>) : {};
  const dna = parseInput(dnaSchema, record ? fields : input);
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

export function defaultVenueDna(venueName: string): AgentDna & { toolsVersion: number } {
  return {
    persona: { name: `${venueName} concierge`, tone: 'warm', languages: ['en'] },
    capabilities: ['bookings', 'questions'],
    tools: [...VENUE_TOOLS],
    bookingPolicy: { autoAcceptWithinRules: true, askStaffAbovePartySize: 8, blackoutWindows: [] },
    escalationContact: null,
    toolsVersion: TOOLS_VERSION,
  };
}

export function defaultConsumerDna(): AgentDna & { toolsVersion: number } {
  return {
    persona: { name: 'AGNT', tone: 'friendly', languages: ['en'] },
    capabilities: ['bookings', 'questions', 'memory', 'delivery'],
    tools: [...CONSUMER_TOOLS],
    bookingPolicy: null,
    escalationContact: null,
    toolsVersion: TOOLS_VERSION,
  };
}
