/**
 * A platform admin's suspension stands against an owner's publish or unpublish that read the
 * venue just before it: both ask again under the venue's lock, and refuse, changing nothing. (An
 * unpublish that overwrote SUSPENDED with DRAFT let the next publish put the venue straight back
 * on the network, its publishedAt being set.) So does a booking that read the venue before it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVenueAgent, updateAgentDna } from '../../src/domain/agents/agents.ts';
import { defaultVenueDna } from '../../src/domain/agents/dna.ts';
import { recordScanFacts } from '../../src/domain/network/venue-wiki.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import {
  publishVenue,
  setOpeningHours,
  setVenueSuspended,
  unpublishVenue,
  updateVenueProfile,
} from '../../src/domain/venues/venues.ts';
import type { BookingStatus } from '../../src/generated/prisma/enums.ts';
import { ConflictError, NotAllowedError } from '../../src/platform/errors.ts';
import { createBooking } from '../factories/bookings.ts';
import { createOrganization } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { guest, person } from '../helpers/authz.ts';
import { committedWhileWaiting } from '../helpers/db.ts';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.close();
});

/**
 * Runs `act` while the venue's row is locked, then commits `change` (SQL with the venue's id as
 * $1, then `values`) and lets `act` go on; what `act` threw, or null.
 */
async function changedMeanwhile(
  venueId: string,
  change: { sql: string; values?: unknown[] },
  act: () => Promise<unknown>,
  waiting = 'FROM venues WHERE id',
): Promise<unknown> {
  return committedWhileWaiting(
    app.services,
    {
      hold: ['SELECT 1 FROM venues WHERE id = $1 FOR UPDATE', [venueId]],
      waiting,
      change: [change.sql, [venueId, ...(change.values ?? [])]],
    },
    act,
  ).then(
    () => null,
    (error: unknown) => error,
  );
}

/** `act` while a platform admin suspends the venue. */
const suspendedMeanwhile = (venueId: string, act: () => Promise<unknown>, waiting?: string) =>
  changedMeanwhile(
    venueId,
    { sql: `UPDATE venues SET status = 'SUSPENDED', suspended_from = status WHERE id = $1` },
    act,
    waiting,
  );

describe('a suspension committed while an owner publishes or unpublishes', () => {
  it('stands: the unpublish and the publish are refused, the venue stays suspended', async () => {
    const db = app.services.db;
    const organization = await createOrganization(db);
    const owner = await person(app, organization.id, 'OWNER');
    const access = await createAccess(db, { kind: 'user', userId: owner.userId, isPlatformAdmin: false });

    const live = await createBookableVenue(db, { organizationId: organization.id, publishedAt: new Date() });
    const unpublished = await suspendedMeanwhile(live.id, () =>
      unpublishVenue(db, access, { venueId: live.id }),
    );
    expect(unpublished).toBeInstanceOf(NotAllowedError);
    expect((await db.venue.findUniqueOrThrow({ where: { id: live.id } })).status).toBe('SUSPENDED');

    // A draft that was on the network before publishes without review (its fast way).
    const draft = await createBookableVenue(db, {
      organizationId: organization.id,
      status: 'DRAFT',
      publishedAt: new Date(),
      description: 'Grilled fish by the river, and a long list of green wines.',
      cuisines: ['portuguese'],
      addressLine1: 'Rua do Rio 4',
      city: 'Lisboa',
      countryCode: 'PT',
      latitude: 38.71,
      longitude: -9.14,
    });
    const published = await suspendedMeanwhile(draft.id, () =>
      publishVenue(db, access, { venueId: draft.id }),
    );
    expect(published).toBeInstanceOf(NotAllowedError);
    expect((await db.venue.findUniqueOrThrow({ where: { id: draft.id } })).status).toBe('SUSPENDED');
  });
});

