/**
 * GraphQL over WebSocket (graphql-ws on `/graphql`) is held to what HTTP is held to, on real
 * sockets against the real server:
 *
 * - rate limits: the connection and every operation count against the client's address, and a
 *   signed-in socket's against its user or API key, in the same windows as HTTP requests; an
 *   operation over a limit is answered with a RATE_LIMITED error and the socket stays open;
 * - every document limit (characters, tokens, depth, cost, aliases, directives, sensitive
 *   mutations alone), refused before any resolver runs;
 * - the credential: checked again on every operation and every few seconds, so a revoked key or
 *   an expired token closes the socket with 4401, and a credential whose rights changed with 4403.
 *
 * A bare graphql-transport-ws client is used rather than graphql-ws's, so the test sees every
 * message and close code as the server sent them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { issueAccessToken } from '../../src/domain/identity/access-tokens.ts';
import { documentLimitsEnv } from '../factories/config.ts';
import { startTestApp, type TestApp, uniqueIp } from '../helpers/app.ts';
import { apiKey, guest, type Key, type Person, person } from '../helpers/authz.ts';
import { openSse, parseSseEvent } from '../helpers/sse.ts';

/** How long a test waits for a message or a close that should come. */
const TIMEOUT_MS = 5_000;

type Answer =
  | { kind: 'result'; payload: { data?: unknown; errors?: GraphQLError[] } }
  | { kind: 'error'; errors: GraphQLError[] }
  | { kind: 'closed'; code: number; reason: string };

interface GraphQLError {
  message: string;
  extensions?: Record<string, unknown>;
}

interface Closed {
  code: number;
  reason: string;
  /** Date.now() when the close arrived. */
  at: number;
}

/**
 * One graphql-transport-ws connection. `execute` sends a query or mutation and resolves with its
 * answer (or the close, if the socket closes first); `subscribe` starts a subscription whose
 * results collect in the returned array.
 */
class Connection {
  readonly closed: Promise<Closed>;
  private readonly waiting = new Map<string, (answer: Answer) => void>();
  private readonly streams = new Map<string, unknown[]>();
  private nextId = 0;
  private closedWith: Closed | null = null;

  private readonly socket: WebSocket;
  readonly acknowledged: Promise<boolean>;

