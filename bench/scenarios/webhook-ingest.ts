/**
 * Webhook ingest: signed Telegram updates posted to the real server as Telegram posts them
 * (`POST /webhooks/telegram/<bot>` with the bot's secret in `X-Telegram-Bot-Api-Secret-Token`),
 * beside a bare route of the same server, in the same run, under the same load.
 *
 * **The server.** One AGNT process started as `npm start` starts it (a child process,
 * NODE_ENV=production, the run's own secrets), with one bot in `TELEGRAM_BOTS`, in each role of
 * `--webhook-roles`, each on a fresh database: `api` (HTTP only: the chats' drain jobs pile up
 * in the queue and nothing competes with the webhook for the two cores) and `all` (what
 * `npm start` runs: the job worker drains the chats while the webhook is loaded).
 *
 * **The updates.** Text messages built with the fakes' `textUpdate()` (the Bot API's own shape),
 * each with an `update_id` no other request of the run sent and its chat the next of
 * `--webhook-chats` (10,000) private chats in turn, so every request stores a new event and
 * schedules its chat's drain (the first time a chat is seen, a new job; after that, the chat's
 * pending job is kept). Per update: the secret compared in constant time, the body read and
 * parsed, checked with zod and normalised, then one SQL statement (`recordInbound`, a prepared
 * statement on the server's pg pool): the event inserted (raw and normalised, `ON CONFLICT DO
 * NOTHING` on the update id) and the chat's waiting drain job kept, or one added with
 * `graphile_worker.add_job` (job key per chat), then `200 {"ok":true}`. `db_queries_total` counts
 * Prisma's statements only, so the webhook's own statement is not in `SQL/req`.
 *
 * **The bare route.** `GET /healthz` of the same server: `200 {"status":"ok"}` through the same
 * HTTP server, router, request id, child logger and request metrics, with no body to read and
 * no database. The webhook's figures over it are the price of the webhook itself on this server.
 *
 * **Loads**, each for `--duration` seconds after a `--warmup` of the same load (not counted), the
 * bare route then the webhook:
 * 1. closed loop at `--webhook-connections` (50) connections: each sends its next request when
 *    its last is answered (the server's capacity, and its latency at that concurrency);
 * 2. `--webhook-rate` (1,000) requests per second over the same connections with autocannon's
 *    `overallRate`, which spends each connection's share of a second back to back at the start
 *    of the second (see lib/load.ts): a burst at full concurrency once a second;
 * 3. the same rate evenly paced (lib/paced.ts): one request due every millisecond, at most 50 in
 *    flight, latency from when each was issued, so a queue in the client counts. This is what
 *    "at 1,000 requests per second" means for a webhook that platforms call as messages come.
 * The target of the issue: p99 of the acknowledgement under 25 ms at 1,000 requests per second.
 *
 * **Stripe** (`--webhook-provider stripe`): the same loads, with Stripe events posted to
 * `POST /webhooks/stripe` as Stripe posts them: a `customer.updated` event (which the
 * `stripe-event` job records and ignores) with an id no other request of the run sent, signed per
 * request over its exact bytes (`Stripe-Signature`, the run's own webhook secret, the time of
 * sending), verified by the SDK, then one statement (`recordProviderEvent`): the event inserted
 * once by its id and its job added. Both go through the webhooks' one group commit.
 *
 * **Cross-checks** after the loads: each update acknowledged was stored exactly once (the rows of
 * each load run's update ids: at least one per 200, at most one per request sent, no id twice),
 * and, in the `api` role, the queue holds exactly one drain job per chat with pending events.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { STRIPE_PATH } from '../../src/webhooks/stripe.ts';
import { TELEGRAM_PATH } from '../../src/webhooks/telegram.ts';
import { type StripeEvent, stripeSignature } from '../../test/fakes/stripe.ts';
import { textUpdate } from '../../test/fakes/telegram.ts';
import { AGNT_METRICS_PATH, type AgntParams, prepareAgnt, serveAgnt } from '../lib/agnt.ts';
import type { WebhookProvider, WebhookRole } from '../lib/args.ts';
import { type LoadOptions, type LoadResult, runLoad } from '../lib/load.ts';
import { measureCpu } from '../lib/machine.ts';
import { settledStatements } from '../lib/metrics.ts';
import { type PacedResult, runPaced } from '../lib/paced.ts';
import { backendCpu, cpuBetween } from '../lib/postgres-cpu.ts';
import {
  type CustomRun,
  defineCustomScenario,
  type LoadRequest,
  type StartedServer,
} from '../lib/scenario.ts';
import { serverLoad } from '../lib/server.ts';
import { fmt } from '../lib/stats.ts';

const BOT = 'bench';
/** The Stripe events' ids: this, then the number `UPDATE_ID` stands for. */
const STRIPE_EVENT_PREFIX = 'evt_bench_';
const BARE_PATH = '/healthz';
const BARE_ANSWER = '{"status":"ok"}';
const WEBHOOK_ANSWER = '{"ok":true}';

