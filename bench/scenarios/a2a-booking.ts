/**
 * A guest's booking through the agent network, end to end: `createBooking` over GraphQL at a venue
 * whose business agent is ACTIVE with the default DNA (accept what fits the rules), until the
 * booking is CONFIRMED by that agent. Measured per booking: **request sent → the CONFIRMED
 * transition committed**, p50/p99; bookings confirmed per second; SQL statements per booking.
 *
 * **The path.** createBooking writes the booking REQUESTED and, in the same transaction, the
 * `booking.request` envelope (consumer → venue) with its `a2a-send` job. The worker signs and posts
 * it to the embedded gateway (in-process, `CLAWPULSE_GATEWAY` unset) and wakes the venue agent's
 * inbox; the `a2a-inbox` job reads it, verifies the envelope and queues `a2a-handle`, whose
 * transaction decides the request, moves the booking to CONFIRMED and queues `booking.accepted`
 * (venue → consumer); that is sent the same way and the consumer agent's inbox reads and handles
 * it. Everything runs in **one AGNT process in the `all` role** (API and worker, as one-machine
 * installs run it), the worker at its defaults (concurrency 5, poll interval 1 s; new jobs start
 * at once through LISTEN/NOTIFY, the poll only serves jobs due later).
 *
 * **The commit time.** The server publishes each booking change to Redis once its transaction has
 * committed, with `at` (its clock, milliseconds): the venue agent's CONFIRMED is published after
 * the handling transaction commits. The bench listens on the venues' booking channels, as
 * `subscription-fanout` does, and takes request → CONFIRMED as `at` − the moment it sent the
 * request, both on the machine's one clock. Listening costs the server nothing (it publishes
 * anyway), where a GraphQL subscription would add its own work to the measured process, and
 * `booking_transitions.created_at` is the transaction's time, not its commit, and could only be
 * read afterwards. The transitions are read afterwards all the same, for the cross-check.
 *
 * **The load.** `--a2a-concurrency` (10) bookings in flight: each of that many loops sends a
 * createBooking, waits for that booking's CONFIRMED, then sends the next (a closed loop on the
 * whole path, so the queue cannot grow without bound and latency means the same whatever the
 * rate). Each request is from the next of 10 × concurrency guests in turn (each a signed-in person
 * with a consumer agent), at the next start time of 60 days' slots, party of two. Two variants,
 * each `--warmup` seconds then `--duration` seconds: every booking at **one venue**, and spread
 * over **`--a2a-venues` (50) venues** in turn. The guest caps (2 waiting per venue, 5 in all) and
 * the booking rate limits are set out of reach in the server's environment (lib/agnt.ts, as for
 * `booking-create`); with one booking per guest in flight they would not refuse anything anyway.
 *
 * **SQL per booking.** `db_queries_total` (Prisma's statements) read before a variant's
 * measurement and again once every booking of it is CONFIRMED and its `booking.accepted` handled
 * by the consumer agent, over the bookings measured. It therefore includes the background of an
 * idle `all` process in that window (venue inboxes re-read every `A2A_INBOX_POLL_SECONDS`, the
 * consumer inbox polls, schedules; its rate is measured alone and noted) and not graphile-worker's
 * own statements (taking and completing jobs), which go through its pg pool. Reading `/metrics`
 * itself runs statements (the gateway's and the outboxes' backlog gauges); `StatementCounter` takes
 * them out, and checks on the idle server that they are what it takes out. The same reads give the
 * worker's job attempts per booking, by task (`jobs_total`), and their mean time. Before the load,
 * three bookings one at a time on the idle server give the statements of one booking alone, split
 * at createBooking's answer.
 *
 * **Mail.** A confirmed booking tells its guest by email (the `notice-email` job): the server's
 * `SMTP_URL` is a loopback relay in the bench process (test/fakes/smtp.ts) that takes every
 * message, so those jobs succeed as they would with a real relay, instead of failing and retrying.
 *
 * **Cross-check** (fails the run): every booking made (warm-up and measurement) ends CONFIRMED,
 * with exactly one CONFIRMED transition, one `booking.accepted` envelope sent by the venue and one
 * received by the guest's agent, and one CONFIRMED event on Redis.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeGlobalID } from '@pothos/plugin-relay';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import { parseKeyring } from '../../src/domain/agents/secrets.ts';
import { type BookingChangedPayload, bookingTopics } from '../../src/domain/bookings/live-events.ts';
import { issueAccessToken } from '../../src/domain/identity/access-tokens.ts';
import { type FakeSmtp, startFakeSmtp } from '../../test/fakes/smtp.ts';
import {
  AGNT_METRICS_PATH,
  type AgntParams,
  benchRedisUrl,
  type PreparedAgnt,
  prepareAgnt,
  serveAgnt,
} from '../lib/agnt.ts';
import { measureCpu } from '../lib/machine.ts';
import { counterValue, readStatements, SCRAPE_STATEMENTS, SQL_STATEMENTS_METRIC } from '../lib/metrics.ts';
import { backendCpu, cpuBetween } from '../lib/postgres-cpu.ts';
import { type CustomRun, defineCustomScenario, type StartedServer } from '../lib/scenario.ts';
import { serverLoad } from '../lib/server.ts';
import { fmt, type Summary, summarize } from '../lib/stats.ts';
import { type BenchVenue, createBookableVenue, startTimes } from '../lib/venue.ts';

const MUTATION = `mutation BenchA2aBooking($input: CreateBookingInput!) {
  createBooking(input: $input) { __typename ... on BookingPayload { booking { id status } } ... on Error { message } }
}`;

/** Guests per booking in flight: each guest's last booking is long decided when its turn comes again. */
const GUESTS_PER_SLOT = 10;
/** Every wait is bounded. */
const REQUEST_TIMEOUT_MS = 30_000;
/** A booking not CONFIRMED this long after its request counts as a failure (its loop moves on). */
const CONFIRM_TIMEOUT_MS = 60_000;
/** Agents registered with the gateway within this (plus 100 ms per agent) of the server's start. */
const REGISTRATION_TIMEOUT_MS = 60_000;
/** After a variant's load: its answers handled by the guests' agents within this. */
const SETTLE_TIMEOUT_MS = 60_000;
const POLL_MS = 100;
/** Seconds of no load in which the idle process's own statements are counted. */
const IDLE_SECONDS = 5;

