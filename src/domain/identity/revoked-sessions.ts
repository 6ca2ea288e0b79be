/**
 * Sessions that were ended (signed out, or refresh-token reuse) while their access tokens are
 * still unexpired. An access token carries its session id (`sid`, the refresh-token family); a
 * token whose session is listed here is refused, so signing out takes effect at once instead of
 * when the token expires.
 *
 * An entry only needs to outlive the longest-lived token of its session: every access token lives
 * at most JWT_ACCESS_TTL_SECONDS from when it was issued, and none is issued after the session
 * ended, so each entry expires that long (plus the tolerated clock difference) after it was made.
 *
 * Entries live in Redis, shared by every process. Each process also remembers the sessions it
 * ended itself, which is all there is with the per-process stand-in (no Redis) and what is left
 * while Redis is unreachable: then a token is refused by the process that ended its session, and
 * by the others only once Redis answers again (or when it expires).
 */
import type { Logger } from '../../platform/logger.ts';
import type { RedisHandle } from '../../platform/redis.ts';

export interface RevokedSessions {
  /** Ends `sessionId`: its access tokens are refused from now until they would have expired. */
  revoke(sessionId: string): Promise<void>;
  isRevoked(sessionId: string): Promise<boolean>;
}

export function createRevokedSessions(
  redis: RedisHandle,
  options: { ttlSeconds: number; logger: Logger },
): RevokedSessions {
  const { ttlSeconds, logger } = options;
  const local = new Map<string, number>();
  let revocations = 0;
  let degraded = false;
  const key = (sessionId: string) => `${redis.keyPrefix}revoked-session:${sessionId}`;

  const unreachable = (error: unknown) => {
    if (!degraded) {
      logger.error(
        { err: error },
        'Redis is unavailable: signed-out sessions are refused only by the process that ended them',
      );
    }
    degraded = true;
  };

  const rememberLocally = (sessionId: string) => {
    const now = Date.now();
    // Drop expired entries now and then so the map stays bounded.
    if (++revocations % 1000 === 0) {
      for (const [id, until] of local) if (until <= now) local.delete(id);
    }
    local.set(sessionId, now + ttlSeconds * 1000);
  };

  return {
    async revoke(sessionId) {
      rememberLocally(sessionId);
      if (!redis.client) return;
      try {
        await redis.client.set(key(sessionId), '1', 'EX', ttlSeconds);
      } catch (error) {
        unreachable(error);
      }
    },
    async isRevoked(sessionId) {
      const until = local.get(sessionId);
      if (until !== undefined && until > Date.now()) return true;
      if (!redis.client) return false;
      try {
        const found = (await redis.client.exists(key(sessionId))) === 1;
        if (degraded) logger.info('signed-out sessions are checked in Redis again');
        degraded = false;
        return found;
      } catch (error) {
        unreachable(error);
        return false;
      }
    },
  };
}