/** Filled in every request: the update's id (also its message id), and its chat (also the sender). */
const UPDATE_ID = '$UPDATE_ID$';
const CHAT_ID = '$CHAT_ID$';
/** Each load run of the webhook sends update ids from its own block: 1 + k × BLOCK onwards. */
const UPDATE_BLOCK = 1_000_000_000;
/** Private chats (and their people) are 700,000,000 onwards. */
const FIRST_CHAT = 700_000_000;
/** The target: p99 of the acknowledgement under this at `--webhook-rate`. */
const TARGET_P99_MS = 25;
const CHECK_TIMEOUT_MS = 10_000;

type LoadKind = 'closed' | 'rate' | 'paced';
const LOAD_KINDS: readonly LoadKind[] = ['closed', 'rate', 'paced'];
type Route = 'bare' | 'webhook';

interface Window {
  role: WebhookRole;
  load: LoadKind;
  route: Route;
  result: LoadResult | PacedResult;
  /** SQL statements the server sent in the window (db_queries_total), and whether the count settled. */
  statements: number | null;
  statementsSettled: boolean;
  /** Requests the server counted on the route in the window (a cross-check of `result.sent`). */
  serverRequests: number | null;
  serverCpuCores: number | null;
  loopUtilization: number;
  /** The longest the server's event loop was held up in the window, ms. */
  loopDelayMaxMs: number | null;
  benchCores: number;
  machineCores: number;
  /** CPU of the database's PostgreSQL backends in the window, ms; null when /proc cannot tell. */
  postgresCpuMs: number | null;
  /** Inbound events the worker processed in the window (role `all`). */
  drained: number;
  wallSeconds: number;
}

interface RoleResult {
  role: WebhookRole;
  windows: Window[];
  /** Statements of the one check update alone, on an idle server. */
  statementsAlone: number | null;
  verification: { notes: string[]; problems: number };
}

export default defineCustomScenario<AgntParams>(import.meta.url, {
  name: 'webhook-ingest',
  description:
    'signed Telegram updates to POST /webhooks/telegram/<bot> (or, with --webhook-provider stripe, signed Stripe events to POST /webhooks/stripe) beside GET /healthz of the same server: closed loop and fixed rate',
  serve: serveAgnt,
  async measure(run) {
    const roles: RoleResult[] = [];
    for (const role of run.options.webhookRoles) {
      if (run.signal.aborted) break;
      roles.push(await measureRole(run, role));
    }
    return report(roles, run.options);
  },
});

