import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testRedisUrl, testServerUrl } from '../helpers/env.ts';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

describe('health, readiness, metrics, keys', () => {
  it('answers /healthz and /readyz with each dependency', async () => {
    expect(await (await fetch(`${app.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${app.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      ready: true,
      role: 'api',
      checks: {
        database: { ok: true },
        migrations: { ok: true },
        redis: { ok: true },
        backlog: {
          ok: true,
          detail:
            'inbound: nothing pending; send: nothing pending; a2a: nothing pending; a2a-inbound: nothing pending; webhooks: nothing pending',
        },
        a2aBreakers: { ok: true, detail: 'all closed (shared in Redis)' },
        embeddings: { ok: true, detail: 'off: EMBEDDINGS_PROVIDER=none, recall is full-text alone' },
        billing: { ok: true, detail: 'off: STRIPE_SECRET_KEY not set' },
      },
    });
  });

  it('gives every response a request id', async () => {
    const response = await fetch(`${app.url}/healthz`);
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('counts HTTP latency and GraphQL operations by name and outcome in /metrics', async () => {
    await app.gql('query MetricsProbe { viewer { id } }');
    await app.gql('query MetricsBroken { viewer { nope } }');
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(text).toMatch(/http_request_duration_seconds_bucket\{[^}]*route="\/graphql"/);
    expect(text).toContain('graphql_operations_total{operation="MetricsProbe",type="query",outcome="ok"} 1');
  });

  it('publishes the public signing keys, and nothing private', async () => {
    const jwks = (await (await fetch(`${app.url}/.well-known/jwks.json`)).json()) as {
      keys: Record<string, string>[];
    };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({
      kty: 'EC',
      crv: 'P-256',
      alg: 'ES256',
      kid: app.services.keys.signingKeyId,
    });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });
});

describe('unexpected errors', () => {
  it('are masked for the client and logged with the request id', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const database = await createTestDatabase();
    const broken = await startTestApp({ database, logger: pino({ level: 'error' }, sink) });
    try {
      // The database goes away under the running server.
      await database.pool.query(`ALTER TABLE sign_in_codes RENAME TO sign_in_codes_gone`);
      const response = await broken.gql(
        'mutation { requestSignInCode(input: { email: "a@b.test" }) { __typename } }',
      );
      expect(response.body).toEqual({
        data: null,
        errors: [
          {
            message: 'Unexpected error.',
            path: ['requestSignInCode'],
            locations: [{ line: 1, column: 12 }],
            extensions: { code: 'INTERNAL_SERVER_ERROR' },
          },
        ],
      });
      expect(JSON.stringify(response.body)).not.toContain('sign_in_codes');
      const requestId = response.headers.get('x-request-id');
      const logged = lines.find((l) => l['request.id'] === requestId);
      expect(logged?.msg).toBe('unexpected error in GraphQL');
      expect(JSON.stringify(logged)).toContain('sign_in_codes');
    } finally {
      await broken.close();
      await database.drop();
    }
  });
});

describe('graceful shutdown', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  it('on SIGTERM stops accepting, finishes the request in flight, and exits within 10 s', async () => {
    const child = spawn(process.execPath, ['src/main.ts', 'api'], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: `${testServerUrl()}/${database.name}`,
        REDIS_URL: testRedisUrl(),
        REDIS_KEY_PREFIX: `test:shutdown:${process.pid}:`,
        PORT: '0',
        HOST: '127.0.0.1',
        SEED_DEMO: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        output += chunk;
        const match = /"http\.port":(\d+)/.exec(output);
        if (match) resolve(Number(match[1]));
      });
      child.on('exit', (code) => reject(new Error(`exited early (${code}): ${output}`)));
    });

    // A request whose body is still arriving when the signal comes.
    const body = JSON.stringify({ query: '{ __typename }' });
    const socket = createConnection(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 5)}`,
    );
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('close', () => resolve(text));
    });
    await new Promise((resolve) => setTimeout(resolve, 200));

    const signalled = Date.now();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    // New connections are refused while the old request is still served.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    socket.write(body.slice(5));

    expect(await answer).toContain('{"data":{"__typename":"Query"}}');
    expect(await exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
  });
});
