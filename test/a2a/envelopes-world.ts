/**
 * A world for the envelope tests: a database cloned from the template, a Redis prefix of its own,
 * the fake gateway and a real client to it, a keyring, a movable clock, the breakers and the
 * metrics, and agents of ours (a person's consumer agent, a venue's business agent).
 */

import { createVenueAgent, ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import { generateKeyringSpec, parseKeyring } from '../../src/domain/agents/secrets.ts';
import { type BreakerSettings, createEnvelopeBreakers } from '../../src/domain/envelopes/breakers.ts';
import { type EnvelopeDeps, envelopeDeps } from '../../src/domain/envelopes/deps.ts';
import { createClawPulseClient } from '../../src/integrations/clawpulse/client.ts';
import { consumerAgentId, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createMetrics } from '../../src/platform/metrics.ts';
import { createPerson } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { type FakeClawPulse, startFakeClawPulse } from '../fakes/clawpulse.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createTestRedis } from '../helpers/redis.ts';

export const PLATFORM = 'platform-agnt';
export const BREAKER: BreakerSettings = { failures: 5, windowSeconds: 600, cooldownSeconds: 300 };

export async function envelopeWorld() {
  const database = await createTestDatabase();
  const db = database.prisma;
  const redis = await createTestRedis();
  const gateway: FakeClawPulse = await startFakeClawPulse();
  const client = createClawPulseClient({ baseUrl: gateway.url, apiKey: gateway.apiKey, timeoutMs: 300 });
  const keyring = parseKeyring(generateKeyringSpec());
  // Our clock is the gateway's (time passes for both: `gateway.advance`), plus what a test moves
  // ours alone by (`clock.advance`: a read late after the gateway received, a retry's wait).
  let offset = 0;
  const clock = {
    now: () => new Date(gateway.now().getTime() + offset),
    advance(ms: number) {
      offset += ms;
    },
  };
  const breakers = createEnvelopeBreakers(redis, BREAKER, { now: () => clock.now().getTime() });
  const metrics = createMetrics();
  const deps: EnvelopeDeps = envelopeDeps({
    db,
    keyring,
    clawpulse: client,
    breakers,
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    now: clock.now,
    network: { platformAgentId: PLATFORM, retryDelaysSeconds: [60, 300, 1500], envelopeTtlMs: 30_000 },
    metrics,
  });

  /** A person with a consumer agent; its gateway id. */
  async function consumer() {
    const person = await createPerson(db);
    const agent = await ensureConsumerAgent(db, keyring, person.id);
    const id = consumerAgentId(person.id);
    gateway.register(id);
    return { person, agent, id };
  }

  /** A venue with a business agent; its gateway id. */
  async function venue() {
    const place = await createBookableVenue(db);
    const { agent } = await db.$transaction((tx) => createVenueAgent(tx, keyring, place));
    const id = venueAgentId(place.id);
    gateway.register(id);
    return { venue: place, agent, id };
  }

  /** The jobs queued under a key. */
  async function jobs(key: string) {
    return db.$queryRaw<{ task: string; payload: unknown; run_at: Date }[]>`
      SELECT tasks.identifier AS task, jobs.payload, jobs.run_at
      FROM graphile_worker._private_jobs AS jobs
      JOIN graphile_worker._private_tasks AS tasks ON tasks.id = jobs.task_id
      WHERE jobs.key = ${key}`;
  }

  async function close() {
    await gateway.close();
    await redis.close();
    await database.drop();
  }

  return {
    database,
    db,
    redis,
    gateway,
    client,
    keyring,
    clock,
    breakers,
    metrics,
    deps,
    consumer,
    venue,
    jobs,
    close,
  };
}

export type EnvelopeWorld = Awaited<ReturnType<typeof envelopeWorld>>;

/** The value of one series of a counter or gauge. */
export async function seriesValue(
  world: EnvelopeWorld,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = await world.metrics.registry.getSingleMetric(name)?.get();
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}
