/**
 * Live updates under fan-out: `--subscribers` (default 1,000) venue staff, each on a graphql-ws
 * connection of their own, split evenly over two API processes, all subscribed to
 * `bookingChanged(venueId)` of one venue; a guest books tables there through the API, alternately
 * on each process. Measured per delivery: the time from the change's commit to its arrival at the
 * subscriber, p50 and p99, and the share of deliveries that arrived at all (it must be 100 %).
 *
 * **Commit time.** The server publishes each change to Redis after its transaction committed,
 * with the commit time (`at`, the server's clock, in milliseconds). The bench listens on the same
 * Redis channel and reads `at` from there, so latency = arrival − `at`, on the machine's one
 * clock. The subscription's answer is a `Booking`, whose `updatedAt` is set when the booking row
 * is written, a few milliseconds before the commit; arrival − `updatedAt` is reported too.
 *
 * **Subscribers.** The 1,000 clients run on a worker thread of the bench process
 * (lib/ws-subscribers.ts), so that the main thread, which makes the changes and hears Redis,
 * does not delay their timestamps, nor they its. A timestamp is taken when the client's thread
 * handles the message: with 1,000 messages arriving per change, the last ones wait for the
 * thread to handle the ones before, which is part of the figure (as it would be for 1,000
 * dashboards on one machine, which they are not).
 *
 * **Access re-checks.** A subscriber's right to read the venue is checked at its first event;
 * the first event 7.5 to 12.5 s later (`REFRESH_FROM_MS`…`REFRESH_BY_MS`, drawn per subscriber)
 * starts a check in the background, which that event does not wait for; an event that finds the
 * last check 15 s old (`RECHECK_MS`: no event in between) waits for a check. The bench therefore
 * times the phases: a warm-up change that every subscriber must receive (first checks); a wait
 * until those checks expire; one change measured alone (**recheck**: every subscriber waits to
 * re-read its access); then `--events` changes (default 50) every `--event-interval` ms (default
 * 250), measured as the **steady** phase. A steady phase longer than 7.5 s includes the
 * background checks (their CPU shared with the deliveries), noted under the table.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { decodeGlobalID } from '@pothos/plugin-relay';
import { Redis } from 'ioredis';
import { RECHECK_MS, REFRESH_FROM_MS } from '../../src/api/live-access.ts';
import { bookingTopics } from '../../src/domain/bookings/live-events.ts';
import { issueAccessToken } from '../../src/domain/identity/access-tokens.ts';
import {
  AGNT_METRICS_PATH,
  type AgntParams,
  benchRedisUrl,
  consumerAuthorization,
  prepareAgnt,
  serveAgnt,
} from '../lib/agnt.ts';
import { measureCpu } from '../lib/machine.ts';
import { settledStatements } from '../lib/metrics.ts';
import { defineCustomScenario, type StartedServer } from '../lib/scenario.ts';
import { serverLoad } from '../lib/server.ts';
import { fmt, summarize } from '../lib/stats.ts';
import { createBookableVenue, startTimes } from '../lib/venue.ts';
import type { SubscribersData, SubscribersMessage, SubscribersReport } from '../lib/ws-subscribers.ts';

const SUBSCRIPTION = `subscription BenchVenueBookings($venueId: ID!) {
  bookingChanged(venueId: $venueId) { id status updatedAt }
}`;

const MUTATION = `mutation BenchFanoutBooking($input: CreateBookingInput!) {
  createBooking(input: $input) { __typename ... on BookingPayload { booking { id } } ... on Error { message } }
}`;

/** Every wait is bounded. */
const CONNECT_BATCH = 100;
const CONNECT_TIMEOUT_MS = 30_000;
const MUTATION_TIMEOUT_MS = 30_000;
/** After a phase's last change, deliveries still missing after this are counted as lost. */
const DELIVERY_TIMEOUT_MS = 30_000;
/** Warm-up changes, one a second, until one reaches every subscriber. */
const WARMUP_ATTEMPTS = 10;
const REPORT_POLL_MS = 100;

