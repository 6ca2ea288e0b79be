/**
 * A credential checked again while what it opened goes on: a WebSocket (websocket.ts) and a
 * subscription streamed over SSE (http.ts) must not outlive the right to open them. Refused with
 * 4401 when the credential no longer holds (expired, revoked, signed out, user gone), 4403 when it
 * holds with other rights than it was opened with.
 */
import { decodeJwt } from 'jose';
import type { Actor } from '../domain/identity/actor.ts';
import { AuthenticationError, NotAllowedError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import type { Services } from '../wiring/services.ts';
import { authenticateCredential } from './auth.ts';

/** Why a credential no longer holds. */
export type CredentialRefusal = { code: 4401 | 4403; reason: string };

export const EXPIRED = 'The access token has expired';
/** setTimeout's longest delay; a later expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** An access token's `exp` in epoch ms; null for API keys and what is not a JWT. */
export function tokenExpiry(authorization: string): number | null {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  if (!token) return null;
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/** Checks a credential again: null while it holds with the rights it was opened with. */
export async function recheckCredential(
  services: Services,
  authorization: string,
  opened: Actor,
  expiresAt: number | null,
): Promise<CredentialRefusal | null> {
  if (expiresAt !== null && services.now().getTime() >= expiresAt) return { code: 4401, reason: EXPIRED };
  let actor: Actor;
  try {
    actor = await authenticateCredential(services, authorization);
  } catch (error) {
    if (error instanceof AuthenticationError) return { code: 4401, reason: error.message };
    if (error instanceof NotAllowedError) return { code: 4403, reason: error.message };
    throw error;
  }
  // What runs was authorised as `opened`; with other rights (a platform admin no longer one,
  // other key scopes) it must start again under the new ones.
  if (JSON.stringify(actor) !== JSON.stringify(opened)) {
    return { code: 4403, reason: 'Your rights changed: connect again' };
  }
  return null;
}

/**
 * Watches one credential while a stream it opened runs: checked every GRAPHQL_WS_RECHECK_MS and at
 * an access token's `exp`; `refused` is called once when it no longer holds. A check the
 * database or Redis could not answer keeps the stream. Returns the function that stops watching.
 */
export function watchCredential(
  services: Services,
  input: {
    authorization: string;
    actor: Actor;
    logger: Logger;
    refused: (refusal: CredentialRefusal) => void;
  },
): () => void {
  const expiresAt = tokenExpiry(input.authorization);
  let stopped = false;
  let expiryTimer: NodeJS.Timeout | undefined;
  const stop = () => {
    stopped = true;
    clearInterval(interval);
    clearTimeout(expiryTimer);
  };
  const refuse = (refusal: CredentialRefusal) => {
    if (stopped) return;
    stop();
    input.refused(refusal);
  };
  const interval = setInterval(() => {
    recheckCredential(services, input.authorization, input.actor, expiresAt).then(
      (refusal) => refusal && refuse(refusal),
      (error) => input.logger.warn({ err: error }, 'could not re-check a stream’s credential'),
    );
  }, services.config.graphql.wsRecheckMs);
  interval.unref();
  const watchExpiry = () => {
    if (expiresAt === null || stopped) return;
    const left = expiresAt - services.now().getTime();
    if (left <= 0) return refuse({ code: 4401, reason: EXPIRED });
    expiryTimer = setTimeout(watchExpiry, Math.min(left, MAX_TIMER_MS));
    expiryTimer.unref();
  };
  watchExpiry();
  return stop;
}
