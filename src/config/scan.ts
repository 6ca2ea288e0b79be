/**
 * Business scans (src/domain/scan): which hosts a scan may read although they are not on the
 * public internet, and the limits of one scan's reading.
 */
import { z } from 'zod';
import { allowListProblems, parseAllowList } from '../platform/address-policy.ts';
import { list, positiveInt } from './parse.ts';

export const scanEnv = z.object({
  SCAN_ALLOW_HOSTS: list,
  SCAN_USER_AGENT: z.string().trim().min(1).default('AGNTBot'),
  SCAN_MAX_PAGE_BYTES: positiveInt.default(2_000_000),
  SCAN_MAX_PAGES: positiveInt.max(20).default(5),
  SCAN_MAX_REDIRECTS: z.coerce.number().int().min(0).max(10).default(5),
  SCAN_PAGE_TIMEOUT_MS: positiveInt.max(60_000).default(10_000),
  SCAN_TOTAL_TIMEOUT_MS: positiveInt.max(300_000).default(45_000),
});
type ScanEnv = z.output<typeof scanEnv>;

export function scanConfig(e: ScanEnv) {
  return {
    /** Hosts and ranges a scan may read although private, loopback or link-local. */
    allowed: parseAllowList(e.SCAN_ALLOW_HOSTS),
    /** The product token we send and obey robots.txt under. */
    userAgent: e.SCAN_USER_AGENT,
    /** A page larger than this is refused ("page too large"); reading stops there. */
    maxPageBytes: e.SCAN_MAX_PAGE_BYTES,
    /** The home page and same-site pages (menu, contact, about) read, at most. */
    maxPages: e.SCAN_MAX_PAGES,
    /** Redirects followed per request, each re-checked. */
    maxRedirects: e.SCAN_MAX_REDIRECTS,
    /** One request's deadline, answer included. */
    pageTimeoutMs: e.SCAN_PAGE_TIMEOUT_MS,
    /** The whole website lane's deadline. */
    totalTimeoutMs: e.SCAN_TOTAL_TIMEOUT_MS,
  };
}

export function scanProblems(e: ScanEnv): string[] {
  return allowListProblems('SCAN_ALLOW_HOSTS', e.SCAN_ALLOW_HOSTS);
}