/** Single bookings measured alone on the idle server, for the SQL of one booking. */
const ALONE = 3;

interface Variant {
  name: string;
  venues: BenchVenue[];
}

interface Booking {
  id: string;
  venue: string;
  /** Bench clock (epoch ms): request sent, createBooking answered. */
  sentAtMs: number;
  answeredAtMs: number;
  /** The CONFIRMED commit time, from Redis; undefined when it never came. */
  confirmedAtMs?: number;
}

interface PhaseResult {
  variant: string;
  venues: number;
  bookings: number;
  /** Bookings whose CONFIRMED committed within the measured `durationSeconds`. */
  confirmedInWindow: number;
  perSecond: number;
  /** Request sent → CONFIRMED committed. */
  latency: Summary;
  /** createBooking's own round trip (the answer says REQUESTED). */
  create: Summary;
  /** Bookings not confirmed within CONFIRM_TIMEOUT_MS, and requests that did not make a booking. */
  unconfirmed: number;
  refused: number;
  statementsPerBooking: number | null;
  /** Seconds from the end of the load until every answer was handled by the guest's agent. */
  settleSeconds: number;
  /** The worker's job attempts per booking, by task, over the same window as the statements. */
  jobs: JobsPerBooking[];
  /** CPU time of the server process, and of the run database's PostgreSQL backends, per booking confirmed in the window. */
  serverMsPerBooking: number | null;
  postgresMsPerBooking: number | null;
  serverCpuCores: number | null;
  serverLoopPercent: number;
  benchCpuCores: number;
  restCpuCores: number;
}

