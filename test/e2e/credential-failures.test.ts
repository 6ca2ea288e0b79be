/**
 * Testing credentials from one address: every credential that fails (an unknown or mistyped API
 * key, a forged token) counts against the client's address, and past the limit the address gets
 * 429 with `Retry-After` instead of an answer about its credential. The limit is checked before a
 * credential is verified, so a locked-out address learns nothing more, not even that a key is
 * good. Credentials of ours that merely ended (an expired token, a signed-out session) do not
 * count: their holders are not guessing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueAccessToken } from '../../src/domain/identity/access-tokens.ts';
import { graphql } from '../generated/gql.ts';
import { startTestApp, type TestApp, uniqueIp } from '../helpers/app.ts';
import { apiKey, createActors } from '../helpers/authz.ts';
import { rawConnectionInit } from '../helpers/websocket.ts';

const LIMIT = 10;
const ATTEMPTS = 50;
const WINDOW_SECONDS = 900;

const Viewer = graphql(`
  query CredentialFailuresViewer {
    viewer { id }
  }
`);

let app: TestApp;
beforeAll(async () => {
  // Behind a trusted proxy the client's address comes from X-Forwarded-For, so each test has an
  // address (and a count) of its own.
  app = await startTestApp({
    env: {
      AUTH_FAILURE_LIMIT_PER_IP: String(LIMIT),
      AUTH_FAILURE_WINDOW_SECONDS: String(WINDOW_SECONDS),
      TRUST_PROXY: 'true',
    },
  });
});
afterAll(() => app?.close());

/** A key of the right shape and checksum that was never issued: what a key-tester sends. */
function unknownKey(): string {
  const prefix = app.services.config.auth.apiKeyPrefix;
  const base62 = (n: number) =>
    Array.from(
      randomBytes(n),
      (b) => '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'[b % 62],
    ).join('');
  return `${prefix}_${base62(8)}_${base62(38)}`;
}

const ask = (ip: string, token: string) => app.gql(Viewer, {}, { token, headers: { 'x-forwarded-for': ip } });

/** A 429 as the API answers it: `Retry-After` within the window, and the same figure in the body. */
function expectLockedOut(answer: Awaited<ReturnType<typeof ask>>) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(429);
  const retryAfter = Number(answer.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= WINDOW_SECONDS).toBe(true);
  expect(answer.body).toEqual({
    errors: [
      { message: 'Too many requests', extensions: { code: 'RATE_LIMITED', retryAfterSeconds: retryAfter } },
    ],
  });
}

describe('bad credentials from one address', () => {
  it(`get ${LIMIT} × 401, then 429 with Retry-After, one after another`, async () => {
    const ip = uniqueIp();
    const statuses: number[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      const answer = await ask(ip, i % 2 ? unknownKey() : 'not.a.token');
      statuses.push(answer.status);
      if (answer.status === 429) expectLockedOut(answer);
    }
    expect(statuses).toEqual([...Array(LIMIT).fill(401), ...Array(ATTEMPTS - LIMIT).fill(429)]);
  });

  it(`get ${LIMIT} × 401 and the rest 429 when sent all at once`, async () => {
    const ip = uniqueIp();
    const answers = await Promise.all(Array.from({ length: ATTEMPTS }, () => ask(ip, unknownKey())));
    expect(answers.filter((a) => a.status === 401)).toHaveLength(LIMIT);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(ATTEMPTS - LIMIT);
    for (const answer of refused) expectLockedOut(answer);
  });

  it('lock the address out before any credential is checked: a good key is refused too, unused', async () => {
    const fx = await createActors(app);
    const fresh = await apiKey(app, fx.organizationId, fx.owner.userId, ['read']);
    const ip = uniqueIp();
    for (let i = 0; i < LIMIT; i++) expect((await ask(ip, unknownKey())).status).toBe(401);

    expectLockedOut(await ask(ip, fresh.secret));
    expectLockedOut(await ask(ip, fx.owner.token));
    // Refused without being looked at: the key was never used.
    const stored = await app.services.db.apiKey.findUniqueOrThrow({ where: { id: fresh.id } });
    expect(stored.lastUsedAt).toBeNull();

    // Another address is not affected, and anonymous requests from this one still work.
    expect((await ask(uniqueIp(), fresh.secret)).status).toBe(200);
    expect((await app.gql(Viewer, {}, { headers: { 'x-forwarded-for': ip } })).status).toBe(200);
  });

  it('are counted in auth_failures_total and http_rate_limited_total', async () => {
    const metric = async (name: string) => {
      const text = await (await fetch(`${app.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(name));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    const failuresBefore = await metric('auth_failures_total{kind="apiKey"}');
    const limitedBefore = await metric('http_rate_limited_total{limit="authFailures"}');
    const ip = uniqueIp();
    for (let i = 0; i < LIMIT + 5; i++) await ask(ip, unknownKey());
    expect((await metric('auth_failures_total{kind="apiKey"}')) - failuresBefore).toBe(LIMIT);
    expect((await metric('http_rate_limited_total{limit="authFailures"}')) - limitedBefore).toBe(5);
  });
});

describe('credentials of ours that ended', () => {
  it('do not count: expired tokens and good keys, many times over, leave the address its allowance', async () => {
    const fx = await createActors(app);
    const expired = await issueAccessToken(app.services.keys, {
      userId: fx.staff.userId,
      auth: app.services.config.auth,
      now: new Date(Date.now() - 2 * app.services.config.auth.accessTtlSeconds * 1000),
    });
    const ip = uniqueIp();
    for (let i = 0; i < 3 * LIMIT; i++) {
      expect((await ask(ip, expired.token)).status).toBe(401);
      expect((await ask(ip, fx.keyRead.secret)).status).toBe(200);
    }
    // The allowance for failures is still whole.
    for (let i = 0; i < LIMIT; i++) expect((await ask(ip, unknownKey())).status).toBe(401);
    expectLockedOut(await ask(ip, unknownKey()));
  });
});

describe('over WebSocket', () => {
  /** graphql-ws `connection_init` with this credential: whether the server acknowledged it. */
  async function connectionInit(credential: string) {
    const { code, acknowledged } = await rawConnectionInit(app, { authorization: `Bearer ${credential}` });
    return { code, acknowledged };
  }

  // Last in this file: the socket's own address (loopback) is the one locked out here.
  it('bad credentials in connection_init count too, and a locked-out address cannot connect even with a good key', async () => {
    const fx = await createActors(app);
    expect(await connectionInit(fx.keyRead.secret)).toEqual({ code: 1000, acknowledged: true });
    for (let i = 0; i < LIMIT; i++) {
      expect(await connectionInit(unknownKey())).toEqual({ code: 4403, acknowledged: false });
    }
    expect(await connectionInit(fx.keyRead.secret)).toEqual({ code: 4429, acknowledged: false });
  });
});
