import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBooking as bookingRow } from '../factories/bookings.ts';
import { createOrganization } from '../factories/people.ts';
import { createBookableVenue, everyDay } from '../factories/venues.ts';
import { graphql } from '../generated/gql.ts';
import { member, rawId, startTestApp, type TestApp } from '../helpers/app.ts';

const CreateBooking = graphql(`
  mutation CreateBooking($input: CreateBookingInput!) {
    createBooking(input: $input) {
      __typename
      ... on BookingPayload { booking { id status partySize startsAt guestEmail expiresAt allowedTransitions } }
      ... on ValidationError { message field }
      ... on Error { message }
    }
  }
`);

const Confirm = graphql(`
  mutation ConfirmBooking($id: ID!) {
    confirmBooking(input: { bookingId: $id, reason: "table 4" }) {
      __typename
      ... on BookingPayload { booking { status history { from to by reason } } }
      ... on IllegalTransitionError { from to message }
      ... on Error { message }
    }
  }
`);

const Complete = graphql(`
  mutation CompleteBooking($id: ID!) {
    completeBooking(input: { bookingId: $id }) {
      __typename
      ... on IllegalTransitionError { from to message }
      ... on Error { message }
    }
  }
`);

const NoShow = graphql(`
  mutation EarlyNoShow($id: ID!) {
    markBookingNoShow(input: { bookingId: $id }) {
      __typename
      ... on IllegalTransitionError { message }
      ... on Error { message }
    }
  }
`);

const Cancel = graphql(`
  mutation CancelBooking($id: ID!) {
    cancelBooking(input: { bookingId: $id }) {
      __typename
      ... on BookingPayload { booking { status } }
      ... on Error { message }
    }
  }
`);

const Modify = graphql(`
  mutation ModifyBooking($input: ModifyBookingInput!) {
    modifyBooking(input: $input) {
      __typename
      ... on BookingPayload { booking { startsAt partySize history { reason } } }
      ... on Error { message }
    }
  }
`);

const VenueBookings = graphql(`
  query VenueBookings($id: ID!, $from: DateTime, $to: DateTime, $statuses: [BookingStatus!]) {
    node(id: $id) {
      ... on Venue { bookings(from: $from, to: $to, statuses: $statuses, first: 50) { totalCount edges { node { status partySize guestEmail notes } } } }
    }
  }
`);

const Slots = graphql(`
  query BookingSlots($id: ID!, $date: String!, $partySize: Int!) {
    node(id: $id) { ... on Venue { availability(date: $date, partySize: $partySize) { ... on Availability { slots { startsAt } } } } }
  }
`);

const MyBookings = graphql(`
  query MyBookings { myBookings(first: 10) { edges { node { status venue { name } } } } }
`);

let app: TestApp;
let owner: { token: string; userId: string };
let venueId: string;
let venueGid: string;
/** A date a week ahead in Lisbon; each test books on a day of its own so they never share tables. */
const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 7 });
const at = (time: string, day = 0) =>
  new Date(
    date.add({ days: day }).toZonedDateTime({ timeZone: 'Europe/Lisbon', plainTime: time }).epochMilliseconds,
  ).toISOString();

beforeAll(async () => {
  app = await startTestApp();
  owner = await app.signIn();
  const org = await createOrganization(app.services.db, {
    name: 'Booking House',
    members: [{ userId: owner.userId, role: 'OWNER' }],
  });
  const venue = await createBookableVenue(app.services.db, {
    name: 'Table Talk',
    slug: 'table-talk',
    organizationId: org.id,
    // One table of four, one of two: little room, on purpose.
    tables: [
      { name: 'Four', seats: 4 },
      { name: 'Two', seats: 2 },
    ],
  });
  venueId = venue.id;
  venueGid = Buffer.from(`Venue:${venue.id}`).toString('base64');
});
afterAll(() => app.close());

async function book(token: string, input: Record<string, unknown>) {
  return app.gql(
    CreateBooking,
    { input: { venueId: venueGid, partySize: 2, startsAt: at('20:00'), ...input } as never },
    { token },
  );
}

