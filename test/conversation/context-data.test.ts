import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  describeWeatherCode,
  getDirections,
  getWeather,
  straightLineMeters,
  transportHints,
  weatherHint,
} from '../../src/domain/surroundings/weather-travel.ts';
import { createOsrmClient, DirectionsError } from '../../src/integrations/directions/osrm.ts';
import { createOpenMeteoClient, WeatherError } from '../../src/integrations/weather/open-meteo.ts';
import { NotFoundError, ValidationError } from '../../src/platform/errors.ts';
import { type FakeDirections, osrmError, osrmRoute, startFakeDirections } from '../fakes/directions.ts';
import { type FakeWeather, startFakeWeather } from '../fakes/weather.ts';

let weather: FakeWeather;
let directions: FakeDirections;

beforeAll(async () => {
  [weather, directions] = await Promise.all([startFakeWeather(), startFakeDirections()]);
});

afterAll(async () => {
  await Promise.all([weather?.close(), directions?.close()]);
});

afterEach(() => {
  weather.respond(null);
  directions.respond(null);
});

const LISBON = { latitude: 38.7139, longitude: -9.1394 };
const ALFAMA = { latitude: 38.7114, longitude: -9.1302 };
const BELEM = { latitude: 38.6979, longitude: -9.2065 };

/** The failure of a promise (which must fail). */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure, but it succeeded');
}

