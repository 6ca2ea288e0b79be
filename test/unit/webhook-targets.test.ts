/** Which webhook targets are refused, before any DNS: the form of the URL and each kind of address. */
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { signDelivery } from '../../src/domain/outbound-webhooks/signing.ts';
import {
  checkTarget,
  parseTarget,
  refusedAddress,
  type TargetPolicy,
} from '../../src/domain/outbound-webhooks/targets.ts';
import { ValidationError } from '../../src/platform/errors.ts';
import { verifies } from '../fakes/webhook-receiver.ts';

const open: TargetPolicy = { allowed: { hosts: [], cidrs: [] }, requireHttps: false };
const production: TargetPolicy = { ...open, requireHttps: true };

describe('webhook targets', () => {
  it.each([
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fd00::1', 'uniqueLocal'],
    ['::ffff:10.0.0.1', 'private'],
  ])('refuses %s (%s)', (address, kind) => {
    expect(refusedAddress(address, open)).toBe(`${address} is a ${kind} address`);
  });

  it('allows public addresses, and private ones inside an allowed range', () => {
    expect(refusedAddress('93.184.216.34', open)).toBeNull();
    expect(refusedAddress('2606:4700::1111', open)).toBeNull();
    const allowed = { ...open, allowed: { hosts: [], cidrs: [ipaddr.parseCIDR('10.20.0.0/16')] } };
    expect(refusedAddress('10.20.3.4', allowed)).toBeNull();
    expect(refusedAddress('10.21.3.4', allowed)).toBe('10.21.3.4 is a private address');
  });

  it('requires https in production unless the host is allowed', () => {
    expect(() => parseTarget('http://hooks.example.com/x', production)).toThrow(
      'A webhook URL must use https',
    );
    expect(parseTarget('https://hooks.example.com/x', production).protocol).toBe('https:');
    const allowed = { ...production, allowed: { hosts: ['hooks.internal'], cidrs: [] } };
    expect(parseTarget('http://hooks.internal/x', allowed).protocol).toBe('http:');
  });

  it('refuses what is not an http(s) URL, or carries credentials', () => {
    for (const raw of ['hooks.example.com', 'ftp://example.com/', 'https://user:pw@example.com/']) {
      expect(() => parseTarget(raw, open), raw).toThrow(ValidationError);
    }
  });

  it('refuses a name that resolves to a private address without telling the address', async () => {
    const refusal = await checkTarget('http://localhost:8080/hooks', open).then(
      () => null,
      (error: unknown) => error as Error,
    );
    expect(refusal).toBeInstanceOf(ValidationError);
    expect(refusal!.message).toBe(
      'Webhooks cannot be sent to localhost: localhost does not resolve to a public address',
    );
    expect(refusal!.message).not.toMatch(/127\.0\.0\.1|::1|loopback/);
  });

  it('refuses address literals when saving, without asking DNS', async () => {
    await expect(checkTarget('http://[::1]:8080/', open)).rejects.toThrow('::1 is a loopback address');
    await expect(checkTarget('https://93.184.216.34/hooks', open)).resolves.toBe(
      'https://93.184.216.34/hooks',
    );
  });
});

describe('webhook signatures', () => {
  it('sign one v1 signature per key, each verified by the standardwebhooks library', () => {
    const keys = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
    const body = '{"type":"webhook.test"}';
    const headers = signDelivery(keys, { id: 'msg_1', timestamp: new Date(), body });
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const key of keys)
      expect(verifies(`whsec_${key.toString('base64')}`, body, { ...headers })).toBe(true);
    expect(verifies(`whsec_${Buffer.alloc(32, 3).toString('base64')}`, body, { ...headers })).toBe(false);
  });
});