export default defineCustomScenario<AgntParams>(import.meta.url, {
  name: 'a2a-booking',
  description:
    "createBooking → CONFIRMED by the venue's agent through the embedded gateway, all role; one venue and N venues",
  serve: serveAgnt,
  async measure(run) {
    const agnt = await prepareAgnt();
    let server: StartedServer | undefined;
    let smtp: FakeSmtp | undefined;
    // The run database's PostgreSQL backends, for their CPU (lib/postgres-cpu.ts).
    const postgres = new pg.Client({ connectionString: agnt.params.env.DATABASE_URL });
    const redis = new Redis(benchRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
    const { a2aConcurrency: concurrency, a2aVenues } = run.options;
    try {
      const { prisma } = agnt.database;
      await postgres.connect();
      // First the server: its worker installs graphile-worker's schema, which seeding's jobs need.
      run.progress('starting the server in the all role (API and worker, embedded gateway)');
      // Guests are told of their confirmed booking by email: a loopback relay takes the mail.
      smtp = await startFakeSmtp();
      server = await run.start({ env: { ...agnt.params.env, SMTP_URL: smtp.url }, role: 'all' });
      await waitForJobSchema(agnt);
      const keyring = parseKeyring(agnt.params.env.AGENT_SECRET_KEYS!);
      const tag = randomBytes(3).toString('hex');
      run.progress(
        `seeding ${1 + a2aVenues} venues with active agents and ${concurrency * GUESTS_PER_SLOT} guests`,
      );
      const organization = await prisma.organization.create({ data: { name: 'Bench Network Group' } });
      const venue = (i: number, name: string) =>
        createBookableVenue(prisma, organization.id, name, `bench-a2a-${tag}-${i}`, { agent: keyring });
      const one = await venue(0, 'Bench Busy Tasca');
      const spread: BenchVenue[] = [];
      for (let i = 1; i <= a2aVenues; i += 1) spread.push(await venue(i, `Bench Tasca ${i}`));
      const guests = await seedGuests(agnt, keyring, concurrency * GUESTS_PER_SLOT, tag);

      // Every CONFIRMED the venues publish, with its commit time.
      const confirmations = new Map<string, number[]>();
      const waiters = new Map<string, () => void>();
      await redis.connect();
      redis.on('pmessage', (_pattern: string, _channel: string, message: string) => {
        const payload = JSON.parse(message) as BookingChangedPayload;
        if (payload.status !== 'CONFIRMED') return;
        const times = confirmations.get(payload.bookingId) ?? [];
        times.push(Date.parse(payload.at));
        confirmations.set(payload.bookingId, times);
        waiters.get(payload.bookingId)?.();
      });
      const prefix = agnt.params.env.REDIS_KEY_PREFIX!;
      await redis.psubscribe(`${prefix}ps:${bookingTopics.venue('*')}`);

      await waitForRegistrations(run, agnt, 1 + a2aVenues + guests.length);

      const times = startTimes(2, 61);
      let sequence = 0;
      const made: Booking[] = [];
      /** Books at `venues` in turn with `concurrency` loops until `untilMs`; the bookings made. */
      const load = async (
        venues: BenchVenue[],
        untilMs: number,
      ): Promise<{ bookings: Booking[]; refused: number }> => {
        const bookings: Booking[] = [];
        let refused = 0;
        const loop = async () => {
          while (performance.now() < untilMs && !run.signal.aborted) {
            const n = sequence;
            sequence += 1;
            const booked = await book(server!, {
              authorization: guests[n % guests.length]!,
              venue: venues[n % venues.length]!,
              startsAt: times[n % times.length]!,
            }).catch((error: unknown) => {
              refused += 1;
              if (refused === 1) run.progress(`a createBooking failed: ${(error as Error).message}`);
              return null;
            });
            if (!booked) continue;
            bookings.push(booked);
            made.push(booked);
            await confirmed(booked, confirmations, waiters);
            // Counted (unconfirmed); but with no request to the venue's agent at all, nothing will be.
            if (booked.confirmedAtMs === undefined) await requireAsked(agnt, booked);
          }
        };
        await Promise.all(Array.from({ length: concurrency }, loop));
        return { bookings, refused };
      };

      const counter = new StatementCounter(server);
      const scrapeCheck = await counter.check();
      const alone: AloneBooking[] = [];
      for (let i = 0; i < ALONE && !run.signal.aborted; i += 1) {
        const n = sequence;
        sequence += 1;
        run.progress(`one booking alone (${i + 1} of ${ALONE}), for its statements`);
        const start = await counter.read();
        const booked = await book(server, {
          authorization: guests[n % guests.length]!,
          venue: one,
          startsAt: times[n % times.length]!,
        });
        made.push(booked);
        const created = await counter.read();
        await requireAsked(agnt, booked);
        await confirmed(booked, confirmations, waiters);
        await settle(agnt, [booked]);
        const end = await counter.read();
        alone.push({
          create: created - start,
          rest: end - created,
          latencyMs: booked.confirmedAtMs === undefined ? null : booked.confirmedAtMs - booked.sentAtMs,
        });
      }
      const idle = await idleStatements(run, counter);
      /** When the last of `bookings`' follow-up jobs within the envelope TTL is due (epoch ms). */
      const dueBy = (bookings: Booking[]) =>
        Math.max(0, ...bookings.map((b) => b.sentAtMs)) + agnt.config.network.envelopeTtlMs + 1_000;
      const variants: Variant[] = [
        { name: 'one venue', venues: [one] },
        { name: `${a2aVenues} venues`, venues: spread },
      ];
      const phases: PhaseResult[] = [];
      for (const variant of variants) {
        if (run.signal.aborted) break;
        if (run.options.warmupSeconds > 0) {
          run.progress(`${variant.name}: warming up for ${run.options.warmupSeconds} s`);
          const warm = await load(variant.venues, performance.now() + run.options.warmupSeconds * 1000);
          await settle(agnt, warm.bookings, dueBy(warm.bookings));
        }
        run.progress(
          `${variant.name}: measuring for ${run.options.durationSeconds} s at ${concurrency} in flight`,
        );
        const before = await counter.read();
        const jobsBefore = counter.jobs;
        const sampleBefore = await server.sample();
        const postgresBefore = await backendCpu(postgres);
        const cpu = measureCpu();
        const started = performance.now();
        const windowEnd = started + run.options.durationSeconds * 1000;
        const measured = load(variant.venues, windowEnd);
        await sleep(Math.max(0, windowEnd - performance.now()), undefined, { signal: run.signal }).catch(
          () => {},
        );
        const window = cpu.stop();
        const sampleAfter = await server.sample();
        const postgresMs = cpuBetween(postgresBefore, await backendCpu(postgres));
        const { bookings, refused } = await measured;
        const settleSeconds = await settle(agnt, bookings, dueBy(bookings));
        const after = await counter.read();
        const jobs = jobsPerBooking(jobsBefore, counter.jobs, bookings.length);
        const load_ = serverLoad(sampleBefore, sampleAfter);
        const startedAtMs = performance.timeOrigin + started;
        const endAtMs = performance.timeOrigin + windowEnd;
        const statements = after - before;
        const confirmedInWindow = bookings.filter(
          (b) =>
            b.confirmedAtMs !== undefined && b.confirmedAtMs >= startedAtMs && b.confirmedAtMs <= endAtMs,
        ).length;
        phases.push({
          variant: variant.name,
          venues: variant.venues.length,
          bookings: bookings.length,
          confirmedInWindow,
          perSecond: confirmedInWindow / run.options.durationSeconds,
          latency: summarize(
            bookings.flatMap((b) => (b.confirmedAtMs === undefined ? [] : [b.confirmedAtMs - b.sentAtMs])),
          ),
          create: summarize(bookings.map((b) => b.answeredAtMs - b.sentAtMs)),
          unconfirmed: bookings.filter((b) => b.confirmedAtMs === undefined).length,
          refused,
          statementsPerBooking: bookings.length ? statements / bookings.length : null,
          settleSeconds,
          jobs,
          serverMsPerBooking:
            load_.cpuCores === null || !confirmedInWindow
              ? null
              : (load_.cpuCores * run.options.durationSeconds * 1000) / confirmedInWindow,
          postgresMsPerBooking:
            postgresMs === null || !confirmedInWindow ? null : postgresMs / confirmedInWindow,
          serverCpuCores: load_.cpuCores,
          serverLoopPercent: load_.loopUtilization * 100,
          benchCpuCores: window.benchCores,
          restCpuCores: Math.max(0, window.machineCores - window.benchCores - (load_.cpuCores ?? 0)),
        });
        run.progress(
          `  ${fmt(phases.at(-1)!.perSecond, 1)} bookings/s, request → CONFIRMED p50 ${fmt(phases.at(-1)!.latency.p50, 0)} ms`,
        );
      }
      const check = await crossCheck(agnt, made, confirmations);
      return result(phases, { concurrency, guests: guests.length, idle, alone, scrapeCheck, check });
    } finally {
      redis.disconnect();
      await postgres.end().catch(() => {});
      if (server) await server.stop();
      await smtp?.close();
      await agnt.cleanup();
    }
  },
});

/** `count` signed-in people, each with a consumer agent (which queues its registration), as `authorization` headers. */
async function seedGuests(
  agnt: PreparedAgnt,
  keyring: ReturnType<typeof parseKeyring>,
  count: number,
  tag: string,
): Promise<string[]> {
  const { prisma } = agnt.database;
  const users = await prisma.user.createManyAndReturn({
    data: Array.from({ length: count }, (_, i) => ({
      email: `bench-a2a-guest-${tag}-${i}@example.test`,
      displayName: `Guest ${i}`,
    })),
    select: { id: true },
  });
  const headers: string[] = [];
  for (const user of users) {
    await ensureConsumerAgent(prisma, keyring, user.id);
    const { token } = await issueAccessToken(agnt.keys, { userId: user.id, auth: agnt.config.auth });
    headers.push(`Bearer ${token}`);
  }
  return headers;
}

/**
 * Throws when createBooking queued no `booking.request` envelope for the booking (it is written in
 * the booking's own transaction): then no venue agent is asked, and the booking stays REQUESTED.
 */
async function requireAsked(agnt: PreparedAgnt, booking: Booking) {
  const asked = await agnt.database.prisma.a2aEnvelope.count({
    where: { bookingId: booking.id, intent: 'booking.request', direction: 'OUTBOUND' },
  });
  if (!asked) {
    throw new Error(
      `createBooking queued no booking.request envelope for booking ${booking.id}: this build does not ` +
        "ask the venue's agent (a guest's booking at a venue with an ACTIVE agent should), so nothing can be measured",
    );
  }
}

/** Waits until the worker has installed graphile-worker's schema (it does as it starts). */
async function waitForJobSchema(agnt: PreparedAgnt) {
  const deadline = performance.now() + REGISTRATION_TIMEOUT_MS;
  for (;;) {
    const [row] = await agnt.database.prisma.$queryRaw<{ ready: boolean }[]>`
      SELECT to_regclass('graphile_worker._private_jobs') IS NOT NULL AS ready`;
    if (row?.ready) return;
    if (performance.now() > deadline)
      throw new Error("the worker did not install graphile-worker's schema in time");
    await sleep(POLL_MS);
  }
}

/** Waits until the worker has registered every agent with the embedded gateway. */
async function waitForRegistrations(run: CustomRun<AgntParams>, agnt: PreparedAgnt, agents: number) {
  run.progress(`waiting for the worker to register ${agents} agents with the gateway`);
  const deadline = performance.now() + REGISTRATION_TIMEOUT_MS + agents * 100;
  for (;;) {
    const [row] = await agnt.database.prisma.$queryRaw<{ registered: number }[]>`
      SELECT count(*)::int AS registered FROM agents
      WHERE kind IN ('VENUE', 'CONSUMER') AND registered_at IS NOT NULL`;
    if ((row?.registered ?? 0) >= agents || run.signal.aborted) return;
    if (performance.now() > deadline) {
      throw new Error(
        `only ${row?.registered ?? 0} of ${agents} agents were registered with the gateway in time`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** The idle process's own statements per second (no load, `IDLE_SECONDS`). */
async function idleStatements(run: CustomRun<AgntParams>, counter: StatementCounter): Promise<number> {
  run.progress(`counting the idle process's own statements for ${IDLE_SECONDS} s`);
  const before = await counter.read();
  await sleep(IDLE_SECONDS * 1000, undefined, { signal: run.signal }).catch(() => {});
  return ((await counter.read()) - before) / IDLE_SECONDS;
}

interface AloneBooking {
  /** Statements from the request until createBooking answered, and from then until the answer was handled. */
  create: number;
  rest: number;
  latencyMs: number | null;
}

/**
 * The server's statement count net of the bench's own reads of `/metrics` (lib/metrics.ts), and
 * with each read, the worker's job attempts by task.
 */
class StatementCounter {
  /** The worker's job attempts by task at the last read (`jobs_total`, `job_duration_seconds_sum`). */
  jobs: JobCounts = new Map();
  private readonly origin: string;
  constructor(server: StartedServer) {
    this.origin = server.origin;
  }

  async read(): Promise<number> {
    return (await this.reading()).statements;
  }

  /**
   * On the idle server, what reads of `/metrics` cost, to compare with what lib/metrics.ts takes
   * out: two reads back to back (the second's raw count less the first's: the gateway's gauges
   * alone), then one past the backlog's cache (both). The idle process's own statements in those
   * few seconds, if any, add to them.
   */
  async check(): Promise<{ everyRead: number; withBacklog: number }> {
    const raw = async () => counterValue((await this.reading()).exposition, SQL_STATEMENTS_METRIC);
    await this.reading();
    const a = await raw();
    const b = await raw();
    await sleep(SCRAPE_STATEMENTS.backlogCacheMs + 500);
    const c = await raw();
    return { everyRead: b - a, withBacklog: c - b };
  }

  private async reading() {
    const reading = await readStatements(this.origin, AGNT_METRICS_PATH);
    this.jobs = jobCounts(reading.exposition);
    return reading;
  }
}

/** Job attempts by task: how many succeeded, how many failed, seconds spent in all. */
type JobCounts = Map<string, { success: number; failed: number; seconds: number }>;

function jobCounts(exposition: string): JobCounts {
  const counts: JobCounts = new Map();
  const entry = (task: string) => {
    const found = counts.get(task);
    if (found) return found;
    const made = { success: 0, failed: 0, seconds: 0 };
    counts.set(task, made);
    return made;
  };
  for (const line of exposition.split('\n')) {
    const match = /^(jobs_total|job_duration_seconds_sum)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match) continue;
    const task = /task="([^"]*)"/.exec(match[2]!)?.[1];
    const outcome = /outcome="([^"]*)"/.exec(match[2]!)?.[1];
    if (!task) continue;
    const value = Number(match[3]);
    if (match[1] === 'job_duration_seconds_sum') entry(task).seconds += value;
    else if (outcome === 'success') entry(task).success += value;
    else entry(task).failed += value;
  }
  return counts;
}

