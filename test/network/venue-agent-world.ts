/**
 * A world for the venue agent's tests: an app's services (real PostgreSQL and Redis, the embedded
 * ClawPulse gateway in-process), agents registered with that gateway, and the real path of an
 * envelope: queued by the guest's agent, sent, read from the venue agent's inbox and verified,
 * then handled with the venue agent's handlers.
 */
import { randomUUID } from 'node:crypto';
import { createVenueAgent, ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import type { AgentDna } from '../../src/domain/agents/dna.ts';
import { registerAgent } from '../../src/domain/agents/registration.ts';
import type { LlmGateway } from '../../src/domain/conversation/messages.ts';
import { envelopeDeps } from '../../src/domain/envelopes/deps.ts';
import { handleEnvelope, type IntentHandlers } from '../../src/domain/envelopes/handle.ts';
import type { Intent, IntentPayload } from '../../src/domain/envelopes/intents.ts';
import { queueEnvelope } from '../../src/domain/envelopes/outbox.ts';
import { drainInbox } from '../../src/domain/envelopes/receive.ts';
import { sendEnvelope } from '../../src/domain/envelopes/send.ts';
import { venueAgentHandlers } from '../../src/domain/network/venue-agent.ts';
import type { Booking, Prisma } from '../../src/generated/prisma/client.ts';
import { consumerAgentId, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { createMetrics } from '../../src/platform/metrics.ts';
import { type BookingFields, createBooking } from '../factories/bookings.ts';
import { createOrganization, createPerson } from '../factories/people.ts';
import { createBookableVenue, type VenueFields } from '../factories/venues.ts';
import { startTestApp } from '../helpers/app.ts';
import { committedWhileWaiting } from '../helpers/db.ts';

/** `days` ahead at `time` in Lisbon (the factories' time zone), as an instant. */
export function lisbon(days: number, time: string): Date {
  const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days });
  return new Date(
    date.toZonedDateTime({ timeZone: 'Europe/Lisbon', plainTime: Temporal.PlainTime.from(time) })
      .epochMilliseconds,
  );
}

/**
 * The world; with `model` (a fake Anthropic server) the venue's agent asks the app's own language
 * model gateway, pointed at it, about questions its facts do not answer.
 */
