/**
 * The embedded gateway's upkeep: acknowledged messages are pruned a day later by the
 * `clawpulse-gateway-prune` schedule (run here by graphile-worker, as a worker runs it), nothing
 * unacknowledged is ever pruned, and the inbox gauges say what waits and for how long.
 */
import { randomUUID } from 'node:crypto';
import { runOnce } from 'graphile-worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedGateway, type EmbeddedGateway } from '../../src/a2a/gateway/embedded.ts';
import { gatewayPruneTask } from '../../src/a2a/gateway/store.ts';
import { type ClawPulseClient, createClawPulseClient } from '../../src/integrations/clawpulse/client.ts';
import { consumerAgentId, signEnvelope, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { enqueue, graphileLogger } from '../../src/platform/jobs.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createMetrics } from '../../src/platform/metrics.ts';
import { crontab } from '../../src/worker/crontab.ts';
import { parseSchedules } from '../../src/worker/crontab-check.ts';
import { handlers } from '../../src/worker/task-list.ts';
import prune from '../../src/worker/tasks/clawpulse-gateway-prune.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const API_KEY = 'embedded-gateway-test-key-0123456789';
const HOUR = 3_600_000;
const logger = createLogger('silent');

let database: TestDatabase;
let gateway: EmbeddedGateway;
let client: ClawPulseClient;
let nowMs = Date.parse('2026-12-04T10:00:00.000Z');
const now = () => new Date(nowMs);

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = createEmbeddedGateway({
    db: database.prisma,
    apiKey: API_KEY,
    visibilityTimeoutSeconds: 60,
    bodyLimitBytes: 64 * 1024,
    now,
    hostedHere: async () => false,
  });
  client = createClawPulseClient({
    baseUrl: gateway.baseUrl,
    apiKey: API_KEY,
    timeoutMs: 5000,
    fetch: gateway.fetch,
  });
});
afterAll(() => database?.drop());

async function send(from: string, to: string) {
  const payload = signEnvelope(
    {
      protocol: 'agp/1',
      id: randomUUID(),
      from,
      to,
      intent: 'network.ping',
      payload: {},
      agent_context: {},
      ttl_ms: 30_000,
      timestamp: now().toISOString(),
    },
    { kid: 'k1', secret: Buffer.from('a-signing-secret-of-32-bytes-abc') },
    Math.floor(nowMs / 1000),
  );
  return (await client.send({ to, from, payload })).id;
}

/** Runs the due prune job to the end, as a worker would, with the given clock. */
async function runPrune(clock: () => Date) {
  await enqueue(database.prisma, gatewayPruneTask, {});
  await runOnce({
    pgPool: database.pool,
    taskList: { [prune.name]: prune.bind({ db: database.prisma, now: clock, logger }) },
    logger: graphileLogger(logger),
  });
}

describe('the embedded gateway’s upkeep', () => {
  it('is scheduled hourly, with its handler listed', () => {
    expect(handlers).toContain(prune);
    const items = parseSchedules(crontab, handlers).filter((i) => i.task === 'clawpulse-gateway-prune');
    expect(items).toHaveLength(1);
    expect(items[0]!.options.maxAttempts).toBe(1);
  });

  it('prunes messages acknowledged over a day ago, and keeps the rest', async () => {
    const from = consumerAgentId(randomUUID());
    const to = venueAgentId(randomUUID());
    await client.register({ agentId: to, kind: 'venue', dna: {} });
    const old = await send(from, to);
    const recent = await send(from, to);
    const waiting = await send(from, to);
    expect(await client.ack(to, [old])).toBe(1);
    nowMs += 2 * HOUR;
    expect(await client.ack(to, [recent])).toBe(1);

    // 24 h after the first acknowledgement, to the millisecond: not yet over a day.
    await runPrune(() => new Date(nowMs - 2 * HOUR + 24 * HOUR));
    expect(await ids(to)).toEqual([old, recent, waiting].sort());
    await runPrune(() => new Date(nowMs - 2 * HOUR + 24 * HOUR + 1));
    expect(await ids(to)).toEqual([recent, waiting].sort());
    // Run twice, or a week later: the unacknowledged message stays.
    await runPrune(() => new Date(nowMs + 7 * 24 * HOUR));
    expect(await ids(to)).toEqual([waiting]);
    nowMs += 60_000;
    expect((await client.inbox(to)).map((m) => m.id)).toEqual([waiting]);
  });

  it('reports what waits per kind of recipient, and for how long, in the inbox gauges', async () => {
    const metrics = createMetrics();
    const platform = `platform-upkeep-${randomUUID().slice(0, 8)}`;
    const consumer = consumerAgentId(randomUUID());
    await client.register({ agentId: platform, kind: 'platform', dna: {} });
    await client.register({ agentId: consumer, kind: 'consumer', dna: {} });
    const venueBefore = await pending('venue');
    await send(consumer, platform);
    nowMs += 30_000;
    await send(consumer, platform);
    const acked = await send(platform, consumer);
    await client.ack(consumer, [acked]);
    nowMs += 15_000;

    await gateway.observe(metrics);
    const text = await metrics.registry.metrics();
    expect(text).toContain('clawpulse_inbox_pending{kind="platform"} 2');
    expect(text).toContain('clawpulse_inbox_oldest_pending_seconds{kind="platform"} 45');
    expect(text).toContain('clawpulse_inbox_pending{kind="consumer"} 0');
    expect(text).toContain('clawpulse_inbox_oldest_pending_seconds{kind="consumer"} 0');
    expect(text).toContain(`clawpulse_inbox_pending{kind="venue"} ${venueBefore}`);
  });
});

async function ids(agentId: string) {
  const rows = await database.prisma.gatewayMessage.findMany({
    where: { toAgent: agentId },
    select: { id: true },
  });
  return rows.map((r) => r.id).sort();
}

function pending(kind: string) {
  return database.prisma.gatewayMessage.count({ where: { ackedAt: null, recipient: { kind } } });
}