describe('a suspension committed while a booking waits for the venue', () => {
  const BOOK = `mutation Book($input: CreateBookingInput!) {
    createBooking(input: $input) { __typename ... on Error { message } }
  }`;
  const book = (token: string, venueId: string, extra: Record<string, unknown> = {}) =>
    app.gql<{ createBooking: { __typename: string; message?: string } }, unknown>(
      BOOK,
      {
        input: {
          venueId: Buffer.from(`Venue:${venueId}`).toString('base64'),
          startsAt: new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 11).concat('19:00:00.000Z'),
          partySize: 2,
          ...extra,
        },
      },
      { token },
    );

  it('refuses it, as the venue is under its lock: no booking, nobody written to in its name', async () => {
    const db = app.services.db;
    const organization = await createOrganization(db);
    const owner = await person(app, organization.id, 'OWNER');
    const stranger = await guest(app);
    const venue = await createBookableVenue(db, {
      organizationId: organization.id,
      publishedAt: new Date(),
      timeZone: 'UTC',
    });
    const answers: { createBooking: { __typename: string; message?: string } }[] = [];
    const booking = (token: string, extra?: Record<string, unknown>) => async () => {
      const answer = await book(token, venue.id, extra);
      answers.push(answer.data!);
    };
    // The venue's team books a guest by email, CONFIRMED at once and told in the venue's name.
    await suspendedMeanwhile(
      venue.id,
      booking(owner.token, { guestEmail: 'someone@example.com' }),
      'lock_for_booking',
    );
    // And a guest books for themselves, once the venue is back and then suspended again.
    await db.venue.update({ where: { id: venue.id }, data: { status: venue.status, suspendedFrom: null } });
    await suspendedMeanwhile(venue.id, booking(stranger.token), 'lock_for_booking');
    expect(answers.map((a) => a.createBooking.__typename)).toEqual(['ConflictError', 'NotFoundError']);
    expect(await db.booking.count({ where: { venueId: venue.id } })).toBe(0);
    expect(await db.outboundMessage.count({ where: { booking: { venueId: venue.id } } })).toBe(0);
  });
});

describe('two platform admins reinstating a venue at once', () => {
  it('reinstates it once: the second finds it reinstated already and changes nothing', async () => {
    const db = app.services.db;
    const organization = await createOrganization(db);
    const admin = await guest(app);
    const access = await createAccess(db, { kind: 'user', userId: admin.userId, isPlatformAdmin: true });
    const venue = await createBookableVenue(db, { organizationId: organization.id, publishedAt: new Date() });
    await setVenueSuspended(db, access, { venueId: venue.id, suspended: true });
    // The other admin reinstates it, and it is unpublished by its owner, while this one waits.
    const outcome = await changedMeanwhile(
      venue.id,
      { sql: `UPDATE venues SET status = 'DRAFT', suspended_from = NULL WHERE id = $1` },
      () => setVenueSuspended(db, access, { venueId: venue.id, suspended: false }),
    );
    expect(outcome).toBeInstanceOf(ConflictError);
    expect((await db.venue.findUniqueOrThrow({ where: { id: venue.id } })).status).toBe('DRAFT');
  });
});

describe('a takeover committed while the former owner edits the venue', () => {
  it('refuses the edit, changing nothing: unpublishing, its profile, its hours', async () => {
    const db = app.services.db;
    const [former, buyer] = [await createOrganization(db), await createOrganization(db)];
    const owner = await person(app, former.id, 'OWNER');
    const access = await createAccess(db, { kind: 'user', userId: owner.userId, isPlatformAdmin: false });
    const edits = [
      () => unpublishVenue(db, access, { venueId: venue.id }),
      () => updateVenueProfile(db, access, { venueId: venue.id, description: 'Ours, still' }),
      () =>
        setOpeningHours(db, access, {
          venueId: venue.id,
          hours: [{ weekday: 1, opensAt: '09:00', closesAt: '10:00' }],
        }),
    ];
    let venue = await createBookableVenue(db, { organizationId: former.id, publishedAt: new Date() });
    for (const edit of edits) {
      venue = await createBookableVenue(db, { organizationId: former.id, publishedAt: new Date() });
      const before = await db.venue.findUniqueOrThrow({ where: { id: venue.id }, include: { hours: true } });
      const outcome = await changedMeanwhile(
        venue.id,
        { sql: 'UPDATE venues SET organization_id = $2 WHERE id = $1', values: [buyer.id] },
        edit,
      );
      expect(outcome).toBeInstanceOf(ConflictError);
      const after = await db.venue.findUniqueOrThrow({ where: { id: venue.id }, include: { hours: true } });
      expect({ ...after, organizationId: former.id, updatedAt: before.updatedAt }).toEqual(before);
    }
  });
});

