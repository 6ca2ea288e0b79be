/**
 * The network on a bad day: guests, venues with active business agents, and booking requests made
 * as the product makes them (a REQUESTED booking and its `booking.request` envelope, consumer →
 * venue, in one transaction), then driven by real workers: worker apps in this process or
 * `node src/main.ts worker` children on the same database, Redis prefix and keyring.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { createVenueAgent, ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import { registerAgent } from '../../src/domain/agents/registration.ts';
import { queueEnvelope } from '../../src/domain/envelopes/outbox.ts';
import type { A2aEnvelope, Booking } from '../../src/generated/prisma/client.ts';
import { consumerAgentId, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import type { Db } from '../../src/platform/db.ts';
import { createPerson } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import type { TestApp } from '../helpers/app.ts';
import { testRedisUrl, testServerUrl } from '../helpers/env.ts';

export { lisbon } from './venue-agent-world.ts';

export interface Guest {
  personId: string;
  /** The consumer agent's gateway id. */
  id: string;
  /** The consumer agent's row. */
  agentRowId: string;
}

export interface VenueWithAgent {
  venueId: string;
  /** The venue agent's gateway id. */
  id: string;
}

/**
 * Where agents are registered: the app's own gateway (the embedded one, or the configured outside
 * one while it answers), or directly in a fake's table (`register`).
 */
export type Registrar = (gatewayId: string, agentRowId: string) => Promise<void>;

export function registerWith(app: TestApp): Registrar {
  return async (_gatewayId, agentRowId) => {
    const outcome = await registerAgent(
      { db: app.services.db, clawpulse: app.services.network.clawpulse },
      agentRowId,
    );
    if (outcome !== 'registered' && outcome !== 'unchanged')
      throw new Error(`agent not registered: ${outcome}`);
  };
}

/** A person with a consumer agent, registered. */
export async function guest(app: TestApp, register: Registrar = registerWith(app)): Promise<Guest> {
  const person = await createPerson(app.services.db);
  const agent = await ensureConsumerAgent(app.services.db, app.services.keyring, person.id);
  await register(consumerAgentId(person.id), agent.id);
  return { personId: person.id, id: consumerAgentId(person.id), agentRowId: agent.id };
}

/** A bookable venue (four tables of four, 18:00–23:00) whose business agent is ACTIVE, registered. */
export async function venue(app: TestApp, register: Registrar = registerWith(app)): Promise<VenueWithAgent> {
  const db = app.services.db;
  const place = await createBookableVenue(db);
  const { agent } = await db.$transaction((tx) => createVenueAgent(tx, app.services.keyring, place));
  await register(venueAgentId(place.id), agent.id);
  return { venueId: place.id, id: venueAgentId(place.id) };
}

/**
 * A guest's booking request at a venue with an active agent, as the product makes it: the booking
 * REQUESTED and the `booking.request` envelope (its id in the payload and on the row) queued with
 * its send job, in one transaction.
 */
export async function requestBooking(
  db: Db,
  from: Guest,
  to: VenueWithAgent,
  startsAt: Date,
  partySize = 2,
): Promise<{ booking: Booking; envelope: A2aEnvelope }> {
  return db.$transaction(async (tx) => {
    const clientKey = `key-${randomUUID()}`;
    const booking = await tx.booking.create({
      data: {
        venueId: to.venueId,
        guestId: from.personId,
        requestedById: from.personId,
        startsAt,
        endsAt: new Date(startsAt.getTime() + 90 * 60_000),
        partySize,
        status: 'REQUESTED',
        source: 'CHAT',
        clientKey,
      },
    });
    const envelope = await queueEnvelope(tx, {
      from: from.id,
      to: to.id,
      intent: 'booking.request',
      payload: {
        venueId: to.venueId,
        startsAt: startsAt.toISOString(),
        partySize,
        guestName: 'Ana',
        clientKey,
        bookingId: booking.id,
      },
      bookingId: booking.id,
    });
    return { booking, envelope };
  });
}

/** What became of one booking request: everything that must have happened exactly once. */
export async function outcomeOf(db: Db, request: { booking: Booking; envelope: A2aEnvelope }) {
  const [booking, transitions, answers, inbound, messages, inboxItems] = await Promise.all([
    db.booking.findUniqueOrThrow({ where: { id: request.booking.id } }),
    db.bookingTransition.findMany({ where: { bookingId: request.booking.id } }),
    db.a2aEnvelope.findMany({ where: { direction: 'OUTBOUND', inReplyTo: request.envelope.envelopeId } }),
    db.a2aEnvelope.findMany({ where: { direction: 'INBOUND', envelopeId: request.envelope.envelopeId } }),
    db.outboundMessage.findMany({ where: { bookingId: request.booking.id } }),
    db.venueInboxItem.findMany({ where: { bookingId: request.booking.id } }),
  ]);
  const outbound = await db.a2aEnvelope.findUniqueOrThrow({ where: { id: request.envelope.id } });
  return {
    status: booking.status,
    transitions: transitions.map((t) => `${t.fromStatus}->${t.toStatus}`),
    answers: answers.map((a) => a.intent),
    /** States of the INBOUND rows of the request (REJECTED replays aside, one DELIVERED). */
    inbound: inbound.map((i) => i.state).sort(),
    handled: inbound.filter((i) => i.handledAt).map((i) => i.handledNote),
    messages: messages.map((m) => m.kind),
    inboxItems: inboxItems.length,
    sent: outbound.state,
    attempts: outbound.attempts,
  };
}

/** Booking requests spread over `days` days from `firstDay`, at 19:00 and 21:00 (room for all). */
export function requestTimes(count: number, at: (days: number, time: string) => Date, firstDay = 2): Date[] {
  return Array.from({ length: count }, (_, i) =>
    at(firstDay + Math.floor(i / 2), i % 2 === 0 ? '19:00' : '21:00'),
  );
}

export type WorkerProcess = ChildProcessByStdio<null, Readable, Readable>;

/**
 * Starts `node src/main.ts worker` on the app's database, Redis prefix and agent keyring; resolves
 * once it serves. `env` adds settings (the app's own `env` should match where they matter).
 */
export async function spawnWorker(
  app: TestApp,
  env: Record<string, string>,
): Promise<{ child: WorkerProcess; output: () => string }> {
  const child = spawn(process.execPath, ['src/main.ts', 'worker'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `${testServerUrl()}/${app.database.name}`,
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: app.services.redis.keyPrefix,
      AGENT_SECRET_KEYS: app.services.config.agents.secretKeys!,
      PORT: '0',
      HOST: '127.0.0.1',
      SEED_DEMO: 'false',
      CONSUMER_AGENT: 'false',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  await new Promise<void>((resolve, reject) => {
    const started = () => {
      if (/"http\.port":\d+/.test(output)) resolve();
    };
    child.stdout.on('data', started);
    child.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${output}`)));
  });
  return { child, output: () => output };
}

export function exited(child: WorkerProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
