/**
 * The consumer agent, assembled: its 18 tools (each a definition of the one tool contract,
 * src/domain/tools, the same ones MCP and public A2A publish where they serve API keys), and its turn (turn.ts) with its
 * sessions, memory, confirmations and prompt facts. services.ts builds one per process.
 */

import type { Config } from '../../config/index.ts';
import type { DirectionsClient } from '../../integrations/directions/osrm.ts';
import type { WeatherClient } from '../../integrations/weather/open-meteo.ts';
import type { Database } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { RateLimiter } from '../../platform/rate-limit.ts';
import type { Locks } from '../../platform/user-lock.ts';
import { CONSUMER_TOOLS } from '../agents/dna.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import type { BookingDeps } from '../bookings/bookings.ts';
import type { InboundHandler } from '../channels/inbound.ts';
import type { ChannelSenders } from '../channels/outbound.ts';
import { recordHeldOutcome, releaseConfirmation, useHeldAction } from '../confirmations/confirmations.ts';
import type { DeliveryDeps } from '../delivery/deps.ts';
import type { RevokedSessions } from '../identity/revoked-sessions.ts';
import type { MemorySearch } from '../memory/embeddings.ts';
import { forgetAll, forgetMatching, listMemories } from '../memory/memories.ts';
import { recordSessionSummary } from '../memory/summaries.ts';
import { askVenueTool } from '../tools/ask-venue.ts';
import {
  cancelBookingTool,
  createBookingTool,
  leaveFeedbackTool,
  listMyBookingsTool,
  modifyBookingTool,
} from '../tools/bookings.ts';
import { deliveryTools } from '../tools/delivery.ts';
import { memoryTools } from '../tools/memory.ts';
import { setReminderTool } from '../tools/reminders.ts';
import { suggestVenuesTool } from '../tools/suggestions.ts';
import { directionsTool, weatherTool } from '../tools/surroundings.ts';
import { checkAvailabilityTool, searchVenuesTool, venueDetailsTool } from '../tools/venues.ts';
import { createFactsGatherer } from './facts.ts';
import type { LlmGateway } from './messages.ts';
import { compactSession, forStorage, type SessionStore } from './sessions.ts';
import type { Tool } from './tools.ts';
import { createConsumerAgent } from './turn.ts';

export interface ConsumerAgentServices {
  config: Config;
  database: Database;
  logger: Logger;
  now: () => Date;
  llm: LlmGateway;
  sessions: SessionStore;
  locks: Locks;
  senders: ChannelSenders;
  bookings: BookingDeps;
  limiter: RateLimiter;
  /** Agents' signing keys: a question to a venue's agent is signed by the person's own agent. */
  keyring: SecretKeyring;
  weather: WeatherClient;
  directions: DirectionsClient;
  delivery: DeliveryDeps;
  /** Vectors for recall, when an embedder is configured. */
  memorySearch: MemorySearch | undefined;
  revokedSessions: RevokedSessions;
}

/** The consumer agent's tools, in the order of CONSUMER_TOOLS. */
export function consumerTools(services: ConsumerAgentServices): Tool[] {
  const db = services.database.prisma;
  const all = [
    searchVenuesTool({ db }),
    suggestVenuesTool({ db }),
    venueDetailsTool({ db }),
    checkAvailabilityTool({ db }),
    createBookingTool({ db, bookings: services.bookings }),
    modifyBookingTool({ db, bookings: services.bookings }),
    cancelBookingTool({ db, bookings: services.bookings }),
    listMyBookingsTool({ db }),
    leaveFeedbackTool({ db }),
    weatherTool({ db, weather: services.weather, directions: services.directions }),
    directionsTool({ db, weather: services.weather, directions: services.directions }),
    ...memoryTools({ db, search: services.memorySearch }),
    setReminderTool({ db }),
    askVenueTool({
      db,
      limiter: services.limiter,
      keyring: services.keyring,
      now: services.now,
    }),
    ...deliveryTools(services.delivery),
  ] as Tool[];
  const byName = new Map(all.map((tool) => [tool.name, tool]));
  return CONSUMER_TOOLS.map((name) => {
    const tool = byName.get(name);
    // CONSUMER_TOOLS (the DNA's list) and the tools here are one set; a name without a tool is a bug.
    if (!tool) throw new Error(`CONSUMER_TOOLS names ${name}, which has no tool`);
    return tool;
  });
}

export function consumerAgentHandler(services: ConsumerAgentServices): InboundHandler {
  const db = services.database.prisma;
  return createConsumerAgent({
    database: services.database,
    gateway: services.llm,
    locks: services.locks,
    senders: services.senders,
    tools: consumerTools(services),
    logger: services.logger,
    now: services.now,
    toolTimeoutMs: services.config.llm.toolTimeoutMs,
    historyTokens: services.config.sessions.historyTokens,
    unavailableRetryMs: services.config.consumerAgent.unavailableRetryMs,
    giveUpAfterMs: services.config.consumerAgent.giveUpAfterMs,
    revokedSessions: services.revokedSessions,
    sessions: {
      load: (chat) => services.sessions.load(chat),
      save: (chat, session) => services.sessions.save(chat, session),
      clear: (chat) => services.sessions.clear(chat),
      compact: (session, options) => compactSession(session, { ...options, logger: services.logger }),
      forStorage,
    },
    memory: {
      list: async (userId) => (await listMemories(db, userId, { first: 20 })).memories.map((m) => m.content),
      forgetAll: (userId) => forgetAll(db, userId, { now: services.now }),
      keepSummary: (input) => recordSessionSummary(db, input),
      forgetMatching: async (userId, words) =>
        (await forgetMatching(db, userId, words)).map((m) => m.content),
    },
    confirmations: {
      release: (userId, message) => releaseConfirmation(db, userId, message, services.now()),
      useHeldAction: (userId, actionId, eventId) =>
        useHeldAction(db, userId, actionId, services.now(), eventId),
      recordHeldOutcome: (userId, actionId, outcome) => recordHeldOutcome(db, userId, actionId, outcome),
    },
    facts: createFactsGatherer({
      db,
      weather: services.weather,
      logger: services.logger,
      memorySearch: services.memorySearch,
    }),
  });
}
