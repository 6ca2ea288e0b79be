/**
 * The client address behind proxies, over real HTTP. `X-Forwarded-For` is a list each proxy
 * appends to, so its leftmost entries are whatever the client wrote: the address that counts is
 * the one a trusted proxy added, found a configured number of hops from the right
 * (`TRUST_PROXY_HOPS`) or by walking left past the configured proxy networks (`TRUSTED_PROXIES`).
 * A client that rotates a spoofed leftmost entry still meets the limits of its real address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestApp, type TestApp, uniqueEmail, uniqueIp } from '../helpers/app.ts';

const LIMIT = 20;
const ATTEMPTS = 30;

const REQUEST_CODE = `mutation ClientAddressRequestCode($email: String!) {
  requestSignInCode(input: { email: $email }) {
    __typename
    ... on RateLimitedError { retryAfterSeconds }
  }
}`;

/** Sends `ATTEMPTS` requests one after another; `forwardedFor(i)` is the i-th X-Forwarded-For. */
async function sequence<T>(send: (i: number) => Promise<T>): Promise<T[]> {
  const answers: T[] = [];
  for (let i = 0; i < ATTEMPTS; i += 1) answers.push(await send(i));
  return answers;
}

describe('TRUST_PROXY=true behind one proxy (TRUST_PROXY_HOPS defaults to 1)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ env: { TRUST_PROXY: 'true', SIGN_IN_LIMIT_PER_IP: String(LIMIT) } });
  });
  afterAll(() => app?.close());

  it(`refuses sign-in codes past ${LIMIT} from one client however it rotates a spoofed leftmost X-Forwarded-For`, async () => {
    const client = uniqueIp();
    const emails = Array.from({ length: ATTEMPTS }, () => uniqueEmail('spoof'));
    const answers = await sequence((i) =>
      app.gql(
        REQUEST_CODE,
        { email: emails[i] },
        // The client wrote the first entry; our proxy appended the address it saw.
        { headers: { 'x-forwarded-for': `${uniqueIp()}, ${client}` } },
      ),
    );
    const kinds = answers.map(
      (a) => (a.data as { requestSignInCode: { __typename: string } } | null)?.requestSignInCode.__typename,
    );
    expect(kinds.slice(0, LIMIT), JSON.stringify(answers.map((a) => a.body))).toEqual(
      Array(LIMIT).fill('RequestSignInCodePayload'),
    );
    expect(kinds.slice(LIMIT), JSON.stringify(answers.map((a) => a.body))).toEqual(
      Array(ATTEMPTS - LIMIT).fill('RateLimitedError'),
    );
    // Refused requests sent nothing.
    const mailed = new Set(app.smtp.messages.flatMap((m) => m.envelopeTo));
    expect(emails.filter((e) => mailed.has(e))).toEqual(emails.slice(0, LIMIT));
  });
});

/** Runs requestSignInCode over graphql-ws, the upgrade sent with `forwardedFor`; its __typename. */
function wsRequestCode(app: TestApp, email: string, forwardedFor: string) {
  return new Promise<string>((resolve, reject) => {
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', {
      headers: { 'x-forwarded-for': forwardedFor },
    });
    socket.on('error', reject);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as {
        type: string;
        payload?: { data?: { requestSignInCode: { __typename: string } } };
      };
      if (message.type === 'connection_ack') {
        const query = REQUEST_CODE;
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { email } } }));
      }
      if (message.type === 'next') {
        resolve(message.payload?.data?.requestSignInCode.__typename ?? JSON.stringify(message.payload));
        socket.close();
      }
    });
  });
}

describe('over WebSocket, behind one proxy', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ env: { TRUST_PROXY: 'true', SIGN_IN_LIMIT_PER_IP: String(LIMIT) } });
  });
  afterAll(() => app?.close());

  it('counts each client by the address the proxy saw, not by the proxy', async () => {
    const client = uniqueIp();
    const answers = await sequence(() => wsRequestCode(app, uniqueEmail('ws'), `${uniqueIp()}, ${client}`));
    expect(answers).toEqual([
      ...Array(LIMIT).fill('RequestSignInCodePayload'),
      ...Array(ATTEMPTS - LIMIT).fill('RateLimitedError'),
    ]);
    // Another client behind the same proxy has its own allowance.
    expect(await wsRequestCode(app, uniqueEmail('ws'), uniqueIp())).toBe('RequestSignInCodePayload');
  });
});

describe('TRUST_PROXY_HOPS=2 (a CDN in front of the load balancer)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      env: { TRUST_PROXY: 'true', TRUST_PROXY_HOPS: '2', RATE_LIMIT_PER_IP: String(LIMIT) },
    });
  });
  afterAll(() => app?.close());

  it(`answers 429 past ${LIMIT} requests from one client, whatever it writes before its address`, async () => {
    const client = uniqueIp();
    const edge = uniqueIp();
    const answers = await sequence(() =>
      app.gql('{ __typename }', {}, { headers: { 'x-forwarded-for': `${uniqueIp()}, ${client}, ${edge}` } }),
    );
    expect(answers.map((a) => a.status)).toEqual([
      ...Array(LIMIT).fill(200),
      ...Array(ATTEMPTS - LIMIT).fill(429),
    ]);
  });
});

describe('TRUSTED_PROXIES (the proxies are known by their networks)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      env: {
        TRUST_PROXY: 'true',
        // Loopback is where the test's requests come from: it plays the load balancer.
        TRUSTED_PROXIES: '127.0.0.0/8, 10.0.0.0/8',
        RATE_LIMIT_PER_IP: String(LIMIT),
      },
    });
  });
  afterAll(() => app?.close());

  it(`answers 429 past ${LIMIT} requests from one client, skipping every trusted proxy from the right`, async () => {
    const client = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
    const answers = await sequence(() =>
      app.gql(
        '{ __typename }',
        {},
        // 10.x are internal proxies; the client is the first address from the right outside them.
        { headers: { 'x-forwarded-for': `${uniqueIp()}, ${client}, ${uniqueIp()}, ${uniqueIp()}` } },
      ),
    );
    expect(answers.map((a) => a.status)).toEqual([
      ...Array(LIMIT).fill(200),
      ...Array(ATTEMPTS - LIMIT).fill(429),
    ]);
  });
});