describe('getWeather against Open-Meteo', () => {
  // The fake and the code agree on the clock: 2026-03-28 10:00 UTC, the day before Lisbon moves
  // to summer time (01:00 UTC on 29 March).
  const now = new Date('2026-03-28T10:07:00Z');

  beforeAll(() => {
    weather.setForecast({
      timeZone: 'Europe/Lisbon',
      utcOffsetSeconds: 0,
      now: () => now,
      current: { temperature_2m: 16.2, weather_code: 61, precipitation: 0.4, wind_speed_10m: 14 },
      hourly: (time) => ({
        temperature_2m: Number(time.slice(11, 13)),
        precipitation_probability: time.startsWith('2026-03-30') ? 80 : 10,
        weather_code: time.startsWith('2026-03-30') ? 95 : 2,
      }),
    });
  });

  it('asks for the current weather and three days of hours in local time, and reports now', async () => {
    const client = createOpenMeteoClient({ apiUrl: weather.url, cacheMs: 0 });
    const before = weather.requests.length;
    const report = await getWeather(client, LISBON, { now: () => now });

    expect(report).toEqual({
      summary: 'light rain',
      temperatureC: 16.2,
      // The probability of the current hour (10:00 local, UTC+0 that day).
      precipitationProbability: 10,
      at: now.toISOString(),
      localTime: '2026-03-28T10:00',
      timeZone: 'Europe/Lisbon',
      wet: true,
    });
    const request = weather.requests.at(-1)!;
    expect(weather.requests.length).toBe(before + 1);
    expect(request.path).toBe('/v1/forecast');
    expect(request.query).toEqual({
      // Rounded to about a kilometre, which is what the cache keys on.
      latitude: '38.71',
      longitude: '-9.14',
      current: 'temperature_2m,weather_code,precipitation,wind_speed_10m',
      hourly: 'temperature_2m,precipitation_probability,weather_code',
      timezone: 'auto',
      forecast_days: '3',
    });
    expect(weatherHint(report)).toBe('Weather now (Europe/Lisbon): light rain, 16 °C, 10% chance of rain.');
  });

  it('reads the forecast hour of a later time in the local zone, across a daylight-saving change', async () => {
    const client = createOpenMeteoClient({ apiUrl: weather.url, cacheMs: 0 });
    // 18:00 UTC on 30 March is 19:00 in Lisbon (summer time), although the offset Open-Meteo
    // gave "now" (28 March) is still 0.
    const report = await getWeather(
      client,
      { ...LISBON, at: new Date('2026-03-30T18:30:00Z') },
      { now: () => now },
    );
    expect(report).toEqual({
      summary: 'thunderstorm',
      temperatureC: 19,
      precipitationProbability: 80,
      at: '2026-03-30T18:30:00.000Z',
      localTime: '2026-03-30T19:00',
      timeZone: 'Europe/Lisbon',
      wet: true,
    });
    const dry = await getWeather(
      client,
      { ...LISBON, at: new Date('2026-03-28T20:00:00Z') },
      { now: () => now },
    );
    expect(dry).toMatchObject({ summary: 'partly cloudy', temperatureC: 20, wet: false });
  });

  it('refuses a time beyond the forecast on the `at` field, and bad coordinates before asking', async () => {
    const client = createOpenMeteoClient({ apiUrl: weather.url, cacheMs: 0 });
    const late = await failure(
      getWeather(client, { ...LISBON, at: new Date('2026-04-02T12:00:00Z') }, { now: () => now }),
    );
    expect(late).toBeInstanceOf(ValidationError);
    expect(late).toMatchObject({ field: 'at' });
    expect(late.message).toBe(
      'The forecast covers 2026-03-28T00:00 to 2026-03-30T23:00 (local time, Europe/Lisbon) only',
    );

    const before = weather.requests.length;
    const bad = await failure(getWeather(client, { latitude: 91, longitude: 0 }));
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad).toMatchObject({ field: 'latitude' });
    expect(weather.requests.length).toBe(before);
  });

  it('caches a forecast per rounded point for ten minutes, sharing one request between concurrent asks', async () => {
    let clock = 0;
    const client = createOpenMeteoClient({ apiUrl: weather.url, now: () => clock });
    const before = weather.requests.length;

    await Promise.all([
      getWeather(client, LISBON, { now: () => now }),
      getWeather(client, { latitude: 38.7121, longitude: -9.1411 }, { now: () => now }),
    ]);
    expect(weather.requests.length).toBe(before + 1);
    await getWeather(client, ALFAMA, { now: () => now });
    expect(weather.requests.length).toBe(before + 2);

    clock += 10 * 60_000 - 1;
    await getWeather(client, LISBON, { now: () => now });
    expect(weather.requests.length).toBe(before + 2);
    clock += 1;
    await getWeather(client, LISBON, { now: () => now });
    expect(weather.requests.length).toBe(before + 3);
  });

  it('says clearly when Open-Meteo fails, and does not cache the failure', async () => {
    const client = createOpenMeteoClient({ apiUrl: weather.url });
    weather.respond(() => ({ status: 503, body: '<html>Service Unavailable</html>' }));
    const down = await failure(getWeather(client, BELEM));
    expect(down).toBeInstanceOf(WeatherError);
    expect(down).toMatchObject({ status: 503, retryable: true, message: 'Open-Meteo answered HTTP 503' });

    weather.respond(() => ({
      status: 400,
      body: { error: true, reason: 'Cannot initialize WeatherVariable from invalid String value' },
    }));
    const refused = await failure(getWeather(client, BELEM));
    expect(refused).toMatchObject({
      status: 400,
      retryable: false,
      message: 'Open-Meteo answered HTTP 400: Cannot initialize WeatherVariable from invalid String value',
    });

    weather.respond(() => ({ status: 200, body: { latitude: 38.7, longitude: -9.2, timezone: 'GMT' } }));
    const odd = await failure(getWeather(client, BELEM));
    expect(odd).toBeInstanceOf(WeatherError);
    expect(odd.message).toMatch(/^Open-Meteo answered in an unexpected shape \(utc_offset_seconds: /);

    weather.respond(null);
    expect((await getWeather(client, BELEM)).timeZone).toBe('Europe/Lisbon');
  });

  it('gives up after the timeout with a clear error', async () => {
    const client = createOpenMeteoClient({ apiUrl: weather.url, timeoutMs: 200 });
    weather.respond(() => ({ status: 200, body: {}, delayMs: 3000 }));
    const started = performance.now();
    const slow = await failure(getWeather(client, { latitude: 41.15, longitude: -8.61 }));
    expect(performance.now() - started).toBeLessThan(1500);
    expect(slow).toBeInstanceOf(WeatherError);
    expect(slow).toMatchObject({
      status: null,
      retryable: true,
      message: 'Open-Meteo did not answer within 200 ms',
    });
  });

  it('says when Open-Meteo cannot be reached at all', async () => {
    const gone = await startFakeWeather();
    await gone.close();
    const error = await failure(getWeather(createOpenMeteoClient({ apiUrl: gone.url }), LISBON));
    expect(error).toBeInstanceOf(WeatherError);
    expect(error.message).toMatch(/^Open-Meteo could not be reached: /);
  });

  it('stops waiting when the caller aborts', async () => {
    const client = createOpenMeteoClient({ apiUrl: weather.url, timeoutMs: 5000 });
    weather.respond(() => ({ status: 200, body: {}, delayMs: 2000 }));
    const controller = new AbortController();
    const pending = getWeather(client, { latitude: 40.42, longitude: -3.7 }, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('tool timed out')), 50);
    expect((await failure(pending)).message).toBe('tool timed out');
  });

  it('puts WMO weather codes into words', () => {
    expect(describeWeatherCode(0)).toBe('clear sky');
    expect(describeWeatherCode(63)).toBe('rain');
    expect(describeWeatherCode(99)).toBe('thunderstorm with heavy hail');
    expect(describeWeatherCode(42)).toBe('unknown');
  });
});

