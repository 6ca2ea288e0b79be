/**
 * Weather and travel around a place: what the `get_weather` and `get_directions` tools answer
 * (src/domain/tools/surroundings.ts), and the short weather and transport hints the consumer
 * agent's system prompt carries (conversation/facts.ts). An area of its own so that both can use
 * it. Plain inputs and results; the outside services are behind the clients passed in.
 */
import { type DirectionsClient, DirectionsError } from '../../integrations/directions/osrm.ts';
import type { Forecast, WeatherClient } from '../../integrations/weather/open-meteo.ts';
import { dateParts } from '../../platform/dates.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';

export interface LatLng {
  latitude: number;
  longitude: number;
}

export type TravelMode = 'walking' | 'driving' | 'cycling';

export interface WeatherReport {
  /** The WMO weather code in words, e.g. "light rain". */
  summary: string;
  temperatureC: number | null;
  /** Chance of precipitation in that hour, in percent. */
  precipitationProbability: number | null;
  /** The moment asked about (now, when none was given), ISO. */
  at: string;
  /** The local wall-clock time of the forecast used, `YYYY-MM-DDTHH:mm`. */
  localTime: string;
  timeZone: string;
  /** Rain, snow or showers are falling or likely (≥ 50%): worth a word, and maybe a taxi. */
  wet: boolean;
}

export interface Directions {
  distanceMeters: number;
  durationMinutes: number;
  mode: TravelMode;
  /**
   * True when the duration is worked out from the distance rather than taken from the router,
   * because the router's answer was not plausible for the mode (see getDirections).
   */
  estimated: boolean;
}

/**
 * The weather at a point now (the current observation), or at `at` (that hour of the forecast,
 * which reaches three days ahead; beyond it is a ValidationError on `at`).
 */
export async function getWeather(
  client: WeatherClient,
  input: LatLng & { at?: Date },
  options: { now?: () => Date; signal?: AbortSignal } = {},
): Promise<WeatherReport> {
  checkPoint(input, '');
  if (input.at && Number.isNaN(input.at.getTime())) throw new ValidationError('Not a valid time', 'at');
  const forecast = await client.forecast(
    { latitude: input.latitude, longitude: input.longitude },
    { signal: options.signal },
  );
  const now = options.now?.() ?? new Date();

  if (!input.at) {
    const hour = slotAt(forecast, now);
    const code = forecast.current.weatherCode;
    const probability = hour?.precipitationProbability ?? null;
    return {
      summary: describeWeatherCode(code),
      temperatureC: forecast.current.temperatureC,
      precipitationProbability: probability,
      at: now.toISOString(),
      localTime: forecast.current.time,
      timeZone: forecast.timeZone,
      wet: isWet(code, probability),
    };
  }

  const hour = slotAt(forecast, input.at);
  if (!hour) {
    const first = forecast.hourly[0]?.time;
    const last = forecast.hourly.at(-1)?.time;
    throw new ValidationError(
      first && last
        ? `The forecast covers ${first} to ${last} (local time, ${forecast.timeZone}) only`
        : 'There is no hourly forecast for this place',
      'at',
    );
  }
  return {
    summary: hour.weatherCode === null ? 'unknown' : describeWeatherCode(hour.weatherCode),
    temperatureC: hour.temperatureC,
    precipitationProbability: hour.precipitationProbability,
    at: input.at.toISOString(),
    localTime: hour.time,
    timeZone: forecast.timeZone,
    wet: isWet(hour.weatherCode, hour.precipitationProbability),
  };
}

/** One line for the system prompt, e.g. "Weather now (Europe/Lisbon): light rain, 17 °C, 70% chance of rain." */
export function weatherHint(report: WeatherReport, label = 'now'): string {
  const parts = [report.summary];
  if (report.temperatureC !== null) parts.push(`${Math.round(report.temperatureC)} °C`);
  if (report.precipitationProbability !== null) {
    parts.push(`${Math.round(report.precipitationProbability)}% chance of rain`);
  }
  return `Weather ${label} (${report.timeZone}): ${parts.join(', ')}.`;
}

