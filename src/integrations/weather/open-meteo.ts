/**
 * Open-Meteo's forecast API (`GET /v1/forecast`, no key): the current weather and three days of
 * hourly forecast at a point, in the point's own time zone (`timezone=auto`, so every `time` is a
 * local wall-clock time such as `2026-05-01T20:00`, without offset).
 *
 * Forecasts are cached in this process for a few minutes per point rounded to two decimals (about
 * a kilometre, finer than the models' grid), and the request is made for the rounded point, so a
 * cached answer is exactly what a fresh one would have been. Concurrent asks for one point share
 * one request. Failures are not cached.
 */
import { z } from 'zod';

export interface Coordinates {
  latitude: number;
  longitude: number;
}

export interface Forecast {
  /** The grid point the model answered for. */
  latitude: number;
  longitude: number;
  /** IANA time zone of the point (Open-Meteo says `GMT` when it cannot tell). */
  timeZone: string;
  utcOffsetSeconds: number;
  current: {
    /** Local wall-clock time, `YYYY-MM-DDTHH:mm`. */
    time: string;
    temperatureC: number;
    /** WMO weather interpretation code. */
    weatherCode: number;
    precipitationMm: number | null;
    windSpeedKmh: number | null;
  };
  /** One entry an hour, oldest first; values are null where the model has none. */
  hourly: {
    time: string;
    temperatureC: number | null;
    precipitationProbability: number | null;
    weatherCode: number | null;
  }[];
}

export interface WeatherClient {
  forecast(point: Coordinates, options?: { signal?: AbortSignal }): Promise<Forecast>;
}

/** Open-Meteo refused, failed or did not answer. `retryable` says whether trying later may help. */
export class WeatherError extends Error {
  override name = 'WeatherError';
  /** The HTTP status, or null when there was no answer. */
  readonly status: number | null;
  readonly retryable: boolean;
  constructor(message: string, options: { status: number | null; retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.retryable = options.retryable;
  }
}

const CURRENT = ['temperature_2m', 'weather_code', 'precipitation', 'wind_speed_10m'];
const HOURLY = ['temperature_2m', 'precipitation_probability', 'weather_code'];
const FORECAST_DAYS = 3;

const series = z.array(z.number().nullable());
const answer = z.object({
  latitude: z.number(),
  longitude: z.number(),
  timezone: z.string(),
  utc_offset_seconds: z.number(),
  current: z.object({
    time: z.string(),
    temperature_2m: z.number(),
    weather_code: z.number(),
    precipitation: z.number().nullable().optional(),
    wind_speed_10m: z.number().nullable().optional(),
  }),
  hourly: z.object({
    time: z.array(z.string()),
    temperature_2m: series,
    precipitation_probability: series,
    weather_code: series,
  }),
});

export function createOpenMeteoClient(options: {
  /** Base URL, e.g. https://api.open-meteo.com (config.weather.apiUrl). */
  apiUrl: string;
  timeoutMs?: number;
  /** How long a forecast is reused for the same rounded point (default 10 minutes; 0: never). */
  cacheMs?: number;
  now?: () => number;
}): WeatherClient {
  const timeoutMs = options.timeoutMs ?? 4000;
  const cacheMs = options.cacheMs ?? 10 * 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { expiresAt: number; forecast: Promise<Forecast> }>();

  async function fetchForecast(point: Coordinates): Promise<Forecast> {
    const query = new URLSearchParams({
      latitude: String(point.latitude),
      longitude: String(point.longitude),
      current: CURRENT.join(','),
      hourly: HOURLY.join(','),
      timezone: 'auto',
      forecast_days: String(FORECAST_DAYS),
    });
    // Commas are left as they are, as in Open-Meteo's own examples.
    const url = `${options.apiUrl}/v1/forecast?${query.toString().replaceAll('%2C', ',')}`;
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    let text: string;
    try {
      // The timeout covers the body too: a server that stalls mid-answer is not waited for.
      response = await fetch(url, { headers: { accept: 'application/json' }, signal: timeout });
      text = await response.text();
    } catch (error) {
      throw new WeatherError(
        timeout.aborted
          ? `Open-Meteo did not answer within ${timeoutMs} ms`
          : `Open-Meteo could not be reached: ${(error as Error).message}`,
        { status: null, retryable: true, cause: error },
      );
    }
    const body = parseJson(text);
    if (!response.ok) {
      // Open-Meteo explains a refusal as {"error": true, "reason": "..."}.
      const reason = (body as { reason?: unknown } | null)?.reason;
      const detail = typeof reason === 'string' ? `: ${reason.slice(0, 300)}` : '';
      throw new WeatherError(`Open-Meteo answered HTTP ${response.status}${detail}`, {
        status: response.status,
        retryable: response.status === 429 || response.status >= 500,
      });
    }
    const parsed = answer.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new WeatherError(
        `Open-Meteo answered in an unexpected shape (${issue?.path.join('.') || 'body'}: ${issue?.message})`,
        { status: response.status, retryable: false },
      );
    }
    return toForecast(parsed.data);
  }

  return {
    async forecast(point, requestOptions = {}) {
      const rounded = { latitude: round2(point.latitude), longitude: round2(point.longitude) };
      const key = `${rounded.latitude},${rounded.longitude}`;
      const t = now();
      let entry = cache.get(key);
      if (!entry || entry.expiresAt <= t) {
        entry = { expiresAt: t + cacheMs, forecast: fetchForecast(rounded) };
        const stored = entry;
        if (cacheMs > 0) {
          cache.delete(key);
          cache.set(key, stored);
          // The map keeps insertion order: past a bound, the oldest entries go first.
          while (cache.size > 1000) cache.delete(cache.keys().next().value!);
          stored.forecast.catch(() => {
            if (cache.get(key) === stored) cache.delete(key);
          });
        }
      }
      // The caller's signal stops its own wait, not the request others may share.
      return abortable(entry.forecast, requestOptions.signal);
    },
  };
}

function toForecast(data: z.infer<typeof answer>): Forecast {
  const { hourly } = data;
  return {
    latitude: data.latitude,
    longitude: data.longitude,
    timeZone: data.timezone,
    utcOffsetSeconds: data.utc_offset_seconds,
    current: {
      time: data.current.time,
      temperatureC: data.current.temperature_2m,
      weatherCode: data.current.weather_code,
      precipitationMm: data.current.precipitation ?? null,
      windSpeedKmh: data.current.wind_speed_10m ?? null,
    },
    hourly: hourly.time.map((time, i) => ({
      time,
      temperatureC: hourly.temperature_2m[i] ?? null,
      precipitationProbability: hourly.precipitation_probability[i] ?? null,
      weatherCode: hourly.weather_code[i] ?? null,
    })),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