interface Change {
  bookingId: string;
  /** Bench clock (epoch ms): the mutation was sent, and its answer came back. */
  sentAtMs: number;
  returnedAtMs: number;
  /** The server that made the change. */
  server: 'a' | 'b';
}

interface PhaseResult {
  phase: string;
  events: number;
  subscribers: number;
  expected: number;
  delivered: number;
  /** Arrival − commit (`at` from Redis), every delivery. */
  latency: ReturnType<typeof summarize>;
  /** Per change: arrival at the last subscriber − commit. */
  lastDelivery: ReturnType<typeof summarize>;
  /** Arrival − the booking's `updatedAt` as delivered. */
  fromUpdatedAt: ReturnType<typeof summarize>;
  /** The mutation's round trip as the guest saw it. */
  mutation: ReturnType<typeof summarize>;
  /** Changes whose commit time never came through Redis. */
  unheard: number;
  statementsPerEvent: number | null;
  apiCpuCores: number | null;
  apiLoopPercent: number[];
  benchCpuCores: number;
  restCpuCores: number;
  wallSeconds: number;
  /** Bench clock (epoch ms) when the last change's mutation answered. */
  lastChangeAtMs: number;
}

export default defineCustomScenario<AgntParams>(import.meta.url, {
  name: 'subscription-fanout',
  description:
    'bookingChanged(venueId) to N graphql-ws subscribers on two API processes; commit → delivery, p50/p99, share delivered',
  serve: serveAgnt,
  async measure(run) {
    const agnt = await prepareAgnt();
    // Stopped here, before the database is dropped (the bench would stop them only afterwards).
    const started: StartedServer[] = [];
    let worker: Worker | undefined;
    const redis = new Redis(benchRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      const { subscribers, events, eventIntervalMs } = run.options;
      const { prisma } = agnt.database;
      run.progress(`seeding a venue and ${subscribers} staff members`);
      const organization = await prisma.organization.create({ data: { name: 'Bench Live Group' } });
      const tag = randomBytes(3).toString('hex');
      const venue = await createBookableVenue(
        prisma,
        organization.id,
        'Bench Live Kitchen',
        `bench-live-${tag}`,
      );
      const staff = await prisma.user.createManyAndReturn({
        data: Array.from({ length: subscribers }, (_, i) => ({
          email: `bench-staff-${tag}-${i}@example.test`,
          displayName: `Staff ${i}`,
        })),
        select: { id: true },
      });
      await prisma.membership.createMany({
        data: staff.map((user) => ({
          organizationId: organization.id,
          userId: user.id,
          role: 'STAFF' as const,
        })),
      });
      const tokens = await Promise.all(
        staff.map(
          async (user) =>
            (await issueAccessToken(agnt.keys, { userId: user.id, auth: agnt.config.auth })).token,
        ),
      );
      const guest = await consumerAuthorization(agnt);

      run.progress('starting two API processes');
      const a = await run.start(agnt.params);
      started.push(a);
      const b = await run.start(agnt.params);
      started.push(b);
      const servers = { a, b };

      // Commit times, from the channel the servers publish on.
      const commits = new Map<string, number>();
      await redis.connect();
      redis.on('message', (_channel: string, message: string) => {
        const payload = JSON.parse(message) as { bookingId: string; at: string };
        if (!commits.has(payload.bookingId)) commits.set(payload.bookingId, Date.parse(payload.at));
      });
      await redis.subscribe(`${agnt.params.env.REDIS_KEY_PREFIX}ps:${bookingTopics.venue(venue.id)}`);

      run.progress(`connecting ${subscribers} graphql-ws subscribers (on a worker thread)`);
      const connectStarted = performance.now();
      worker = new Worker(new URL('../lib/ws-subscribers.ts', import.meta.url), {
        workerData: {
          endpoints: [servers.a, servers.b].map((s) => `${s.origin.replace('http:', 'ws:')}/graphql`),
          tokens,
          query: SUBSCRIPTION,
          variables: { venueId: venue.gid },
          connectBatch: CONNECT_BATCH,
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
        } satisfies SubscribersData,
      });
      const clients = worker;
      const connected = await message(
        clients,
        'connected',
        (subscribers / CONNECT_BATCH + 1) * CONNECT_TIMEOUT_MS,
      );
      const connectSeconds = (performance.now() - connectStarted) / 1000;
      if (connected.failed > 0) {
        throw new Error(
          `${connected.failed} of ${subscribers} subscribers could not connect (first: ${connected.firstError})`,
        );
      }
      run.progress(`${connected.connected} connected in ${fmt(connectSeconds, 1)} s`);

      const times = startTimes(2, 61);
      let made = 0;
      const change = async (server: 'a' | 'b'): Promise<Change> => {
        const startsAt = times[made % times.length]!;
        made += 1;
        return book(servers[server], guest, venue.gid, startsAt, server);
      };
      const report = async () => {
        clients.postMessage({ type: 'report' });
        return message(clients, 'report', 10_000);
      };
      /** Waits until each booking reached every subscriber, or the deadline; returns the last report. */
      const settle = async (ids: string[], deadline: number) => {
        const gids = new Set(ids.map((id) => bookingGid(id)));
        for (;;) {
          const latest = await report();
          const complete = latest.deliveries
            .filter((d) => gids.has(d.id))
            .every((d) => d.receivedAtMs.length >= subscribers);
          const seen = latest.deliveries.filter((d) => gids.has(d.id)).length;
          if ((complete && seen === gids.size) || performance.now() > deadline || run.signal.aborted)
            return latest;
          await sleep(REPORT_POLL_MS);
        }
      };

      // Warm-up: changes a second apart until one reaches everybody. Each subscriber checks its
      // access at its first event; the recheck is due RECHECK_MS after the last of those.
      run.progress('warming up: a change every subscriber receives');
      let checksAt = 0;
      let warmed = false;
      for (let attempt = 0; attempt < WARMUP_ATTEMPTS && !warmed && !run.signal.aborted; attempt += 1) {
        const warm = await change(attempt % 2 ? 'b' : 'a');
        const latest = await settle([warm.bookingId], performance.now() + 5_000);
        const got = latest.deliveries.find((d) => d.id === bookingGid(warm.bookingId));
        checksAt = Math.max(checksAt, ...(got?.receivedAtMs ?? []));
        warmed = (got?.receivedAtMs.length ?? 0) >= subscribers;
        if (!warmed) await sleep(1000);
      }
      if (!warmed)
        throw new Error(`no change reached all ${subscribers} subscribers in ${WARMUP_ATTEMPTS} tries`);

      const phase = async (name: string, count: number, intervalMs: number): Promise<PhaseResult> => {
        const before = await Promise.all([
          settledStatements(servers.a.origin, AGNT_METRICS_PATH),
          settledStatements(servers.b.origin, AGNT_METRICS_PATH),
        ]);
        const samplesBefore = await Promise.all([servers.a.sample(), servers.b.sample()]);
        const cpu = measureCpu();
        const started = performance.now();
        const pending: Promise<Change>[] = [];
        for (let i = 0; i < count && !run.signal.aborted; i += 1) {
          await sleep(Math.max(0, started + i * intervalMs - performance.now()));
          pending.push(change(i % 2 ? 'b' : 'a'));
        }
        const changes = await Promise.all(pending);
        const latest = await settle(
          changes.map((c) => c.bookingId),
          performance.now() + DELIVERY_TIMEOUT_MS,
        );
        const wallSeconds = (performance.now() - started) / 1000;
        const window = cpu.stop();
        const samplesAfter = await Promise.all([servers.a.sample(), servers.b.sample()]);
        const after = await Promise.all([
          settledStatements(servers.a.origin, AGNT_METRICS_PATH),
          settledStatements(servers.b.origin, AGNT_METRICS_PATH),
        ]);
        const loads = [0, 1].map((i) => serverLoad(samplesBefore[i]!, samplesAfter[i]!));
        const apiCpu = loads.every((l) => l.cpuCores !== null)
          ? loads.reduce((sum, l) => sum + (l.cpuCores ?? 0), 0)
          : null;
        return {
          phase: name,
          ...deliveryFigures(changes, latest, commits, subscribers),
          statementsPerEvent: changes.length
            ? (after[0]!.statements - before[0]!.statements + after[1]!.statements - before[1]!.statements) /
              changes.length
            : null,
          apiCpuCores: apiCpu,
          apiLoopPercent: loads.map((l) => l.loopUtilization * 100),
          benchCpuCores: window.benchCores,
          restCpuCores: Math.max(0, window.machineCores - window.benchCores - (apiCpu ?? 0)),
          wallSeconds,
          lastChangeAtMs: Math.max(0, ...changes.map((c) => c.returnedAtMs)),
        };
      };

      const phases: PhaseResult[] = [];
      const recheckDue = checksAt + RECHECK_MS + 500;
      const waitMs = recheckDue - (performance.timeOrigin + performance.now());
      run.progress(`waiting ${fmt(Math.max(0, waitMs) / 1000, 1)} s for the access re-checks to fall due`);
      await sleep(Math.max(0, waitMs), undefined, { signal: run.signal }).catch(() => {});
      // No subscriber's check can be older than this (a bound for the note below).
      const recheckedAt = performance.timeOrigin + performance.now();
      if (!run.signal.aborted) {
        run.progress('recheck: one change, every subscriber re-reads its access');
        phases.push(await phase('recheck (1 change)', 1, 0));
      }
      if (!run.signal.aborted) {
        run.progress(`steady: ${events} changes, one every ${eventIntervalMs} ms`);
        phases.push(
          await phase(`steady (${events} changes, 1 per ${eventIntervalMs} ms)`, events, eventIntervalMs),
        );
      }
      return result(phases, {
        subscribers,
        connectSeconds,
        steadyIncludedRecheck: (phases.at(-1)?.lastChangeAtMs ?? 0) - recheckedAt > REFRESH_FROM_MS,
      });
    } finally {
      if (worker) {
        worker.postMessage({ type: 'close' });
        await message(worker, 'closed', 15_000).catch(() => {});
        await worker.terminate();
      }
      redis.disconnect();
      for (const server of started) await server.stop();
      await agnt.cleanup();
    }
  },
});