// The fastest a route in each mode plausibly goes on average, and the pace used instead when a
// router's answer is faster (km/h). An OSRM server prepared for cars answers `walking` with car
// times (the public demo server does), which would send people on a 40-minute walk.
const PLAUSIBLE_KMH: Record<TravelMode, number> = { walking: 7, cycling: 30, driving: 200 };
const TYPICAL_KMH: Record<TravelMode, number> = { walking: 4.8, cycling: 15, driving: 25 };

/**
 * How far and how long from one point to another by `mode`. No route (an island, a point far
 * from any road) is a NotFoundError the agent can pass on; an unreachable router is a
 * DirectionsError.
 */
export async function getDirections(
  client: DirectionsClient,
  input: { from: LatLng; to: LatLng; mode: TravelMode },
  options: { signal?: AbortSignal } = {},
): Promise<Directions> {
  checkPoint(input.from, 'from.');
  checkPoint(input.to, 'to.');
  let route: Awaited<ReturnType<DirectionsClient['route']>>;
  try {
    route = await client.route(input.mode, input.from, input.to, { signal: options.signal });
  } catch (error) {
    if (error instanceof DirectionsError && error.code === 'NoRoute') {
      throw new NotFoundError(`No ${input.mode} route was found between these two places`);
    }
    if (error instanceof DirectionsError && error.code === 'NoSegment') {
      throw new NotFoundError('One of the two places is too far from any road or path to route from');
    }
    throw error;
  }
  const distanceMeters = Math.round(route.distanceMeters);
  const hours = route.durationSeconds / 3600;
  const implausible =
    distanceMeters > 0 && distanceMeters / 1000 / Math.max(hours, 1e-9) > PLAUSIBLE_KMH[input.mode];
  const seconds = implausible
    ? (distanceMeters / 1000 / TYPICAL_KMH[input.mode]) * 3600
    : route.durationSeconds;
  return { distanceMeters, durationMinutes: minutes(seconds), mode: input.mode, estimated: implausible };
}

// Short distances are walked; a route is usually about this much longer than the straight line.
const WALKING_LIMIT_METERS = 1500;
const DETOUR_FACTOR = 1.3;
// Under this, rain is no reason to take a taxi.
const WET_WALK_METERS = 400;

/**
 * A short hint for the prompt about getting from `from` to `to`: on foot under 1.5 km (a taxi
 * suggested as well when it is wet), else by car or taxi with the minutes. Routes already fetched
 * are used; what is missing is worked out from the straight-line distance, and said to be rough.
 * Without a destination (or a route) the hint is the general rule, with the weather.
 */
export function transportHints(input: {
  from?: LatLng | null;
  to?: LatLng | null;
  routes?: Partial<Record<TravelMode, Directions>>;
  weather?: Pick<WeatherReport, 'wet'> | null;
}): string {
  const routes = input.routes ?? {};
  const routed = routes.walking ?? routes.driving ?? routes.cycling;
  const wet = input.weather?.wet === true;
  const distance =
    routed?.distanceMeters ??
    (input.from && input.to ? straightLineMeters(input.from, input.to) * DETOUR_FACTOR : null);
  if (distance === null) {
    const limit = formatDistance(WALKING_LIMIT_METERS);
    const walk = estimate(WALKING_LIMIT_METERS, 'walking').durationMinutes;
    return wet
      ? `It is wet: suggest a taxi for anything beyond ${formatDistance(WET_WALK_METERS)}; farther than ${limit} (about ${walk} min on foot), a car or taxi anyway.`
      : `Places within ${limit} (about ${walk} min) are a walk; farther, suggest a car or taxi.`;
  }
  const drive = routes.driving ?? estimate(distance, 'driving');

  if (distance < WALKING_LIMIT_METERS) {
    const walk = routes.walking ?? estimate(distance, 'walking');
    const text = `${about(walk)} ${walk.durationMinutes} min on foot (${formatDistance(distance)})`;
    if (wet && distance > WET_WALK_METERS) {
      return `${text}; rain is likely, so a taxi (${about(drive).toLowerCase()} ${drive.durationMinutes} min) may be nicer.`;
    }
    return `${text}.`;
  }
  return `${formatDistance(distance)} away: ${about(drive).toLowerCase()} ${drive.durationMinutes} min by car or taxi.`;
}