describe("a takeover committed while the former owner edits the venue's agent", () => {
  it("refuses the new DNA, changing nothing: the agent is the new owners' now", async () => {
    const db = app.services.db;
    const [former, buyer] = [await createOrganization(db), await createOrganization(db)];
    const owner = await person(app, former.id, 'OWNER');
    const access = await createAccess(db, { kind: 'user', userId: owner.userId, isPlatformAdmin: false });
    const venue = await createBookableVenue(db, { organizationId: former.id, publishedAt: new Date() });
    const { agent } = await createVenueAgent(db, app.services.keyring, venue);
    const dna = defaultVenueDna(venue.name);

    // The claim's move of the venue takes its agent with it (claims.ts).
    const editing = committedWhileWaiting(
      app.services,
      {
        hold: ['SELECT 1 FROM agents WHERE id = $1 FOR UPDATE', [agent.id]],
        waiting: 'UPDATE "public"."agents"',
        change: ['UPDATE agents SET organization_id = $2 WHERE id = $1', [agent.id, buyer.id]],
      },
      () =>
        updateAgentDna(db, access, {
          agentId: agent.id,
          dna: { ...dna, persona: { ...dna.persona, name: 'Still ours' } },
        }),
    );
    await expect(editing).rejects.toBeInstanceOf(ConflictError);
    const after = await db.agent.findUniqueOrThrow({ where: { id: agent.id } });
    expect({ name: after.name, dna: after.dna, organizationId: after.organizationId }).toEqual({
      name: agent.name,
      dna: agent.dna,
      organizationId: buyer.id,
    });
  });
});

