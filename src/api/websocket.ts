/**
 * GraphQL over WebSocket (graphql-ws) on `/graphql`, held to what an HTTP request is held to.
 *
 * - Operations run through Yoga's envelop (`yoga.getEnveloped()`), so they get every plugin the
 *   HTTP path has: the document limits of hardening.ts, masking, metrics.
 * - The connection and each operation count against the same rate limits as HTTP requests (the
 *   client's address, and the user or API key), and an API key's operation against its daily
 *   quota. An operation over a limit is answered with an error of its own (`RATE_LIMITED`,
 *   `retryAfterSeconds`) and the socket's other subscriptions carry on; a connection over a limit
 *   is closed with 4429.
 * - The credential sent in `connection_init` is checked again before every operation, on every
 *   open socket every GRAPHQL_WS_RECHECK_MS, and at an access token's `exp`, so a socket does not
 *   outlive the right to open it: 4401 when the credential no longer holds (expired, revoked,
 *   signed out, user gone), 4403 when it holds with other rights than it was opened with (the
 *   client connects again to work with the rights it has now). A credential that does not verify
 *   at `connection_init` is refused with graphql-ws's own 4403.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type DocumentNode, type ExecutionArgs, type ExecutionResult, GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { type WebSocket, WebSocketServer } from 'ws';
import { type Actor, anonymous } from '../domain/identity/actor.ts';
import { AuthenticationError, RateLimitedError } from '../platform/errors.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Services } from '../wiring/services.ts';
import { authenticateCredential, credentialKind } from './auth.ts';
import { EXPIRED, recheckCredential, tokenExpiry } from './credential-check.ts';
import { dailyQuota, dailyQuotaRefusal, rateLimit } from './rate-limit.ts';
import { type LiveDelivery, sharedResultText } from './shared-live-results.ts';
import type { GraphQLServer } from './yoga.ts';

export interface GraphQLWebSocket {
  /** Takes over an HTTP upgrade to `/graphql`; `ip` is the client's address as HTTP sees it. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ip: string): void;
  /** Closes every socket (1001) and stops re-checking. */
  dispose(): Promise<void>;
}

/** Yoga's enveloped execute/subscribe, carried to graphql-ws through rootValue. */
type EnvelopedRoot = {
  execute: (args: ExecutionArgs) => ExecutionResult | Promise<ExecutionResult>;
  subscribe: (args: ExecutionArgs) => ReturnType<NonNullable<Parameters<typeof useServer>[0]['subscribe']>>;
};

/** One acknowledged connection: who opened it, from where, and until when. */
interface Session {
  socket: WebSocket;
  ip: string;
  /** The `Authorization` value from `connection_init`; null for an anonymous connection. */
  authorization: string | null;
  actor: Actor;
  /** An access token's `exp` in epoch ms; null for API keys and anonymous connections. */
  expiresAt: number | null;
  expiryTimer?: NodeJS.Timeout;
  closed: boolean;
}

/** What graphql-ws's `ws` adapter puts in `ctx.extra`, and the session added on connect. */
interface Extra {
  socket: WebSocket;
  request: IncomingMessage;
  session?: Session;
}

/** setTimeout's longest delay; a later expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Credentials re-checked at once by a sweep: the rest wait, so a sweep never floods the pool. */
const SWEEP_CONCURRENCY = 8;