  private constructor(socket: WebSocket, acknowledged: Promise<boolean>) {
    this.socket = socket;
    this.acknowledged = acknowledged;
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        this.closedWith = { code, reason: String(reason), at: Date.now() };
        for (const done of this.waiting.values()) done({ kind: 'closed', code, reason: String(reason) });
        this.waiting.clear();
        resolve(this.closedWith);
      });
    });
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; id?: string; payload?: unknown };
      const done = message.id ? this.waiting.get(message.id) : undefined;
      if (message.type === 'next') {
        const stream = this.streams.get(message.id!);
        if (stream) stream.push(message.payload);
        else done?.({ kind: 'result', payload: message.payload as never });
      } else if (message.type === 'error') {
        done?.({ kind: 'error', errors: message.payload as GraphQLError[] });
      }
      if (message.type !== 'next' && message.id) this.waiting.delete(message.id);
    });
  }

  /** Opens a socket and sends `connection_init` with the credential, from `ip` (X-Forwarded-For). */
  static open(app: TestApp, options: { credential?: string; ip?: string } = {}): Connection {
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', {
      headers: options.ip ? { 'x-forwarded-for': options.ip } : {},
    });
    const acknowledged = new Promise<boolean>((resolve, reject) => {
      socket.on('open', () =>
        socket.send(
          JSON.stringify({
            type: 'connection_init',
            payload: options.credential ? { authorization: `Bearer ${options.credential}` } : {},
          }),
        ),
      );
      socket.on('message', (data) => {
        if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') resolve(true);
      });
      socket.on('close', () => resolve(false));
      socket.on('error', reject);
    });
    const connection = new Connection(socket, acknowledged);
    connections.push(connection);
    return connection;
  }

  /** Opens a socket and waits for `connection_ack`, failing if the server closes it instead. */
  static async ready(app: TestApp, options: { credential?: string; ip?: string } = {}) {
    const connection = Connection.open(app, options);
    if (!(await connection.acknowledged)) {
      throw new Error(`not acknowledged: ${JSON.stringify(await connection.closed)}`);
    }
    return connection;
  }

  execute(query: string, variables: Record<string, unknown> = {}): Promise<Answer> {
    if (this.closedWith) return Promise.resolve({ kind: 'closed', ...this.closedWith });
    const id = String(this.nextId++);
    const answer = new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${query}`)), TIMEOUT_MS);
      this.waiting.set(id, (value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
    return answer;
  }

  subscribe(query: string, variables: Record<string, unknown> = {}): unknown[] {
    const id = String(this.nextId++);
    const results: unknown[] = [];
    this.streams.set(id, results);
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
    return results;
  }

  close() {
    this.socket.close(1000);
  }
}

const connections: Connection[] = [];
afterAll(() => {
  for (const connection of connections) connection.close();
});

/** Fails unless the socket closes within `ms`, and returns the close. */
async function closedWithin(connection: Connection, ms = TIMEOUT_MS): Promise<Closed> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      connection.closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the socket stayed open for ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const hex = () => randomBytes(4).toString('hex');
const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

describe('rate limits', () => {
  const LIMIT = 10;
  const PARALLEL = 30;
  let app: TestApp;
  let organizationId: string;
  beforeAll(async () => {
    app = await startTestApp({
      env: {
        RATE_LIMIT_PER_IP: String(LIMIT),
        RATE_LIMIT_PER_USER: String(LIMIT),
        RATE_LIMIT_PER_API_KEY: String(LIMIT),
        // Each test connects from an address of its own, so only the limit it tests can bite.
        TRUST_PROXY: 'true',
      },
    });
    organizationId = (await app.services.db.organization.create({ data: { name: `WS ${hex()}` } })).id;
  });
  afterAll(() => app?.close());

  /** Sends PARALLEL operations at once over the connections, round robin; sorts the answers. */
  async function burst(over: Connection[], query = '{ __typename }') {
    const answers = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => over[i % over.length]!.execute(query)),
    );
    const admitted = answers.filter((a) => a.kind === 'result' && !a.payload.errors);
    const refused = answers.filter((a) => a.kind === 'error');
    expect(admitted.length + refused.length, JSON.stringify(answers)).toBe(PARALLEL);
    for (const answer of refused) {
      expect(answer).toEqual({
        kind: 'error',
        errors: [
          {
            message: 'Too many requests',
            extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) },
          },
        ],
      });
    }
    return { admitted: admitted.length, refused: refused.length };
  }

  it('counts a connection and each of its operations against the address; the socket stays open', async () => {
    const ip = uniqueIp();
    const first = await Connection.ready(app, { ip });
    const second = await Connection.ready(app, { ip });
    // Two connections have used two of the window's requests.
    expect(await burst([first, second])).toEqual({ admitted: LIMIT - 2, refused: PARALLEL - LIMIT + 2 });

    // Refused operations close nothing; a third connection from the address is refused outright.
    const third = Connection.open(app, { ip });
    expect(await third.acknowledged).toBe(false);
    expect(await third.closed).toMatchObject({ code: 4429, reason: 'Too many requests' });
    const elsewhere = await Connection.ready(app, { ip: uniqueIp() });
    expect(await elsewhere.execute('{ __typename }')).toEqual({
      kind: 'result',
      payload: { data: { __typename: 'Query' } },
    });
    expect(await first.execute('{ __typename }')).toMatchObject({ kind: 'error' });
  });

  it('counts a signed-in socket against its user, in the same window as their HTTP requests', async () => {
    const user = await guest(app);
    const socket = await Connection.ready(app, { credential: user.token, ip: uniqueIp() });
    expect(await burst([socket], '{ viewer { id } }')).toEqual({
      admitted: LIMIT - 1,
      refused: PARALLEL - LIMIT + 1,
    });
    const overHttp = await app.gql(
      '{ viewer { id } }',
      {},
      {
        token: user.token,
        headers: { 'x-forwarded-for': uniqueIp() },
      },
    );
    expect(overHttp.status).toBe(429);

    const someoneElse = await guest(app);
    const theirs = await Connection.ready(app, { credential: someoneElse.token, ip: uniqueIp() });
    expect(await theirs.execute('{ viewer { id } }')).toMatchObject({ kind: 'result' });
  });

  it('counts a socket signed in with an API key against the key, across connections', async () => {
    const owner = await person(app, organizationId, 'OWNER');
    const key = await apiKey(app, organizationId, owner.userId, ['read']);
    const sockets = [
      await Connection.ready(app, { credential: key.secret, ip: uniqueIp() }),
      await Connection.ready(app, { credential: key.secret, ip: uniqueIp() }),
    ];
    expect(await burst(sockets)).toEqual({ admitted: LIMIT - 2, refused: PARALLEL - LIMIT + 2 });
  });
});

describe('document limits', () => {
  const LIMITS = { depth: 10, cost: 5000, aliases: 15, directives: 10, tokens: 1000, characters: 15_000 };
  let app: TestApp;
  let organizationId: string;
  let socket: Connection;
  beforeAll(async () => {
    app = await startTestApp({
      env: {
        ...documentLimitsEnv(LIMITS),
      },
    });
    organizationId = (await app.services.db.organization.create({ data: { name: `Limits ${hex()}` } })).id;
    const owner = await person(app, organizationId, 'OWNER');
    socket = await Connection.ready(app, { credential: owner.token });
  });
  afterAll(() => app?.close());

  /** A createOrganization mutation with a unique name, so whether it ran shows in the database. */
  function createOrganization(selection: string, fragments = '') {
    const name = `WS limits ${hex()}`;
    return {
      name,
      query: `mutation { createOrganization(input: { name: "${name}" }) ${selection} }\n${fragments}`,
    };
  }
  const organizationsNamed = (name: string) => app.services.db.organization.count({ where: { name } });

  async function expectRefused(attempt: { name: string; query: string }, message: string | RegExp) {
    const answer = await socket.execute(attempt.query);
    expect(answer, JSON.stringify(answer)).toEqual({
      kind: 'error',
      errors: [expect.objectContaining({ message: expect.stringMatching(message) })],
    });
    expect(await organizationsNamed(attempt.name)).toBe(0);
  }

  async function expectAccepted(attempt: { name: string; query: string }) {
    const answer = await socket.execute(attempt.query);
    expect(answer, JSON.stringify(answer)).toMatchObject({ kind: 'result' });
    expect((answer as { payload: { errors?: unknown } }).payload.errors).toBeUndefined();
    expect(await organizationsNamed(attempt.name)).toBe(1);
  }

  const VALIDATION = /^Syntax Error: Query validation error\.$/;

  it('refuses a document over the character limit and runs one at it', async () => {
    const over = createOrganization('{ __typename }');
    over.query = over.query.padEnd(LIMITS.characters + 1, ' ');
    expect(await socket.execute(over.query)).toEqual({
      kind: 'error',
      errors: [
        {
          message: `Syntax Error: Query Character limit of ${LIMITS.characters} exceeded.`,
          extensions: { code: 'BAD_USER_INPUT' },
        },
      ],
    });
    expect(await organizationsNamed(over.name)).toBe(0);

    const under = createOrganization('{ __typename }');
    under.query = under.query.padEnd(LIMITS.characters, ' ');
    await expectAccepted(under);
  });

  it('prices a subscription with its variables: a page size given as one counts before it starts', async () => {
    const query = `subscription ($venueId: ID!, $n: Int) {
      bookingChanged(venueId: $venueId) { venue { bookings(first: $n) { edges { node { id } } } } }
    }`;
    const venueId = Buffer.from(`Venue:${randomUUID()}`).toString('base64');
    const answer = await socket.execute(query, { venueId, n: 1000 });
    expect(JSON.stringify(answer)).toContain('Query validation error.');
  });

  it('refuses a document over the token limit and runs one at it', async () => {
    // As in hardening.test.ts: `mutation { createApiKey ( input : { organizationId : "…" , name :
    // "…" , scopes : [ … ] } ) { __typename } }` is 23 tokens plus one per scope.
    const withTokens = (total: number) => {
      const name = `WS token key ${hex()}`;
      const scopes = Array(total - 23)
        .fill('READ')
        .join(', ');
      return {
        name,
        query: `mutation { createApiKey(input: { organizationId: "${gid('Organization', organizationId)}", name: "${name}", scopes: [${scopes}] }) { __typename } }`,
      };
    };
    const keysNamed = (name: string) => app.services.db.apiKey.count({ where: { name } });
    const over = withTokens(LIMITS.tokens + 1);
    expect(await socket.execute(over.query)).toEqual({
      kind: 'error',
      errors: [expect.objectContaining({ message: 'Syntax Error: Query validation error.' })],
    });
    expect(await keysNamed(over.name)).toBe(0);
    const under = withTokens(LIMITS.tokens);
    expect(await socket.execute(under.query)).toEqual({
      kind: 'result',
      payload: { data: { createApiKey: { __typename: 'CreateApiKeyPayload' } } },
    });
    expect(await keysNamed(under.name)).toBe(1);
  });

  it('refuses too deep, too costly, too many aliases and too many directives', async () => {
    const CYCLE = ['members(first: 1)', 'edges', 'node', 'organization'];
    const deep = (depth: number) => {
      const path = ['organization'];
      for (let i = 0; path.length < depth - 2; i++) path.push(CYCLE[i % CYCLE.length]!);
      const inner = path.reduceRight((acc, field) => `{ ${field} ${acc} }`, '{ __typename }');
      return createOrganization(`{ ... on OrganizationPayload ${inner} }`);
    };
    await expectRefused(deep(LIMITS.depth + 1), VALIDATION);
    await expectAccepted(deep(LIMITS.depth));

    const cost = (n: number) =>
      createOrganization(
        `{ ... on OrganizationPayload { organization { members(first: ${n}) { totalCount } } } }`,
      );
    await expectRefused(cost(635), VALIDATION);
    await expectAccepted(cost(634));

    const aliases = (n: number) =>
      createOrganization(`{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }`);
    await expectRefused(aliases(LIMITS.aliases + 1), VALIDATION);
    await expectAccepted(aliases(LIMITS.aliases));

    const directives = (n: number) =>
      createOrganization(`{ ${Array(n).fill('__typename @include(if: true)').join(' ')} }`);
    await expectRefused(directives(LIMITS.directives + 1), VALIDATION);
    await expectAccepted(directives(LIMITS.directives));
  });

  it('refuses requestSignInCode next to another field, sending no code', async () => {
    const emails = [`ws-${hex()}@example.test`, `ws-${hex()}@example.test`];
    const answer = await socket.execute(
      `mutation { a: requestSignInCode(input: { email: "${emails[0]}" }) { __typename } b: requestSignInCode(input: { email: "${emails[1]}" }) { __typename } }`,
    );
    expect(answer).toEqual({
      kind: 'error',
      errors: [
        expect.objectContaining({ message: 'requestSignInCode must be the only field of its operation' }),
      ],
    });
    expect(await app.services.db.signInCode.count({ where: { email: { in: emails } } })).toBe(0);
  });
});

