import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { clientAddress, limitedAddress, parseNetworks } from '../../src/platform/client-address.ts';

describe('clientAddress', () => {
  const hops = (n: number) => ({ mode: 'hops', hops: n }) as const;
  const networks = (list: string) => ({ mode: 'networks', networks: parseNetworks(list) }) as const;

  it('without trust, is the connection whatever X-Forwarded-For says (IPv4-mapped as IPv4)', () => {
    expect(clientAddress('::ffff:192.0.2.1', '198.51.100.7', { mode: 'none' })).toBe('192.0.2.1');
  });

  it('counts hops from the right, never taking the leftmost entry for being leftmost', () => {
    expect(clientAddress('10.0.0.1', '6.6.6.6, 198.51.100.7', hops(1))).toBe('198.51.100.7');
    expect(clientAddress('10.0.0.1', '6.6.6.6, 198.51.100.7, 10.0.0.9', hops(2))).toBe('198.51.100.7');
    // Several header lines are one list, in order.
    expect(clientAddress('10.0.0.1', ['6.6.6.6', '198.51.100.7'], hops(1))).toBe('198.51.100.7');
    // Fewer entries than hops: the furthest address a proxy of ours saw.
    expect(clientAddress('10.0.0.1', '198.51.100.7', hops(3))).toBe('198.51.100.7');
    // No header: the connection.
    expect(clientAddress('10.0.0.1', undefined, hops(1))).toBe('10.0.0.1');
  });

  it('reads addresses with ports, and falls back to the connection for an entry that is not one', () => {
    expect(clientAddress('10.0.0.1', '198.51.100.7:5123', hops(1))).toBe('198.51.100.7');
    expect(clientAddress('10.0.0.1', '[2001:db8::1]:443', hops(1))).toBe('2001:db8::1');
    expect(clientAddress('10.0.0.1', 'anything-at-all', hops(1))).toBe('10.0.0.1');
  });

  it('with proxy networks, skips trusted addresses from the right and stops at the first other one', () => {
    const trust = networks('10.0.0.0/8, 2001:db8:ffff::/48');
    expect(clientAddress('10.0.0.1', '6.6.6.6, 198.51.100.7, 10.1.1.1, 10.2.2.2', trust)).toBe(
      '198.51.100.7',
    );
    expect(clientAddress('2001:db8:ffff::5', '198.51.100.7', trust)).toBe('198.51.100.7');
    // A connection from outside the proxies is the client, whatever it forwards.
    expect(clientAddress('192.0.2.50', '198.51.100.7', trust)).toBe('192.0.2.50');
    // Every hop a proxy: the furthest one.
    expect(clientAddress('10.0.0.1', '10.9.9.9', trust)).toBe('10.9.9.9');
  });
});

describe('configuration', () => {
  it('builds the trust from TRUST_PROXY, TRUST_PROXY_HOPS and TRUSTED_PROXIES', () => {
    expect(loadConfig({}).http.proxy).toEqual({ mode: 'none' });
    expect(loadConfig({ TRUST_PROXY: 'true' }).http.proxy).toEqual({ mode: 'hops', hops: 1 });
    expect(loadConfig({ TRUST_PROXY: 'true', TRUST_PROXY_HOPS: '2' }).http.proxy).toEqual({
      mode: 'hops',
      hops: 2,
    });
    expect(loadConfig({ TRUST_PROXY: 'true', TRUSTED_PROXIES: '10.0.0.0/8,::1' }).http.proxy.mode).toBe(
      'networks',
    );
  });

  it('refuses a bad network, TRUSTED_PROXIES without TRUST_PROXY, and zero hops', () => {
    expect(() => loadConfig({ TRUST_PROXY: 'true', TRUSTED_PROXIES: '10.0.0.0/8, proxy.internal' })).toThrow(
      'TRUSTED_PROXIES: not an IP network: proxy.internal',
    );
    expect(() => loadConfig({ TRUSTED_PROXIES: '10.0.0.0/8' })).toThrow(
      'TRUSTED_PROXIES: only used with TRUST_PROXY=true',
    );
    expect(() => loadConfig({ TRUST_PROXY: 'true', TRUST_PROXY_HOPS: '0' })).toThrow(/TRUST_PROXY_HOPS/);
  });
});

describe('limitedAddress', () => {
  it('counts IPv4 by the address and IPv6 by its /64', () => {
    expect(limitedAddress('203.0.113.7')).toBe('203.0.113.7');
    expect(limitedAddress('2001:db8:1:2::17')).toBe('2001:db8:1:2::/64');
    expect(limitedAddress('2001:0db8:0001:0002:ffff:eeee:dddd:cccc')).toBe('2001:db8:1:2::/64');
    expect(limitedAddress('2001:db8:1:3::17')).toBe('2001:db8:1:3::/64');
    expect(limitedAddress('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(limitedAddress('unknown')).toBe('unknown');
  });
});