export function graphqlWebSocket(
  yoga: GraphQLServer,
  services: Services,
  metrics: Metrics,
): GraphQLWebSocket {
  const { config, logger } = services;
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.http.bodyLimitBytes });
  const addresses = new WeakMap<IncomingMessage, string>();
  const sessions = new Set<Session>();

  function close(session: Session, code: number, reason: string) {
    drop(session);
    let text = reason;
    // A close reason is at most 123 bytes.
    while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
    session.socket.close(code, text);
  }

  function drop(session: Session) {
    session.closed = true;
    clearTimeout(session.expiryTimer);
    sessions.delete(session);
  }

  /** Closes the socket at the token's `exp` on the services' clock, exactly, not at the next sweep. */
  function watchExpiry(session: Session) {
    if (session.expiresAt === null || session.closed) return;
    const left = session.expiresAt - services.now().getTime();
    if (left <= 0) {
      close(session, 4401, EXPIRED);
      return;
    }
    session.expiryTimer = setTimeout(() => watchExpiry(session), Math.min(left, MAX_TIMER_MS));
    session.expiryTimer.unref();
  }

  const recheck = (authorization: string, opened: Actor, expiresAt: number | null) =>
    recheckCredential(services, authorization, opened, expiresAt);

  /** Checks the session's credential now; closes the socket and returns false if it no longer holds. */
  async function stillValid(session: Session): Promise<boolean> {
    if (session.authorization === null) return !session.closed;
    const refusal = await recheck(session.authorization, session.actor, session.expiresAt);
    if (refusal) close(session, refusal.code, refusal.reason);
    return !session.closed;
  }

  /** Every open socket's credential, checked once per distinct credential. */
  let sweeping = false;
  async function sweep() {
    if (sweeping) return;
    sweeping = true;
    try {
      const byCredential = new Map<string, Session[]>();
      for (const session of sessions) {
        if (session.authorization === null) continue;
        const key = `${session.authorization}\n${JSON.stringify(session.actor)}`;
        byCredential.set(key, [...(byCredential.get(key) ?? []), session]);
      }
      const groups = [...byCredential.values()];
      const next = async (): Promise<void> => {
        const group = groups.pop();
        if (!group) return;
        const [first] = group as [Session];
        try {
          const refusal = await recheck(first.authorization!, first.actor, first.expiresAt);
          if (refusal) for (const session of group) close(session, refusal.code, refusal.reason);
        } catch (error) {
          // The database or Redis did not answer: keep the sockets, and try again next sweep.
          logger.warn({ err: error }, 'could not re-check a WebSocket credential');
        }
        return next();
      };
      await Promise.all(Array.from({ length: SWEEP_CONCURRENCY }, next));
    } finally {
      sweeping = false;
    }
  }
  const sweeper = setInterval(() => void sweep(), config.graphql.wsRecheckMs);
  sweeper.unref();

  const server = useServer(
    {
      // A failure while handling a message closes the socket with "Internal server error", never
      // its own words (graphql-ws shows them unless NODE_ENV is production).
      isProd: true,
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onConnect: async (ctx) => {
        const extra = ctx.extra as unknown as Extra;
        const ip = addresses.get(extra.request) ?? extra.request.socket.remoteAddress ?? 'unknown';
        const given = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const authorization = typeof given === 'string' && given !== '' ? given : null;
        let actor: Actor = anonymous;
        if (authorization !== null) {
          try {
            actor = await authenticateCredential(services, authorization, { ip });
          } catch (error) {
            // An address locked out for failing credentials: refused before this one was verified.
            if (error instanceof RateLimitedError) {
              metrics.rateLimited.inc({ limit: 'authFailures' });
              extra.socket.close(4429, 'Too many requests');
              return false;
            }
            if (!(error instanceof AuthenticationError)) throw error;
            metrics.authFailures.inc({ kind: credentialKind(services, { authorization }) });
            return false;
          }
        }
        // The connection is a request like any other: opening sockets in a loop is limited too.
        const refusal = await rateLimit(services, actor, ip);
        if (refusal) {
          metrics.rateLimited.inc({ limit: refusal.limit });
          extra.socket.close(4429, 'Too many requests');
          return false;
        }
        if (extra.socket.readyState !== extra.socket.OPEN) return false;
        const session: Session = {
          socket: extra.socket,
          ip,
          authorization,
          actor,
          expiresAt: actor.kind === 'user' && authorization !== null ? tokenExpiry(authorization) : null,
          closed: false,
        };
        extra.session = session;
        sessions.add(session);
        watchExpiry(session);
        return !session.closed;
      },
      // A result shared by many subscribers (shared-live-results.ts) is serialised once: this
      // subscriber's message goes out with an empty payload, which `sendShared` swaps for the text.
      onNext: (ctx, id, _payload, _args, result) => {
        const text = sharedResultText(result as ExecutionResult);
        if (text === undefined) return undefined;
        const socket = (ctx.extra as unknown as Extra).socket;
        const head = nextHead(id);
        let pending = sharedNext.get(socket);
        if (!pending) {
          pending = new Map();
          sharedNext.set(socket, pending);
        }
        pending.set(`${head}{}}`, `${head}${text}}`);
        return {};
      },
      // Yoga's `http` extension (a status for HTTP answers) means nothing on a socket.
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((error) => {
          const { extensions, ...formatted } = error.toJSON();
          if (!extensions || !('http' in extensions)) return error.toJSON();
          const { http: _http, ...others } = extensions;
          return Object.keys(others).length ? { ...formatted, extensions: others } : formatted;
        }),
      onClose: (ctx) => {
        const session = (ctx.extra as unknown as Extra).session;
        if (session) drop(session);
      },
      onSubscribe: async (ctx, id, params) => {
        const extra = ctx.extra as unknown as Extra;
        // graphql-ws only passes operations of acknowledged connections, which all have a session.
        const session = extra.session!;
        if (!(await stillValid(session))) {
          return [
            new GraphQLError('The connection’s credential no longer holds', {
              extensions: { code: 'UNAUTHENTICATED' },
            }),
          ];
        }
        const refusal = await rateLimit(services, session.actor, session.ip);
        if (refusal) {
          metrics.rateLimited.inc({ limit: refusal.limit });
          return [
            new GraphQLError('Too many requests', {
              extensions: { code: 'RATE_LIMITED', retryAfterSeconds: refusal.retryAfter },
            }),
          ];
        }
        // An API key's operation is one of its day's requests; the connection itself is not.
        const quota = await dailyQuota(services, session.actor);
        if (quota.refused) {
          metrics.rateLimited.inc({ limit: 'apiKeyDaily' });
          const { message, extensions } = dailyQuotaRefusal(quota.refused).body;
          return [new GraphQLError(message, { extensions })];
        }
        const requestId = randomUUID();
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: extra.request,
          socket: extra.request.socket,
          params,
          requestId,
          ip: session.ip,
          actor: session.actor,
          logger: logger.child({ 'request.id': requestId }),
          liveDelivery: liveDelivery(extra.socket, id),
        });
        let document: DocumentNode;
        try {
          document = parse(params.query);
        } catch (error) {
          // A refused or unparsable document answers this operation. Thrown, it would make
          // graphql-ws close the whole socket (4500), ending the connection's other subscriptions.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const args = {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
  );

  return {
    handleUpgrade(req, socket, head, ip) {
      addresses.set(req, ip);
      wss.handleUpgrade(req, socket, head, (ws) => {
        sendShared(ws);
        wss.emit('connection', ws, req);
      });
    },
    async dispose() {
      clearInterval(sweeper);
      for (const session of sessions) drop(session);
      await server.dispose();
    },
  };
}

