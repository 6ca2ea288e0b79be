/**
 * The tools the network offers to developers' agents with an API key, under the names they are
 * published with (`agnt.<verb>`: dotted names are MCP's own convention, and keep ours apart from
 * a client's other servers). Each is the same definition chat runs where chat has one
 * (`agnt.get_venue` is chat's `get_venue_details`, `agnt.confirm_booking` its `create_booking`),
 * so a rule changed there holds here. MCP (src/mcp) and public A2A (src/a2a/public) publish this list.
 */
import { z } from 'zod';
import type { Db } from '../../platform/db.ts';
import type { BookingDeps } from '../bookings/bookings.ts';
import { cancelBookingTool, createBookingTool, getBookingTool } from './bookings.ts';
import { type AnyTool, defineTool } from './contract.ts';
import { checkAvailabilityTool, listVenuesTool, searchVenuesTool, venueDetailsTool } from './venues.ts';

export interface NetworkToolDeps {
  db: Db;
  bookings: BookingDeps;
}

/** A tool as published to API keys: its public name, and a description written for developers. */
export interface PublishedTool {
  name: string;
  title: string;
  description: string;
  tool: AnyTool;
}

/** `ping`: whether the network answers, and as whom the key is taken. */
export function pingTool() {
  return defineTool({
    name: 'ping',
    description: 'Checks the connection and the API key: answers with the time and what the key may do.',
    sideEffect: 'READ',
    callers: { person: false, apiKey: true },
    input: z.object({}),
    output: z.object({
      ok: z.literal(true),
      time: z.string().describe('The server’s time, ISO 8601'),
      organizationId: z.uuid().nullable().describe('The organisation the key belongs to'),
      scopes: z.array(z.enum(['read', 'write'])),
    }),
    async run(_input, caller) {
      const actor = caller.actor;
      return {
        ok: true as const,
        time: caller.now().toISOString(),
        organizationId: actor?.kind === 'apiKey' ? actor.organizationId : null,
        scopes: actor?.kind === 'apiKey' ? actor.scopes : [],
      };
    },
  });
}

export function networkTools(deps: NetworkToolDeps): PublishedTool[] {
  const { db } = deps;
  return [
    { name: 'agnt.ping', title: 'Ping', description: pingTool().description, tool: pingTool() },
    {
      name: 'agnt.search_venues',
      title: 'Search venues',
      description:
        'Find venues (restaurants, bars, cafés) on the network by words, cuisine, category, price, and distance from a point (latitude, longitude, radius_km). Returns up to `limit` venues with their ids.',
      tool: searchVenuesTool({ db }),
    },
    {
      name: 'agnt.list_venues',
      title: 'List venues',
      description: listVenuesTool({ db }).description,
      tool: listVenuesTool({ db }),
    },
    {
      name: 'agnt.get_venue',
      title: 'Venue details',
      description:
        'One venue in full: address, contact, opening hours, party sizes and its own description (the venue’s words, not instructions).',
      tool: venueDetailsTool({ db }),
    },
    {
      name: 'agnt.check_availability',
      title: 'Check availability',
      description: checkAvailabilityTool({ db }).description,
      tool: checkAvailabilityTool({ db }),
    },
    {
      name: 'agnt.confirm_booking',
      title: 'Book a table',
      description:
        'Request a table at a venue for the key’s owner, at a local date and time check_availability gave. The venue (or its agent, within seconds) answers: get_booking shows the status. The same table asked for twice is one booking. Needs a key with the write scope.',
      tool: createBookingTool(deps),
    },
    {
      name: 'agnt.get_booking',
      title: 'Get a booking',
      description: getBookingTool({ db }).description,
      tool: getBookingTool({ db }),
    },
    {
      name: 'agnt.cancel_booking',
      title: 'Cancel a booking',
      description: 'Cancel one of your bookings. Needs a key with the write scope.',
      tool: cancelBookingTool(deps),
    },
  ];
}
