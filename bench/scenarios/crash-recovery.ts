/**
 * Crash recovery, a soak: signed Telegram updates at `--crash-rate` (150) a second, spread over
 * `--crash-chats` (500) private chats, posted to one AGNT process in the `all` role (`node
 * src/main.ts all`, as `npm start` runs it: webhook and job worker in one process), which is
 * killed with SIGKILL every `--crash-every` (7) seconds, `--crash-kills` (5) times, and started
 * again at once on the same database and port. The drains acknowledge (`CONSUMER_AGENT=false`):
 * the channel layer, as in `webhook-ingest`. Worker heartbeat and dead limit are the defaults
 * (5 s, 30 s).
 *
 * The sender behaves as Telegram does: an update that was not acknowledged with a 200 (the
 * connection refused or cut by the kill) is sent again a second later, until it is. After the
 * last kill the process runs on; the load stops one interval later, and every update has up to
 * 30 s more to be acknowledged.
 *
 * Cross-checks, each a failure when it does not hold:
 * - every acknowledged update is stored exactly once (rows per update id);
 * - every stored update is processed (PROCESSED), the last one within 60 s of the last restart;
 * - each chat's updates were processed in the order they were stored (`processed_at` never goes
 *   back along `sequence`);
 * - every killed worker's jobs were recovered (a `job_recoveries` row per drain job it held),
 *   and no drain job is left, nor a job failed.
 * Reported beside them: time from each kill to ready again (`/readyz` 200), jobs recovered per
 * kill and when, and the backlog (pending events, oldest wait) when the load stopped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { TELEGRAM_PATH } from '../../src/webhooks/telegram.ts';
import { textUpdate } from '../../test/fakes/telegram.ts';
import { type AgntParams, prepareAgnt, serveAgnt } from '../lib/agnt.ts';
import { type CustomRun, defineCustomScenario } from '../lib/scenario.ts';
import { serverNodeFlags } from '../lib/server.ts';
import { fmt } from '../lib/stats.ts';

const BOT = 'crash';
const FIRST_CHAT = 800_000_000;
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
/** Telegram sends an unacknowledged update again; here a second later. */
const RESEND_MS = 1_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** After the load, how long unacknowledged updates keep being resent. */
const ACK_GRACE_MS = 30_000;
/** The issue's promise: processed within a minute of the last restart. */
const PROCESSED_WITHIN_MS = 60_000;
/** How long the bench waits for the last events before it gives up (and reports a failure). */
const PROCESS_TIMEOUT_MS = 120_000;
/** What the recovering worker logs for each dead worker (src/platform/worker-liveness.ts). */
const RECOVERY_MESSAGE = 'stopped answering; freed';

interface Kill {
  killedAt: number;
  /** From the kill to `/readyz` answering 200 from the new process. */
  readyAfterMs: number;
}

export default defineCustomScenario<AgntParams>(import.meta.url, {
  name: 'crash-recovery',
  description:
    'soak: signed Telegram updates while the all role is SIGKILLed and restarted; every acknowledged update stored and processed once',
  // The scenario starts its own processes (it kills them); serve() is what each would run.
  serve: serveAgnt,
  async measure(run) {
    return soak(run);
  },
});