async function measureRole(run: CustomRun<AgntParams>, role: WebhookRole): Promise<RoleResult> {
  const { durationSeconds, warmupSeconds, webhookConnections, webhookRate, webhookChats } = run.options;
  const progress = (message: string) => run.progress(`${role}: ${message}`);
  progress('preparing a database and a server');
  const agnt = await prepareAgnt();
  const target = webhookTarget(run.options.webhookProvider, webhookChats);
  const params: AgntParams = {
    // The chats' drains acknowledge (the channel layer alone): the consumer agent's own cost is
    // `agent-turn`'s to measure, and with no model here it would retry every message instead.
    env: { ...agnt.params.env, ROLE: role, ...target.env, CONSUMER_AGENT: 'false' },
    role,
  };
  const client = new pg.Client({ connectionString: agnt.params.env.DATABASE_URL });
  let server: StartedServer | undefined;
  try {
    await client.connect();
    server = await run.start(params);
    const origin = server.origin;
    // The worker of `all` keeps sending SQL: its counts are read once, without waiting to settle.
    const readStatements = () =>
      settledStatements(origin, AGNT_METRICS_PATH, role === 'all' ? { reads: 1 } : {});

    const bare: LoadRequest = { method: 'GET', path: BARE_PATH, headers: {} };
    const webhookRequest = target.request;
    // Block 0 is the check's one update (id 1, in a chat of its own); load runs take 1, 2, …
    let lastBlock = 0;

    // One answer of each, checked before any load: never benchmark a 401 or a 404.
    const bareCheck = await fetchOnce(origin, bare, undefined);
    if (bareCheck.status !== 200 || bareCheck.text !== BARE_ANSWER) {
      throw new Error(`GET ${BARE_PATH} answered ${bareCheck.status} ${bareCheck.text.slice(0, 300)}`);
    }
    const aloneBefore = await readStatements();
    const checkBody = target.template
      .replaceAll(UPDATE_ID, String(1))
      .replaceAll(CHAT_ID, String(FIRST_CHAT + webhookChats));
    const webhookCheck = await fetchOnce(origin, webhookRequest(0), checkBody);
    if (webhookCheck.status !== 200 || webhookCheck.text !== WEBHOOK_ANSWER) {
      throw new Error(`the webhook answered ${webhookCheck.status} ${webhookCheck.text.slice(0, 300)}`);
    }
    const aloneAfter = await readStatements();
    const statementsAlone =
      role === 'api' && aloneBefore.settled && aloneAfter.settled
        ? aloneAfter.statements - aloneBefore.statements
        : null;

    const ledger: { block: number; acknowledged: number; sent: number; label: string }[] = [
      { block: 0, acknowledged: 1, sent: 1, label: 'check' },
    ];
    const load = async (route: Route, kind: LoadKind, options: LoadOptions, label: string) => {
      const block = route === 'bare' ? null : ++lastBlock;
      const target =
        block === null
          ? { request: bare, expectBodies: [BARE_ANSWER], block }
          : { request: webhookRequest(block), expectBodies: [WEBHOOK_ANSWER], block };
      const loadTarget = { origin, request: target.request, expectBodies: target.expectBodies };
      const result =
        kind === 'paced'
          ? await runPaced(
              loadTarget,
              {
                rate: webhookRate,
                connections: options.connections,
                durationSeconds: options.durationSeconds,
              },
              run.signal,
            )
          : await runLoad(loadTarget, options, run.signal);
      if (target.block !== null) {
        ledger.push({
          block: target.block,
          acknowledged: result.statusCodes['200'] ?? 0,
          sent: result.sent,
          label,
        });
      }
      return result;
    };

    const windows: Window[] = [];
    const loads: { kind: LoadKind; options: LoadOptions; label: string }[] = [
      {
        kind: 'closed',
        options: { connections: webhookConnections, durationSeconds },
        label: `closed loop, ${webhookConnections} connections`,
      },
      {
        kind: 'rate',
        options: { connections: webhookConnections, durationSeconds, overallRate: webhookRate },
        label: `${webhookRate} req/s over ${webhookConnections} connections (autocannon overallRate)`,
      },
      {
        kind: 'paced',
        options: { connections: webhookConnections, durationSeconds },
        label: `${webhookRate} req/s evenly paced, at most ${webhookConnections} connections`,
      },
    ];
    for (const { kind, options, label } of loads) {
      for (const route of ['bare', 'webhook'] as const) {
        if (run.signal.aborted) break;
        if (warmupSeconds > 0) {
          progress(`${route}, ${label}: warming up for ${warmupSeconds} s`);
          const warmup = await load(
            route,
            kind,
            { ...options, durationSeconds: warmupSeconds },
            `${kind} warm-up`,
          );
          if (warmup.failures > 0) {
            throw new Error(
              `${warmup.failures} ${route} requests failed while warming up (status codes ${JSON.stringify(warmup.statusCodes)})`,
            );
          }
        }
        if (run.signal.aborted) break;
        progress(`${route}, ${label}: measuring for ${durationSeconds} s`);
        const statementsBefore = await readStatements();
        const drainedBefore = await target.drained(client);
        const sampleBefore = await server.sample();
        const postgresBefore = await backendCpu(client);
        const cpu = measureCpu();
        const started = performance.now();
        const result = await load(route, kind, options, kind);
        const wallSeconds = (performance.now() - started) / 1000;
        const cpuWindow = cpu.stop();
        const postgresAfter = await backendCpu(client);
        const sampleAfter = await server.sample();
        const drainedAfter = await target.drained(client);
        const statementsAfter = await readStatements();
        const serverWindow = serverLoad(sampleBefore, sampleAfter);
        const routeName = route === 'bare' ? BARE_PATH : target.route;
        const requestsBefore = statementsBefore.requestsOn(routeName);
        const requestsAfter = statementsAfter.requestsOn(routeName);
        windows.push({
          role,
          load: kind,
          route,
          result,
          statements: statementsAfter.statements - statementsBefore.statements,
          statementsSettled: statementsBefore.settled && statementsAfter.settled,
          serverRequests:
            requestsBefore !== null && requestsAfter !== null ? requestsAfter - requestsBefore : null,
          serverCpuCores: serverWindow.cpuCores,
          loopUtilization: serverWindow.loopUtilization,
          loopDelayMaxMs: serverWindow.loopDelayMaxMs,
          benchCores: cpuWindow.benchCores,
          machineCores: cpuWindow.machineCores,
          postgresCpuMs: cpuBetween(postgresBefore, postgresAfter),
          drained: drainedAfter - drainedBefore,
          wallSeconds,
        });
        progress(
          `  ${fmt(result.requestsPerSecond, 0)} req/s, p50 ${fmt(result.p50Ms, 2)} ms, p99 ${fmt(result.p99Ms, 2)} ms, ${result.failures} failures`,
        );
      }
    }
    const verification = await verify(client, role, ledger, target);
    return { role, windows, statementsAlone, verification };
  } finally {
    await server?.stop();
    await client.end().catch(() => {});
    await agnt.cleanup();
  }
}

