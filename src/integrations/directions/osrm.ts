/**
 * OSRM's route service (`GET /route/v1/{profile}/{lon},{lat};{lon},{lat}`): distance and duration
 * of the fastest route between two points, without geometry or steps.
 *
 * OSRM answers `{"code": "Ok", "routes": [...], "waypoints": [...]}`, or a 400 whose `code` says
 * why (`NoRoute`, `NoSegment`: a point is nowhere near a road, `InvalidQuery`, ...). Beware that an
 * OSRM server routes with the one profile its data was prepared for and ignores the profile in the
 * URL: the public demo server (router.project-osrm.org) answers car routes to `walking` too. The
 * domain (domain/surroundings/weather-travel.ts) guards against that.
 */
import { z } from 'zod';

export interface Coordinates {
  latitude: number;
  longitude: number;
}

export type OsrmProfile = 'driving' | 'walking' | 'cycling';

export interface Route {
  distanceMeters: number;
  durationSeconds: number;
}

export interface DirectionsClient {
  route(
    profile: OsrmProfile,
    from: Coordinates,
    to: Coordinates,
    options?: { signal?: AbortSignal },
  ): Promise<Route>;
}

/**
 * OSRM refused, failed or did not answer. `code` is OSRM's own (`NoRoute`, `NoSegment`, ...) when
 * it gave one; `retryable` says whether trying later may help.
 */
export class DirectionsError extends Error {
  override name = 'DirectionsError';
  readonly code: string | null;
  readonly status: number | null;
  readonly retryable: boolean;
  constructor(
    message: string,
    options: { code?: string | null; status: number | null; retryable: boolean; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? null;
    this.status = options.status;
    this.retryable = options.retryable;
  }
}

const answer = z.object({
  code: z.literal('Ok'),
  routes: z
    .array(z.object({ distance: z.number().nonnegative(), duration: z.number().nonnegative() }))
    .min(1),
});

export function createOsrmClient(options: {
  /** Base URL, e.g. https://router.project-osrm.org (config.directions.apiUrl). */
  apiUrl: string;
  timeoutMs?: number;
}): DirectionsClient {
  const timeoutMs = options.timeoutMs ?? 4000;
  return {
    async route(profile, from, to, requestOptions = {}) {
      // OSRM takes longitude first; six decimals is about 10 cm.
      const point = (p: Coordinates) => `${p.longitude.toFixed(6)},${p.latitude.toFixed(6)}`;
      const url = `${options.apiUrl}/route/v1/${profile}/${point(from)};${point(to)}?overview=false&steps=false`;
      const timeout = AbortSignal.timeout(timeoutMs);
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          headers: { accept: 'application/json' },
          signal: requestOptions.signal ? AbortSignal.any([timeout, requestOptions.signal]) : timeout,
        });
        // The timeout covers the body too: a server that stalls mid-answer is not waited for.
        text = await response.text();
      } catch (error) {
        // The caller gave up: that is theirs to report, not a failure of OSRM.
        if (requestOptions.signal?.aborted) throw requestOptions.signal.reason;
        throw new DirectionsError(
          timeout.aborted
            ? `OSRM did not answer within ${timeoutMs} ms`
            : `OSRM could not be reached: ${(error as Error).message}`,
          { status: null, retryable: true, cause: error },
        );
      }
      const body = parseJson(text) as { code?: unknown; message?: unknown } | null;
      const code = typeof body?.code === 'string' ? body.code : null;
      if (!response.ok || code !== 'Ok') {
        const message = typeof body?.message === 'string' ? `: ${body.message.slice(0, 300)}` : '';
        const retryable = response.status === 429 || response.status >= 500;
        throw new DirectionsError(
          `OSRM answered HTTP ${response.status}${code ? ` ${code}` : ''}${message}`,
          { code, status: response.status, retryable },
        );
      }
      const parsed = answer.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new DirectionsError(
          `OSRM answered in an unexpected shape (${issue?.path.join('.') || 'body'}: ${issue?.message})`,
          { code, status: response.status, retryable: false },
        );
      }
      const best = parsed.data.routes[0]!;
      return { distanceMeters: best.distance, durationSeconds: best.duration };
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
