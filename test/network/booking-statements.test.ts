/**
 * The SQL statements of one booking through the agents, step by step, counted as the bench's
 * `a2a-booking` counts them: every statement Prisma sends (through `Database.onQuery`, what feeds
 * `db_queries_total`), graphile-worker's own fetches and completions not included. The guest books
 * over GraphQL at a venue whose agent is active, and each job on the way to CONFIRMED runs in turn
 * as the worker runs it: the request's send, the venue's inbox, its agent's decision, the answer's
 * send, the guest's inbox, its agent's handling. A change that adds a round trip to the path fails
 * here; one that removes one updates its step's number on purpose.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import { registerAgent } from '../../src/domain/agents/registration.ts';
import { runDueJobs } from '../helpers/jobs.ts';
import { type ConsumerWorld, consumerWorld } from './consumer-world.ts';

let world: ConsumerWorld;
beforeAll(async () => {
  // The guest's agent listens for its answer every minute, not every two seconds, so that no
  // listening read falls due within a step on a slow machine and is counted with it: the answer's
  // send wakes the guest's inbox as it would anyway.
  world = await consumerWorld({ env: { A2A_RESPONSE_POLL_MS: '60000' } });
});
afterAll(() => world?.close());

/** The statements Prisma sent while `run` ran, with their text for the failure message. */
async function statements(run: () => Promise<unknown>): Promise<string[]> {
  const sent: string[] = [];
  const stop = world.app.services.database.onQuery(({ query }) => void sent.push(query));
  try {
    await run();
  } finally {
    stop();
  }
  return sent;
}

describe('one booking through the agents', () => {
  it('takes a fixed number of statements at each step from the request to CONFIRMED', async () => {
    const { db, app } = world;
    const { venue } = await world.venue({ agent: true });
    const guest = await world.person('Marta Sousa');
    // As the worker's registration does before the guest's first booking.
    const agent = await ensureConsumerAgent(db, app.services.keyring, guest.userId);
    await registerAgent({ db, clawpulse: app.services.network.clawpulse }, agent.id);
    // A first booking there, decided, so the one counted finds everything as a busy venue would.
    const first = await world.book(guest.token, venue.id, { startsAt: atHour(19) });
    expect(first.booking?.status).toBe('REQUESTED');
    for (const task of STEPS) await runDueJobs(app, [task]);

    const counts: Record<string, number> = {};
    const texts: string[] = [];
    let bookingId = '';
    const create = await statements(async () => {
      const created = await world.book(guest.token, venue.id, { startsAt: atHour(20) });
      expect(created.booking?.status).toBe('REQUESTED');
      bookingId = Buffer.from(created.booking!.id, 'base64').toString().split(':')[1]!;
    });
    counts.create = create.length;
    texts.push('-- create', ...create);
    for (const [i, task] of STEPS.entries()) {
      const sent = await statements(() => runDueJobs(app, [task]));
      counts[`${i + 1} ${task}`] = sent.length;
      texts.push(`-- ${i + 1} ${task}`, ...sent);
    }

    const booking = await db.booking.findUniqueOrThrow({ where: { id: bookingId } });
    expect(booking.status).toBe('CONFIRMED');
    const accepted = await db.a2aEnvelope.findFirstOrThrow({
      where: { bookingId, direction: 'INBOUND', intent: 'booking.accepted' },
    });
    expect(accepted.handledAt).not.toBeNull();
    expect(counts, texts.join('\n')).toEqual({
      create: 7,
      '1 a2a-send': 5,
      '2 a2a-inbox': 6,
      '3 a2a-handle': 11,
      '4 a2a-send': 5,
      '5 a2a-inbox': 7,
      '6 a2a-handle': 6,
    });
  });
});

/** The jobs on the way from a booking's request to its CONFIRMED, in the order they run. */
const STEPS = ['a2a-send', 'a2a-inbox', 'a2a-handle', 'a2a-send', 'a2a-inbox', 'a2a-handle'] as const;

function atHour(hour: number): string {
  const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 12 });
  const instant = date
    .toZonedDateTime({ timeZone: 'Europe/Lisbon', plainTime: Temporal.PlainTime.from({ hour }) })
    .toInstant();
  return new Date(instant.epochMilliseconds).toISOString();
}
