/**
 * `get_weather` and `get_directions`: from where the person is (their shared location or
 * profile's) or a point, to the weather there and the way to a venue or point.
 *
 * For people only. They serve a person's own outing: their default place is the person's
 * location, and each call spends the free weather and routing services we use on the person's
 * behalf. A developer's agent has its own sources for both; offering them to API keys would make
 * us a proxy of those services, not the network's own answers.
 */
import { z } from 'zod';
import type { DirectionsClient } from '../../integrations/directions/osrm.ts';
import type { WeatherClient } from '../../integrations/weather/open-meteo.ts';
import type { Db } from '../../platform/db.ts';
import { getDirections, getWeather, type LatLng, transportHints } from '../surroundings/weather-travel.ts';
import { requireVenue } from '../venues/venues.ts';
import { callerAccess, callerLocation, defineTool, type ToolCaller, ToolRefusal } from './contract.ts';

export interface SurroundingsToolDeps {
  db: Db;
  weather: WeatherClient;
  directions: DirectionsClient;
}

const point = z.object({ latitude: z.number().min(-90).max(90), longitude: z.number().min(-180).max(180) });

async function venueLocation(
  db: Db,
  caller: ToolCaller,
  venueId: string,
): Promise<LatLng & { name: string }> {
  const venue = await requireVenue(db, callerAccess(db, caller), venueId);
  if (venue.latitude == null || venue.longitude == null) {
    throw new ToolRefusal('NO_LOCATION', `${venue.name} has not said where exactly it is`);
  }
  return { latitude: venue.latitude, longitude: venue.longitude, name: venue.name };
}

/** `get_weather`: the weather now or at an hour of the next three days. */
export function weatherTool(deps: SurroundingsToolDeps) {
  const { db } = deps;
  return defineTool({
    name: 'get_weather',
    description:
      'The weather now or at a time in the next three days: at a venue, at a point, or (by default) where the person is.',
    sideEffect: 'READ',
    callers: { person: true },
    input: z.object({
      venue_id: z.uuid().optional(),
      location: point.optional(),
      at: z.iso.datetime({ offset: true }).optional().describe('ISO time with offset; omit for now'),
    }),
    output: z.object({
      summary: z.string().describe('The weather in words, e.g. "light rain"'),
      temperatureC: z.number().nullable(),
      precipitationProbability: z.number().nullable().describe('Chance of rain that hour, in percent'),
      at: z.string().describe('The moment asked about, ISO'),
      localTime: z.string().describe('The local time of the forecast used'),
      timeZone: z.string(),
      wet: z.boolean().describe('Rain, snow or showers are falling or likely'),
    }),
    async run(input, caller, signal) {
      const where = input.venue_id
        ? await venueLocation(db, caller, input.venue_id)
        : (input.location ?? (await callerLocation(db, caller)));
      if (!where)
        throw new ToolRefusal(
          'NO_LOCATION',
          'Where the person is is unknown: ask them to share their location',
        );
      return getWeather(
        deps.weather,
        {
          latitude: where.latitude,
          longitude: where.longitude,
          at: input.at ? new Date(input.at) : undefined,
        },
        { now: caller.now, signal },
      );
    },
  });
}

/** `get_directions`: how far and how long to a venue or point, in one mode. */
export function directionsTool(deps: SurroundingsToolDeps) {
  const { db } = deps;
  return defineTool({
    name: 'get_directions',
    description:
      'How far and how long from where the person is (or a given point) to a venue or point, on foot, by bike or by car.',
    sideEffect: 'READ',
    callers: { person: true },
    input: z.object({
      to_venue_id: z.uuid().optional(),
      to: point.optional(),
      from: point.optional(),
      mode: z.enum(['walking', 'cycling', 'driving']).optional(),
    }),
    output: z.object({
      distanceMeters: z.number(),
      durationMinutes: z.number(),
      mode: z.enum(['walking', 'cycling', 'driving']),
      estimated: z.boolean().describe('The time is worked out from the distance, not routed'),
      hint: z.string().describe('How to get there, in a sentence'),
    }),
    async run(input, caller, signal) {
      const from = input.from ?? (await callerLocation(db, caller));
      if (!from)
        throw new ToolRefusal(
          'NO_LOCATION',
          'Where the person is is unknown: ask them to share their location',
        );
      const to = input.to_venue_id ? await venueLocation(db, caller, input.to_venue_id) : input.to;
      if (!to) throw new ToolRefusal('NO_DESTINATION', 'Say which venue or point to go to');
      const mode = input.mode ?? 'walking';
      const route = await getDirections(deps.directions, { from, to, mode }, { signal });
      return { ...route, hint: transportHints({ from, to, routes: { [mode]: route } }) };
    },
  });
}
