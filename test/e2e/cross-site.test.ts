/**
 * Cross-site requests, over real HTTP, as a browser on another site would send them. A page
 * elsewhere can submit a form (url-encoded, multipart or text/plain) to /graphql without any
 * preflight: none of those may run an operation, nor send a sign-in code. CORS answers only the
 * listed origins (loopback ones by default outside production), a GET query needs the CSRF header,
 * and the webhook routes, which platforms post to from servers, are left as they are.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { originAllowed } from '../../src/api/cross-site.ts';
import { loadConfig } from '../../src/config/index.ts';
import { PRODUCTION_ENV } from '../factories/config.ts';
import { postUpdate, textUpdate } from '../fakes/telegram.ts';
import { startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';

const DASHBOARD = 'https://dashboard.agnt.example';
const EVIL = 'https://evil.example';
const BOT = 'crosssite';
const BOT_SECRET = 'a-webhook-secret-for-cross-site';

const requestCode = (email: string) =>
  `mutation { requestSignInCode(input: { email: "${email}" }) { __typename } }`;

/** Waits a moment for a mail that should not come, then says whether any went to `email`. */
async function mailedTo(app: TestApp, email: string): Promise<boolean> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  return app.smtp.messages.some((m) => m.envelopeTo.includes(email));
}

/**
 * Opens a graphql-ws socket as a page at `origin` would, and runs requestSignInCode on it: its
 * result, or the HTTP status the upgrade was refused with.
 */
function wsRequestCode(app: TestApp, email: string, origin: string | undefined) {
  return new Promise<unknown>((resolve, reject) => {
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', {
      ...(origin ? { origin } : {}),
    });
    socket.on('unexpected-response', (_req, res) => {
      resolve({ refused: res.statusCode });
      socket.terminate();
    });
    socket.on('error', reject);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { type: string; payload?: unknown };
      if (message.type === 'connection_ack')
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: requestCode(email) } }));
      if (message.type === 'next') {
        resolve(message.payload);
        socket.close();
      }
    });
  });
}

