/**
 * A world for the consumer side's tests: the real app (api role) on its own database and Redis
 * prefix, with the embedded gateway it serves (`services.network.clawpulse`), guests, venues with
 * and without an agent, and the envelope steps run as their tasks run them: send, read an inbox,
 * handle with the consumer agents' handlers.
 */
import { randomBytes } from 'node:crypto';
import { createVenueAgent, ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import { registerAgent } from '../../src/domain/agents/registration.ts';
import { envelopeDeps } from '../../src/domain/envelopes/deps.ts';
import { handleEnvelope } from '../../src/domain/envelopes/handle.ts';
import type { Intent, IntentPayload } from '../../src/domain/envelopes/intents.ts';
import { queueEnvelope } from '../../src/domain/envelopes/outbox.ts';
import { drainInbox } from '../../src/domain/envelopes/receive.ts';
import { sendEnvelope } from '../../src/domain/envelopes/send.ts';
import { consumerAgentHandlers } from '../../src/domain/network/consumer-agent.ts';
import { consumerAgentId, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { createMetrics } from '../../src/platform/metrics.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { guest } from '../helpers/authz.ts';

export const ZONE = 'Europe/Lisbon';
export const DATE = Temporal.Now.plainDateISO(ZONE).add({ days: 10 });
/** An instant on DATE (plus `day` days) at a local time of the venue. */
export const at = (time: string, day = 0) =>
  new Date(DATE.add({ days: day }).toZonedDateTime({ timeZone: ZONE, plainTime: time }).epochMilliseconds);
export const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

export const CREATE = `mutation ConsumerCreateBooking($input: CreateBookingInput!) {
  createBooking(input: $input) {
    __typename
    ... on BookingPayload { booking { id status } }
    ... on Error { message }
  }
}`;

export interface Created {
  createBooking: { __typename: string; message?: string; booking?: { id: string; status: string } };
}

/** `env`: the app's environment beyond the test defaults. */
export async function consumerWorld(options: { env?: Record<string, string> } = {}) {
  const app: TestApp = await startTestApp({ env: options.env });
  const db = app.services.db;
  const metrics = createMetrics();
  const deps = envelopeDeps({
    ...app.services,
    clawpulse: app.services.network.clawpulse,
    breakers: app.services.network.breakers,
    network: app.services.config.network,
    logger: app.services.logger,
  });
  const handlers = consumerAgentHandlers({ bookings: app.services.bookings, metrics });

  /** A bookable venue; with `agent`, its business agent (ACTIVE unless told), registered with the gateway. */
  async function venue(options: { agent?: boolean; status?: 'ACTIVE' | 'PAUSED'; email?: string } = {}) {
    const place = await createBookableVenue(db, {
      name: `Tasca ${randomBytes(3).toString('hex')}`,
      timeZone: ZONE,
      email: options.email,
    });
    if (!options.agent) return { venue: place, agentId: null };
    const { agent } = await db.$transaction((tx) => createVenueAgent(tx, app.services.keyring, place));
    if (options.status && options.status !== 'ACTIVE') {
      await db.agent.update({ where: { id: agent.id }, data: { status: options.status } });
    }
    await registerAgent({ db, clawpulse: app.services.network.clawpulse }, agent.id);
    return { venue: place, agentId: agent.id };
  }

  /** A guest with a name, an email and an access token. */
  async function person(displayName = 'Marta') {
    const g = await guest(app);
    await db.user.update({ where: { id: g.userId }, data: { displayName } });
    return g;
  }

  /** Books as the guest over GraphQL. */
  async function book(token: string, venueId: string, input: Record<string, unknown> = {}) {
    const res = await app.gql<Created, unknown>(
      CREATE,
      {
        input: {
          venueId: gid('Venue', venueId),
          partySize: 2,
          startsAt: at('20:00').toISOString(),
          ...input,
        },
      },
      { token },
    );
    if (!res.data?.createBooking) throw new Error(`no answer: ${JSON.stringify(res.body)}`);
    return res.data.createBooking;
  }

  /** The booking's request envelope, if one was queued. */
  function requestOf(bookingId: string) {
    return db.a2aEnvelope.findFirst({
      where: { bookingId, direction: 'OUTBOUND', intent: 'booking.request' },
    });
  }

  /** The jobs queued under a key. */
  function jobs(key: string) {
    return db.$queryRaw<{ task: string; payload: Record<string, string>; run_at: Date }[]>`
      SELECT tasks.identifier AS task, jobs.payload, jobs.run_at
      FROM graphile_worker._private_jobs AS jobs
      JOIN graphile_worker._private_tasks AS tasks ON tasks.id = jobs.task_id
      WHERE jobs.key = ${key}`;
  }

  /** The guest's consumer agent, registered with the gateway (as its registration job would). */
  async function registerConsumer(userId: string) {
    const agent = await ensureConsumerAgent(db, app.services.keyring, userId);
    await registerAgent({ db, clawpulse: app.services.network.clawpulse }, agent.id);
  }

  /**
   * The venue's agent answers `request` (an outbound row of ours) through the embedded gateway,
   * and the guest's agent reads its inbox and handles what came: as the a2a-send, a2a-inbox and
   * a2a-handle tasks do. Returns the handling's note.
   */
  async function answer<I extends Intent>(
    request: { envelopeId: string | null; fromAgent: string; toAgent: string; bookingId: string | null },
    intent: I,
    payload: IntentPayload<I>,
    options: { from?: string } = {},
  ) {
    const reply = await queueEnvelope(db, {
      from: options.from ?? request.toAgent,
      to: request.fromAgent,
      intent,
      payload,
      inReplyTo: request.envelopeId,
      bookingId: request.bookingId,
      now: app.clock.now(),
    });
    const sent = await sendEnvelope(deps, reply.id);
    if (sent.result !== 'sent') throw new Error(`the answer was not sent: ${JSON.stringify(sent)}`);
    return readAndHandle(request.fromAgent, reply.envelopeId!);
  }

  /** Reads `agentId`'s inbox and handles the envelope `envelopeId` that arrived. */
  async function readAndHandle(agentId: string, envelopeId: string) {
    await drainInbox(deps, agentId);
    const inbound = await db.a2aEnvelope.findFirstOrThrow({
      where: { direction: 'INBOUND', envelopeId, toAgent: agentId },
    });
    if (inbound.state === 'REJECTED') throw new Error(`rejected: ${inbound.rejectReason ?? ''}`);
    return handleEnvelope({ db, logger: app.services.logger, now: app.clock.now }, inbound.id, handlers);
  }

  /** Sends the booking's request to the venue's inbox (the a2a-send task's work). */
  async function sendRequest(bookingId: string) {
    const request = await requestOf(bookingId);
    if (!request) throw new Error('no request');
    await registerConsumer(request.fromAgent.slice('consumer-'.length));
    const sent = await sendEnvelope(deps, request.id);
    if (sent.result !== 'sent') throw new Error(`the request was not sent: ${JSON.stringify(sent)}`);
    return db.a2aEnvelope.findUniqueOrThrow({ where: { id: request.id } });
  }

  /** Sends an outbound row of the guest's agent (registered first) to the venue's inbox. */
  async function sendRequestRow(rowId: string, userId: string) {
    await registerConsumer(userId);
    const sent = await sendEnvelope(deps, rowId);
    if (sent.result !== 'sent') throw new Error(`not sent: ${JSON.stringify(sent)}`);
  }

  /** The notices the person was sent, of one kind. */
  function notices(userId: string, kind: string) {
    return db.outboundMessage.findMany({ where: { userId, kind }, orderBy: { createdAt: 'asc' } });
  }

  return {
    app,
    db,
    deps,
    metrics,
    handlers,
    venue,
    person,
    book,
    requestOf,
    jobs,
    answer,
    readAndHandle,
    sendRequest,
    sendRequestRow,
    registerConsumer,
    notices,
    consumerAgentId,
    venueAgentId,
    close: () => app.close(),
  };
}

export type ConsumerWorld = Awaited<ReturnType<typeof consumerWorld>>;
