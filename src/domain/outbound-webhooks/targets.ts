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
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { promisify } from 'node:util';
import ipaddr from 'ipaddr.js';
import { ValidationError } from '../../platform/errors.ts';

export interface TargetPolicy {
  allowed: { hosts: readonly string[]; cidrs: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][] };
  /** Plain http is refused (unless allow-listed). */
  requireHttps: boolean;
}

const lookupAll = promisify(dnsLookup) as unknown as (
  host: string,
  options: { all: true; verbatim: true },
) => Promise<LookupAddress[]>;

/** Why `address` may not be reached, or null when it may. */
export function refusedAddress(address: string, policy: TargetPolicy): string | null {
  if (!ipaddr.isValid(address)) return `${address} is not an address`;
  // An IPv4 address written as IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it is.
  if (inAllowedRange(address, policy)) return null;
  const kind = ipaddr.process(address).range();
  return kind === 'unicast' ? null : `${address} is a ${kind} address`;
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
  if (url.protocol === 'http:' && policy.requireHttps && !hostAllowed(url, policy)) {
    throw new ValidationError('A webhook URL must use https', field);
  }
  if (raw.length > 2000) throw new ValidationError('A webhook URL is at most 2,000 characters', field);
  return url;
}

function bareHost(url: URL): string {
  // URL keeps IPv6 literals in brackets.
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

function inAllowedRange(address: string, policy: TargetPolicy): boolean {
  const parsed = ipaddr.process(address);
  return policy.allowed.cidrs.some(
    ([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits),
  );
}

/** A host named in the allow-list, or an address literal inside one of its ranges. */
function hostAllowed(url: URL, policy: TargetPolicy): boolean {
  const host = bareHost(url);
  return policy.allowed.hosts.includes(host) || (ipaddr.isValid(host) && inAllowedRange(host, policy));
}

/**
 * Resolves the URL's host and returns its addresses, all allowed; throws a ValidationError
 * (on `field`) naming the first address refused, or a host that does not resolve.
 */
export async function resolveTarget(url: URL, policy: TargetPolicy, field = 'url'): Promise<LookupAddress[]> {
  const host = bareHost(url);
  if (policy.allowed.hosts.includes(host)) return lookupAll(host, { all: true, verbatim: true });
  let addresses: LookupAddress[];
  try {
    addresses = ipaddr.isValid(host)
      ? [{ address: host, family: host.includes(':') ? 6 : 4 }]
      : await lookupAll(host, { all: true, verbatim: true });
  } catch {
    throw new ValidationError(`${host} does not resolve to an address`, field);
  }
  if (addresses.length === 0) throw new ValidationError(`${host} does not resolve to an address`, field);
  for (const { address } of addresses) {
    const refused = refusedAddress(address, policy);
    if (refused) throw new ValidationError(`Webhooks cannot be sent to ${host}: ${refused}`, field);
  }
  return addresses;
}

/** A URL as a subscription is saved with: its form and every address it resolves to checked. */
export async function checkTarget(raw: string, policy: TargetPolicy, field = 'url'): Promise<string> {
  const url = parseTarget(raw, policy, field);
  await resolveTarget(url, policy, field);
  return url.toString();
}