/**
 * The update every request sends, in the Bot API's shape (the fakes' `textUpdate`), with
 * `$UPDATE_ID$` and `$CHAT_ID$` where the numbers go (unquoted: they become JSON numbers).
 */
function updateTemplate(): string {
  const update = textUpdate({
    chatId: 1,
    text: 'Boa noite! Têm mesa para dois amanhã às 20h? Somos dois, de preferência na esplanada.',
    firstName: 'Ana',
  });
  const message = update.message!;
  const body = {
    ...update,
    update_id: UPDATE_ID,
    message: {
      ...message,
      message_id: UPDATE_ID,
      chat: { ...message.chat, id: CHAT_ID },
      from: { ...message.from!, id: CHAT_ID },
    },
  };
  return JSON.stringify(body).replaceAll(`"${UPDATE_ID}"`, UPDATE_ID).replaceAll(`"${CHAT_ID}"`, CHAT_ID);
}

async function fetchOnce(
  origin: string,
  request: LoadRequest,
  body: string | undefined,
): Promise<{ status: number; text: string }> {
  const url = new URL(request.path, origin);
  if (url.hostname !== '127.0.0.1') throw new Error(`refusing to send to ${url.host}: only 127.0.0.1`);
  const response = await fetch(url, {
    method: request.method,
    headers: { ...request.headers, ...(body === undefined ? {} : request.headersFor?.(body)) },
    body,
    signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
  });
  return { status: response.status, text: await response.text() };
}

/** Whose webhook the loads post to, and how to read back what it stored. */
interface WebhookTarget {
  /** What one request delivers, in the plural (`updates`, `events`). */
  noun: string;
  /** The route name of the server's request metrics (src/wiring/app.ts). */
  route: string;
  /** The server's environment for it (a bot, a webhook secret). */
  env: Record<string, string>;
  /** The body every request sends, with `$UPDATE_ID$` (and `$CHAT_ID$`) to fill in. */
  template: string;
  /** The webhook request of a load run: ids from `block` of its own. */
  request(block: number): LoadRequest;
  /** Events the worker has processed (or failed) so far. */
  drained(client: pg.Client): Promise<number>;
  /** The rows stored per block of ids: how many, and how many distinct ids. */
  stored(client: pg.Client): Promise<{ block: number; stored: number; ids: number }[]>;
  /** In the `api` role (nothing runs jobs): whether the queue holds what it should, and a note. */
  queue(client: pg.Client): Promise<{ ok: boolean; note: string }>;
}

function webhookTarget(provider: WebhookProvider, chats: number): WebhookTarget {
  return provider === 'stripe' ? stripeTarget() : telegramTarget(chats);
}