async function soak(run: CustomRun<AgntParams>) {
  const { crashRate: rate, crashKills: kills, crashEverySeconds: every, crashChats: chats } = run.options;
  const agnt = await prepareAgnt();
  const bot = {
    name: BOT,
    token: `${randomInt(100_000_000, 999_999_999)}:${randomBytes(27).toString('base64url')}`,
    secret: randomBytes(32).toString('base64url'),
  };
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    ...agnt.params.env,
    PATH: process.env.PATH ?? '',
    ROLE: 'all',
    PORT: String(port),
    // The recovery's warnings (a dead worker, what it held) are kept for the notes.
    LOG_LEVEL: 'warn',
    TELEGRAM_BOTS: JSON.stringify([bot]),
    CONSUMER_AGENT: 'false',
  };
  const client = new pg.Client({ connectionString: agnt.params.env.DATABASE_URL });
  let child: ChildProcess | undefined;
  const log: string[] = [];
  const start = async () => {
    const started = spawn(process.execPath, [...serverNodeFlags(), MAIN, 'all'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [started.stdout, started.stderr]) {
      stream?.on('data', (chunk: Buffer) => log.push(...String(chunk).split('\n').filter(Boolean)));
    }
    child = started;
    await ready(origin, started);
  };
  const kill = async () => {
    const dying = child!;
    const gone = new Promise((resolve) => dying.once('exit', resolve));
    dying.kill('SIGKILL');
    await gone;
  };

  try {
    await client.connect();
    run.progress(`starting node src/main.ts all on ${origin}`);
    await start();

    const sender = startSender({ origin, secret: bot.secret, rate, chats });
    const killLog: Kill[] = [];
    let lastRestart = Date.now();
    for (let k = 1; k <= kills && !run.signal.aborted; k += 1) {
      await sleep(every * 1000);
      await kill();
      const killedAt = Date.now();
      await start();
      lastRestart = Date.now();
      killLog.push({ killedAt, readyAfterMs: lastRestart - killedAt });
      run.progress(
        `kill ${k}/${kills}: ready again after ${fmt(lastRestart - killedAt, 0)} ms; ${sender.acknowledged()} acknowledged so far`,
      );
    }
    await sleep(every * 1000);
    const loadEndedAt = Date.now();
    sender.stop();
    const backlogAtEnd = await backlog(client);
    run.progress(
      `load stopped: ${sender.sent()} updates made, ${backlogAtEnd.pending} events pending (oldest ${fmt(backlogAtEnd.oldestSeconds, 1)} s); waiting for the rest`,
    );
    await sender.settle(ACK_GRACE_MS);

    // Every stored event processed, every dead worker recovered and every drain job done (a
    // chat's next message rescues it before its dead worker is found, so all three), or the timeout.
    const recoveryLines = () => log.filter((line) => line.includes(RECOVERY_MESSAGE));
    const deadline = Date.now() + PROCESS_TIMEOUT_MS;
    while (
      Date.now() < deadline &&
      ((await backlog(client)).pending > 0 || recoveryLines().length < kills || (await drainJobs(client)) > 0)
    ) {
      await sleep(250);
    }
    const checks = await verify(client, sender.acknowledgedIds(), lastRestart);
    if (recoveryLines().length !== kills) {
      checks.problems.push(`${recoveryLines().length} dead workers recovered for ${kills} kills`);
    }
    const recoveries = recoveryTimes(recoveryLines(), killLog);
    const loadSeconds = (loadEndedAt - sender.startedAt) / 1000;

    const readyMs = killLog.map((k) => k.readyAfterMs);
    const failures = checks.problems.length;
    return {
      header: [
        'rate',
        'load s',
        'kills',
        'acknowledged',
        'stored',
        'processed',
        'resent',
        'ready after kill ms',
        'jobs recovered / kill',
        'recovered after kill s',
        'pending at load end',
        'oldest at load end s',
        'last processed after last restart s',
        'failures',
      ],
      rows: [
        [
          `${rate}/s`,
          fmt(loadSeconds, 0),
          String(kills),
          String(sender.acknowledged()),
          String(checks.stored),
          String(checks.processed),
          String(sender.resent()),
          `${fmt(Math.min(...readyMs), 0)}–${fmt(Math.max(...readyMs), 0)}`,
          recoveries.perKill.join(', '),
          recoveries.afterKillSeconds.map((s) => fmt(s, 1)).join(', '),
          String(backlogAtEnd.pending),
          fmt(backlogAtEnd.oldestSeconds, 1),
          fmt(checks.lastProcessedAfterRestartMs / 1000, 1),
          String(failures),
        ],
      ],
      notes: [
        `${chats} chats, updates evenly paced, each unacknowledged one resent after ${RESEND_MS} ms (as Telegram does); the all role killed (SIGKILL) every ${every} s and started again at once on the same database; worker heartbeat 5 s, dead after 30 s (the defaults).`,
        `recovery log lines: ${recoveryLines().length} (one per dead worker); the first: ${recoveryLines()[0]?.slice(0, 600) ?? 'none'}`,
        ...checks.notes,
        ...(failures ? [`FAILED: ${checks.problems.join('; ')}`] : ['every check held']),
      ],
      failures,
      data: { rate, kills, every, chats, killLog, backlogAtEnd, checks, recoveries, loadSeconds },
    };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([gone, sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await client.end().catch(() => {});
    await agnt.cleanup();
  }
}

/** A port free now on 127.0.0.1, kept for every restart so the sender needs no new address. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `/readyz` answers 200 from this process. */
async function ready(origin: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) while starting`);
    try {
      const response = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(5_000) });
      await response.text();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(20);
  }
  throw new Error('the server was not ready within 60 s');
}

/**
 * Posts update after update at `rate` a second, each from the next chat in turn; an update not
 * answered 200 is posted again after RESEND_MS, until it is.
 */
function startSender(options: { origin: string; secret: string; rate: number; chats: number }) {
  const url = new URL(`${TELEGRAM_PATH}${BOT}`, options.origin);
  if (url.hostname !== '127.0.0.1') throw new Error(`refusing to send to ${url.host}: only 127.0.0.1`);
  const agent = new Agent({ keepAlive: true, maxSockets: 50 });
  const acked = new Set<number>();
  const inFlight = new Set<number>();
  const retry: number[] = [];
  let made = 0;
  let resent = 0;
  let stopped = false;
  const startedAt = Date.now();

  const post = (updateId: number) => {
    inFlight.add(updateId);
    const chat = FIRST_CHAT + ((updateId - 1) % options.chats);
    const update = textUpdate({ chatId: chat, text: `Mesa para dois? (${updateId})`, firstName: 'Ana' });
    const body = JSON.stringify({
      ...update,
      update_id: updateId,
      message: { ...update.message, message_id: updateId },
    });
    const failed = () => {
      inFlight.delete(updateId);
      setTimeout(() => retry.push(updateId), RESEND_MS).unref();
    };
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        timeout: REQUEST_TIMEOUT_MS,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'x-telegram-bot-api-secret-token': options.secret,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) {
            inFlight.delete(updateId);
            acked.add(updateId);
          } else failed();
        });
        res.on('error', failed);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', failed);
    req.end(body);
  };

  const tick = setInterval(() => {
    const due = Math.floor(((Date.now() - startedAt) / 1000) * options.rate);
    while (!stopped && made < due) {
      made += 1;
      post(made);
    }
    for (const id of retry.splice(0)) {
      resent += 1;
      post(id);
    }
  }, 1);

  return {
    startedAt,
    sent: () => made,
    resent: () => resent,
    acknowledged: () => acked.size,
    acknowledgedIds: () => acked,
    stop() {
      stopped = true;
    },
    /** Keeps resending until every update made is acknowledged, or `graceMs` passed. */
    async settle(graceMs: number) {
      const deadline = Date.now() + graceMs;
      while (acked.size < made && Date.now() < deadline) await sleep(50);
      clearInterval(tick);
      agent.destroy();
    },
  };
}

async function backlog(client: pg.Client): Promise<{ pending: number; oldestSeconds: number }> {
  const { rows } = await client.query<{ pending: number; oldest: number | null }>(
    `SELECT count(*)::int AS pending, extract(epoch FROM now() - min(received_at))::float8 AS oldest
     FROM inbound_events WHERE status = 'PENDING'`,
  );
  return { pending: rows[0]!.pending, oldestSeconds: rows[0]!.oldest ?? 0 };
}

async function drainJobs(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier = 'chat-inbound'`,
  );
  return rows[0]!.n;
}

