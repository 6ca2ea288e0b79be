/**
 * Rate limits over real HTTP: per IP, per user and per API key, each admitting exactly its limit
 * out of 50 parallel requests and answering the rest 429 with `Retry-After`; shared between
 * processes through Redis; and, with Redis down, still applied per process while the API keeps
 * serving and `/readyz` and the log say so.
 */
import { randomInt } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisHandle } from '../../src/platform/redis.ts';
import { graphql } from '../generated/gql.ts';
import { startTestApp, type TestApp, uniqueIp } from '../helpers/app.ts';

const LIMIT = 10;
const PARALLEL = 50;

const Viewer = graphql(`
  query RateLimitViewer {
    viewer { id }
  }
`);

const CreateOrganization = graphql(`
  mutation RateLimitCreateOrganization($name: String!) {
    createOrganization(input: { name: $name }) {
      ... on OrganizationPayload { organization { id } }
    }
  }
`);

const CreateApiKey = graphql(`
  mutation RateLimitCreateApiKey($organizationId: ID!) {
    createApiKey(input: { organizationId: $organizationId, name: "rate limit test" }) {
      ... on CreateApiKeyPayload { secret }
    }
  }
`);

type Answer = Awaited<ReturnType<TestApp['gql']>>;

/** Sends `PARALLEL` requests at once (`send(i)` makes the i-th) and sorts the answers by status. */
async function burst(send: (i: number) => Promise<Answer>) {
  const answers = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => send(i)));
  const admitted = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status === 429);
  expect(admitted.length + refused.length, JSON.stringify(answers.map((a) => a.body))).toBe(PARALLEL);
  return { admitted, refused };
}

/** A 429 as the API answers it: `Retry-After` within the window, and the same figure in the body. */
function expectTooManyRequests(answer: Answer, windowSeconds: number) {
  const retryAfter = Number(answer.headers.get('retry-after'));
  expect(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= windowSeconds,
    `Retry-After ${retryAfter}`,
  ).toBe(true);
  expect(answer.body).toEqual({
    errors: [
      { message: 'Too many requests', extensions: { code: 'RATE_LIMITED', retryAfterSeconds: retryAfter } },
    ],
  });
}

