/**
 * Guests book a table: `createBooking` as signed-in people with no organisation, at one
 * restaurant, party of two, the requests going round 500 guests in turn (so a guest holds a few
 * waiting bookings at a time, as real guests do, not the run's thousands; the run still sets the
 * guest caps and the booking rate limit out of reach), every request with a client key of its
 * own (so every request makes a booking; none is an idempotent replay) and the next of 2,820
 * start times (every 15 minutes from 10:00 to 21:30 on 60 days, shuffled), so bookings do not
 * pile up in one slot. The venue has no tables and a cap of covers no run can reach, so no
 * request is refused for a full slot; any that is, is counted apart (SlotFullError).
 *
 * Per request, 4 SQL statements once the guest's user is remembered (5 with the user's read;
 * fixed by test/e2e/statements.test.ts): the venue with what deciding the booking reads of it
 * and the guest's booking there with this client key, then one transaction (the guest's lock, the
 * venue's row lock and the live bookings that can share the start's capacity, in one call of
 * `lock_for_booking`; the booking, its first history row and its expiry job in one statement;
 * COMMIT); a booking rate-limit hit in Redis before it and the event published to Redis after.
 * The tree this work started from sent 20 (bench/README.md). All requests go to one venue, so
 * they queue on its row lock: the busiest venue's write path. Spread over ten venues, both
 * trees made more bookings a second (bench/README.md): on one venue, the lock is a bound too.
 */
import { randomBytes } from 'node:crypto';
import {
  AGNT_METRICS_PATH,
  type AgntParams,
  consumerAuthorization,
  prepareAgnt,
  serveAgnt,
} from '../lib/agnt.ts';
import { defineScenario } from '../lib/scenario.ts';
import { createBookableVenue, startTimes } from '../lib/venue.ts';

const MUTATION = `mutation BenchCreateBooking($input: CreateBookingInput!) {
  createBooking(input: $input) {
    __typename
    ... on BookingPayload { booking { id status startsAt } }
    ... on Error { message }
  }
}`;

/** Guests the requests go round. */
const GUESTS = 500;

/** Replaced in every request: a start time, and a client key no other request sent. */
const STARTS_AT = '$STARTS_AT$';
const CLIENT_KEY = '$CLIENT_KEY$';

export default defineScenario<AgntParams>(import.meta.url, {
  name: 'booking-create',
  description: 'AGNT, `createBooking` by a guest, one venue, a new client key and start time each request',
  baseline: 'yoga-bare',
  async prepare() {
    const agnt = await prepareAgnt();
    try {
      const { prisma } = agnt.database;
      const organization = await prisma.organization.create({ data: { name: 'Bench Bookings Group' } });
      const venue = await createBookableVenue(
        prisma,
        organization.id,
        'Bench Brasserie',
        `bench-brasserie-${randomBytes(3).toString('hex')}`,
      );
      const authorizations: string[] = [];
      for (let i = 0; i < GUESTS; i += 50) {
        authorizations.push(
          ...(await Promise.all(Array.from({ length: 50 }, () => consumerAuthorization(agnt)))),
        );
      }
      const [authorization] = authorizations as [string];
      const times = startTimes(2, 61);
      return {
        params: agnt.params,
        request: {
          method: 'POST',
          path: '/graphql',
          headers: { 'content-type': 'application/json', authorization },
          rotatingHeaders: { authorization: authorizations },
          body: JSON.stringify({
            query: MUTATION,
            operationName: 'BenchCreateBooking',
            variables: {
              input: {
                venueId: venue.gid,
                startsAt: STARTS_AT,
                partySize: 2,
                clientKey: `bench-${CLIENT_KEY}`,
              },
            },
          }),
          vary: [{ token: STARTS_AT, values: times }, { token: CLIENT_KEY }],
          answers: {
            ok: '"__typename":"BookingPayload"',
            tolerated: { SlotFullError: '"__typename":"SlotFullError"' },
          },
        },
        check: ({ status, body }) => {
          const result = (
            body as { data?: { createBooking?: { __typename: string; booking?: { status: string } } } }
          ).data?.createBooking;
          return status === 200 &&
            result?.__typename === 'BookingPayload' &&
            result.booking?.status === 'REQUESTED'
            ? undefined
            : `expected 200 with a REQUESTED booking, got ${status} ${JSON.stringify(body).slice(0, 500)}`;
        },
        metricsPath: AGNT_METRICS_PATH,
        async verify({ requestsAnswered, requestsSent }) {
          // Every request had a key of its own, so every request the server ran made a booking of
          // its own: at least one per answer (a replayed key would make fewer), at most one per
          // request sent (those in flight when a load run stopped may not have run).
          const bookings = await prisma.booking.count({ where: { venueId: venue.id } });
          return {
            note: `${bookings} bookings in the database for ${requestsAnswered} create requests answered and ${requestsSent} sent (checks, warm-up and measurement)`,
            problem: bookings < requestsAnswered || bookings > requestsSent,
          };
        },
        cleanup: () => agnt.cleanup(),
      };
    } catch (error) {
      await agnt.cleanup();
      throw error;
    }
  },
  serve: serveAgnt,
});