describe('the credential', () => {
  /** How often this app re-checks every open socket's credential. */
  const RECHECK_MS = 300;
  let app: TestApp;
  let organizationId: string;
  let owner: Person;
  let venueGid: string;
  beforeAll(async () => {
    app = await startTestApp({ env: { GRAPHQL_WS_RECHECK_MS: String(RECHECK_MS) } });
    const db = app.services.db;
    organizationId = (await db.organization.create({ data: { name: `Credential ${hex()}` } })).id;
    owner = await person(app, organizationId, 'OWNER');
    const venue = await db.venue.create({
      data: { name: 'Socket Bar', slug: `socket-bar-${hex()}`, timeZone: 'Europe/Lisbon', organizationId },
    });
    venueGid = gid('Venue', venue.id);
  });
  afterAll(() => app?.close());

  const RevokeApiKey = `mutation ($id: ID!) { revokeApiKey(input: { apiKeyId: $id }) { __typename } }`;
  const Feed = `subscription ($venueId: ID!) { bookingChanged(venueId: $venueId) { id } }`;

  /** A socket signed in with `credential` and following the venue's bookings. */
  async function listening(credential: string) {
    const socket = await Connection.ready(app, { credential });
    socket.subscribe(Feed, { venueId: venueGid });
    // The subscription is live once a later operation on the socket has been answered.
    expect(await socket.execute('{ __typename }')).toMatchObject({ kind: 'result' });
    return socket;
  }

  async function revoke(key: Key) {
    const revoked = await app.gql(RevokeApiKey, { id: gid('ApiKey', key.id) }, { token: owner.token });
    expect(revoked.body).toEqual({ data: { revokeApiKey: { __typename: 'RevokeApiKeyPayload' } } });
  }

  it('closes a socket within a few re-check intervals of its API key being revoked, with 4401', async () => {
    const key = await apiKey(app, organizationId, owner.userId, ['read']);
    const socket = await listening(key.secret);
    const revokedAt = Date.now();
    await revoke(key);
    const closed = await closedWithin(socket, 10 * RECHECK_MS);
    expect(closed).toMatchObject({ code: 4401, reason: 'The API key has been revoked' });
    expect(closed.at - revokedAt).toBeLessThan(10 * RECHECK_MS);
  });

  it('closes a socket within a few re-check intervals of its person signing out, with 4401', async () => {
    const session = await app.signIn();
    const socket = await Connection.ready(app, { credential: session.token });
    expect(await socket.execute('{ viewer { id } }')).toMatchObject({ kind: 'result' });
    const signedOutAt = Date.now();
    const ended = await app.gql(
      `mutation ($refreshToken: String!) { signOut(input: { refreshToken: $refreshToken }) { signedOut } }`,
      { refreshToken: session.refreshToken },
    );
    expect(ended.body).toEqual({ data: { signOut: { signedOut: true } } });
    const closed = await closedWithin(socket, 10 * RECHECK_MS);
    expect(closed).toMatchObject({ code: 4401 });
    expect(closed.at - signedOutAt).toBeLessThan(10 * RECHECK_MS);
  });

  /** The events of a subscription streamed over SSE until it ends (or `ms` pass). */
  async function sseUntilEnd(credential: string, ms: number) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), ms);
    const response = await openSse(app, Feed, { venueId: venueGid }, credential, abort.signal);
    expect(response.status).toBe(200);
    const events: { event: string; data: string }[] = [];
    const read = (async () => {
      let text = '';
      try {
        for await (const chunk of response.body!) text += new TextDecoder().decode(chunk);
        return 'ended';
      } catch {
        return 'timed out';
      } finally {
        clearTimeout(timer);
        for (const block of text.split('\n\n').filter((b) => b.trim() && !b.startsWith(':'))) {
          events.push(parseSseEvent(block));
        }
      }
    })();
    return { ended: read, events };
  }

  it('ends an SSE subscription within a few re-check intervals of its API key being revoked, saying why', async () => {
    const key = await apiKey(app, organizationId, owner.userId, ['read']);
    const stream = await sseUntilEnd(key.secret, 20 * RECHECK_MS);
    // Subscribed once a re-check has run with the key still good.
    await new Promise((resolve) => setTimeout(resolve, 2 * RECHECK_MS));
    const revokedAt = Date.now();
    await revoke(key);
    expect(await stream.ended).toBe('ended');
    expect(Date.now() - revokedAt).toBeLessThan(10 * RECHECK_MS);
    expect(stream.events.map((e) => e.event)).toEqual(['next', 'complete']);
    expect(JSON.parse(stream.events[0]!.data)).toEqual({
      errors: [{ message: 'The API key has been revoked', extensions: { code: 'UNAUTHENTICATED' } }],
    });
  });

  it('ends an SSE subscription when its person signs out', async () => {
    const session = await app.signIn();
    await app.services.db.membership.create({
      data: { organizationId, userId: session.userId, role: 'STAFF' },
    });
    const stream = await sseUntilEnd(session.token, 20 * RECHECK_MS);
    await new Promise((resolve) => setTimeout(resolve, 2 * RECHECK_MS));
    const ended = await app.gql(
      `mutation ($refreshToken: String!) { signOut(input: { refreshToken: $refreshToken }) { signedOut } }`,
      { refreshToken: session.refreshToken },
    );
    expect(ended.body).toEqual({ data: { signOut: { signedOut: true } } });
    expect(await stream.ended).toBe('ended');
    expect(JSON.parse(stream.events.at(-2)!.data).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('answers no operation sent after the revocation, even before the next re-check', async () => {
    const slow = await startTestApp({
      env: { GRAPHQL_WS_RECHECK_MS: '600000' },
      database: app.database,
      redis: app.services.redis,
    });
    try {
      const key = await apiKey(slow, organizationId, owner.userId, ['read', 'write']);
      const socket = await Connection.ready(slow, { credential: key.secret });
      expect(await socket.execute('{ __typename }')).toMatchObject({ kind: 'result' });
      await revoke(key);
      const name = `After revocation ${hex()}`;
      const answer = await socket.execute(
        `mutation { createOrganization(input: { name: "${name}" }) { __typename } }`,
      );
      expect(answer.kind).not.toBe('result');
      expect(await closedWithin(socket)).toMatchObject({
        code: 4401,
        reason: 'The API key has been revoked',
      });
      expect(await slow.services.db.organization.count({ where: { name } })).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('closes a socket when its access token expires on the server’s clock, with 4401', async () => {
    const member = await person(app, organizationId, 'STAFF');
    const socket = await listening(member.token);
    app.clock.advance(app.services.config.auth.accessTtlSeconds * 1000 + 1000);
    try {
      expect(await closedWithin(socket, 10 * RECHECK_MS)).toMatchObject({
        code: 4401,
        reason: 'The access token has expired',
      });
    } finally {
      app.clock.advance(-(app.services.config.auth.accessTtlSeconds * 1000 + 1000));
    }
  });

  it('closes a socket at its access token’s expiry, not at the next re-check', async () => {
    const slow = await startTestApp({
      env: { GRAPHQL_WS_RECHECK_MS: '600000' },
      database: app.database,
      redis: app.services.redis,
    });
    try {
      const member = await person(slow, organizationId, 'STAFF');
      // A token issued long enough ago to have two seconds left.
      const ttl = slow.services.config.auth.accessTtlSeconds;
      const issued = await issueAccessToken(slow.services.keys, {
        userId: member.userId,
        auth: slow.services.config.auth,
        now: new Date(Date.now() - (ttl - 2) * 1000),
      });
      const socket = await Connection.ready(slow, { credential: issued.token });
      const closed = await closedWithin(socket, 5_000);
      expect(closed).toMatchObject({ code: 4401, reason: 'The access token has expired' });
      expect(closed.at).toBeGreaterThanOrEqual(issued.expiresAt.getTime());
      expect(closed.at - issued.expiresAt.getTime()).toBeLessThan(1_000);
    } finally {
      await slow.close();
    }
  });

  it('closes a socket with 4403 when its person’s rights change, and with 4401 when they are deleted', async () => {
    const admin = await app.services.db.user.create({
      data: { email: `ws-admin-${hex()}@example.test`, isPlatformAdmin: true },
    });
    const adminToken = (
      await issueAccessToken(app.services.keys, {
        userId: admin.id,
        auth: app.services.config.auth,
        now: app.clock.now(),
      })
    ).token;
    const demoted = await listening(adminToken);
    await app.services.db.user.update({ where: { id: admin.id }, data: { isPlatformAdmin: false } });
    expect(await closedWithin(demoted, 10 * RECHECK_MS)).toMatchObject({ code: 4403 });
    // Connecting again is allowed, with the rights the person has now.
    expect(
      await (await Connection.ready(app, { credential: adminToken })).execute('{ __typename }'),
    ).toMatchObject({
      kind: 'result',
    });

    const leaving = await guest(app);
    const socket = await listening(leaving.token);
    await app.services.db.user.delete({ where: { id: leaving.userId } });
    expect(await closedWithin(socket, 10 * RECHECK_MS)).toMatchObject({
      code: 4401,
      reason: 'The access token belongs to no user',
    });
  });

  it('leaves anonymous and still-valid sockets open across re-checks', async () => {
    const anonymous = await Connection.ready(app);
    const member = await listening(owner.token);
    await new Promise((resolve) => setTimeout(resolve, 3 * RECHECK_MS));
    expect(await anonymous.execute('{ __typename }')).toMatchObject({ kind: 'result' });
    expect(await member.execute('{ viewer { id } }')).toMatchObject({ kind: 'result' });
  });
});