async function verify(client: pg.Client, acknowledged: Set<number>, lastRestart: number) {
  const problems: string[] = [];
  const { rows: stored } = await client.query<{ id: string; n: number }>(
    `SELECT external_id AS id, count(*)::int AS n FROM inbound_events WHERE account = $1 GROUP BY external_id`,
    [BOT],
  );
  const storedIds = new Map(stored.map((row) => [Number(row.id), row.n]));
  const missing = [...acknowledged].filter((id) => !storedIds.has(id));
  const twice = stored.filter((row) => row.n > 1);
  if (missing.length)
    problems.push(`${missing.length} acknowledged updates not stored (e.g. ${missing.slice(0, 5)})`);
  if (twice.length) problems.push(`${twice.length} updates stored more than once`);

  const { rows: states } = await client.query<{ status: string; n: number; last: Date | null }>(
    `SELECT status::text, count(*)::int AS n, max(processed_at) AS last FROM inbound_events GROUP BY status`,
  );
  const processed = states.find((s) => s.status === 'PROCESSED');
  const others = states.filter((s) => s.status !== 'PROCESSED');
  if (others.length)
    problems.push(`events not processed: ${others.map((s) => `${s.n} ${s.status}`).join(', ')}`);
  const lastProcessedAfterRestartMs = processed?.last ? processed.last.getTime() - lastRestart : 0;
  if (lastProcessedAfterRestartMs > PROCESSED_WITHIN_MS) {
    problems.push(
      `the last event was processed ${fmt(lastProcessedAfterRestartMs / 1000, 1)} s after the last restart`,
    );
  }

  // In each chat, processing follows the order of storing.
  const { rows: order } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (
       SELECT processed_at < lag(processed_at) OVER (PARTITION BY external_chat_id ORDER BY sequence) AS back
       FROM inbound_events WHERE account = $1) AS x
     WHERE back`,
    [BOT],
  );
  if (order[0]!.n) problems.push(`${order[0]!.n} events processed before an earlier one of their chat`);

  const { rows: recovered } = await client.query<{ workers: number; jobs: number; released: number }>(
    `SELECT count(DISTINCT worker_id)::int AS workers, count(*)::int AS jobs,
            count(*) FILTER (WHERE outcome = 'RELEASED')::int AS released FROM job_recoveries`,
  );
  const { rows: queue } = await client.query<{ jobs: number; failed: number }>(
    `SELECT count(*)::int AS jobs, count(*) FILTER (WHERE attempts >= max_attempts AND locked_at IS NULL)::int AS failed
     FROM graphile_worker.jobs WHERE task_identifier = 'chat-inbound'`,
  );
  if (queue[0]!.jobs) problems.push(`${queue[0]!.jobs} drain jobs left (${queue[0]!.failed} failed)`);
  return {
    problems,
    stored: stored.length,
    processed: processed?.n ?? 0,
    lastProcessedAfterRestartMs,
    notes: [
      `${acknowledged.size} updates acknowledged, ${stored.length} stored (${twice.length} twice, ${missing.length} acknowledged but missing), ${processed?.n ?? 0} processed; the last ${fmt(lastProcessedAfterRestartMs / 1000, 1)} s after the last restart.`,
      `recovered: ${recovered[0]!.jobs} jobs of ${recovered[0]!.workers} dead workers (${recovered[0]!.released} released to run again, the rest superseded or failed); drain jobs left: ${queue[0]!.jobs}.`,
    ],
  };
}

/**
 * Per kill, in order, from the recovering processes' log lines (one per dead worker, also for
 * one that held nothing): the jobs it held, by outcome, and seconds from the kill to their release.
 */
function recoveryTimes(lines: string[], kills: Kill[]) {
  const recoveries = lines.flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { time: string | number; msg: string; jobs?: { outcome: string }[] };
      return entry.msg.includes(RECOVERY_MESSAGE) ? [entry] : [];
    } catch {
      return [];
    }
  });
  return {
    perKill: recoveries.map((r) => {
      const jobs = r.jobs ?? [];
      const superseded = jobs.filter((j) => j.outcome === 'SUPERSEDED').length;
      return `${jobs.length} (${jobs.length - superseded} released, ${superseded} superseded)`;
    }),
    afterKillSeconds: recoveries.map((r, i) =>
      kills[i] ? (new Date(r.time).getTime() - kills[i]!.killedAt) / 1000 : Number.NaN,
    ),
  };
}