/**
 * The `next` messages graphql-ws is about to write on a socket for shared results, by the text it
 * will write (the result left out, so one per subscription id) to the text to write instead.
 * graphql-ws writes each right after its `onNext` returns, but the socket's other subscriptions
 * may write in between.
 */
const sharedNext = new WeakMap<WebSocket, Map<string, string>>();

/** Makes the socket write a shared result's text where graphql-ws writes its placeholder. */
function sendShared(ws: WebSocket) {
  const send = ws.send.bind(ws) as (data: unknown, ...rest: unknown[]) => void;
  ws.send = ((data: unknown, ...rest: unknown[]) => {
    // Only an exact placeholder: any other message goes out as it was written.
    const pending = typeof data === 'string' ? sharedNext.get(ws) : undefined;
    const message = pending?.get(data as string);
    if (message === undefined) return send(data, ...rest);
    pending!.delete(data as string);
    return send(message, ...rest);
  }) as WebSocket['send'];
}

/** The start of graphql-ws' `next` message for operation `id`, up to its payload. */
function nextHead(id: string): string {
  return `{"id":${JSON.stringify(id)},"type":"next","payload":`;
}

/** Unsent bytes past which a socket's results go through graphql-ws again, one write at a time. */
const MAX_UNSENT_BYTES = 64 * 1024;

/**
 * Writes a shared result to the socket as the `next` message of operation `id`, as graphql-ws
 * would (shared-live-results.ts), while the socket is open and keeping up.
 */
function liveDelivery(socket: WebSocket, id: string): LiveDelivery {
  const head = nextHead(id);
  return {
    next(payloadText) {
      if (socket.readyState !== socket.OPEN || socket.bufferedAmount > MAX_UNSENT_BYTES) return false;
      try {
        socket.send(`${head}${payloadText}}`);
        return true;
      } catch {
        // graphql-ws' own write reports it, and ends the subscription as it should.
        return false;
      }
    },
  };
}