describe('bookings', () => {
  it('takes a request, lets the venue confirm it, and keeps every step in the history', async () => {
    const guest = await app.signIn();
    const created = await book(guest.token, { startsAt: at('18:00'), specialRequests: 'window please' });
    const booking = member(created.data?.createBooking, 'BookingPayload', created).booking;
    expect(booking).toMatchObject({
      status: 'REQUESTED',
      partySize: 2,
      allowedTransitions: ['CANCELLED_BY_GUEST'],
    });
    expect(booking.expiresAt).toBeTruthy();

    const confirmed = await app.gql(Confirm, { id: booking.id }, { token: owner.token });
    expect(member(confirmed.data?.confirmBooking, 'BookingPayload', confirmed).booking).toEqual({
      status: 'CONFIRMED',
      history: [
        { from: null, to: 'REQUESTED', by: 'guest', reason: 'created' },
        { from: 'REQUESTED', to: 'CONFIRMED', by: 'venue', reason: 'table 4' },
      ],
    });
    // The guest hears about it through the outbound queue.
    const messages = await app.services.db.outboundMessage.findMany({
      where: { bookingId: rawId(booking.id) },
    });
    expect(messages.map((m) => m.kind)).toEqual(['booking.confirmed']);
    expect(messages[0]!.body).toMatch(/Your table for 2 at Table Talk on .* is confirmed\./);
    // Reminders and the no-show check are scheduled with the confirmation.
    const jobs = await app.services.database.pool.query<{ task_identifier: string; key: string }>(
      `SELECT task_identifier, key FROM graphile_worker.jobs WHERE key LIKE $1 ORDER BY key`,
      [`booking:${rawId(booking.id)}:%`],
    );
    expect(jobs.rows.map((j) => j.task_identifier).sort()).toEqual([
      'booking-expire',
      'booking-no-show',
      'booking-reminder',
      'booking-reminder',
    ]);
  });

  it('refuses an illegal transition with a typed error and changes nothing', async () => {
    const guest = await app.signIn();
    const created = await book(guest.token, { startsAt: at('18:30', 1) });
    const booking = member(created.data?.createBooking, 'BookingPayload', created).booking;
    const res = await app.gql(Complete, { id: booking.id }, { token: owner.token });
    expect(res.data?.completeBooking).toEqual({
      __typename: 'IllegalTransitionError',
      from: 'REQUESTED',
      to: 'COMPLETED',
      message: 'A requested booking cannot become completed',
    });
    const stored = await app.services.db.booking.findUniqueOrThrow({
      where: { id: rawId(booking.id) },
      include: { transitions: true },
    });
    expect(stored.status).toBe('REQUESTED');
    expect(stored.transitions).toHaveLength(1);
  });

  it('gives the last table to exactly one of 20 concurrent requests', async () => {
    // 21:00: a party of four takes the four-top, then 20 parties of three race for… nothing that fits;
    // parties of two race for the two-top: exactly one wins.
    const first = await app.signIn();
    await book(first.token, { startsAt: at('21:00', 2), partySize: 4 });
    const guests = await Promise.all(Array.from({ length: 20 }, () => app.signIn()));
    const results = await Promise.all(
      guests.map((g) => book(g.token, { startsAt: at('21:00', 2), partySize: 2 })),
    );
    const kinds = results.map((r) => r.data?.createBooking?.__typename);
    expect(kinds.filter((k) => k === 'BookingPayload')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'SlotFullError')).toHaveLength(19);
    const live = await app.services.db.booking.count({
      where: { venueId, startsAt: new Date(at('21:00', 2)) },
    });
    expect(live).toBe(2);
    // Availability no longer offers 21:00 to a couple.
    const slots = await app.gql(
      Slots,
      { id: venueGid, date: date.add({ days: 2 }).toString(), partySize: 2 },
      { token: first.token },
    );
    const offered = (
      slots.data!.node as { availability: { slots: { startsAt: string }[] } }
    ).availability.slots.map((s) => s.startsAt);
    expect(offered).not.toContain(new Date(at('21:00', 2)).toISOString());
    expect(offered).toContain(new Date(at('18:00', 2)).toISOString());
  });

  it('returns the same booking for the same client key, and refuses the key for another booking', async () => {
    const guest = await app.signIn();
    const clientKey = `key-${randomBytes(6).toString('hex')}`;
    const [a, b] = await Promise.all([
      book(guest.token, { startsAt: at('19:00', 3), clientKey }),
      book(guest.token, { startsAt: at('19:00', 3), clientKey }),
    ]);
    const idA = member(a.data?.createBooking, 'BookingPayload', a).booking.id;
    const idB = member(b.data?.createBooking, 'BookingPayload', b).booking.id;
    expect(idA).toBe(idB);
    const other = await book(guest.token, { startsAt: at('19:30', 3), clientKey });
    expect(other.data?.createBooking).toMatchObject({ __typename: 'ConflictError' });

    // The same key at another venue is refused too, and books nothing there.
    const elsewhere = await createBookableVenue(app.services.db, {
      organizationId: (await createOrganization(app.services.db)).id,
    });
    const there = await book(guest.token, {
      venueId: Buffer.from(`Venue:${elsewhere.id}`).toString('base64'),
      startsAt: at('19:00', 3),
      clientKey,
    });
    expect(there.data?.createBooking).toMatchObject({ __typename: 'ConflictError' });
    expect(await app.services.db.booking.count({ where: { venueId: elsewhere.id } })).toBe(0);
    expect(await app.services.db.booking.count({ where: { requestedById: guest.userId, clientKey } })).toBe(
      1,
    );
  });

  it('refuses a time that is not a slot, naming the field', async () => {
    const guest = await app.signIn();
    const res = await book(guest.token, { startsAt: at('20:10') });
    expect(res.data?.createBooking).toMatchObject({ __typename: 'ValidationError', field: 'startsAt' });
  });

  it('does not count on a seated party moving to a table freed after they sat down', async () => {
    // Three at the four-top 18:00–19:30, two at the two-top 18:30–20:00; two more at 19:30 can only
    // sit at the four-top (the two-top is taken until 20:00), and keep it until 21:00.
    for (const [time, partySize] of [
      ['18:00', 3],
      ['18:30', 2],
      ['19:30', 2],
    ] as const) {
      const guest = await app.signIn();
      const res = await book(guest.token, { startsAt: at(time, 14), partySize });
      member(res.data?.createBooking, 'BookingPayload', res);
    }
    // Four at 20:00 would need the 19:30 couple to move to the two-top when it frees.
    const four = await app.signIn();
    const refused = await book(four.token, { startsAt: at('20:00', 14), partySize: 4 });
    expect(refused.data?.createBooking).toMatchObject({ __typename: 'SlotFullError' });
    const slots = await app.gql(
      Slots,
      { id: venueGid, date: date.add({ days: 14 }).toString(), partySize: 4 },
      { token: four.token },
    );
    const offered = (
      slots.data!.node as { availability: { slots: { startsAt: string }[] } }
    ).availability.slots.map((s) => s.startsAt);
    expect(offered).toEqual([at('21:00', 14), at('21:30', 14)]);
    const accepted = await book(four.token, { startsAt: at('21:00', 14), partySize: 4 });
    member(accepted.data?.createBooking, 'BookingPayload', accepted);
  });

  it('re-checks room when a booking moves, and records the change', async () => {
    const guest = await app.signIn();
    const created = await book(guest.token, { startsAt: at('18:00', 4), partySize: 2 });
    const booking = member(created.data?.createBooking, 'BookingPayload', created).booking;
    // Both tables are taken at 21:00.
    const others = await Promise.all([app.signIn(), app.signIn()]);
    await book(others[0]!.token, { startsAt: at('21:00', 4), partySize: 4 });
    await book(others[1]!.token, { startsAt: at('21:00', 4), partySize: 2 });
    const full = await app.gql(
      Modify,
      { input: { bookingId: booking.id, startsAt: at('21:00', 4) } },
      { token: guest.token },
    );
    expect(full.data?.modifyBooking).toMatchObject({ __typename: 'SlotFullError' });
    const moved = await app.gql(
      Modify,
      { input: { bookingId: booking.id, startsAt: at('19:30', 4) } },
      { token: guest.token },
    );
    expect(member(moved.data?.modifyBooking, 'BookingPayload', moved).booking.history.at(-1)!.reason).toMatch(
      /^changed time/,
    );
  });

  it('lets the guest cancel their own booking, and nobody else see it', async () => {
    const guest = await app.signIn();
    const stranger = await app.signIn();
    const created = await book(guest.token, { startsAt: at('19:00', 5) });
    const booking = member(created.data?.createBooking, 'BookingPayload', created).booking;
    const peek = await app.gql(Cancel, { id: booking.id }, { token: stranger.token });
    expect(peek.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const guestConfirms = await app.gql(Confirm, { id: booking.id }, { token: guest.token });
    expect(guestConfirms.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const cancelled = await app.gql(Cancel, { id: booking.id }, { token: guest.token });
    expect(member(cancelled.data?.cancelBooking, 'BookingPayload', cancelled).booking.status).toBe(
      'CANCELLED_BY_GUEST',
    );
    const mine = await app.gql(MyBookings, {}, { token: guest.token });
    expect(mine.data?.myBookings.edges.map((e) => e.node)).toEqual([
      { status: 'CANCELLED_BY_GUEST', venue: { name: 'Table Talk' } },
    ]);
  });

  it('pages a person’s bookings by the cursors it gave, and refuses one it never gave as bad input', async () => {
    const guest = await app.signIn();
    for (const time of ['18:00', '18:30']) await book(guest.token, { startsAt: at(time, 9) });
    const page = (after?: string) =>
      app.gql(
        'query Page($after: String) { myBookings(first: 1, after: $after) { edges { node { startsAt } } pageInfo { endCursor } } }',
        { after },
        { token: guest.token },
      ) as Promise<{
        data?: {
          myBookings: { edges: { node: { startsAt: string } }[]; pageInfo: { endCursor: string } };
        } | null;
        errors?: { message: string; extensions?: Record<string, unknown> }[];
      }>;
    const first = await page();
    const second = await page(first.data!.myBookings.pageInfo.endCursor);
    expect([first, second].map((p) => p.data!.myBookings.edges.map((e) => e.node.startsAt))).toEqual([
      [at('18:00', 9)],
      [at('18:30', 9)],
    ]);
    const cursor = (chunk: string) => Buffer.from(`GPC:${chunk}`).toString('base64');
    for (const after of [cursor('S:not-a-uuid'), cursor('N:5'), cursor('J:{"x":1}')]) {
      const refused = await page(after);
      expect(refused.errors, after).toEqual([
        expect.objectContaining({
          message: 'Not a cursor of this list',
          extensions: { code: 'BAD_USER_INPUT', field: 'after' },
        }),
      ]);
    }
  });

  it('lets the venue team book for a guest by email, and list bookings by range and status', async () => {
    const email = `walk-in-${randomBytes(3).toString('hex')}@example.test`;
    const created = await book(owner.token, {
      startsAt: at('20:00', 6),
      guestEmail: email,
      notes: 'regular',
      partySize: 1,
    });
    expect(member(created.data?.createBooking, 'BookingPayload', created).booking).toMatchObject({
      status: 'CONFIRMED',
      guestEmail: email,
    });
    const list = await app.gql(
      VenueBookings,
      { id: venueGid, from: at('18:00', 6), to: at('23:00', 6), statuses: ['CONFIRMED'] },
      { token: owner.token },
    );
    expect((list.data!.node as { bookings: unknown }).bookings).toEqual({
      totalCount: 1,
      edges: [{ node: { status: 'CONFIRMED', partySize: 1, guestEmail: email, notes: 'regular' } }],
    });
  });

  it('makes no account for a guest address when the team booking for it is refused', async () => {
    const email = `too-many-${randomBytes(3).toString('hex')}@example.test`;
    // Six at once: no table of the venue seats them (one of four, one of two, not pushed together).
    const refused = await book(owner.token, { startsAt: at('19:00', 7), guestEmail: email, partySize: 6 });
    expect(refused.data?.createBooking).toMatchObject({
      __typename: 'ValidationError',
      message: 'That is not a bookable time at this venue',
    });
    expect(await app.services.db.user.count({ where: { email } })).toBe(0);
  });

  it('keeps notes for the venue, and time rules on moves the clock decides', async () => {
    const guest = await app.signIn();
    const withNotes = await book(guest.token, { startsAt: at('18:00', 8), notes: 'VIP, comp the wine' });
    expect(withNotes.data?.createBooking).toMatchObject({ __typename: 'ValidationError', field: 'notes' });

    const created = await book(guest.token, { startsAt: at('19:00', 8) });
    const booking = member(created.data?.createBooking, 'BookingPayload', created).booking;
    await app.gql(Confirm, { id: booking.id }, { token: owner.token });
    const early = await app.gql(NoShow, { id: booking.id }, { token: owner.token });
    expect(early.data?.markBookingNoShow).toEqual({
      __typename: 'IllegalTransitionError',
      message: 'A booking cannot be a no-show before its time',
    });
  });

  it('leaves a confirmed booking whose time has come to the venue: its guest can no longer cancel it', async () => {
    const guest = await app.signIn();
    const now = app.clock.now().getTime();
    const started = await bookingRow(app.services.db, {
      venueId,
      guestId: guest.userId,
      startsAt: new Date(now - 10 * 60_000),
      status: 'CONFIRMED',
    });
    const id = Buffer.from(`Booking:${started.id}`).toString('base64');
    const refused = await app.gql(Cancel, { id }, { token: guest.token });
    expect(refused.data?.cancelBooking).toMatchObject({
      __typename: 'IllegalTransitionError',
      message: 'A confirmed booking cannot be cancelled by its guest once its time has come: tell the venue',
    });
    // Nor move it away from tonight (its no-show would never be marked, and it could then be
    // cancelled), nor change its party.
    for (const change of [{ startsAt: new Date(now + 86_400_000).toISOString() }, { partySize: 3 }]) {
      const moved = await app.gql(Modify, { input: { bookingId: id, ...change } }, { token: guest.token });
      expect(moved.data?.modifyBooking).toEqual({
        __typename: 'IllegalTransitionError',
        message: 'A confirmed booking cannot be changed by its guest once its time has come: tell the venue',
      });
    }
    expect(await app.services.db.booking.findUniqueOrThrow({ where: { id: started.id } })).toMatchObject({
      startsAt: started.startsAt,
      partySize: started.partySize,
    });
    expect((await app.services.db.booking.findUniqueOrThrow({ where: { id: started.id } })).status).toBe(
      'CONFIRMED',
    );
    // Before its time the guest may; after it, the venue still may.
    const ahead = await bookingRow(app.services.db, {
      venueId,
      guestId: guest.userId,
      startsAt: new Date(now + 60 * 60_000),
      status: 'CONFIRMED',
    });
    const aheadId = Buffer.from(`Booking:${ahead.id}`).toString('base64');
    const byGuest = await app.gql(Cancel, { id: aheadId }, { token: guest.token });
    expect(member(byGuest.data?.cancelBooking, 'BookingPayload', byGuest).booking.status).toBe(
      'CANCELLED_BY_GUEST',
    );
    const byVenue = await app.gql(Cancel, { id }, { token: owner.token });
    expect(member(byVenue.data?.cancelBooking, 'BookingPayload', byVenue).booking.status).toBe(
      'CANCELLED_BY_VENUE',
    );
  });

  it("offers as buttons only the moves the booking's time allows now", async () => {
    const guest = await app.signIn();
    const now = app.clock.now().getTime();
    const buttons = async (startsInMinutes: number, token: string) => {
      const row = await bookingRow(app.services.db, {
        venueId,
        guestId: guest.userId,
        startsAt: new Date(now + startsInMinutes * 60_000),
        status: 'CONFIRMED',
      });
      const res = await app.gql(
        `query ($id: ID!) { node(id: $id) { ... on Booking { allowedTransitions } } }`,
        { id: Buffer.from(`Booking:${row.id}`).toString('base64') },
        { token },
      );
      expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
      return [...(res.data as { node: { allowedTransitions: string[] } }).node.allowedTransitions].sort();
    };
    // Tonight, hours away: not seated yet, not a no-show; its guest may still cancel.
    expect(await buttons(5 * 60, owner.token)).toEqual(['CANCELLED_BY_VENUE']);
    expect(await buttons(5 * 60, guest.token)).toEqual(['CANCELLED_BY_GUEST']);
    // An hour away: the party may be seated early.
    expect(await buttons(60, owner.token)).toEqual(['CANCELLED_BY_VENUE', 'SEATED']);
    // Its time has come: a no-show now, and no longer the guest's to cancel.
    expect(await buttons(-10, owner.token)).toEqual(['CANCELLED_BY_VENUE', 'NO_SHOW', 'SEATED']);
    expect(await buttons(-10, guest.token)).toEqual([]);
  });

  it('offers someone on the venue’s team who booked for themselves their own cancellation, not the venue’s', async () => {
    const now = app.clock.now().getTime();
    const ownBooking = async (startsInMinutes: number) => {
      const row = await bookingRow(app.services.db, {
        venueId,
        guestId: owner.userId,
        startsAt: new Date(now + startsInMinutes * 60_000),
        status: 'CONFIRMED',
      });
      return Buffer.from(`Booking:${row.id}`).toString('base64');
    };
    const buttons = async (id: string) => {
      const res = await app.gql(
        `query ($id: ID!) { node(id: $id) { ... on Booking { allowedTransitions } } }`,
        { id },
        { token: owner.token },
      );
      expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
      return [...(res.data as { node: { allowedTransitions: string[] } }).node.allowedTransitions].sort();
    };
    const ahead = await ownBooking(5 * 60);
    expect(await buttons(ahead)).toEqual(['CANCELLED_BY_GUEST']);
    // Its time has come: the team's moves, and no longer theirs to cancel, as for any guest.
    expect(await buttons(await ownBooking(-10))).toEqual(['NO_SHOW', 'SEATED']);
    // The button does what it says.
    const cancelled = await app.gql(Cancel, { id: ahead }, { token: owner.token });
    expect(member(cancelled.data?.cancelBooking, 'BookingPayload', cancelled).booking.status).toBe(
      'CANCELLED_BY_GUEST',
    );
  });

  it('lets a team member who booked for themselves cancel as the guest', async () => {
    const created = await book(owner.token, { startsAt: at('20:00', 9) });
    const booking = member(created.data?.createBooking, 'BookingPayload', created).booking;
    const cancelled = await app.gql(Cancel, { id: booking.id }, { token: owner.token });
    expect(member(cancelled.data?.cancelBooking, 'BookingPayload', cancelled).booking.status).toBe(
      'CANCELLED_BY_GUEST',
    );
  });

  it('makes no booking for a stranger by email at an unpublished (DRAFT) venue, nor writes to them', async () => {
    // Anyone signed in can make an organisation and a draft venue under any name.
    const someone = await app.signIn();
    const org = await createOrganization(app.services.db, {
      members: [{ userId: someone.userId, role: 'OWNER' }],
    });
    const draft = await createBookableVenue(app.services.db, {
      name: 'Definitely Your Bank',
      organizationId: org.id,
      status: 'DRAFT',
    });
    const draftGid = Buffer.from(`Venue:${draft.id}`).toString('base64');
    const victim = `victim-${randomBytes(3).toString('hex')}@example.test`;
    const refused = await book(someone.token, {
      venueId: draftGid,
      startsAt: at('20:00', 10),
      guestEmail: victim,
    });
    expect(refused.data?.createBooking).toEqual({
      __typename: 'ConflictError',
      message: 'A booking for a guest by email is made only at a published venue: publish the venue first',
    });
    expect(await app.services.db.booking.count({ where: { venueId: draft.id } })).toBe(0);
    expect(await app.services.db.user.count({ where: { email: victim } })).toBe(0);
    expect(
      await app.services.db.outboundMessage.count({
        where: { OR: [{ emailTo: victim }, { user: { email: victim } }] },
      }),
    ).toBe(0);
    // The venue's team may still try its draft out with a booking of its own.
    const own = await book(someone.token, { venueId: draftGid, startsAt: at('20:00', 10) });
    expect(member(own.data?.createBooking, 'BookingPayload', own).booking.status).toBe('REQUESTED');
  });

  it('keeps a confirmed booking as the venue confirmed it when its guest asks for another time or a larger party at a venue that decides by hand', async () => {
    // Table Talk has no business agent: its team confirms every booking itself.
    const guest = await app.signIn();
    const created = await book(guest.token, { startsAt: at('19:00', 10), partySize: 2 });
    const booking = member(created.data?.createBooking, 'BookingPayload', created).booking;
    await app.gql(Confirm, { id: booking.id }, { token: owner.token });
    const id = rawId(booking.id);
    const messagesBefore = await app.services.db.outboundMessage.count({ where: { bookingId: id } });
    for (const change of [
      { startsAt: at('20:30', 11), partySize: 4 },
      { startsAt: at('20:30', 11) },
      { partySize: 4 },
    ]) {
      const asked = await app.gql(
        Modify,
        { input: { bookingId: booking.id, ...change } },
        { token: guest.token },
      );
      expect(asked.data?.modifyBooking).toEqual({
        __typename: 'ValidationError',
        message: "The venue confirms every booking itself: ask the venue's team for this change",
      });
    }
    expect(await app.services.db.booking.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: 'CONFIRMED',
      startsAt: new Date(at('19:00', 10)),
      partySize: 2,
    });
    expect(await app.services.db.outboundMessage.count({ where: { bookingId: id } })).toBe(messagesBefore);
    // A smaller party takes nothing the venue has not agreed to; the venue's team may change anything.
    const fewer = await app.gql(
      Modify,
      { input: { bookingId: booking.id, partySize: 1 } },
      { token: guest.token },
    );
    expect(member(fewer.data?.modifyBooking, 'BookingPayload', fewer).booking.partySize).toBe(1);
    const byTeam = await app.gql(
      Modify,
      { input: { bookingId: booking.id, startsAt: at('20:30', 11), partySize: 4 } },
      { token: owner.token },
    );
    expect(member(byTeam.data?.modifyBooking, 'BookingPayload', byTeam).booking).toMatchObject({
      partySize: 4,
      startsAt: at('20:30', 11),
    });
  });

  it('changes the party of a booking at its kept start by the room it takes, not by the rules for new times', async () => {
    const team = await app.signIn();
    const org = await createOrganization(app.services.db, {
      members: [{ userId: team.userId, role: 'OWNER' }],
    });
    const venue = await createBookableVenue(app.services.db, {
      organizationId: org.id,
      tables: [
        { name: 'Four', seats: 4 },
        { name: 'Two', seats: 2 },
      ],
    });
    const guest = await app.signIn();
    // Three quarters of an hour ahead, inside the venue's hour of notice (and maybe outside its hours).
    const soon = new Date(app.clock.now().getTime() + 45 * 60_000);
    const four = await bookingRow(app.services.db, {
      venueId: venue.id,
      guestId: (await app.signIn()).userId,
      startsAt: soon,
      partySize: 4,
      status: 'CONFIRMED',
    });
    const mine = await bookingRow(app.services.db, {
      venueId: venue.id,
      guestId: guest.userId,
      startsAt: soon,
      partySize: 2,
      status: 'CONFIRMED',
    });
    const id = Buffer.from(`Booking:${mine.id}`).toString('base64');
    const change = (token: string, partySize: number) =>
      app.gql(Modify, { input: { bookingId: id, partySize } }, { token });
    // One fewer, by the guest: it fits, whatever the clock says.
    const fewer = await change(guest.token, 1);
    expect(member(fewer.data?.modifyBooking, 'BookingPayload', fewer).booking.partySize).toBe(1);
    // Larger, by the team: as much as the tables left take (the four-top is the other party's).
    const tooMany = await change(team.token, 3);
    expect(tooMany.data?.modifyBooking).toMatchObject({ __typename: 'SlotFullError' });
    const two = await change(team.token, 2);
    expect(member(two.data?.modifyBooking, 'BookingPayload', two).booking.partySize).toBe(2);
    // Freed, the four-top takes three.
    await app.services.db.booking.update({ where: { id: four.id }, data: { status: 'CANCELLED_BY_GUEST' } });
    const three = await change(team.token, 3);
    expect(member(three.data?.modifyBooking, 'BookingPayload', three).booking.partySize).toBe(3);

    // A booking next week after the venue moved its hours to lunch only still changes its party.
    const later = await bookingRow(app.services.db, {
      venueId: venue.id,
      guestId: guest.userId,
      startsAt: new Date(at('20:00', 12)),
      partySize: 2,
      status: 'CONFIRMED',
    });
    await app.services.db.openingHours.deleteMany({ where: { venueId: venue.id } });
    await app.services.db.openingHours.createMany({
      data: everyDay('12:00', '15:00').map((h) => ({ ...h, venueId: venue.id })),
    });
    const laterId = Buffer.from(`Booking:${later.id}`).toString('base64');
    for (const [token, partySize] of [
      [guest.token, 1],
      [team.token, 4],
    ] as const) {
      const changed = await app.gql(Modify, { input: { bookingId: laterId, partySize } }, { token });
      expect(member(changed.data?.modifyBooking, 'BookingPayload', changed).booking.partySize).toBe(
        partySize,
      );
    }
    // A new time is a new time: asked by every rule.
    const moved = await app.gql(
      Modify,
      { input: { bookingId: laterId, startsAt: at('20:30', 12) } },
      { token: team.token },
    );
    expect(moved.data?.modifyBooking).toMatchObject({ __typename: 'ValidationError' });
  });
});
