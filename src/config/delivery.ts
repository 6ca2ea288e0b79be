/** Delivery through Lalamove (API v3), and the weather and directions the agent's answers use. */
import { z } from 'zod';
import { optional, positiveInt, trimSlash, url } from './parse.ts';

export const deliveryEnv = z.object({
  LALAMOVE_API_KEY: optional(z.string().min(8)),
  LALAMOVE_API_SECRET: optional(z.string().min(8)),
  LALAMOVE_API_URL: url.default('https://rest.lalamove.com'),
  LALAMOVE_MARKET: z
    .string()
    .regex(/^[A-Z]{2}$/, 'a two-letter market code such as HK, SG or TH')
    .default('HK'),
  DELIVERY_CONFIRM_MINUTES: positiveInt.default(10),
});
type DeliveryEnv = z.output<typeof deliveryEnv>;

export const placesEnv = z.object({
  WEATHER_API_URL: url.default('https://api.open-meteo.com'),
  DIRECTIONS_API_URL: url.default('https://router.project-osrm.org'),
});
type PlacesEnv = z.output<typeof placesEnv>;

export function deliveryConfig(e: DeliveryEnv) {
  return {
    lalamove:
      e.LALAMOVE_API_KEY && e.LALAMOVE_API_SECRET
        ? {
            apiKey: e.LALAMOVE_API_KEY,
            apiSecret: e.LALAMOVE_API_SECRET,
            apiUrl: trimSlash(e.LALAMOVE_API_URL),
            market: e.LALAMOVE_MARKET,
          }
        : undefined,
    confirmMinutes: e.DELIVERY_CONFIRM_MINUTES,
  };
}

export function weatherConfig(e: PlacesEnv) {
  return { apiUrl: trimSlash(e.WEATHER_API_URL) };
}

export function directionsConfig(e: PlacesEnv) {
  return { apiUrl: trimSlash(e.DIRECTIONS_API_URL) };
}

export function deliveryProblems(e: DeliveryEnv): string[] {
  return (e.LALAMOVE_API_KEY === undefined) !== (e.LALAMOVE_API_SECRET === undefined)
    ? ['LALAMOVE_API_KEY, LALAMOVE_API_SECRET: set both or neither']
    : [];
}
