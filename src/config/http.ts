/** The HTTP server: where it listens, which proxies it trusts, which browser origins may call it. */
import { z } from 'zod';
import { type ProxyTrust, parseNetworks } from '../platform/client-address.ts';
import { bool, type Context, optional, port, positiveInt, url } from './parse.ts';

export const httpEnv = z.object({
  HOST: z.string().default('0.0.0.0'),
  PORT: port.default(4000),
  PUBLIC_URL: optional(url),
  HTTP_BODY_LIMIT_BYTES: positiveInt.default(1_000_000),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  TRUST_PROXY: bool.default(false),
  // Behind proxies: how many of ours append to X-Forwarded-For, or their networks (CIDRs).
  TRUST_PROXY_HOPS: positiveInt.default(1),
  TRUSTED_PROXIES: optional(z.string()),
  // Browser origins that may call /graphql cross-site; unset, loopback origins outside production.
  CORS_ORIGINS: optional(z.string()),
});
type HttpEnv = z.output<typeof httpEnv>;

export function httpConfig(e: HttpEnv, { production }: Context) {
  return {
    host: e.HOST,
    port: e.PORT,
    publicUrl: e.PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    bodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    /** Where the client address comes from (src/platform/client-address.ts). */
    proxy: proxyTrust(e),
    /**
     * Origins answered with CORS headers: the listed ones and our own (PUBLIC_URL's, where
     * GraphiQL runs), and (outside production, with none listed) any loopback origin, where a
     * dashboard runs in development.
     */
    cors: {
      origins: [
        ...parseOrigins(e.CORS_ORIGINS ?? ''),
        new URL(e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).origin,
      ],
      loopback: e.CORS_ORIGINS === undefined && !production,
    },
  };
}

export function httpProblems(e: HttpEnv): string[] {
  const problems: string[] = [];
  if (e.TRUSTED_PROXIES !== undefined) {
    if (!e.TRUST_PROXY) problems.push('TRUSTED_PROXIES: only used with TRUST_PROXY=true');
    try {
      parseNetworks(e.TRUSTED_PROXIES);
    } catch (error) {
      problems.push(`TRUSTED_PROXIES: ${(error as Error).message}`);
    }
  }
  for (const entry of e.CORS_ORIGINS?.split(',') ?? []) {
    if (entry.trim() && parseOrigins(entry).length === 0)
      problems.push(`CORS_ORIGINS: not an origin (scheme://host[:port], nothing after it): ${entry.trim()}`);
  }
  return problems;
}

/** The well-formed origins of a comma-separated list (`https://host[:port]`, as browsers send them). */
function parseOrigins(list: string): string[] {
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => {
      try {
        const url = new URL(entry);
        return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === entry;
      } catch {
        return false;
      }
    });
}

function proxyTrust(e: HttpEnv): ProxyTrust {
  if (!e.TRUST_PROXY) return { mode: 'none' };
  if (e.TRUSTED_PROXIES) return { mode: 'networks', networks: parseNetworks(e.TRUSTED_PROXIES) };
  return { mode: 'hops', hops: e.TRUST_PROXY_HOPS };
}
