/**
 * Open-Meteo's side, for tests: a loopback `GET /v1/forecast` answering in the API's own JSON shape
 * (`current`/`current_units`, `hourly`/`hourly_units`, local times without offset for
 * `timezone=auto`). By default every point gets a mild, dry forecast in Europe/Lisbon, from local
 * midnight today for `forecast_days` days; `setForecast` changes it and `respond` takes over
 * answers entirely (errors, delays).
 */
import { startLoopbackServer } from './server.ts';

export interface ForecastRequest {
  path: string;
  query: Record<string, string>;
  at: number;
}

/** What the next forecasts look like. Values not given keep the defaults. */
export interface FakeForecast {
  timeZone: string;
  /** What Open-Meteo reports as the zone's offset now. */
  utcOffsetSeconds: number;
  current: { temperature_2m: number; weather_code: number; precipitation: number; wind_speed_10m: number };
  /** The hourly values for a local time (`YYYY-MM-DDTHH:00`) and its index. */
  hourly: (
    time: string,
    index: number,
  ) => {
    temperature_2m: number | null;
    precipitation_probability: number | null;
    weather_code: number | null;
  };
  /** The clock the fake's "today" and current time are taken from. */
  now: () => Date;
}

export interface FakeAnswer {
  status: number;
  /** JSON-encoded unless a string. */
  body?: unknown;
  /** Wait this long before answering (to test timeouts). */
  delayMs?: number;
}

export interface FakeWeather {
  /** Base URL for WEATHER_API_URL. */
  url: string;
  requests: ForecastRequest[];
  setForecast(forecast: Partial<FakeForecast>): void;
  /** Answers requests with `handler` while it returns an answer; `undefined` falls back to the forecast. */
  respond(handler: ((request: ForecastRequest) => FakeAnswer | undefined) | null): void;
  /** Every answer (the forecast's too) waits this long first; 0 answers at once. */
  delay(ms: number): void;
  close(): Promise<void>;
}

const DEFAULTS: FakeForecast = {
  timeZone: 'Europe/Lisbon',
  utcOffsetSeconds: 3600,
  current: { temperature_2m: 18.4, weather_code: 1, precipitation: 0, wind_speed_10m: 9.7 },
  hourly: (_time, index) => ({
    temperature_2m: 14 + (index % 24) / 3,
    precipitation_probability: 5,
    weather_code: 1,
  }),
  now: () => new Date(),
};

export async function startFakeWeather(): Promise<FakeWeather> {
  const requests: ForecastRequest[] = [];
  let forecast = DEFAULTS;
  let handler: ((request: ForecastRequest) => FakeAnswer | undefined) | null = null;
  let delayMs = 0;

  const server = await startLoopbackServer(({ url, path }) => {
    const request: ForecastRequest = {
      path,
      query: Object.fromEntries(url.searchParams),
      at: Date.now(),
    };
    requests.push(request);
    const answer =
      handler?.(request) ??
      (path === '/v1/forecast'
        ? forecastAnswer(request.query, forecast)
        : { status: 404, body: { error: true, reason: 'Not Found' } });
    return {
      status: answer.status,
      ...(typeof answer.body === 'string' ? { text: answer.body } : { body: answer.body ?? null }),
      headers: { 'content-type': 'application/json; charset=utf-8' },
      delayMs: answer.delayMs ?? delayMs,
    };
  });
  return {
    url: server.url,
    requests,
    setForecast(next) {
      forecast = { ...forecast, ...next, current: { ...forecast.current, ...next.current } };
    },
    respond(next) {
      handler = next;
    },
    delay(ms) {
      delayMs = ms;
    },
    close: server.close,
  };
}

/** The forecast answer for a query, as Open-Meteo builds it (or its 400 for a bad one). */
function forecastAnswer(query: Record<string, string>, forecast: FakeForecast): FakeAnswer {
  const latitude = Number(query.latitude);
  const longitude = Number(query.longitude);
  if (!query.latitude || !(Math.abs(latitude) <= 90)) {
    return {
      status: 400,
      body: { error: true, reason: `Latitude must be in range of -90 to 90°. Given: ${query.latitude}.` },
    };
  }
  if (!query.longitude || !(Math.abs(longitude) <= 180)) {
    return {
      status: 400,
      body: { error: true, reason: `Longitude must be in range of -180 to 180°. Given: ${query.longitude}.` },
    };
  }
  const days = Number(query.forecast_days ?? 7);
  const now = forecast.now();
  const today = localWallTime(now, forecast.timeZone).slice(0, 10);
  const times: string[] = [];
  for (let day = 0; day < days; day++) {
    const date = new Date(`${today}T00:00Z`);
    date.setUTCDate(date.getUTCDate() + day);
    for (let hour = 0; hour < 24; hour++) {
      times.push(`${date.toISOString().slice(0, 10)}T${String(hour).padStart(2, '0')}:00`);
    }
  }
  const hourly = times.map((time, index) => forecast.hourly(time, index));
  // Current conditions come in 15-minute steps.
  const local = localWallTime(now, forecast.timeZone);
  const quarter = String(Math.floor(Number(local.slice(14, 16)) / 15) * 15).padStart(2, '0');
  return {
    status: 200,
    body: {
      // Open-Meteo answers for the nearest grid point, not the exact one asked for.
      latitude: Math.round(latitude * 40) / 40,
      longitude: Math.round(longitude * 40) / 40,
      generationtime_ms: 0.0429153442382812,
      utc_offset_seconds: forecast.utcOffsetSeconds,
      timezone: forecast.timeZone,
      timezone_abbreviation: 'GMT+1',
      elevation: 45,
      current_units: {
        time: 'iso8601',
        interval: 'seconds',
        temperature_2m: '°C',
        weather_code: 'wmo code',
        precipitation: 'mm',
        wind_speed_10m: 'km/h',
      },
      current: { time: `${local.slice(0, 14)}${quarter}`, interval: 900, ...forecast.current },
      hourly_units: {
        time: 'iso8601',
        temperature_2m: '°C',
        precipitation_probability: '%',
        weather_code: 'wmo code',
      },
      hourly: {
        time: times,
        temperature_2m: hourly.map((h) => h.temperature_2m),
        precipitation_probability: hourly.map((h) => h.precipitation_probability),
        weather_code: hourly.map((h) => h.weather_code),
      },
    },
  };
}

function localWallTime(at: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    })
      .formatToParts(at)
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}
