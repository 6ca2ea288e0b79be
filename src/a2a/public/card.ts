/**
 * The network's agent card (`/.well-known/agent-card.json`): who we are, where the JSON-RPC
 * endpoint is, that it takes an organisation's API key as a bearer token, and the skills with the
 * structured requests (a DataPart) each takes. A2A 1.0 clients ask with `A2A-Version: 1.0` and get
 * the card in 1.0's JSON form; anyone else gets 0.3's (`url`, `preferredTransport`,
 * `protocolVersion`), the 1.0 interfaces beside it, as the A2A SDK's own compatibility layer does.
 */
import { AgentCard, type AgentSkill } from '@a2a-js/sdk';

export const CARD_PATH = '/.well-known/agent-card.json';
export const JSONRPC_PATH = '/a2a/jsonrpc';
export const AGENT_VERSION = '1.0.0';

/** The skills, by the `skill` a request names; each is one published tool. */
export const SKILLS = {
  search_venues: {
    tool: 'agnt.search_venues',
    name: 'Search venues',
    description:
      'Find restaurants, bars and cafés on the network. Send a DataPart { "skill": "search_venues", "query"?: string, "cuisines"?: string[], "category"?: "RESTAURANT"|"BAR"|"CAFE"|"CLUB"|"PUB"|"BAKERY"|"FOOD_TRUCK"|"OTHER", "price_max"?: 1-4, "latitude"?: number, "longitude"?: number, "radius_km"?: number, "limit"?: 1-20 }. The task completes at once with an artifact { totalCount, venues: [{ venueId, name, category, cuisines, priceLevel, area, distanceKm }] }.',
    tags: ['restaurants', 'search', 'venues'],
    examples: [
      '{"skill":"search_venues","query":"sushi","limit":5}',
      '{"skill":"search_venues","category":"BAR","latitude":38.71,"longitude":-9.14,"radius_km":2}',
    ],
  },
  check_availability: {
    tool: 'agnt.check_availability',
    name: 'Check availability',
    description:
      'Free start times at a venue on one of its local dates for a party. Send a DataPart { "skill": "check_availability", "venue_id": uuid, "date": "YYYY-MM-DD", "party_size": 1-50 }. The task completes at once with an artifact { venue, date, partySize, slots: [{ "date": "2026-12-24", "time": "19:00" }, …] } (24-hour, the venue’s time zone; each start with its own date, the next one for a time after midnight, and with its UTC offset, 02:00+10:00, for a time the clocks repeat: book it with that date and time).',
    tags: ['availability', 'tables'],
    examples: ['{"skill":"check_availability","venue_id":"<venueId>","date":"2026-12-24","party_size":2}'],
  },
  book_table: {
    tool: 'agnt.confirm_booking',
    name: 'Book a table',
    description:
      'Request a table for the API key’s member at a time check_availability gave. Send a DataPart { "skill": "book_table", "venue_id": uuid, "date": "YYYY-MM-DD", "time": "HH:MM", "party_size": 1-50, "special_requests"?: string }. Needs a key with the write scope (pro tier). The task follows the booking: working while the venue’s agent answers, input-required while the venue’s staff decide (nothing is needed from you: read the task again with tasks/get), completed once CONFIRMED, rejected when declined, failed when it lapses, canceled when cancelled. Its artifact is the booking { bookingId, venue, status, partySize, date, time, … }. The same table asked for twice is one booking.',
    tags: ['booking', 'reservation'],
    examples: [
      '{"skill":"book_table","venue_id":"<venueId>","date":"2026-12-24","time":"20:00","party_size":4,"special_requests":"window seat"}',
    ],
  },
} as const;

export type SkillId = keyof typeof SKILLS;

/** The card in A2A 1.0's own (protobuf) shape, for the SDK's request handler. */
export function agentCard(publicUrl: string): AgentCard {
  const url = new URL(JSONRPC_PATH, publicUrl).toString();
  const skills: AgentSkill[] = Object.entries(SKILLS).map(([id, skill]) => ({
    id,
    name: skill.name,
    description: skill.description,
    tags: [...skill.tags],
    examples: [...skill.examples],
    inputModes: ['application/json'],
    outputModes: ['application/json'],
    securityRequirements: [],
  }));
  return {
    name: 'AGNT',
    description:
      'Books tables at restaurants, bars and cafés on the AGNT network: search venues, check free times, book, and follow the venue’s answer. Requests are structured (a DataPart naming a skill); free text is not interpreted.',
    supportedInterfaces: [
      { url, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: '1.0' },
      { url, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: '0.3' },
    ],
    provider: { organization: 'AGNT', url: new URL('/', publicUrl).toString() },
    version: AGENT_VERSION,
    capabilities: { streaming: false, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: {
      apiKey: {
        scheme: {
          $case: 'httpAuthSecurityScheme',
          value: {
            description: 'An organisation API key as a bearer token: Authorization: Bearer <API key>',
            scheme: 'Bearer',
            bearerFormat: 'AGNT API key',
          },
        },
      },
    },
    securityRequirements: [{ schemes: { apiKey: { list: [] } } }],
    defaultInputModes: ['application/json', 'text/plain'],
    defaultOutputModes: ['application/json', 'text/plain'],
    skills,
    signatures: [],
  };
}

/** The card as A2A 1.0 clients read it (protobuf JSON). */
export function cardJson(card: AgentCard): unknown {
  return AgentCard.toJSON(card);
}

/** The card as A2A 0.3 clients read it, the 1.0 interfaces beside it for clients of either. */
export function legacyCardJson(card: AgentCard): Record<string, unknown> {
  const legacy = card.supportedInterfaces.find((i) => i.protocolVersion === '0.3')!;
  const bearer = card.securitySchemes.apiKey?.scheme;
  return {
    protocolVersion: '0.3.0',
    name: card.name,
    description: card.description,
    url: legacy.url,
    preferredTransport: 'JSONRPC',
    version: card.version,
    provider: card.provider,
    capabilities: { streaming: false, pushNotifications: false },
    securitySchemes:
      bearer?.$case === 'httpAuthSecurityScheme'
        ? {
            apiKey: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: bearer.value.bearerFormat,
              description: bearer.value.description,
            },
          }
        : {},
    security: [{ apiKey: [] }],
    defaultInputModes: card.defaultInputModes,
    defaultOutputModes: card.defaultOutputModes,
    skills: card.skills.map((skill) => ({
      id: skill.id,
      name: skill.name,
      description: skill.description,
      tags: skill.tags,
      examples: skill.examples,
      inputModes: skill.inputModes,
      outputModes: skill.outputModes,
    })),
    supportedInterfaces: (cardJson(card) as { supportedInterfaces: unknown }).supportedInterfaces,
  };
}
