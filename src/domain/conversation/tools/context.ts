/**
 * `get_weather` and `get_directions`: where the person is (their shared location or profile) or a
 * venue, to the weather there and the way there.
 */
import { z } from 'zod';
import type { DirectionsClient } from '../../../integrations/directions/osrm.ts';
import type { WeatherClient } from '../../../integrations/weather/open-meteo.ts';
import type { Db } from '../../../platform/db.ts';
import { requireVenue } from '../../venues/venues.ts';
import { getDirections, getWeather, type LatLng, transportHints } from '../context-data.ts';
import { defineTool, personAccess, personLocation, type ToolContext, ToolRefusal } from '../tools.ts';

export interface ContextToolDeps {
  db: Db;
  weather: WeatherClient;
  directions: DirectionsClient;
}

const point = z.object({ latitude: z.number().min(-90).max(90), longitude: z.number().min(-180).max(180) });

async function venueLocation(
  db: Db,
  context: ToolContext,
  venueId: string,
): Promise<LatLng & { name: string }> {
  const venue = await requireVenue(db, personAccess(db, context), venueId);
  if (venue.latitude == null || venue.longitude == null) {
    throw new ToolRefusal('NO_LOCATION', `${venue.name} has not said where exactly it is`);
  }
  return { latitude: venue.latitude, longitude: venue.longitude, name: venue.name };
}

export function contextTools(deps: ContextToolDeps) {
  const { db } = deps;

  const weather = defineTool({
    name: 'get_weather',
    description:
      'The weather now or at a time in the next three days: at a venue, at a point, or (by default) where the person is.',
    sideEffect: 'READ',
    input: z.object({
      venue_id: z.uuid().optional(),
      location: point.optional(),
      at: z.iso.datetime({ offset: true }).optional().describe('ISO time with offset; omit for now'),
    }),
    async run(input, context, signal) {
      const where = input.venue_id
        ? await venueLocation(db, context, input.venue_id)
        : (input.location ?? (await personLocation(db, context)));
      if (!where)
        throw new ToolRefusal(
          'NO_LOCATION',
          'Where the person is is unknown: ask them to share their location',
        );
      const report = await getWeather(
        deps.weather,
        {
          latitude: where.latitude,
          longitude: where.longitude,
          at: input.at ? new Date(input.at) : undefined,
        },
        { now: context.now, signal },
      );
      return report;
    },
  });

  const directions = defineTool({
    name: 'get_directions',
    description:
      'How far and how long from where the person is (or a given point) to a venue or point, on foot, by bike or by car.',
    sideEffect: 'READ',
    input: z.object({
      to_venue_id: z.uuid().optional(),
      to: point.optional(),
      from: point.optional(),
      mode: z.enum(['walking', 'cycling', 'driving']).optional(),
    }),
    async run(input, context, signal) {
      const from = input.from ?? (await personLocation(db, context));
      if (!from)
        throw new ToolRefusal(
          'NO_LOCATION',
          'Where the person is is unknown: ask them to share their location',
        );
      const to = input.to_venue_id ? await venueLocation(db, context, input.to_venue_id) : input.to;
      if (!to) throw new ToolRefusal('NO_DESTINATION', 'Say which venue or point to go to');
      const mode = input.mode ?? 'walking';
      const route = await getDirections(deps.directions, { from, to, mode }, { signal });
      return { ...route, hint: transportHints({ from, to, routes: { [mode]: route } }) };
    },
  });

  return [weather, directions];
}