/** `http_rate_limited_total` by limit, from the app's /metrics. */
async function refusalsCounted(app: TestApp, limit: 'ip' | 'user' | 'apiKey'): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`http_rate_limited_total{limit="${limit}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('per IP', () => {
  let app: TestApp;
  let second: TestApp;
  beforeAll(async () => {
    // Behind a trusted proxy the client's address comes from X-Forwarded-For, so each test can
    // have an address (and a window) of its own.
    const env = { RATE_LIMIT_PER_IP: String(LIMIT), TRUST_PROXY: 'true' };
    app = await startTestApp({ env });
    // A second process on the same database and Redis, as behind a load balancer.
    second = await startTestApp({ env, database: app.database, redis: app.services.redis });
  });
  afterAll(async () => {
    await second?.close();
    await app?.close();
  });

  it(`admits exactly ${LIMIT} of ${PARALLEL} parallel requests from one address; the rest get 429 and Retry-After`, async () => {
    const ip = uniqueIp();
    const { admitted, refused } = await burst(() =>
      app.gql('{ __typename }', {}, { headers: { 'x-forwarded-for': ip } }),
    );
    expect(admitted).toHaveLength(LIMIT);
    expect(refused).toHaveLength(PARALLEL - LIMIT);
    for (const answer of refused) expectTooManyRequests(answer, app.services.config.rateLimits.windowSeconds);
    expect(await refusalsCounted(app, 'ip')).toBe(PARALLEL - LIMIT);

    // Another address has its own allowance.
    const elsewhere = await app.gql('{ __typename }', {}, { headers: { 'x-forwarded-for': uniqueIp() } });
    expect(elsewhere.status).toBe(200);
  });

  it('counts an IPv6 client by its /64: other addresses of the same network share its allowance', async () => {
    const network = `2001:db8:${randomInt(0x10000).toString(16)}:${randomInt(0x10000).toString(16)}`;
    const { admitted, refused } = await burst((i) =>
      app.gql(
        '{ __typename }',
        {},
        { headers: { 'x-forwarded-for': `${network}::${(i + 1).toString(16)}` } },
      ),
    );
    expect(admitted).toHaveLength(LIMIT);
    expect(refused).toHaveLength(PARALLEL - LIMIT);
    // The next /64 over is another subscriber.
    const next = await app.gql(
      '{ __typename }',
      {},
      { headers: { 'x-forwarded-for': `2001:db8:ffff:${randomInt(0x10000).toString(16)}::1` } },
    );
    expect(next.status).toBe(200);
  });

  it('shares the count between processes through Redis', async () => {
    const ip = uniqueIp();
    const { admitted } = await burst((i) =>
      (i % 2 ? app : second).gql('{ __typename }', {}, { headers: { 'x-forwarded-for': ip } }),
    );
    // Per-process counting would admit up to twice the limit.
    expect(admitted).toHaveLength(LIMIT);
  });
});

describe('per user and per API key', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      env: { RATE_LIMIT_PER_USER: String(LIMIT), RATE_LIMIT_PER_API_KEY: String(LIMIT) },
    });
  });
  afterAll(() => app?.close());

  it(`admits exactly ${LIMIT} of ${PARALLEL} parallel requests from one user; another user is unaffected`, async () => {
    const user = await app.signIn();
    const { admitted, refused } = await burst(() => app.gql(Viewer, {}, { token: user.token }));
    expect(admitted).toHaveLength(LIMIT);
    for (const answer of refused) expectTooManyRequests(answer, app.services.config.rateLimits.windowSeconds);
    expect(await refusalsCounted(app, 'user')).toBe(PARALLEL - LIMIT);

    const someoneElse = await app.signIn();
    expect((await app.gql(Viewer, {}, { token: someoneElse.token })).status).toBe(200);
  });

  it(`admits exactly ${LIMIT} of ${PARALLEL} parallel requests with one API key; its creator keeps their own allowance`, async () => {
    const owner = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: 'Rate Limit Cafe' }, { token: owner.token });
    const organization = created.data?.createOrganization;
    if (!organization || !('organization' in organization)) throw new Error(JSON.stringify(created.body));
    const key = await app.gql(
      CreateApiKey,
      { organizationId: organization.organization.id },
      { token: owner.token },
    );
    const payload = key.data?.createApiKey;
    if (!payload || !('secret' in payload)) throw new Error(JSON.stringify(key.body));
    const secret = payload.secret;

    const { admitted, refused } = await burst(() => app.gql(Viewer, {}, { token: secret }));
    expect(admitted).toHaveLength(LIMIT);
    for (const answer of refused) expectTooManyRequests(answer, app.services.config.rateLimits.windowSeconds);
    expect(await refusalsCounted(app, 'apiKey')).toBe(PARALLEL - LIMIT);

    // The key's requests count against the key, not against the person who made it.
    expect((await app.gql(Viewer, {}, { token: owner.token })).status).toBe(200);
  });
});

describe('with Redis down', () => {
  let app: TestApp;
  let down: Redis;
  const logLines: { msg: string; level: number }[] = [];

  beforeAll(async () => {
    // Nothing listens on port 1. Commands fail at once instead of queueing for a reconnect, which
    // is how the limiter sees Redis while it is down.
    down = new Redis({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    down.on('error', () => {});
    const redis: RedisHandle = {
      mode: 'redis',
      client: down,
      keyPrefix: 'test:redis-down:',
      ping: () =>
        down.ping().then(
          (answer) => answer === 'PONG',
          () => false,
        ),
      close: async () => down.disconnect(),
    };
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
        done();
      },
    });
    app = await startTestApp({
      redis,
      logger: pino({ level: 'info' }, sink),
      env: { RATE_LIMIT_PER_IP: String(LIMIT), TRUST_PROXY: 'true' },
    });
  });
  afterAll(async () => {
    await app?.close();
    down?.disconnect();
  });

  it('keeps serving, with the limit counted in this process', async () => {
    const ip = uniqueIp();
    const { admitted, refused } = await burst(() =>
      app.gql('{ __typename }', {}, { headers: { 'x-forwarded-for': ip } }),
    );
    expect(admitted).toHaveLength(LIMIT);
    for (const answer of refused) expectTooManyRequests(answer, app.services.config.rateLimits.windowSeconds);
    expect(app.services.limiter.mode()).toBe('memory');

    // Anything else that counts attempts (sign-in codes) keeps working too.
    const requested = await app.gql(
      'mutation { requestSignInCode(input: { email: "redis-down@example.test" }) { __typename } }',
      {},
      { headers: { 'x-forwarded-for': uniqueIp() } },
    );
    expect(requested.body).toEqual({
      data: { requestSignInCode: { __typename: 'RequestSignInCodePayload' } },
    });
  });

  it('says so in /readyz, staying ready', async () => {
    const response = await fetch(`${app.url}/readyz`);
    const report = (await response.json()) as {
      ready: boolean;
      checks: Record<string, { ok: boolean; detail?: string }>;
    };
    expect(response.status, JSON.stringify(report)).toBe(200);
    expect(report.ready).toBe(true);
    expect(report.checks.redis).toEqual({
      ok: true,
      detail:
        'unreachable: rate limits fall back to per-process counting (each process admits up to the limit on its own) until Redis answers again',
    });
  });

  it('says so in the log, once', async () => {
    const fallbacks = logLines.filter(
      (l) => l.msg === 'Redis is unavailable: rate limits fall back to this process',
    );
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]!.level).toBe(50);
  });
});