describe("a takeover committed while the former team works the venue's bookings", () => {
  const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');
  const tomorrowAt7 = () =>
    new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 11).concat('19:00:00.000Z');

  /** A former team's member, the venue's new holder, a guest and a published venue of the former's. */
  async function handsChanging() {
    const db = app.services.db;
    const [former, buyer] = [await createOrganization(db), await createOrganization(db)];
    const staff = await person(app, former.id, 'STAFF');
    const someone = await guest(app);
    const venue = await createBookableVenue(db, {
      organizationId: former.id,
      publishedAt: new Date(),
      timeZone: 'UTC',
    });
    const takenOver = <T>(act: () => Promise<T>, waiting?: string) =>
      committedWhileWaiting(
        app.services,
        {
          // As a claim's approval does: the venue's row first, then its new holder.
          hold: ['SELECT 1 FROM venues WHERE id = $1 FOR UPDATE', [venue.id]],
          waiting: waiting ?? 'FROM venues WHERE id',
          change: ['UPDATE venues SET organization_id = $2 WHERE id = $1', [venue.id, buyer.id]],
        },
        act,
      );
    /** The guest's booking there, as made over the API. */
    const booked = (status: BookingStatus, startsAt: Date) =>
      createBooking(db, {
        venueId: venue.id,
        guestId: someone.userId,
        requestedById: someone.userId,
        startsAt,
        status,
        source: 'API',
      });
    return { db, former, buyer, staff, someone, venue, takenOver, booked };
  }

  it('refuses each decision on a booking, changing nothing and telling nobody', async () => {
    for (const [move, status, startsIn] of [
      ['confirmBooking', 'REQUESTED', 2 * 86_400_000],
      ['declineBooking', 'REQUESTED', 2 * 86_400_000],
      ['cancelBooking', 'CONFIRMED', 2 * 86_400_000],
      ['markBookingNoShow', 'CONFIRMED', -3_600_000],
    ] as const) {
      const { db, staff, takenOver, booked } = await handsChanging();
      const booking = await booked(status, new Date(Date.now() + startsIn));
      const answer = await takenOver(() =>
        app.gql<Record<string, { __typename: string; message?: string }>, unknown>(
          `mutation Move($input: BookingActionInput!) { ${move}(input: $input) { __typename ... on Error { message } } }`,
          { input: { bookingId: gid('Booking', booking.id) } },
          { token: staff.token },
        ),
      );
      expect(answer.data?.[move], move).toEqual({
        __typename: 'ConflictError',
        message: 'This venue changed hands while the decision was being made: nothing was changed',
      });
      const after = await db.booking.findUniqueOrThrow({ where: { id: booking.id } });
      expect(after.status, move).toBe(status);
      expect(await db.bookingTransition.count({ where: { bookingId: booking.id } }), move).toBe(0);
      expect(await db.outboundMessage.count({ where: { bookingId: booking.id } }), move).toBe(0);
    }
  });

  it("refuses a change of a booking's party, and a booking for a guest by email", async () => {
    const { db, staff, takenOver, booked } = await handsChanging();
    const booking = await booked('CONFIRMED', new Date(tomorrowAt7()));
    const changed = await takenOver(() =>
      app.gql<{ modifyBooking: { __typename: string } }, unknown>(
        'mutation Change($input: ModifyBookingInput!) { modifyBooking(input: $input) { __typename } }',
        { input: { bookingId: gid('Booking', booking.id), partySize: 3 } },
        { token: staff.token },
      ),
    );
    expect(changed.data?.modifyBooking.__typename).toBe('ConflictError');
    expect((await db.booking.findUniqueOrThrow({ where: { id: booking.id } })).partySize).toBe(2);

    const other = await handsChanging();
    const made = await other.takenOver(
      () =>
        app.gql<{ createBooking: { __typename: string } }, unknown>(
          'mutation Book($input: CreateBookingInput!) { createBooking(input: $input) { __typename } }',
          {
            input: {
              venueId: gid('Venue', other.venue.id),
              startsAt: tomorrowAt7(),
              partySize: 2,
              guestEmail: 'someone-else@example.com',
            },
          },
          { token: other.staff.token },
        ),
      'lock_for_booking',
    );
    expect(made.data?.createBooking.__typename).toBe('ConflictError');
    expect(await db.booking.count({ where: { venueId: other.venue.id } })).toBe(0);
    expect(await db.outboundMessage.count({ where: { booking: { venueId: other.venue.id } } })).toBe(0);
  });

  it("tells the new holder's webhooks, not the former's, of a guest's booking made meanwhile", async () => {
    const { db, former, buyer, someone, venue, takenOver } = await handsChanging();
    const hook = (organizationId: string) =>
      db.webhookSubscription.create({
        data: {
          organizationId,
          url: 'https://hooks.example.com/agnt',
          events: ['booking.requested'],
          secretCiphertext: 'sealed',
          secretKeyId: 'k1',
        },
      });
    const [formerHook, buyerHook] = [await hook(former.id), await hook(buyer.id)];
    const made = await takenOver(
      () =>
        app.gql<{ createBooking: { __typename: string } }, unknown>(
          'mutation Book($input: CreateBookingInput!) { createBooking(input: $input) { __typename } }',
          { input: { venueId: gid('Venue', venue.id), startsAt: tomorrowAt7(), partySize: 2 } },
          { token: someone.token },
        ),
      'lock_for_booking',
    );
    expect(made.data?.createBooking.__typename).toBe('BookingPayload');
    const queued = await db.webhookDelivery.findMany({
      where: { subscriptionId: { in: [formerHook.id, buyerHook.id] } },
      select: { subscriptionId: true, eventType: true },
    });
    expect(queued).toEqual([{ subscriptionId: buyerHook.id, eventType: 'booking.requested' }]);
  });

  it("refuses the former team a booking's value, and a website scan's facts", async () => {
    const { db, staff, takenOver, booked } = await handsChanging();
    const booking = await booked('CONFIRMED', new Date(tomorrowAt7()));
    const valued = await takenOver(
      () =>
        app.gql<{ recordBookingValue: { __typename: string } }, unknown>(
          'mutation Value($input: RecordBookingValueInput!) { recordBookingValue(input: $input) { __typename } }',
          { input: { bookingId: gid('Booking', booking.id), value: 12_000 } },
          { token: staff.token },
        ),
      'FROM venues v JOIN bookings',
    );
    // Not theirs to see any more: as for any stranger to the booking.
    expect(valued.data?.recordBookingValue.__typename).toBe('NotFoundError');
    expect((await db.booking.findUniqueOrThrow({ where: { id: booking.id } })).valueMinor).toBeNull();

    const other = await handsChanging();
    const recording = other.takenOver(() =>
      recordScanFacts(db, { venueId: other.venue.id, organizationId: other.former.id }, [
        { key: 'phone', text: '+351 210 000 000' },
      ]),
    );
    await expect(recording).rejects.toBeInstanceOf(ConflictError);
    expect(await db.venueFact.count({ where: { venueId: other.venue.id } })).toBe(0);
  });
});