function telegramTarget(chats: number): WebhookTarget {
  const bot = {
    name: BOT,
    token: `${randomInt(100_000_000, 999_999_999)}:${randomBytes(27).toString('base64url')}`,
    secret: randomBytes(32).toString('base64url'),
  };
  const template = updateTemplate();
  return {
    noun: 'updates',
    route: '/webhooks/telegram',
    env: { TELEGRAM_BOTS: JSON.stringify([bot]) },
    template,
    request: (block) => ({
      method: 'POST',
      path: `${TELEGRAM_PATH}${BOT}`,
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': bot.secret },
      body: template,
      vary: [
        { token: UPDATE_ID, integers: { first: 1 + block * UPDATE_BLOCK } },
        { token: CHAT_ID, integers: { first: FIRST_CHAT, count: chats } },
      ],
    }),
    async drained(client) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM inbound_events WHERE status <> 'PENDING'`,
      );
      return rows[0]!.n;
    },
    async stored(client) {
      const { rows } = await client.query<{ block: number; stored: number; ids: number }>(
        `SELECT ((external_id::bigint - 1) / ${UPDATE_BLOCK})::int AS block,
                count(*)::int AS stored, count(DISTINCT external_id)::int AS ids
           FROM inbound_events
          WHERE platform = 'TELEGRAM' AND account = $1
          GROUP BY 1`,
        [BOT],
      );
      return rows;
    },
    async queue(client) {
      const { rows } = await client.query<{ jobs: number; chats: number; pending: number }>(
        `SELECT (SELECT count(*)::int FROM graphile_worker._private_jobs) AS jobs,
                (SELECT count(DISTINCT external_chat_id)::int FROM inbound_events WHERE status = 'PENDING') AS chats,
                (SELECT count(*)::int FROM inbound_events WHERE status = 'PENDING') AS pending`,
      );
      const { jobs, chats, pending } = rows[0]!;
      return {
        ok: jobs === chats,
        note:
          `api: ${pending} events pending in ${chats} chats, ${jobs} drain jobs queued` +
          (jobs === chats
            ? ' (one per chat: nothing drains them in this role)'
            : ' (WRONG: one per chat expected)'),
      };
    },
  };
}

function stripeTarget(): WebhookTarget {
  const secret = `whsec_${randomBytes(24).toString('base64url')}`;
  const template = stripeEventTemplate();
  return {
    noun: 'Stripe events',
    route: STRIPE_PATH,
    env: { STRIPE_WEBHOOK_SECRETS: secret },
    template,
    request: (block) => ({
      method: 'POST',
      path: STRIPE_PATH,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: template,
      vary: [{ token: UPDATE_ID, integers: { first: 1 + block * UPDATE_BLOCK } }],
      // Stripe signs each delivery's bytes with the time of sending.
      headersFor: (body) => ({
        'stripe-signature': stripeSignature(body, secret, Math.floor(Date.now() / 1000)),
      }),
    }),
    async drained(client) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM provider_events WHERE provider = 'stripe' AND processed_at IS NOT NULL`,
      );
      return rows[0]!.n;
    },
    async stored(client) {
      const { rows } = await client.query<{ block: number; stored: number; ids: number }>(
        `SELECT ((substr(event_id, ${STRIPE_EVENT_PREFIX.length + 1})::bigint - 1) / ${UPDATE_BLOCK})::int AS block,
                count(*)::int AS stored, count(DISTINCT event_id)::int AS ids
           FROM provider_events
          WHERE provider = 'stripe' AND event_id LIKE '${STRIPE_EVENT_PREFIX}%'
          GROUP BY 1`,
      );
      return rows;
    },
    async queue(client) {
      const { rows } = await client.query<{ jobs: number; events: number }>(
        `SELECT (SELECT count(*)::int FROM graphile_worker._private_jobs) AS jobs,
                (SELECT count(*)::int FROM provider_events WHERE provider = 'stripe') AS events`,
      );
      const { jobs, events } = rows[0]!;
      return {
        ok: jobs === events,
        note:
          `api: ${events} Stripe events stored, ${jobs} stripe-event jobs queued` +
          (jobs === events
            ? ' (one per event: nothing runs them in this role)'
            : ' (WRONG: one per event expected)'),
      };
    },
  };
}

/**
 * The event every Stripe request sends, as Stripe sends it (pretty-printed), with `$UPDATE_ID$`
 * where the number of its id goes: a customer's details changed, which the `stripe-event` job
 * records and ignores (nothing is asked of Stripe).
 */