describe('getDirections against OSRM', () => {
  // Made per test: the fake's URL is known only once it has started.
  const osrm = () => createOsrmClient({ apiUrl: directions.url });

  it('asks for the route with the profile and longitude-first points, and reports metres and minutes', async () => {
    directions.respond((request) => osrmRoute(request, 1234.5, 245.2));
    const route = await getDirections(osrm(), { from: LISBON, to: ALFAMA, mode: 'driving' });
    expect(route).toEqual({ distanceMeters: 1235, durationMinutes: 4, mode: 'driving', estimated: false });
    const request = directions.requests.at(-1)!;
    expect(request.path).toBe('/route/v1/driving/-9.139400,38.713900;-9.130200,38.711400');
    expect(request.query).toEqual({ overview: 'false', steps: 'false' });

    directions.respond(null);
    const walk = await getDirections(osrm(), { from: LISBON, to: ALFAMA, mode: 'walking' });
    expect(directions.requests.at(-1)!.profile).toBe('walking');
    expect(walk).toMatchObject({ mode: 'walking', estimated: false });
    expect(walk.durationMinutes).toBeGreaterThanOrEqual(10);
  });

  it('does not trust a car-only server for walking and cycling times', async () => {
    // The public demo server routes every profile by car: 5 km in 8 minutes "on foot".
    directions.respond((request) => osrmRoute(request, 5000, 480));
    const walk = await getDirections(osrm(), { from: LISBON, to: BELEM, mode: 'walking' });
    expect(walk).toEqual({ distanceMeters: 5000, durationMinutes: 63, mode: 'walking', estimated: true });
    const ride = await getDirections(osrm(), { from: LISBON, to: BELEM, mode: 'cycling' });
    expect(ride).toEqual({ distanceMeters: 5000, durationMinutes: 20, mode: 'cycling', estimated: true });
    const drive = await getDirections(osrm(), { from: LISBON, to: BELEM, mode: 'driving' });
    expect(drive).toEqual({ distanceMeters: 5000, durationMinutes: 8, mode: 'driving', estimated: false });
  });

  it('turns "no route" and "no road nearby" into answers the agent can pass on', async () => {
    directions.respond(() => osrmError('NoRoute', 'Impossible route between points'));
    const none = await failure(
      getDirections(osrm(), { from: LISBON, to: { latitude: 38.5, longitude: -28.6 }, mode: 'driving' }),
    );
    expect(none).toBeInstanceOf(NotFoundError);
    expect(none.message).toBe('No driving route was found between these two places');

    directions.respond(() => osrmError('NoSegment', 'Could not find a matching segment for coordinate 1'));
    const offRoad = await failure(getDirections(osrm(), { from: LISBON, to: ALFAMA, mode: 'walking' }));
    expect(offRoad).toBeInstanceOf(NotFoundError);
  });

  it('says clearly when OSRM fails or refuses', async () => {
    directions.respond(() => ({ status: 502, body: '<html>Bad Gateway</html>' }));
    const down = await failure(getDirections(osrm(), { from: LISBON, to: ALFAMA, mode: 'driving' }));
    expect(down).toBeInstanceOf(DirectionsError);
    expect(down).toMatchObject({
      status: 502,
      code: null,
      retryable: true,
      message: 'OSRM answered HTTP 502',
    });

    directions.respond(() => ({ status: 429, body: { code: 'TooManyRequests', message: 'Slow down' } }));
    expect(await failure(getDirections(osrm(), { from: LISBON, to: ALFAMA, mode: 'driving' }))).toMatchObject(
      {
        retryable: true,
        message: 'OSRM answered HTTP 429 TooManyRequests: Slow down',
      },
    );

    directions.respond(() => osrmError('InvalidValue', 'Invalid coordinate value.'));
    expect(await failure(getDirections(osrm(), { from: LISBON, to: ALFAMA, mode: 'driving' }))).toMatchObject(
      {
        code: 'InvalidValue',
        retryable: false,
      },
    );

    directions.respond(() => ({ status: 200, body: { code: 'Ok', routes: [] } }));
    const odd = await failure(getDirections(osrm(), { from: LISBON, to: ALFAMA, mode: 'driving' }));
    expect(odd).toBeInstanceOf(DirectionsError);
    expect(odd.message).toMatch(/^OSRM answered in an unexpected shape \(routes: /);
  });

  it('gives up after the timeout with a clear error, and honours the caller aborting', async () => {
    directions.respond(() => ({ status: 200, body: {}, delayMs: 3000 }));
    const quick = createOsrmClient({ apiUrl: directions.url, timeoutMs: 200 });
    const started = performance.now();
    const slow = await failure(getDirections(quick, { from: LISBON, to: ALFAMA, mode: 'driving' }));
    expect(performance.now() - started).toBeLessThan(1500);
    expect(slow).toBeInstanceOf(DirectionsError);
    expect(slow).toMatchObject({
      status: null,
      retryable: true,
      message: 'OSRM did not answer within 200 ms',
    });

    const controller = new AbortController();
    const pending = getDirections(
      osrm(),
      { from: LISBON, to: ALFAMA, mode: 'driving' },
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(new Error('tool timed out')), 50);
    const aborted = await failure(pending);
    expect(aborted).not.toBeInstanceOf(DirectionsError);
    expect(aborted.message).toBe('tool timed out');
  });

  it('refuses impossible coordinates before asking', async () => {
    const before = directions.requests.length;
    const error = await failure(
      getDirections(osrm(), { from: LISBON, to: { latitude: 38.7, longitude: 181 }, mode: 'driving' }),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'to.longitude' });
    expect(directions.requests.length).toBe(before);
  });
});