async function book(
  server: StartedServer,
  authorization: string,
  venueGid: string,
  startsAt: string,
  name: 'a' | 'b',
): Promise<Change> {
  const sentAtMs = performance.timeOrigin + performance.now();
  const response = await fetch(new URL('/graphql', server.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({
      query: MUTATION,
      variables: {
        input: {
          venueId: venueGid,
          startsAt,
          partySize: 2,
          clientKey: `fanout-${randomBytes(8).toString('hex')}`,
        },
      },
    }),
    signal: AbortSignal.timeout(MUTATION_TIMEOUT_MS),
  });
  const body = (await response.json()) as {
    data?: { createBooking?: { __typename: string; booking?: { id: string }; message?: string } };
  };
  const returnedAtMs = performance.timeOrigin + performance.now();
  const result = body.data?.createBooking;
  if (response.status !== 200 || result?.__typename !== 'BookingPayload' || !result.booking) {
    throw new Error(`createBooking failed: ${response.status} ${JSON.stringify(body).slice(0, 500)}`);
  }
  return { bookingId: decodeGlobalID(result.booking.id).id, sentAtMs, returnedAtMs, server: name };
}

const bookingGid = (id: string) => Buffer.from(`Booking:${id}`).toString('base64');

function deliveryFigures(
  changes: Change[],
  report: SubscribersReport,
  commits: Map<string, number>,
  subscribers: number,
) {
  const latency: number[] = [];
  const last: number[] = [];
  const fromUpdatedAt: number[] = [];
  let delivered = 0;
  let unheard = 0;
  for (const change of changes) {
    const entry = report.deliveries.find((d) => d.id === bookingGid(change.bookingId));
    const at = commits.get(change.bookingId);
    if (at === undefined) unheard += 1;
    if (!entry) continue;
    // A subscriber that got one change twice counts once.
    delivered += new Set(entry.subscribers).size;
    for (const received of entry.receivedAtMs) {
      if (at !== undefined) latency.push(received - at);
      fromUpdatedAt.push(received - entry.updatedAtMs);
    }
    if (at !== undefined && entry.receivedAtMs.length) last.push(Math.max(...entry.receivedAtMs) - at);
  }
  return {
    events: changes.length,
    subscribers,
    expected: changes.length * subscribers,
    delivered,
    latency: summarize(latency),
    lastDelivery: summarize(last),
    fromUpdatedAt: summarize(fromUpdatedAt),
    mutation: summarize(changes.map((c) => c.returnedAtMs - c.sentAtMs)),
    unheard,
  };
}