export async function venueAgentWorld(options: { model?: { url: string } } = {}) {
  const app = await startTestApp({
    env: options.model ? { ANTHROPIC_API_KEY: 'sk-ant-test-key', ANTHROPIC_BASE_URL: options.model.url } : {},
  });
  const { services } = app;
  const llm: LlmGateway | undefined = options.model ? services.llm : undefined;
  const db = services.db;
  const metrics = createMetrics();
  const published: { topic: string; payload: unknown }[] = [];
  const deps = envelopeDeps({
    db,
    keyring: services.keyring,
    clawpulse: services.network.clawpulse,
    breakers: services.network.breakers,
    logger: services.logger,
    now: services.now,
    network: services.config.network,
    metrics,
  });
  const handlers: IntentHandlers = venueAgentHandlers({
    now: services.now,
    effects: services.bookings.effects,
    requestMinutes: services.bookings.requestMinutes,
    logger: services.logger,
    llm,
    metrics,
    async publish(topic, payload) {
      published.push({ topic, payload });
      await services.pubsub.publish(topic, payload);
    },
  });
  const register = (agentId: string) => registerAgent({ db, clawpulse: services.network.clawpulse }, agentId);

  /** A person with a consumer agent registered with the gateway. */
  async function guest() {
    const person = await createPerson(db);
    const agent = await ensureConsumerAgent(db, services.keyring, person.id);
    await register(agent.id);
    return { person, agent, id: consumerAgentId(person.id) };
  }

  /** A bookable venue with a business agent (the default DNA unless `policy` changes it). */
  async function venue(
    policy: Partial<NonNullable<AgentDna['bookingPolicy']>> = {},
    fields: VenueFields = {},
  ) {
    const place = await createBookableVenue(db, fields);
    const { agent } = await db.$transaction((tx) => createVenueAgent(tx, services.keyring, place));
    const dna = agent.dna as unknown as AgentDna;
    const updated = await db.agent.update({
      where: { id: agent.id },
      data: {
        dna: {
          ...dna,
          bookingPolicy: { ...dna.bookingPolicy!, ...policy },
        } as unknown as Prisma.InputJsonValue,
      },
    });
    await register(agent.id);
    return { venue: place, agent: updated, id: venueAgentId(place.id) };
  }

  /**
   * Sends an envelope from `from` to `to` by the real path and reads it from `to`'s inbox; returns
   * the INBOUND row's id (verified, DELIVERED) for handleEnvelope.
   */
  async function deliver<I extends Intent>(
    from: string,
    to: string,
    intent: I,
    payload: IntentPayload<I>,
    bookingId: string | null = null,
  ) {
    const outbound = await queueEnvelope(db, { from, to, intent, payload, bookingId, now: services.now() });
    const sent = await sendEnvelope(deps, outbound.id);
    if (sent.result !== 'sent') throw new Error(`the envelope was not sent: ${sent.result}`);
    const drained = await drainInbox(deps, to);
    if (drained.accepted < 1)
      throw new Error(`nothing accepted from ${to}'s inbox: ${JSON.stringify(drained)}`);
    const inbound = await db.a2aEnvelope.findFirstOrThrow({
      where: { direction: 'INBOUND', envelopeId: outbound.envelopeId },
    });
    return { outbound, inboundRowId: inbound.id };
  }

  /** Handles an inbound row with the venue agent's handlers. */
  function handle(rowId: string) {
    return handleEnvelope({ db, logger: services.logger, now: services.now }, rowId, handlers);
  }

  /** The guest's booking at the venue, REQUESTED, as the consumer side leaves it before asking. */
  function requested(
    guestId: string,
    venueId: string,
    startsAt: Date,
    partySize = 2,
    fields: Partial<BookingFields> = {},
  ) {
    return createBooking(db, {
      venueId,
      guestId,
      requestedById: guestId,
      startsAt,
      partySize,
      status: 'REQUESTED',
      source: 'CHAT',
      clientKey: `key-${randomUUID()}`,
      ...fields,
    });
  }

  /** Sends the `booking.request` for `booking` from the guest's agent and handles it. */
  async function request(
    from: { id: string },
    to: { id: string; venue: { id: string } },
    booking: Booking,
    extra: Partial<IntentPayload<'booking.request'>> = {},
  ) {
    const delivered = await deliverRequest(from, to, booking, extra);
    const outcome = await handle(delivered.inboundRowId);
    return { ...delivered, outcome };
  }

  /** The guest's `booking.request` for `booking`, delivered to the venue's inbox and not yet handled. */
  function deliverRequest(
    from: { id: string },
    to: { id: string; venue: { id: string } },
    booking: Booking,
    extra: Partial<IntentPayload<'booking.request'>> = {},
  ) {
    return deliver(
      from.id,
      to.id,
      'booking.request',
      {
        venueId: to.venue.id,
        startsAt: booking.startsAt.toISOString(),
        partySize: booking.partySize,
        guestName: 'Ana',
        clientKey: booking.clientKey ?? `key-${randomUUID()}`,
        bookingId: booking.id,
        ...extra,
      },
      booking.id,
    );
  }

  /** The venue agent's answers to an envelope (OUTBOUND rows replying to its AGP id). */
  function answers(envelopeId: string) {
    return db.a2aEnvelope.findMany({ where: { direction: 'OUTBOUND', inReplyTo: envelopeId } });
  }

  /**
   * Listens on a pub/sub topic; resolves once Redis has the subscription (a probe arrived), so
   * nothing published afterwards is missed. `next()` gives the next message that is not a probe.
   */
  async function listen(topic: string) {
    const messages = services.pubsub.subscribe(topic);
    const isProbe = (value: unknown) => (value as { probe?: boolean } | undefined)?.probe === true;
    let pending = messages.next();
    for (;;) {
      await services.pubsub.publish(topic, { probe: true });
      const arrived = await Promise.race([pending, new Promise((r) => setTimeout(() => r(null), 50))]);
      if (arrived) break;
    }
    pending = messages.next();
    return {
      async next(timeoutMs = 2000): Promise<unknown> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const left = deadline - Date.now();
          const result = await Promise.race([
            pending,
            new Promise<null>((r) => setTimeout(() => r(null), left)),
          ]);
          if (!result) return undefined;
          pending = messages.next();
          if (!isProbe(result.value)) return result.value;
        }
      },
      close: () => messages.return?.(),
    };
  }

  /**
   * Runs `act` (a decision of the venue's team) while the venue's row is locked, then commits the
   * venue's move to another organisation, as a claim's approval does (claims.ts), and lets `act`
   * go on; what it answered.
   */
  async function takenOverDuring<T>(venueId: string, act: () => Promise<T>): Promise<T> {
    const buyer = await createOrganization(db);
    return committedWhileWaiting(
      services,
      {
        hold: ['SELECT 1 FROM venues WHERE id = $1 FOR UPDATE', [venueId]],
        waiting: 'FROM venues WHERE id',
        change: ['UPDATE venues SET organization_id = $2 WHERE id = $1', [venueId, buyer.id]],
      },
      act,
    );
  }

  return {
    app,
    listen,
    services,
    db,
    metrics,
    published,
    handlers,
    guest,
    venue,
    deliver,
    handle,
    requested,
    request,
    deliverRequest,
    answers,
    takenOverDuring,
    close: () => app.close(),
  };
}

export type VenueAgentWorld = Awaited<ReturnType<typeof venueAgentWorld>>;