/** Job attempts between two readings, per booking, by task (most first). */
function jobsPerBooking(before: JobCounts, after: JobCounts, bookings: number): JobsPerBooking[] {
  return (
    [...after]
      .map(([task, a]) => {
        const b = before.get(task) ?? { success: 0, failed: 0, seconds: 0 };
        const attempts = a.success - b.success + a.failed - b.failed;
        return {
          task,
          perBooking: bookings ? attempts / bookings : 0,
          failed: a.failed - b.failed,
          msPerAttempt: attempts ? ((a.seconds - b.seconds) * 1000) / attempts : 0,
        };
      })
      // Schedules that happened to run in the window (once in minutes) are not the booking's.
      .filter((j) => j.perBooking >= 0.005)
      .sort((x, y) => y.perBooking - x.perBooking)
  );
}

interface JobsPerBooking {
  task: string;
  perBooking: number;
  /** Attempts that failed (retried or given up): none is expected. */
  failed: number;
  /** Mean time of an attempt, milliseconds. */
  msPerAttempt: number;
}

async function book(
  server: StartedServer,
  request: { authorization: string; venue: BenchVenue; startsAt: string },
): Promise<Booking> {
  const sentAtMs = performance.timeOrigin + performance.now();
  const response = await fetch(new URL('/graphql', server.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: request.authorization },
    body: JSON.stringify({
      query: MUTATION,
      variables: {
        input: {
          venueId: request.venue.gid,
          startsAt: request.startsAt,
          partySize: 2,
          clientKey: `a2a-${randomBytes(8).toString('hex')}`,
        },
      },
    }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const body = (await response.json()) as {
    data?: {
      createBooking?: { __typename: string; booking?: { id: string; status: string }; message?: string };
    };
  };
  const answeredAtMs = performance.timeOrigin + performance.now();
  const result = body.data?.createBooking;
  if (response.status !== 200 || result?.__typename !== 'BookingPayload' || !result.booking) {
    throw new Error(`createBooking: ${response.status} ${JSON.stringify(body).slice(0, 300)}`);
  }
  return { id: decodeGlobalID(result.booking.id).id, venue: request.venue.id, sentAtMs, answeredAtMs };
}

/** Resolves once the booking's CONFIRMED was heard (perhaps before its createBooking answered), or after CONFIRM_TIMEOUT_MS. */
async function confirmed(
  booking: Booking,
  confirmations: Map<string, number[]>,
  waiters: Map<string, () => void>,
): Promise<void> {
  const heard = () => confirmations.get(booking.id)?.[0];
  if (heard() === undefined) {
    const controller = new AbortController();
    await new Promise<void>((resolve) => {
      waiters.set(booking.id, resolve);
      sleep(CONFIRM_TIMEOUT_MS, undefined, { signal: controller.signal }).then(resolve, () => {});
    });
    controller.abort();
    waiters.delete(booking.id);
  }
  booking.confirmedAtMs = heard();
}

/**
 * Waits until the guest's agent has handled the venue's `booking.accepted` for each of `bookings`
 * (the end of the path). With `jobsDueBy` (epoch ms), also until every job due by then has run:
 * the work a booking schedules for later within that horizon (the check that its request was
 * answered, `A2A_ENVELOPE_TTL_MS` after it), so that the SQL window holds all of it. Jobs due
 * later (reminders, the no-show check, completion, feedback: hours or days ahead) are not run.
 */
async function settle(agnt: PreparedAgnt, bookings: Booking[], jobsDueBy?: number): Promise<number> {
  const started = performance.now();
  if (!bookings.length) return 0;
  const ids = bookings.map((b) => b.id);
  const { prisma } = agnt.database;
  let deadline = performance.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const [row] = await prisma.$queryRaw<{ handled: number }[]>`
      SELECT count(DISTINCT payload->>'bookingId')::int AS handled FROM a2a_envelopes
      WHERE direction = 'INBOUND' AND intent = 'booking.accepted' AND state <> 'REJECTED'
        AND handled_at IS NOT NULL AND payload->>'bookingId' = ANY(${ids})`;
    if ((row?.handled ?? 0) >= ids.length || performance.now() > deadline) break;
    await sleep(POLL_MS);
  }
  const handledSeconds = (performance.now() - started) / 1000;
  if (jobsDueBy === undefined) return handledSeconds;
  const dueBy = new Date(jobsDueBy);
  await sleep(Math.max(0, jobsDueBy - Date.now()));
  deadline = performance.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    // Jobs given up on (attempts spent) stay in the table; they are not waited for.
    const [row] = await prisma.$queryRaw<{ due: number }[]>`
      SELECT count(*)::int AS due FROM graphile_worker._private_jobs
      WHERE run_at <= ${dueBy} AND attempts < max_attempts`;
    if ((row?.due ?? 0) === 0 || performance.now() > deadline) return handledSeconds;
    await sleep(POLL_MS);
  }
}