function result(
  phases: PhaseResult[],
  context: { subscribers: number; connectSeconds: number; steadyIncludedRecheck: boolean },
) {
  const failures = phases.reduce((sum, p) => sum + (p.expected - p.delivered) + p.unheard, 0);
  return {
    header: [
      'phase',
      'delivered',
      'p50 ms',
      'p99 ms',
      'max ms',
      'last p50 ms',
      'last p99 ms',
      'from updatedAt p50/p99',
      'mutation p50/p99',
      'SQL/change',
      'API CPU',
      'API loop % a/b',
      'bench CPU',
      'rest CPU',
    ],
    rows: phases.map((p) => [
      p.phase,
      `${fmt((100 * p.delivered) / Math.max(1, p.expected), 2)}% of ${p.expected}`,
      fmt(p.latency.p50, 1),
      fmt(p.latency.p99, 1),
      fmt(p.latency.max, 1),
      fmt(p.lastDelivery.p50, 1),
      fmt(p.lastDelivery.p99, 1),
      `${fmt(p.fromUpdatedAt.p50, 1)} / ${fmt(p.fromUpdatedAt.p99, 1)}`,
      `${fmt(p.mutation.p50, 1)} / ${fmt(p.mutation.p99, 1)}`,
      p.statementsPerEvent === null ? '–' : fmt(p.statementsPerEvent, 0),
      p.apiCpuCores === null ? 'n/a' : fmt(p.apiCpuCores, 2),
      p.apiLoopPercent.map((v) => fmt(v, 0)).join(' / '),
      fmt(p.benchCpuCores, 2),
      fmt(p.restCpuCores, 2),
    ]),
    notes: [
      `${context.subscribers} subscribers (venue staff, one graphql-ws connection each, half on each API process), ` +
        `connected in ${fmt(context.connectSeconds, 1)} s. p50/p99/max: arrival at a subscriber − the commit time the ` +
        'server published to Redis, over every delivery. last: per change, arrival at the last subscriber − commit. ' +
        "from updatedAt: arrival − the booking's updatedAt as delivered (written a little before the commit). " +
        "mutation: the guest's createBooking round trip. SQL/change: statements of both API processes per change " +
        '(the create itself included). CPU in cores: API = both API processes, bench = the changes, Redis listener ' +
        'and the subscribers’ thread, rest = PostgreSQL, Redis and anything else.',
      ...(context.steadyIncludedRecheck
        ? [
            `The steady phase lasted over ${REFRESH_FROM_MS / 1000} s, so it includes the subscribers' access ` +
              're-checks in the background (no delivery waits for them; they share the CPU).',
          ]
        : []),
    ],
    failures,
    data: { ...context, phases },
  };
}

/** The worker's next message of `type`, within `timeoutMs`. */
function message<T extends SubscribersMessage['type']>(
  worker: Worker,
  type: T,
  timeoutMs: number,
): Promise<Extract<SubscribersMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (m: SubscribersMessage) => {
      if (m.type !== type) return;
      done();
      resolve(m as Extract<SubscribersMessage, { type: T }>);
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const onExit = (code: number) => {
      done();
      reject(new Error(`the subscribers' thread exited (code ${code}) while we waited for "${type}"`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`the subscribers' thread sent no "${type}" within ${timeoutMs} ms`));
    }, timeoutMs);
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
  });
}
