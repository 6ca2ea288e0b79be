/**
 * Whoever asks, the venue's agent decides: a guest's new booking at a venue whose agent is ACTIVE
 * is REQUESTED and, in the same transaction, a `booking.request` envelope from the guest's agent
 * to the venue's, with the check that tells the guest when no answer came in time. Through
 * GraphQL and the chat tool alike; HELD bookings, bookings the venue's team makes and venues with
 * no active agent keep today's path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBooking } from '../../src/domain/bookings/bookings.ts';
import { createBookingDeps } from '../../src/domain/bookings/deps.ts';
import { consumerTools } from '../../src/domain/conversation/assembly.ts';
import { venueAgentRequests } from '../../src/domain/network/consumer-agent.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { toolContext } from '../factories/tools.ts';
import { person as member } from '../helpers/authz.ts';
import { at, type ConsumerWorld, consumerWorld, DATE } from './consumer-world.ts';

let world: ConsumerWorld;
beforeAll(async () => {
  world = await consumerWorld();
});
afterAll(() => world?.close());

describe('a guest booking over GraphQL', () => {
  it('at a venue whose agent is active: REQUESTED and a PENDING booking.request, with its send and answer-due jobs', async () => {
    const { db, app } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person('Marta Sousa');
    const before = app.clock.now();

    const created = await world.book(marta.token, venue.id, { specialRequests: 'A quiet corner' });
    expect(created.__typename, JSON.stringify(created)).toBe('BookingPayload');
    const booking = await db.booking.findUniqueOrThrow({
      where: { id: Buffer.from(created.booking!.id, 'base64').toString().split(':')[1]! },
    });
    expect(booking.status).toBe('REQUESTED');

    const request = await world.requestOf(booking.id);
    expect(request).toMatchObject({
      state: 'PENDING',
      fromAgent: `consumer-${marta.userId}`,
      toAgent: `venue-${venue.id}`,
      bookingId: booking.id,
      expiresAt: booking.expiresAt,
    });
    expect(request!.payload).toEqual({
      venueId: venue.id,
      startsAt: at('20:00').toISOString(),
      partySize: 2,
      guestName: 'Marta Sousa',
      notes: 'A quiet corner',
      clientKey: booking.id,
      bookingId: booking.id,
    });
    // The guest's own agent signs it: made with the booking.
    expect(await db.agent.findUnique({ where: { userId: marta.userId } })).toMatchObject({
      kind: 'CONSUMER',
    });

    expect(await world.jobs(`a2a-send:${request!.id}`)).toHaveLength(1);
    const [due] = await world.jobs(`a2a-answer-due:${booking.id}`);
    expect(due).toMatchObject({
      task: 'a2a-answer-due',
      payload: { bookingId: booking.id, envelopeRowId: request!.id },
    });
    const ttl = app.services.config.network.envelopeTtlMs;
    expect(due!.run_at.getTime()).toBeGreaterThanOrEqual(before.getTime() + ttl);
    expect(due!.run_at.getTime()).toBeLessThanOrEqual(app.clock.now().getTime() + ttl);
  });

  it("carries the guest's client key, and 'Guest' for a person with no name", async () => {
    const { venue } = await world.venue({ agent: true });
    const nameless = await world.person('   ');
    const created = await world.book(nameless.token, venue.id, { clientKey: 'my-own-key-123' });
    const id = Buffer.from(created.booking!.id, 'base64').toString().split(':')[1]!;
    const request = await world.requestOf(id);
    expect(request!.payload).toMatchObject({
      guestName: 'Guest',
      clientKey: 'my-own-key-123',
      bookingId: id,
    });
    expect(request!.payload).not.toHaveProperty('notes');
  });

  it('a booking that fails leaves no envelope', async () => {
    const { db } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    // Four tables of four: a party of nine has no room.
    const refused = await world.book(marta.token, venue.id, { partySize: 9 });
    expect(refused.__typename).not.toBe('BookingPayload');
    expect(await db.booking.count({ where: { venueId: venue.id } })).toBe(0);
    expect(await db.a2aEnvelope.count({ where: { toAgent: `venue-${venue.id}` } })).toBe(0);
  });

  it('writes the booking and its envelope in one transaction: a failure after the envelope undoes both', async () => {
    const { app, db } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    const failing = createBookingDeps({
      db,
      now: app.clock.now,
      config: app.services.config.bookings,
      limiter: app.services.limiter,
      publish: async () => {},
      onPublishError: () => {},
      hooks: [
        venueAgentRequests({
          keyring: app.services.keyring,
          envelopeTtlMs: app.services.config.network.envelopeTtlMs,
          now: app.clock.now,
        }),
        async (tx, { booking }) => {
          // The envelope is written by now, in this transaction.
          expect(await tx.a2aEnvelope.count({ where: { bookingId: booking.id } })).toBe(1);
          throw new Error('the database went away');
        },
      ],
    });
    await expect(
      createBooking(
        failing,
        createAccess(db, { kind: 'user', userId: marta.userId, isPlatformAdmin: false }),
        {
          venueId: venue.id,
          partySize: 2,
          startsAt: at('21:00'),
          source: 'DASHBOARD',
        },
      ),
    ).rejects.toThrow('the database went away');
    expect(await db.booking.count({ where: { venueId: venue.id } })).toBe(0);
    expect(await db.a2aEnvelope.count({ where: { toAgent: `venue-${venue.id}` } })).toBe(0);
  });

  it('at a venue without an agent, or whose agent is paused: REQUESTED and no envelope', async () => {
    const { db } = world;
    for (const options of [{}, { agent: true, status: 'PAUSED' as const }]) {
      const { venue } = await world.venue(options);
      const marta = await world.person();
      const created = await world.book(marta.token, venue.id);
      expect(created.booking?.status, JSON.stringify(options)).toBe('REQUESTED');
      expect(await db.a2aEnvelope.count({ where: { toAgent: `venue-${venue.id}` } })).toBe(0);
    }
  });

  it('a HELD booking sends no request', async () => {
    const { db } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    const created = await world.book(marta.token, venue.id, { hold: true });
    expect(created.booking?.status).toBe('HELD');
    expect(await db.a2aEnvelope.count({ where: { toAgent: `venue-${venue.id}` } })).toBe(0);
  });

  it("a booking the venue's team makes for a guest is CONFIRMED and sends no request", async () => {
    const { app, db } = world;
    const organization = await db.organization.create({ data: { name: 'Team books' } });
    const { venue } = await world.venue({ agent: true });
    await db.venue.update({ where: { id: venue.id }, data: { organizationId: organization.id } });
    const staff = await member(app, organization.id, 'STAFF');
    const created = await world.book(staff.token, venue.id, { guestEmail: 'walk-in@example.test' });
    expect(created.booking?.status, JSON.stringify(created)).toBe('CONFIRMED');
    expect(await db.a2aEnvelope.count({ where: { toAgent: `venue-${venue.id}` } })).toBe(0);
  });
});

describe('bookings that are not requests to send', () => {
  it('a party larger than a request carries; an outside agent’s booking (source A2A) is asked like any other', async () => {
    const { app, db } = world;
    const { venue } = await world.venue({ agent: true });
    await db.venue.update({ where: { id: venue.id }, data: { partySizeMax: 150 } });
    await db.venueTable.create({ data: { venueId: venue.id, name: 'Hall', seats: 150 } });
    const marta = await world.person();
    const access = createAccess(db, { kind: 'user', userId: marta.userId, isPlatformAdmin: false });
    const fromOutside = await createBooking(app.services.bookings, access, {
      venueId: venue.id,
      partySize: 2,
      startsAt: at('19:00'),
      source: 'A2A',
    });
    const banquet = await createBooking(app.services.bookings, access, {
      venueId: venue.id,
      partySize: 120,
      startsAt: at('21:00'),
      source: 'DASHBOARD',
    });
    expect([fromOutside.status, banquet.status]).toEqual(['REQUESTED', 'REQUESTED']);
    expect(await db.a2aEnvelope.count({ where: { bookingId: banquet.id } })).toBe(0);
    // Public A2A books for the key's member as a guest: the venue's agent answers it as it would chat.
    const asked = await db.a2aEnvelope.findMany({ where: { toAgent: `venue-${venue.id}` } });
    expect(asked.map((e) => [e.bookingId, e.intent])).toEqual([[fromOutside.id, 'booking.request']]);
  });
});

describe('a guest booking in chat', () => {
  const createBookingTool = () => consumerTools(world.app.services).find((t) => t.name === 'create_booking')!;
  const run = (userId: string, venueId: string) =>
    createBookingTool().run(
      { venue_id: venueId, date: DATE.toString(), time: '19:30', party_size: 3, special_requests: 'Window' },
      toolContext(userId),
      new AbortController().signal,
    );

  it("asks the venue's agent, and tells the model to say it has asked", async () => {
    const { db } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    const result = (await run(marta.userId, venue.id)) as Record<string, unknown>;
    expect(result).toMatchObject({ status: 'REQUESTED', askedVenueAgent: true });
    expect(result.note).toContain(`I've asked ${venue.name}`);
    // Over A2A, the way to follow it is A2A's or MCP's, not a tool of the chat.
    const overA2a = (await createBookingTool().run(
      { venue_id: venue.id, date: DATE.toString(), time: '20:30', party_size: 2 },
      { ...toolContext(marta.userId), channel: 'a2a' },
      new AbortController().signal,
    )) as Record<string, unknown>;
    expect(overA2a.note).toContain('tasks/get on the A2A endpoint');
    const request = await world.requestOf(result.bookingId as string);
    expect(request).toMatchObject({ state: 'PENDING', fromAgent: `consumer-${marta.userId}` });
    expect(request!.payload).toMatchObject({
      partySize: 3,
      notes: 'Window',
      startsAt: at('19:30').toISOString(),
    });
    expect((await db.booking.findUniqueOrThrow({ where: { id: result.bookingId as string } })).source).toBe(
      'CHAT',
    );
    // Asked again (a retried turn): the same booking, one request.
    const again = (await run(marta.userId, venue.id)) as Record<string, unknown>;
    expect(again.bookingId).toBe(result.bookingId);
    expect(await db.a2aEnvelope.count({ where: { bookingId: result.bookingId as string } })).toBe(1);
  });

  it('at a venue without an agent: no envelope, and nothing said of an agent', async () => {
    const { db } = world;
    const { venue } = await world.venue();
    const marta = await world.person();
    const result = (await run(marta.userId, venue.id)) as Record<string, unknown>;
    expect(result.status).toBe('REQUESTED');
    expect(result).not.toHaveProperty('askedVenueAgent');
    expect(await db.a2aEnvelope.count({ where: { bookingId: result.bookingId as string } })).toBe(0);
  });
});