function stripeEventTemplate(): string {
  const event: StripeEvent = {
    id: `${STRIPE_EVENT_PREFIX}${UPDATE_ID}`,
    object: 'event',
    api_version: '2026-11-18.endive',
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        id: 'cus_bench0001',
        object: 'customer',
        email: 'ana@example.com',
        name: 'Ana Sousa',
        metadata: { organizationId: '00000000-0000-4000-8000-000000000001' },
        invoice_settings: { default_payment_method: null },
      },
    },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'customer.updated',
  };
  return JSON.stringify(event, null, 2);
}

/**
 * Every acknowledged update stored exactly once: per load run (its block of update ids), at least
 * one row per 200 and at most one per request sent, and no update id twice; in the `api` role,
 * one pending drain job per chat with pending events (the job key per chat holds).
 */
async function verify(
  client: pg.Client,
  role: WebhookRole,
  ledger: { block: number; acknowledged: number; sent: number; label: string }[],
  target: WebhookTarget,
): Promise<{ notes: string[]; problems: number }> {
  const rows = await target.stored(client);
  const byBlock = new Map(rows.map((row) => [row.block, row]));
  let problems = 0;
  let acknowledged = 0;
  let sent = 0;
  let stored = 0;
  const wrong: string[] = [];
  for (const entry of ledger) {
    const row = byBlock.get(entry.block) ?? { stored: 0, ids: 0 };
    acknowledged += entry.acknowledged;
    sent += entry.sent;
    stored += row.stored;
    if (row.stored < entry.acknowledged || row.stored > entry.sent || row.ids !== row.stored) {
      problems += 1;
      wrong.push(
        `${entry.label}: ${row.stored} rows (${row.ids} update ids) for ${entry.acknowledged} acknowledged, ${entry.sent} sent`,
      );
    }
  }
  const extra = rows.filter((row) => !ledger.some((entry) => entry.block === row.block));
  if (extra.length) {
    problems += 1;
    wrong.push(`rows outside every load run's ids: ${JSON.stringify(extra)}`);
  }
  const notes = [
    `${role}: ${stored} ${target.noun} stored for ${acknowledged} acknowledged and ${sent} sent (check, warm-ups and measurements)` +
      (problems ? `; WRONG: ${wrong.join('; ')}` : ', each acknowledged one exactly once'),
  ];
  if (role === 'api') {
    const queue = await target.queue(client);
    if (!queue.ok) problems += 1;
    notes.push(queue.note);
  }
  return { notes, problems };
}