interface CheckResult {
  bookings: number;
  /** Bookings that are not CONFIRMED with exactly one of each below. */
  wrong: number;
  notConfirmed: number;
  transitionsNotOne: number;
  sentNotOne: number;
  receivedNotOne: number;
  eventsNotOne: number;
  firstProblem: string | null;
}

/** Every booking made: CONFIRMED, one CONFIRMED transition, one booking.accepted each way, one event. */
async function crossCheck(
  agnt: PreparedAgnt,
  bookings: Booking[],
  confirmations: Map<string, number[]>,
): Promise<CheckResult> {
  const ids = bookings.map((b) => b.id);
  const rows = ids.length
    ? await agnt.database.prisma.$queryRaw<
        { id: string; status: string; transitions: number; sent: number; received: number }[]
      >`
        SELECT b.id::text AS id, b.status::text AS status,
          (SELECT count(*)::int FROM booking_transitions t
            WHERE t.booking_id = b.id AND t.to_status = 'CONFIRMED') AS transitions,
          (SELECT count(DISTINCT e.envelope_id)::int FROM a2a_envelopes e
            WHERE e.direction = 'OUTBOUND' AND e.intent = 'booking.accepted' AND e.state <> 'REJECTED'
              AND e.payload->>'bookingId' = b.id::text) AS sent,
          (SELECT count(*)::int FROM a2a_envelopes e
            WHERE e.direction = 'INBOUND' AND e.intent = 'booking.accepted' AND e.state <> 'REJECTED'
              AND e.payload->>'bookingId' = b.id::text) AS received
        FROM bookings b WHERE b.id = ANY(${ids}::uuid[])`
    : [];
  const check: CheckResult = {
    bookings: ids.length,
    wrong: 0,
    notConfirmed: ids.length - rows.length,
    transitionsNotOne: 0,
    sentNotOne: 0,
    receivedNotOne: 0,
    eventsNotOne: 0,
    firstProblem:
      ids.length > rows.length ? `${ids.length - rows.length} bookings not in the database` : null,
  };
  for (const row of rows) {
    const events = confirmations.get(row.id)?.length ?? 0;
    const problems = [
      row.status !== 'CONFIRMED' ? `status ${row.status}` : null,
      row.transitions !== 1 ? `${row.transitions} CONFIRMED transitions` : null,
      row.sent !== 1 ? `${row.sent} booking.accepted sent` : null,
      row.received !== 1 ? `${row.received} booking.accepted received` : null,
      events !== 1 ? `${events} CONFIRMED events` : null,
    ].filter(Boolean);
    if (row.status !== 'CONFIRMED') check.notConfirmed += 1;
    if (row.transitions !== 1) check.transitionsNotOne += 1;
    if (row.sent !== 1) check.sentNotOne += 1;
    if (row.received !== 1) check.receivedNotOne += 1;
    if (events !== 1) check.eventsNotOne += 1;
    if (problems.length) {
      check.wrong += 1;
      check.firstProblem ??= `booking ${row.id}: ${problems.join(', ')}`;
    }
  }
  check.wrong += ids.length - rows.length;
  return check;
}

