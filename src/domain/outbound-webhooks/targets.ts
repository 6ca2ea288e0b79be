/**
 * Where a webhook may be sent. A target is an absolute http(s) URL whose host resolves only to
 * public addresses: every address the name resolves to is checked with ipaddr.js, since one
 * private address among public ones is enough for a request to land inside our network. The
 * check runs when a subscription is created or changed and again on every send, where the
 * socket connects to the very address that was checked (the request's `lookup`), so a name
 * that resolves to something else later (DNS rebinding) is refused too.
 *
 * The allow-list (WEBHOOK_ALLOWED_HOSTS: host names and CIDR ranges) lets operators reach
 * receivers inside their own network, and plain http in production.
 */
import type { LookupAddress } from 'node:dns';
import {
  type AddressAllowList,
  AddressRefusedError,
  bareHost,
  hostAllowed,
  refusedAddress as refusedByList,
  resolveAllowed,
} from '../../platform/address-policy.ts';
import { ValidationError } from '../../platform/errors.ts';

export interface TargetPolicy {
  allowed: AddressAllowList;
  /** Plain http is refused (unless allow-listed). */
  requireHttps: boolean;
}

/** Why `address` may not be reached, or null when it may (src/platform/address-policy.ts). */
export function refusedAddress(address: string, policy: TargetPolicy): string | null {
  return refusedByList(address, policy.allowed);
}

/** The URL, checked for form (not yet resolved): an absolute http(s) URL without credentials. */
export function parseTarget(raw: string, policy: TargetPolicy, field = 'url'): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ValidationError('Enter a full URL, such as https://example.com/webhooks', field);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ValidationError('A webhook URL starts with https://', field);
  }
  if (url.username || url.password) {
    throw new ValidationError('A webhook URL cannot carry a user name or password', field);
  }
  if (url.protocol === 'http:' && policy.requireHttps && !hostAllowed(url, policy.allowed)) {
    throw new ValidationError('A webhook URL must use https', field);
  }
  if (raw.length > 2000) throw new ValidationError('A webhook URL is at most 2,000 characters', field);
  return url;
}

/**
 * Resolves the URL's host and returns its addresses, all allowed; throws a ValidationError
 * (on `field`) naming the first address refused, or a host that does not resolve.
 */
export async function resolveTarget(url: URL, policy: TargetPolicy, field = 'url'): Promise<LookupAddress[]> {
  try {
    return await resolveAllowed(url, policy.allowed);
  } catch (error) {
    if (!(error instanceof AddressRefusedError)) throw error;
    if (error.reason === 'unresolved') throw new ValidationError(error.message, field);
    throw new ValidationError(`Webhooks cannot be sent to ${bareHost(url)}: ${error.message}`, field);
  }
}

/** A URL as a subscription is saved with: its form and every address it resolves to checked. */
export async function checkTarget(raw: string, policy: TargetPolicy, field = 'url'): Promise<string> {
  const url = parseTarget(raw, policy, field);
  await resolveTarget(url, policy, field);
  return url.toString();
}