/** Great-circle distance in metres (haversine). */
export function straightLineMeters(a: LatLng, b: LatLng): number {
  const radians = (degrees: number) => (degrees * Math.PI) / 180;
  const dLat = radians(b.latitude - a.latitude);
  const dLon = radians(b.longitude - a.longitude);
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(radians(a.latitude)) * Math.cos(radians(b.latitude)) * Math.sin(dLon / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(h)));
}

function estimate(distanceMeters: number, mode: TravelMode): Directions {
  const seconds = (distanceMeters / 1000 / TYPICAL_KMH[mode]) * 3600;
  return {
    distanceMeters: Math.round(distanceMeters),
    durationMinutes: minutes(seconds),
    mode,
    estimated: true,
  };
}

function about(directions: Directions): string {
  return directions.estimated ? 'Roughly' : 'About';
}

function minutes(seconds: number): number {
  return Math.max(1, Math.round(seconds / 60));
}

function formatDistance(meters: number): string {
  return meters < 1000 ? `${Math.round(meters / 10) * 10} m` : `${(meters / 1000).toFixed(1)} km`;
}

function checkPoint(point: LatLng, field: string): void {
  if (!(Number.isFinite(point.latitude) && Math.abs(point.latitude) <= 90)) {
    throw new ValidationError('Latitude must be between -90 and 90', `${field}latitude`);
  }
  if (!(Number.isFinite(point.longitude) && Math.abs(point.longitude) <= 180)) {
    throw new ValidationError('Longitude must be between -180 and 180', `${field}longitude`);
  }
}

/** The hourly forecast entry covering `at`, in the forecast's local time. */
function slotAt(forecast: Forecast, at: Date): Forecast['hourly'][number] | undefined {
  const hour = `${localWallTime(at, forecast.timeZone, forecast.utcOffsetSeconds).slice(0, 13)}:00`;
  return forecast.hourly.find((entry) => entry.time === hour);
}

/**
 * `at` as wall-clock time in `timeZone`, `YYYY-MM-DDTHH:mm`. The zone's rules are used, so a
 * daylight-saving change inside the three forecast days is right; a zone this runtime does not know
 * falls back to the offset Open-Meteo gave for now.
 */
function localWallTime(at: Date, timeZone: string, offsetSeconds: number): string {
  try {
    const parts = dateParts(at, 'en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
  } catch {
    return new Date(at.getTime() + offsetSeconds * 1000).toISOString().slice(0, 16);
  }
}

// WMO weather interpretation codes, as Open-Meteo documents them.
const WMO: Record<number, string> = {
  0: 'clear sky',
  1: 'mainly clear',
  2: 'partly cloudy',
  3: 'overcast',
  45: 'fog',
  48: 'freezing fog',
  51: 'light drizzle',
  53: 'drizzle',
  55: 'heavy drizzle',
  56: 'light freezing drizzle',
  57: 'freezing drizzle',
  61: 'light rain',
  63: 'rain',
  65: 'heavy rain',
  66: 'light freezing rain',
  67: 'freezing rain',
  71: 'light snow',
  73: 'snow',
  75: 'heavy snow',
  77: 'snow grains',
  80: 'light rain showers',
  81: 'rain showers',
  82: 'violent rain showers',
  85: 'light snow showers',
  86: 'heavy snow showers',
  95: 'thunderstorm',
  96: 'thunderstorm with light hail',
  99: 'thunderstorm with heavy hail',
};

/** A WMO weather code in words ("unknown" for a code outside the table). */
export function describeWeatherCode(code: number): string {
  return WMO[code] ?? 'unknown';
}

function isWet(code: number | null, probability: number | null): boolean {
  // Drizzle and everything after it in the table is something falling from the sky.
  return (code !== null && code >= 51 && code in WMO) || (probability !== null && probability >= 50);
}