describe('transportHints', () => {
  it('suggests walking under 1.5 km, with the routed minutes when there is a route', () => {
    expect(
      transportHints({
        from: LISBON,
        to: ALFAMA,
        routes: { walking: { distanceMeters: 1130, durationMinutes: 15, mode: 'walking', estimated: false } },
      }),
    ).toBe('About 15 min on foot (1.1 km).');
    // Without a route: the straight line stretched, and said to be rough.
    expect(straightLineMeters(LISBON, ALFAMA)).toBeGreaterThan(800);
    expect(straightLineMeters(LISBON, ALFAMA)).toBeLessThan(900);
    expect(transportHints({ from: LISBON, to: ALFAMA })).toBe('Roughly 14 min on foot (1.1 km).');
  });

  it('adds a taxi when it is wet, unless it is only round the corner', () => {
    expect(transportHints({ from: LISBON, to: ALFAMA, weather: { wet: true } })).toBe(
      'Roughly 14 min on foot (1.1 km); rain is likely, so a taxi (roughly 3 min) may be nicer.',
    );
    const corner = { latitude: 38.7141, longitude: -9.1397 };
    expect(transportHints({ from: LISBON, to: corner, weather: { wet: true } })).toBe(
      'Roughly 1 min on foot (40 m).',
    );
  });

  it('gives the general rule when there is no destination', () => {
    expect(transportHints({ from: LISBON })).toBe(
      'Places within 1.5 km (about 19 min) are a walk; farther, suggest a car or taxi.',
    );
    expect(transportHints({ weather: { wet: true } })).toBe(
      'It is wet: suggest a taxi for anything beyond 400 m; farther than 1.5 km (about 19 min on foot), a car or taxi anyway.',
    );
  });

  it('suggests a car or taxi beyond walking distance', () => {
    expect(transportHints({ from: LISBON, to: BELEM })).toBe('7.9 km away: roughly 19 min by car or taxi.');
    expect(
      transportHints({
        from: LISBON,
        to: BELEM,
        routes: { driving: { distanceMeters: 8240, durationMinutes: 13, mode: 'driving', estimated: false } },
      }),
    ).toBe('8.2 km away: about 13 min by car or taxi.');
  });
});
