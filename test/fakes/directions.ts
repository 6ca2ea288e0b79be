/**
 * OSRM's side, for tests: a loopback route service (`GET /route/v1/{profile}/{lon},{lat};…`)
 * answering in OSRM's own JSON (`code`, `routes` with `legs`, `waypoints` with `hint`, `location`
 * as [lon, lat]). By default a route is the straight line stretched by 1.3, at a typical pace for
 * the profile; `respond` takes over answers (errors such as `NoRoute`, delays, a car-only server).
 */
import { startLoopbackServer } from './server.ts';

export interface RouteRequest {
  path: string;
  profile: string;
  /** The points in the URL, as [longitude, latitude]. */
  coordinates: [number, number][];
  query: Record<string, string>;
  at: number;
}

export interface FakeAnswer {
  status: number;
  /** JSON-encoded unless a string. */
  body?: unknown;
  delayMs?: number;
}

export interface FakeDirections {
  /** Base URL for DIRECTIONS_API_URL. */
  url: string;
  requests: RouteRequest[];
  /** Answers requests with `handler` while it returns an answer; `undefined` falls back to the default route. */
  respond(handler: ((request: RouteRequest) => FakeAnswer | undefined) | null): void;
  close(): Promise<void>;
}

const KMH: Record<string, number> = { driving: 30, walking: 5, cycling: 15 };

/** A route answer in OSRM's shape, for a distance and duration. */
export function osrmRoute(request: RouteRequest, distance: number, duration: number): FakeAnswer {
  const leg = { steps: [], summary: '', weight: duration, duration, distance };
  return {
    status: 200,
    body: {
      code: 'Ok',
      routes: [{ legs: [leg], weight_name: 'routability', weight: duration, duration, distance }],
      waypoints: request.coordinates.map((location, i) => ({
        hint: Buffer.from(`hint-${i}-${location.join(',')}`).toString('base64url'),
        distance: 3.2,
        name: i === 0 ? 'Rua Augusta' : 'Rua do Ouro',
        location,
      })),
    },
  };
}

/** An OSRM refusal: HTTP 400 with its code and message. */
export function osrmError(code: string, message: string): FakeAnswer {
  return { status: 400, body: { code, message } };
}

export async function startFakeDirections(): Promise<FakeDirections> {
  const requests: RouteRequest[] = [];
  let handler: ((request: RouteRequest) => FakeAnswer | undefined) | null = null;

  const server = await startLoopbackServer(({ url }) => {
    const match = /^\/route\/v1\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    const coordinates = (match?.[2] ?? '')
      .split(';')
      .map((pair) => pair.split(',').map(Number) as [number, number]);
    const request: RouteRequest = {
      path: url.pathname,
      profile: match?.[1] ?? '',
      coordinates,
      query: Object.fromEntries(url.searchParams),
      at: Date.now(),
    };
    requests.push(request);
    const answer = handler?.(request) ?? defaultAnswer(request, Boolean(match));
    return {
      status: answer.status,
      ...(typeof answer.body === 'string' ? { text: answer.body } : { body: answer.body ?? null }),
      headers: { 'content-type': 'application/json; charset=utf-8' },
      delayMs: answer.delayMs,
    };
  });
  return {
    url: server.url,
    requests,
    respond(next) {
      handler = next;
    },
    close: server.close,
  };
}

function defaultAnswer(request: RouteRequest, matched: boolean): FakeAnswer {
  if (!matched)
    return osrmError('InvalidUrl', `URL string malformed close to position 1: "${request.path.slice(0, 6)}"`);
  const valid =
    request.coordinates.length >= 2 &&
    request.coordinates.every(
      ([lon, lat]) =>
        Number.isFinite(lon) && Number.isFinite(lat) && Math.abs(lon) <= 180 && Math.abs(lat) <= 90,
    );
  if (!valid) return osrmError('InvalidQuery', 'Query string malformed close to position 0');
  let distance = 0;
  for (let i = 1; i < request.coordinates.length; i++) {
    distance += haversine(request.coordinates[i - 1]!, request.coordinates[i]!) * 1.3;
  }
  distance = Math.round(distance * 10) / 10;
  const duration = Math.round((distance / 1000 / (KMH[request.profile] ?? 30)) * 3600 * 10) / 10;
  return osrmRoute(request, distance, duration);
}

function haversine([lonA, latA]: [number, number], [lonB, latB]: [number, number]): number {
  const rad = (d: number) => (d * Math.PI) / 180;
  const h =
    Math.sin(rad(latB - latA) / 2) ** 2 +
    Math.cos(rad(latA)) * Math.cos(rad(latB)) * Math.sin(rad(lonB - lonA) / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(h)));
}