describe('with CORS_ORIGINS listing the dashboard', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      env: {
        CORS_ORIGINS: `${DASHBOARD}, https://admin.agnt.example`,
        TELEGRAM_BOTS: JSON.stringify([
          { name: BOT, token: '123456789:AAH-fake-token-for-cross-site', secret: BOT_SECRET },
        ]),
        LALAMOVE_API_KEY: 'pk_test_cross_site',
        LALAMOVE_API_SECRET: 'sk_test_cross_site',
      },
    });
  });
  afterAll(() => app?.close());

  const forms: [string, (email: string) => { body: BodyInit; contentType?: string }][] = [
    [
      'application/x-www-form-urlencoded',
      (email) => ({
        body: new URLSearchParams({ query: requestCode(email) }).toString(),
        contentType: 'application/x-www-form-urlencoded',
      }),
    ],
    [
      'multipart/form-data',
      (email) => {
        const form = new FormData();
        form.set('operations', JSON.stringify({ query: requestCode(email) }));
        form.set('map', '{}');
        // fetch sets the multipart content type with its boundary.
        return { body: form };
      },
    ],
    [
      'text/plain',
      (email) => ({ body: JSON.stringify({ query: requestCode(email) }), contentType: 'text/plain' }),
    ],
  ];

  for (const [kind, make] of forms) {
    it(`refuses a cross-site ${kind} form post of requestSignInCode: 415, nothing run, no mail`, async () => {
      const email = uniqueEmail('csrf');
      const { body, contentType } = make(email);
      const response = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { origin: EVIL, ...(contentType ? { 'content-type': contentType } : {}) },
        body,
      });
      const text = await response.text();
      expect(response.status, text).toBe(415);
      expect(JSON.parse(text)).toEqual({
        errors: [
          {
            message: 'GraphQL requests are POSTed as application/json',
            extensions: { code: 'UNSUPPORTED_MEDIA_TYPE' },
          },
        ],
      });
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      expect(await mailedTo(app, email)).toBe(false);
    });
  }

  it('refuses a POST with no content type', async () => {
    const email = uniqueEmail('csrf');
    const response = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      body: new Blob([JSON.stringify({ query: requestCode(email) })]),
    });
    expect(response.status).toBe(415);
    expect(await mailedTo(app, email)).toBe(false);
  });

  it('gives a disallowed origin no Access-Control-Allow-Origin, on the preflight or the request', async () => {
    const preflight = await fetch(`${app.url}/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: EVIL,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
    expect(preflight.headers.get('access-control-allow-headers')).toBeNull();

    const answer = await app.gql('{ __typename }', {}, { headers: { origin: EVIL } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
    expect(answer.headers.get('vary')).toMatch(/origin/i);
  });

  it('answers a listed origin: the preflight allows JSON with a bearer token, the request is readable', async () => {
    const preflight = await fetch(`${app.url}/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: DASHBOARD,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
    // Credentials are the Authorization header, never cookies: no credentialed CORS.
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();

    const answer = await app.gql('{ __typename }', {}, { headers: { origin: DASHBOARD } });
    expect(answer.body).toEqual({ data: { __typename: 'Query' } });
    expect(answer.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect(answer.headers.get('access-control-expose-headers')?.toLowerCase()).toContain('x-request-id');

    // Origins are compared whole: scheme, host and port.
    for (const near of [
      'http://dashboard.agnt.example',
      `${DASHBOARD}:8443`,
      'https://dashboard.agnt.example.evil.example',
    ]) {
      const other = await app.gql('{ __typename }', {}, { headers: { origin: near } });
      expect(other.headers.get('access-control-allow-origin'), near).toBeNull();
    }
  });

  it('still serves JSON POSTs, SSE subscriptions and application/graphql-response+json answers', async () => {
    const json = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        accept: 'application/graphql-response+json',
      },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toContain('application/graphql-response+json');
    expect(await json.json()).toEqual({ data: { __typename: 'Query' } });

    const sse = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    expect(await sse.text()).toContain('"__typename":"Query"');
  });

  it('runs a GET query only with the CSRF header, and never a mutation', async () => {
    const url = `${app.url}/graphql?query=${encodeURIComponent('{ __typename }')}`;
    const bare = await fetch(url, { headers: { accept: 'application/json' } });
    expect(bare.status).toBe(403);
    expect(await bare.json()).toMatchObject({ errors: [{ message: 'Required CSRF header(s) not present' }] });

    const withHeader = await fetch(url, {
      headers: { accept: 'application/json', 'x-graphql-yoga-csrf': '1' },
    });
    expect(withHeader.status).toBe(200);
    expect(await withHeader.json()).toEqual({ data: { __typename: 'Query' } });

    const email = uniqueEmail('csrf');
    const mutation = await fetch(`${app.url}/graphql?query=${encodeURIComponent(requestCode(email))}`, {
      headers: { accept: 'application/json', 'x-graphql-yoga-csrf': '1' },
    });
    expect(mutation.status).toBe(405);
    expect(await mailedTo(app, email)).toBe(false);

    // GraphiQL (outside production) is a page, not a query: it still loads.
    const graphiql = await fetch(`${app.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(200);
    expect(graphiql.headers.get('content-type')).toContain('text/html');
  });

  it('refuses a WebSocket from a disallowed origin, whose page could otherwise run operations unasked', async () => {
    const email = uniqueEmail('csrf-ws');
    expect(await wsRequestCode(app, email, EVIL)).toEqual({ refused: 403 });
    expect(await mailedTo(app, email)).toBe(false);

    // A listed dashboard, and a client that is not a browser (no Origin), still subscribe.
    expect(await wsRequestCode(app, uniqueEmail('csrf-ws'), DASHBOARD)).toEqual({
      data: { requestSignInCode: { __typename: 'RequestSignInCodePayload' } },
    });
    expect(await wsRequestCode(app, uniqueEmail('csrf-ws'), undefined)).toEqual({
      data: { requestSignInCode: { __typename: 'RequestSignInCodePayload' } },
    });
  });

  it('leaves the webhook routes as they were: server-to-server posts, any content type or origin', async () => {
    const update = await postUpdate(app.url, BOT, BOT_SECRET, textUpdate({ chatId: 4242, text: 'hi' }), {
      origin: EVIL,
    });
    expect(update.status).toBe(200);
    expect(update.headers.get('access-control-allow-origin')).toBeNull();

    // Lalamove's registration call is an empty text/plain POST.
    const lalamove = await fetch(`${app.url}/webhooks/lalamove`, {
      method: 'POST',
      headers: { origin: EVIL },
      body: '',
    });
    expect(lalamove.status).toBe(200);
  });
});

describe('without CORS_ORIGINS', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app?.close());

  it('outside production, answers loopback origins (a dashboard in development) and no others', async () => {
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000', 'http://[::1]:8080']) {
      const answer = await app.gql('{ __typename }', {}, { headers: { origin } });
      expect(answer.headers.get('access-control-allow-origin'), origin).toBe(origin);
    }
    for (const origin of [EVIL, 'http://localhost.evil.example', 'null']) {
      const answer = await app.gql('{ __typename }', {}, { headers: { origin } });
      expect(answer.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
  });
});

describe('CORS_ORIGINS', () => {
  const production = {
    ...PRODUCTION_ENV,
    METRICS_TOKEN: 'a-metrics-token-of-some-length',
  };

  it('in production allows no origin unless listed, loopback included', () => {
    const cors = loadConfig(production).http.cors;
    for (const origin of ['http://localhost:5173', DASHBOARD])
      expect(originAllowed(origin, cors)).toBe(false);
    const listed = loadConfig({ ...production, CORS_ORIGINS: DASHBOARD }).http.cors;
    expect(originAllowed(DASHBOARD, listed)).toBe(true);
    expect(originAllowed('http://localhost:5173', listed)).toBe(false);
    // The server's own origin is not cross-site.
    const own = loadConfig({ ...production, PUBLIC_URL: 'https://api.agnt.example' }).http.cors;
    expect(originAllowed('https://api.agnt.example', own)).toBe(true);
    expect(originAllowed(DASHBOARD, own)).toBe(false);
  });

  it('refuses an entry that is not a bare origin', () => {
    expect(() => loadConfig({ CORS_ORIGINS: `${DASHBOARD}, https://app.example/` })).toThrow(
      'CORS_ORIGINS: not an origin (scheme://host[:port], nothing after it): https://app.example/',
    );
    expect(() => loadConfig({ CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS: not an origin/);
  });
});
