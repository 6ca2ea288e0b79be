/**
 * Which network addresses an outbound request made on someone else's say-so may reach: a
 * webhook target an organisation typed in, a website a business scan reads. Only public
 * unicast addresses, unless an operator's allow-list (host names and CIDR ranges) names them.
 *
 * Every address a name resolves to is checked, since one private address among public ones is
 * enough for a request to land inside our network. `checkedLookup` gives a request a socket
 * lookup that resolves and checks in one step, so the address checked is the address connected
 * to, and a name re-pointed at an internal address between check and connect (DNS rebinding)
 * is refused as well.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { promisify } from 'node:util';
import ipaddr from 'ipaddr.js';

/** Hosts (exact, lower-case names or address literals) and ranges allowed although not public. */
export interface AddressAllowList {
  hosts: readonly string[];
  cidrs: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][];
}

/** A host that may not be reached, or that does not resolve. `message` is for people. */
export class AddressRefusedError extends Error {
  override name = 'AddressRefusedError';
  readonly host: string;
  /** `unresolved`: no address at all; `refused`: an address outside the public internet. */
  readonly reason: 'unresolved' | 'refused';
  constructor(host: string, reason: 'unresolved' | 'refused', message: string) {
    super(message);
    this.host = host;
    this.reason = reason;
  }
}

/** Splits `a, b,10.0.0.0/8` into an allow-list (the parsing of *_ALLOWED_HOSTS variables). */
export function parseAllowList(entries: readonly string[]): AddressAllowList {
  return {
    hosts: entries.filter((entry) => !entry.includes('/')).map((h) => h.toLowerCase()),
    cidrs: entries.filter((entry) => entry.includes('/')).map((cidr) => ipaddr.parseCIDR(cidr)),
  };
}

/** What is wrong with an allow-list's entries, one line each, for the config's report. */
export function allowListProblems(variable: string, entries: readonly string[]): string[] {
  return entries
    .filter((entry) => entry.includes('/') && !ipaddr.isValidCIDR(entry))
    .map((entry) => `${variable}: ${entry} is not an address range (e.g. 10.0.0.0/8)`);
}

const lookupAll = promisify(dnsLookup) as unknown as (
  host: string,
  options: { all: true; verbatim: true },
) => Promise<LookupAddress[]>;

function inAllowedRange(address: string, allowed: AddressAllowList): boolean {
  const parsed = ipaddr.process(address);
  return allowed.cidrs.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
}

/** Why `address` may not be reached, or null when it may. */
export function refusedAddress(address: string, allowed: AddressAllowList): string | null {
  if (!ipaddr.isValid(address)) return `${address} is not an address`;
  // An IPv4 address written as IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it is.
  if (inAllowedRange(address, allowed)) return null;
  const kind = ipaddr.process(address).range();
  return kind === 'unicast' ? null : `${address} is a ${kind} address`;
}

/** The URL's host as DNS and the allow-list know it: lower-case, IPv6 literals without brackets. */
export function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

/** A host named in the allow-list, or an address literal inside one of its ranges. */
export function hostAllowed(url: URL, allowed: AddressAllowList): boolean {
  const host = bareHost(url);
  return allowed.hosts.includes(host) || (ipaddr.isValid(host) && inAllowedRange(host, allowed));
}

/**
 * Resolves the URL's host and returns its addresses, every one allowed; throws
 * AddressRefusedError naming the first address refused, or a host that does not resolve.
 */
export async function resolveAllowed(url: URL, allowed: AddressAllowList): Promise<LookupAddress[]> {
  const host = bareHost(url);
  if (allowed.hosts.includes(host)) return lookupAll(host, { all: true, verbatim: true });
  let addresses: LookupAddress[];
  try {
    addresses = ipaddr.isValid(host)
      ? [{ address: host, family: host.includes(':') ? 6 : 4 }]
      : await lookupAll(host, { all: true, verbatim: true });
  } catch {
    addresses = [];
  }
  if (addresses.length === 0) {
    throw new AddressRefusedError(host, 'unresolved', `${host} does not resolve to an address`);
  }
  for (const { address } of addresses) {
    const refused = refusedAddress(address, allowed);
    if (!refused) continue;
    // The address a name resolves to is not told: whoever may ask (any organisation's manager,
    // through a webhook's URL or a scan) would map a private network's names to its addresses.
    // An address literal is the caller's own words.
    throw new AddressRefusedError(
      host,
      'refused',
      ipaddr.isValid(host) ? refused : `${host} does not resolve to a public address`,
    );
  }
  return addresses;
}

/**
 * A socket lookup for requests to `url` that connects only to addresses `resolveAllowed`
 * accepts. An address literal in the URL never reaches a lookup, so call `resolveAllowed` once
 * before the request as well.
 */
export function checkedLookup(url: URL, allowed: AddressAllowList): LookupFunction {
  return (_host, options, callback) => {
    resolveAllowed(url, allowed).then(
      (addresses) => {
        if ((options as { all?: boolean }).all) {
          (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
        } else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: Error) =>
        callback(Object.assign(new Error(`refused: ${error.message}`), { code: 'EREFUSED' }), '', 4),
    );
  };
}
