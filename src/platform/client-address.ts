/**
 * The address a request comes from, for rate limits and logs.
 *
 * `X-Forwarded-For` is a list that each proxy appends the address it saw to, so only its
 * rightmost entries were written by proxies we run; everything left of them is whatever the
 * client sent. The client's address is therefore found from the right: a fixed number of hops
 * (one load balancer: the last entry), or by skipping every address inside the networks of our
 * own proxies. The leftmost entry is never trusted for being leftmost.
 */
import ipaddr from 'ipaddr.js';

export type ProxyTrust =
  | { mode: 'none' }
  /** This many proxies of ours stand in front of the process; the last of them connects to us. */
  | { mode: 'hops'; hops: number }
  /** Our proxies are the addresses inside these networks (`ipaddr.parseCIDR` results). */
  | { mode: 'networks'; networks: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][] };

/** Parses `a.b.c.d/n` and IPv6 CIDRs, comma-separated; throws naming the first bad entry. */
export function parseNetworks(list: string): [ipaddr.IPv4 | ipaddr.IPv6, number][] {
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      try {
        // A bare address is a network of one.
        if (!entry.includes('/')) {
          const address = ipaddr.process(entry);
          return [address, address.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
        }
        const [address, bits] = ipaddr.parseCIDR(entry);
        // An IPv4-mapped IPv6 network is matched as the IPv4 network it maps.
        if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96)
          return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96] as [ipaddr.IPv4, number];
        return [address, bits] as [ipaddr.IPv4 | ipaddr.IPv6, number];
      } catch {
        throw new Error(`not an IP network: ${entry}`);
      }
    });
}

/** An address in canonical form (IPv4-mapped IPv6 as IPv4), or null if it is not an IP address. */
function canonical(value: string | undefined): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (!value) return null;
  let text = value.trim();
  // Proxies may write `[v6]:port` or `v4:port`.
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  if (!ipaddr.isValid(text)) return null;
  return ipaddr.process(text);
}

function inNetworks(address: ipaddr.IPv4 | ipaddr.IPv6, networks: ProxyTrust & { mode: 'networks' }) {
  return networks.networks.some(
    ([network, bits]) => network.kind() === address.kind() && address.match(network, bits),
  );
}

/**
 * The client's address. `socket` is the peer of the TCP connection; `forwardedFor` the
 * `X-Forwarded-For` header (its copies joined, in order). With fewer entries than hops, the
 * leftmost entry is the furthest address any proxy of ours saw. An entry that is not an address
 * counts as the proxy's own peer, never as a key the client chose.
 */
export function clientAddress(
  socket: string | undefined,
  forwardedFor: string | string[] | undefined,
  trust: ProxyTrust,
): string {
  const peer = canonical(socket);
  const fallback = peer?.toString() ?? socket ?? 'unknown';
  if (trust.mode === 'none' || !forwardedFor) return fallback;
  const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) return fallback;

  if (trust.mode === 'hops') {
    const entry = entries[Math.max(0, entries.length - trust.hops)];
    return canonical(entry)?.toString() ?? fallback;
  }

  // Walk from the connection leftwards while the address is one of our proxies.
  if (!peer || !inNetworks(peer, trust)) return fallback;
  let client = peer;
  for (let i = entries.length - 1; i >= 0; i -= 1) {
    const address = canonical(entries[i]);
    if (!address) return client.toString();
    client = address;
    if (!inNetworks(address, trust)) return address.toString();
  }
  return client.toString();
}

/**
 * What an address is counted as by per-address limits: an IPv4 address itself, an IPv6 address
 * its /64 network (`2001:db8:1:2::/64`). One subscriber is given a whole /64 to number its
 * machines in, so counting its addresses one by one would give it 2^64 allowances.
 */
export function limitedAddress(ip: string): string {
  if (!ipaddr.IPv6.isValid(ip)) return ip;
  const address = ipaddr.IPv6.parse(ip);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  const network = address.parts.slice(0, 4).concat([0, 0, 0, 0]);
  return `${new ipaddr.IPv6(network).toString()}/64`;
}