function report(roles: RoleResult[], options: CustomRun<AgntParams>['options']) {
  const rows: string[][] = [];
  const loadLabel = (kind: LoadKind) =>
    kind === 'closed'
      ? `${options.webhookConnections} conns`
      : `${options.webhookRate}/s ${kind === 'rate' ? 'autocannon' : 'paced'}`;
  for (const { role, windows } of roles) {
    for (const kind of LOAD_KINDS) {
      const bare = windows.find((w) => w.load === kind && w.route === 'bare');
      const hook = windows.find((w) => w.load === kind && w.route === 'webhook');
      for (const w of [bare, hook]) {
        if (!w) continue;
        const requests = w.result.sent;
        const serverMs =
          w.serverCpuCores !== null && requests ? (w.serverCpuCores * w.wallSeconds * 1000) / requests : null;
        rows.push([
          role,
          loadLabel(kind),
          w.route === 'bare' ? `GET ${BARE_PATH}` : 'webhook',
          fmt(w.result.requestsPerSecond, 0),
          fmt(w.result.p50Ms, 2),
          fmt(w.result.p99Ms, 2),
          w.statements === null || !requests
            ? '–'
            : `${fmt(w.statements / requests, 2)}${w.statementsSettled ? '' : '~'}`,
          serverMs === null ? '–' : fmt(serverMs, 3),
          w.postgresCpuMs === null || !requests ? '–' : fmt(w.postgresCpuMs / requests, 3),
          fmt(w.loopUtilization * 100, 0),
          w.serverCpuCores === null ? 'n/a' : fmt(w.serverCpuCores, 2),
          fmt(w.benchCores, 2),
          fmt(Math.max(0, w.machineCores - w.benchCores - (w.serverCpuCores ?? 0)), 2),
          fmt(w.drained / w.wallSeconds, 0),
          String(w.result.failures),
        ]);
      }
      if (bare && hook) {
        rows.push([
          role,
          loadLabel(kind),
          'webhook / bare',
          `${fmt(hook.result.requestsPerSecond / bare.result.requestsPerSecond, 3)}×`,
          `${fmt(hook.result.p50Ms / bare.result.p50Ms, 2)}×`,
          `${fmt(hook.result.p99Ms / bare.result.p99Ms, 2)}×`,
          ...Array<string>(9).fill('–'),
        ]);
      }
    }
  }
  const verdicts = roles.flatMap(({ role, windows }) =>
    (['rate', 'paced'] as const).flatMap((kind) => {
      const w = windows.find((x) => x.load === kind && x.route === 'webhook');
      if (!w) return [];
      const reached = w.result.requestsPerSecond >= options.webhookRate * 0.98;
      const met = reached && w.result.p99Ms < TARGET_P99_MS;
      return [
        `${role}, ${kind === 'rate' ? 'autocannon' : 'paced'}: ${met ? 'MET' : 'NOT MET'}, p99 ${fmt(w.result.p99Ms, 2)} ms at ${fmt(w.result.requestsPerSecond, 0)} req/s` +
          (reached ? '' : ` (the server did not reach ${options.webhookRate} req/s)`),
      ];
    }),
  );
  const paced = roles.flatMap(({ role, windows }) =>
    windows.flatMap((w) =>
      w.load === 'paced' && 'serviceP99Ms' in w.result
        ? [
            `${role} ${w.route === 'bare' ? BARE_PATH : 'webhook'} ${fmt(w.result.serviceP50Ms, 2)} / ${fmt(w.result.serviceP99Ms, 2)} ms` +
              ` (${w.result.queued} of ${w.result.sent} waited for a connection` +
              (w.loopDelayMaxMs === null
                ? ')'
                : `; the server's event loop held up ${fmt(w.loopDelayMaxMs, 1)} ms at most)`),
          ]
        : [],
    ),
  );
  const alone = roles
    .filter((r) => r.statementsAlone !== null)
    .map(
      (r) =>
        `${r.statementsAlone} Prisma statements for one update alone (${r.role}; the webhook's own statement goes through the pg pool, which db_queries_total does not count)`,
    );
  const failures = roles.reduce(
    (sum, r) => sum + r.verification.problems + r.windows.reduce((n, w) => n + w.result.failures, 0),
    0,
  );
  return {
    header: [
      'role',
      'load',
      'route',
      'req/s',
      'p50 ms',
      'p99 ms',
      'SQL/req',
      'server ms/req',
      'PG ms/req',
      'server loop %',
      'server CPU',
      'bench CPU',
      'rest CPU',
      'drained/s',
      'failures',
    ],
    rows,
    notes: [
      `Target (p99 of the acknowledgement < ${TARGET_P99_MS} ms at ${options.webhookRate} req/s): ${verdicts.join('; ') || 'not measured'}.`,
      ...(paced.length
        ? [`paced, from getting a connection to the answer (p50 / p99): ${paced.join('; ')}.`]
        : []),
      ...roles.flatMap((r) => r.verification.notes),
      ...(alone.length ? [`${alone.join('; ')}.`] : []),
      `load: closed loop at ${options.webhookConnections} connections; ${options.webhookRate} requests/s over ` +
        `${options.webhookConnections} connections by autocannon's overallRate (each connection's share of a second ` +
        `sent back to back at its start: a burst a second); ${options.webhookRate} requests/s evenly paced ` +
        `(lib/paced.ts: one due every ${fmt(1000 / options.webhookRate, 2)} ms, at most ${options.webhookConnections} ` +
        'in flight, latency from the moment each was issued, so a queue in the client counts). webhook: ' +
        (options.webhookProvider === 'stripe'
          ? `POST ${STRIPE_PATH}, a customer.updated event with a new id every request, signed when sent. `
          : `POST ${TELEGRAM_PATH}${BOT}, a new update id every request, chats in turn over ${options.webhookChats}. `) +
        `SQL/req: statements per request sent (~: read without settling, ` +
        'the worker of `all` included). server ms/req: CPU of the server process per request; PG ms/req: CPU of the ' +
        "database's PostgreSQL backends per request (the worker's too in `all`). CPU in cores: rest = PostgreSQL, " +
        'Redis and anything else. drained/s: inbound events the worker processed per second in the window.',
    ],
    failures,
    data: { options, roles },
  };
}