function result(
  phases: PhaseResult[],
  context: {
    concurrency: number;
    guests: number;
    idle: number;
    alone: AloneBooking[];
    scrapeCheck: { everyRead: number; withBacklog: number };
    check: CheckResult;
  },
) {
  const { alone, scrapeCheck } = context;
  const range = (values: number[]) =>
    values.length ? `${Math.min(...values)}–${Math.max(...values)}`.replace(/^(\d+)–\1$/, '$1') : '–';
  const { check } = context;
  const failures = check.wrong + phases.reduce((sum, p) => sum + p.refused + p.unconfirmed, 0);
  return {
    header: [
      'variant',
      'bookings',
      'confirmed/s',
      'p50 ms',
      'p99 ms',
      'max ms',
      'create p50/p99 ms',
      'SQL/booking',
      'jobs/booking',
      'settle s',
      'server ms/booking',
      'PG ms/booking',
      'server CPU',
      'server loop %',
      'bench CPU',
      'rest CPU',
      'failures',
    ],
    rows: phases.map((p) => [
      p.variant,
      String(p.bookings),
      fmt(p.perSecond, 1),
      fmt(p.latency.p50, 0),
      fmt(p.latency.p99, 0),
      fmt(p.latency.max, 0),
      `${fmt(p.create.p50, 0)} / ${fmt(p.create.p99, 0)}`,
      p.statementsPerBooking === null ? '–' : fmt(p.statementsPerBooking, 1),
      fmt(
        p.jobs.reduce((sum, j) => sum + j.perBooking, 0),
        2,
      ),
      fmt(p.settleSeconds, 1),
      p.serverMsPerBooking === null ? '–' : fmt(p.serverMsPerBooking, 1),
      p.postgresMsPerBooking === null ? '–' : fmt(p.postgresMsPerBooking, 1),
      p.serverCpuCores === null ? 'n/a' : fmt(p.serverCpuCores, 2),
      fmt(p.serverLoopPercent, 0),
      fmt(p.benchCpuCores, 2),
      fmt(p.restCpuCores, 2),
      String(p.refused + p.unconfirmed),
    ]),
    notes: [
      `One AGNT process in the all role (API + worker at its defaults), embedded gateway; ${context.concurrency} bookings ` +
        `in flight, each loop waiting for its booking's CONFIRMED before the next, from ${context.guests} guests in turn. ` +
        'p50/p99/max: request sent → the CONFIRMED commit the server published to Redis. confirmed/s: bookings whose ' +
        'CONFIRMED committed within the measured window, per second. create: the createBooking round trip (REQUESTED). ' +
        "SQL/booking: Prisma's statements from the window's start until every booking of it was CONFIRMED, its " +
        "booking.accepted handled by the guest's agent (settle s after the load) and every job due within the envelope " +
        "TTL of its last request had run (the answer-due checks), over the bookings; graphile-worker's own statements " +
        `are not counted; the idle process sends ${fmt(context.idle, 1)} statements/s of its own, included. ` +
        'jobs/booking: job attempts in the same window. ' +
        'CPU in cores over the measured window: server = the AGNT process, bench = this one, rest = PostgreSQL, Redis, ' +
        'anything else. server / PG ms/booking: CPU time of the AGNT process and of the run database\u2019s PostgreSQL ' +
        'backends (from /proc) in the window, per booking confirmed in it: steadier than the rates on a shared machine.',
      ...phases.map(
        (p) =>
          `Jobs per booking, ${p.variant} (mean ms per attempt): ` +
          p.jobs
            .map(
              (j) =>
                `${j.task} ${fmt(j.perBooking, 2)} (${fmt(j.msPerAttempt, 1)} ms)` +
                (j.failed ? `, ${j.failed} failed attempts` : ''),
            )
            .join(', ') +
          '.',
      ),
      `One booking alone on the idle server (${alone.length} in turn): ${range(alone.map((a) => a.create + a.rest))} ` +
        `statements, ${range(alone.map((a) => a.create))} of them until createBooking answered and ` +
        `${range(alone.map((a) => a.rest))} after (sending, the venue's inbox and decision, the answer, the guest's ` +
        `inbox); request → CONFIRMED ${range(alone.flatMap((a) => (a.latencyMs === null ? [] : [Math.round(a.latencyMs)])))} ms.`,
      scrapeCheck.everyRead === SCRAPE_STATEMENTS.everyRead &&
      scrapeCheck.withBacklog === SCRAPE_STATEMENTS.everyRead + SCRAPE_STATEMENTS.backlog
        ? `Reading /metrics ran ${scrapeCheck.everyRead} statement (${scrapeCheck.withBacklog} with the outboxes' backlog), as taken out.`
        : `Reading /metrics ran ${scrapeCheck.everyRead} statement(s) (${scrapeCheck.withBacklog} with the outboxes' ` +
          `backlog) where ${SCRAPE_STATEMENTS.everyRead} (${SCRAPE_STATEMENTS.everyRead + SCRAPE_STATEMENTS.backlog}) ` +
          'are taken out: the idle process sent statements meanwhile, or the scrape changed (lib/metrics.ts).',
      check.wrong === 0
        ? `Cross-check: all ${check.bookings} bookings made (warm-up and measurement) are CONFIRMED, each with one ` +
          'CONFIRMED transition, one booking.accepted sent by the venue and received by the guest\u2019s agent, one CONFIRMED event.'
        : `Cross-check FAILED for ${check.wrong} of ${check.bookings} bookings: ${check.notConfirmed} not CONFIRMED, ` +
          `${check.transitionsNotOne} without exactly one CONFIRMED transition, ${check.sentNotOne} / ${check.receivedNotOne} ` +
          `without exactly one booking.accepted sent / received, ${check.eventsNotOne} without exactly one CONFIRMED event ` +
          `(first: ${check.firstProblem}).`,
    ],
    failures,
    data: { ...context, phases },
  };
}
