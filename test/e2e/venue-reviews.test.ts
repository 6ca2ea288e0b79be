/**
 * Venue review: a new organisation cannot put a venue on the network, nor a live venue change who
 * it says it is, without a platform admin's approval. Over real HTTP, every effect checked in
 * Postgres.
 */
import { randomBytes } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganizationAs } from '../factories/organizations.ts';
import { graphql } from '../generated/gql.ts';
import { member, rawId, startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';
import { accessToken } from '../helpers/authz.ts';
import { trustOrganization } from '../helpers/venues.ts';

const CreateVenue = graphql(`
  mutation ReviewsCreateVenue($input: CreateVenueInput!) {
    createVenue(input: $input) {
      __typename
      ... on CreateVenuePayload { venue { id status } }
      ... on Error { message }
    }
  }
`);

const SetOpeningHours = graphql(`
  mutation ReviewsSetOpeningHours($venueId: ID!) {
    setOpeningHours(input: { venueId: $venueId, hours: [{ weekday: 5, opensAt: "12:00", closesAt: "23:00" }] }) {
      __typename
    }
  }
`);

const SetBookingRules = graphql(`
  mutation ReviewsSetBookingRules($venueId: ID!) {
    setBookingRules(
      input: {
        venueId: $venueId
        partySizeMin: 1
        partySizeMax: 6
        slotMinutes: 30
        turnMinutes: 90
        leadTimeMinutes: 60
        bookingHorizonDays: 60
      }
    ) {
      __typename
    }
  }
`);

const SetTables = graphql(`
  mutation ReviewsSetTables($venueId: ID!) {
    setVenueTables(input: { venueId: $venueId, tables: [{ name: "T1", seats: 4 }] }) { __typename }
  }
`);

const PublishVenue = graphql(`
  mutation ReviewsPublishVenue($venueId: ID!) {
    publishVenue(input: { venueId: $venueId }) {
      __typename
      ... on VenuePayload { venue { id status } }
      ... on Error { message }
    }
  }
`);

const UnpublishVenue = graphql(`
  mutation ReviewsUnpublishVenue($venueId: ID!) {
    unpublishVenue(input: { venueId: $venueId }) {
      __typename
      ... on VenuePayload { venue { status } }
      ... on Error { message }
    }
  }
`);

const UpdateVenue = graphql(`
  mutation ReviewsUpdateVenue($input: UpdateVenueInput!) {
    updateVenue(input: $input) {
      __typename
      ... on VenuePayload {
        venue { name email description pendingReview { kind status changes { field from to } } }
      }
      ... on Error { message }
    }
  }
`);

const VenueStatusOf = graphql(`
  query ReviewsVenueStatus($id: ID!) {
    node(id: $id) { ... on Venue { name email status } }
  }
`);

const OwnVenue = graphql(`
  query ReviewsOwnVenue($id: ID!) {
    node(id: $id) {
      ... on Venue {
        name
        email
        status
        pendingReview { id kind status changes { field from to } flags { kind } }
        reviews(first: 10) {
          totalCount
          edges { node { kind status reason decidedAt reviewedBy { id } changes { field to } } }
        }
      }
    }
  }
`);

const Search = graphql(`
  query ReviewsSearch($text: String!) {
    venues(text: $text, first: 20) { edges { node { id name } } }
  }
`);

const CreateBooking = graphql(`
  mutation ReviewsCreateBooking($input: CreateBookingInput!) {
    createBooking(input: $input) {
      __typename
      ... on Error { message }
    }
  }
`);

const Queue = graphql(`
  query ReviewsQueue($status: [VenueReviewStatus!], $kind: VenueReviewKind) {
    venueReviews(status: $status, kind: $kind, first: 30) {
      totalCount
      edges {
        node {
          id
          kind
          status
          venue { id name status }
          changes { field from to }
          flags { kind venueName field similarity distanceMeters venue { id } }
          requestedBy { id }
          reviewedBy { id }
          reason
          decidedAt
        }
      }
    }
  }
`);

const Approve = graphql(`
  mutation ReviewsApprove($reviewId: ID!, $note: String) {
    approveVenueReview(input: { reviewId: $reviewId, note: $note }) {
      __typename
      ... on VenueReviewPayload { review { id status reason decidedAt reviewedBy { id } venue { status } } }
      ... on ValidationError { field message }
      ... on Error { message }
    }
  }
`);

const Reject = graphql(`
  mutation ReviewsReject($reviewId: ID!, $reason: String!) {
    rejectVenueReview(input: { reviewId: $reviewId, reason: $reason }) {
      __typename
      ... on VenueReviewPayload { review { id status reason decidedAt reviewedBy { id } venue { status } } }
      ... on ValidationError { field message }
      ... on Error { message }
    }
  }
`);

const Onboarding = graphql(`
  query ReviewsOnboarding($id: ID!) {
    organization(id: $id) { onboarding { next steps { key done hint } } }
  }
`);

const ReviewClaim = graphql(`
  mutation ReviewsReviewClaim($claimId: ID!) {
    reviewVenueClaim(input: { claimId: $claimId, approve: true, note: "Sale contract verified" }) {
      __typename
      ... on Error { message }
    }
  }
`);

let app: TestApp;
const tag = randomBytes(3).toString('hex');
let admin: { userId: string; token: string };

/** The real venue: on the network for years, run by its (trusted) organisation. */
const REAL = {
  name: `Harbour Lights ${tag}`,
  email: `reservas-${tag}@harbourlights.example`,
  latitude: 38.7059,
  longitude: -9.1446,
};
let real: { venueId: string; organizationId: string };

const gid = (type: 'Venue' | 'VenueReview', id: string) => encodeGlobalID(type, id);

beforeAll(async () => {
  app = await startTestApp();
  const db = app.services.db;
  const org = await db.organization.create({ data: { name: `Harbour Group ${tag}` } });
  await trustOrganization(app, org.id);
  const venue = await db.venue.create({
    data: {
      organizationId: org.id,
      name: REAL.name,
      slug: `harbour-lights-${tag}`,
      email: REAL.email,
      description: 'Grilled fish on the river front',
      addressLine1: 'Cais do Sodré 12',
      city: 'Lisboa',
      countryCode: 'PT',
      latitude: REAL.latitude,
      longitude: REAL.longitude,
      timeZone: 'Europe/Lisbon',
      status: 'CLAIMED',
      publishedAt: new Date(),
    },
  });
  real = { venueId: venue.id, organizationId: org.id };
  const user = await db.user.create({ data: { email: uniqueEmail('platform'), isPlatformAdmin: true } });
  admin = { userId: user.id, token: await accessToken(app, user.id) };
});
afterAll(() => app?.close());

interface Newcomer {
  owner: { token: string; userId: string };
  organizationId: string;
  /** Global id. */
  venueId: string;
}

/** A brand-new account's organisation with a complete DRAFT venue of the given profile. */
async function newcomerWithVenue(
  profile: { name: string; email?: string; latitude: number; longitude: number },
  organization?: Omit<Newcomer, 'venueId'>,
): Promise<Newcomer> {
  let owner = organization?.owner;
  let organizationId = organization?.organizationId;
  if (!owner || !organizationId) {
    owner = await app.signIn();
    organizationId = await createOrganizationAs(
      app,
      owner.token,
      `Newcomer ${randomBytes(3).toString('hex')}`,
    );
  }
  const res = await app.gql(
    CreateVenue,
    {
      input: {
        organizationId,
        name: profile.name,
        email: profile.email,
        timeZone: 'Europe/Lisbon',
        cuisines: ['seafood'],
        description: 'Grilled fish on the river front',
        addressLine1: 'Cais do Sodré 14',
        city: 'Lisboa',
        countryCode: 'PT',
        latitude: profile.latitude,
        longitude: profile.longitude,
      },
    },
    { token: owner.token },
  );
  const venue = member(res.data?.createVenue, 'CreateVenuePayload', res).venue;
  for (const step of [SetOpeningHours, SetBookingRules, SetTables] as const) {
    const done = await app.gql(step as typeof SetTables, { venueId: venue.id }, { token: owner.token });
    const answer = Object.values(done.data ?? {})[0] as { __typename: string } | undefined;
    expect(answer?.__typename, JSON.stringify(done.body)).toBe('VenuePayload');
  }
  return { owner, organizationId, venueId: venue.id };
}

/** A newcomer's lookalike of the real venue, published: waiting for review. */
async function impostorInReview(): Promise<Newcomer> {
  const impostor = await newcomerWithVenue({
    name: REAL.name,
    email: REAL.email,
    latitude: REAL.latitude + 0.0002,
    longitude: REAL.longitude,
  });
  const published = await app.gql(
    PublishVenue,
    { venueId: impostor.venueId },
    { token: impostor.owner.token },
  );
  expect(published.body).toMatchObject({ data: { publishVenue: { venue: { status: 'IN_REVIEW' } } } });
  return impostor;
}

/** The venue's pending review's global id, as its owners see it. */
async function pendingReviewOf(venueId: string, token: string): Promise<string> {
  const own = await app.gql(OwnVenue, { id: venueId }, { token });
  const node = own.data?.node as { pendingReview: { id: string } | null } | null;
  expect(node?.pendingReview, JSON.stringify(own.body)).toBeTruthy();
  return node!.pendingReview!.id;
}

const venueRow = (venueId: string) =>
  app.services.db.venue.findUniqueOrThrow({ where: { id: rawId(venueId) } });

describe('a new organisation publishing a venue', () => {
  it('cannot put a lookalike of a real venue, with its email, on the network: it waits for review', async () => {
    const { owner, organizationId, venueId } = await impostorInReview();
    expect(await venueRow(venueId)).toMatchObject({ status: 'IN_REVIEW', publishedAt: null });

    // Not on the network: strangers, guests and anonymous callers neither see nor find nor book it.
    const anonymous = await app.gql(VenueStatusOf, { id: venueId });
    expect(anonymous.data?.node ?? null).toBeNull();
    const guest = await app.signIn();
    const seen = await app.gql(VenueStatusOf, { id: venueId }, { token: guest.token });
    expect(seen.data?.node ?? null).toBeNull();
    const found = await app.gql(Search, { text: `Harbour ${tag}` }, { token: guest.token });
    expect(found.data?.venues.edges.map((e) => rawId(e.node.id))).toEqual([real.venueId]);
    const booked = await app.gql(
      CreateBooking,
      { input: { venueId, startsAt: nextFridayAt('20:00'), partySize: 2 } },
      { token: guest.token },
    );
    expect(booked.data?.createBooking.__typename, JSON.stringify(booked.body)).toBe('NotFoundError');
    expect(await app.services.db.booking.count({ where: { venueId: rawId(venueId) } })).toBe(0);

    // Its own organisation sees it, waiting, with what is under review (but not the flags).
    const own = await app.gql(OwnVenue, { id: venueId }, { token: owner.token });
    expect(own.errors).toBeUndefined();
    expect(own.data?.node).toMatchObject({
      status: 'IN_REVIEW',
      pendingReview: {
        kind: 'PUBLISH',
        status: 'PENDING',
        changes: expect.arrayContaining([
          { field: 'name', from: null, to: REAL.name },
          { field: 'email', from: null, to: REAL.email },
        ]),
        flags: null,
      },
    });
    const onboarding = await app.gql(Onboarding, { id: organizationId }, { token: owner.token });
    expect(onboarding.data?.organization?.onboarding).toMatchObject({
      next: 'published',
      steps: expect.arrayContaining([
        { key: 'published', done: false, hint: 'Your venue is waiting for the AGNT team to review it' },
      ]),
    });
  });

  it('shows platform admins the queue with the lookalike flagged, and approving it puts it on the network', async () => {
    const { owner, organizationId, venueId } = await impostorInReview();
    const queue = await app.gql(Queue, {}, { token: admin.token });
    expect(queue.errors).toBeUndefined();
    const entry = queue.data?.venueReviews.edges.find((e) => e.node.venue?.id === venueId)?.node;
    expect(entry, JSON.stringify(queue.body)).toMatchObject({
      kind: 'PUBLISH',
      status: 'PENDING',
      requestedBy: { id: encodeGlobalID('User', owner.userId) },
      reviewedBy: null,
      decidedAt: null,
    });
    expect(entry!.flags).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'NEW_ORGANIZATION' }),
        expect.objectContaining({
          kind: 'SIMILAR_NAME',
          venueName: REAL.name,
          similarity: 1,
          venue: { id: gid('Venue', real.venueId) },
        }),
        expect.objectContaining({
          kind: 'SAME_CONTACT',
          field: 'email',
        }),
      ]),
    );
    // The real venue, about 22 m away (other newcomers' lookalikes in review are flagged too).
    const distance = entry!.flags!.find(
      (f) => f.kind === 'SIMILAR_NAME' && f.venue?.id === gid('Venue', real.venueId),
    )!.distanceMeters!;
    expect(distance).toBeGreaterThan(15);
    expect(distance).toBeLessThan(30);

    const approved = await app.gql(
      Approve,
      { reviewId: entry!.id, note: 'Spoke to them: a second branch' },
      { token: admin.token },
    );
    expect(member(approved.data?.approveVenueReview, 'VenueReviewPayload', approved).review).toMatchObject({
      status: 'APPROVED',
      reason: 'Spoke to them: a second branch',
      decidedAt: expect.any(String),
      reviewedBy: { id: encodeGlobalID('User', admin.userId) },
      venue: { status: 'CLAIMED' },
    });
    expect(await venueRow(venueId)).toMatchObject({ status: 'CLAIMED', publishedAt: expect.any(Date) });
    const anonymous = await app.gql(VenueStatusOf, { id: venueId });
    expect(anonymous.data?.node).toMatchObject({ status: 'CLAIMED' });

    // The decision is kept: the owners see it in the venue's reviews, and were sent a message.
    const own = await app.gql(OwnVenue, { id: venueId }, { token: owner.token });
    expect(own.data?.node).toMatchObject({
      pendingReview: null,
      reviews: {
        totalCount: 1,
        edges: [{ node: { kind: 'PUBLISH', status: 'APPROVED', reason: 'Spoke to them: a second branch' } }],
      },
    });
    const messages = await app.services.db.outboundMessage.findMany({ where: { userId: owner.userId } });
    expect(messages).toEqual([
      expect.objectContaining({
        kind: 'venue.review_decided',
        body: expect.stringContaining('was approved'),
      }),
    ]);

    // Approved once, the organisation is trusted: its next venue goes straight on the network.
    const next = await newcomerWithVenue(
      { name: `Second Branch ${tag}`, latitude: 38.72, longitude: -9.15 },
      { owner, organizationId },
    );
    const published = await app.gql(PublishVenue, { venueId: next.venueId }, { token: owner.token });
    expect(published.body).toMatchObject({ data: { publishVenue: { venue: { status: 'CLAIMED' } } } });

    const again = await app.gql(Reject, { reviewId: entry!.id, reason: 'Too late' }, { token: admin.token });
    expect(again.data?.rejectVenueReview).toMatchObject({ __typename: 'ConflictError' });
    expect(await venueRow(venueId)).toMatchObject({ status: 'CLAIMED' });
  });

  it('goes back to DRAFT when rejected, with the reason for its owners; a reason is required', async () => {
    const { owner, venueId } = await impostorInReview();
    const reviewId = await pendingReviewOf(venueId, owner.token);

    const blank = await app.gql(Reject, { reviewId, reason: '   ' }, { token: admin.token });
    expect(blank.data?.rejectVenueReview).toMatchObject({ __typename: 'ValidationError', field: 'reason' });
    expect(await venueRow(venueId)).toMatchObject({ status: 'IN_REVIEW' });

    const rejected = await app.gql(
      Reject,
      { reviewId, reason: 'This is another business’s name and email' },
      { token: admin.token },
    );
    expect(member(rejected.data?.rejectVenueReview, 'VenueReviewPayload', rejected).review).toMatchObject({
      status: 'REJECTED',
      reviewedBy: { id: encodeGlobalID('User', admin.userId) },
      venue: { status: 'DRAFT' },
    });
    expect(await venueRow(venueId)).toMatchObject({ status: 'DRAFT', publishedAt: null });
    const own = await app.gql(OwnVenue, { id: venueId }, { token: owner.token });
    expect(own.data?.node).toMatchObject({
      status: 'DRAFT',
      pendingReview: null,
      reviews: {
        edges: [
          {
            node: {
              status: 'REJECTED',
              reason: 'This is another business’s name and email',
              reviewedBy: null,
            },
          },
        ],
      },
    });
    const stored = await app.services.db.venueReview.findFirstOrThrow({ where: { venueId: rawId(venueId) } });
    expect(stored).toMatchObject({
      status: 'REJECTED',
      reviewedById: admin.userId,
      decidedAt: expect.any(Date),
    });

    // Publishing again opens a new review; it never goes live on its own.
    const republished = await app.gql(PublishVenue, { venueId }, { token: owner.token });
    expect(republished.body).toMatchObject({ data: { publishVenue: { venue: { status: 'IN_REVIEW' } } } });
    expect(await app.services.db.venueReview.count({ where: { venueId: rawId(venueId) } })).toBe(2);
  });

  it('reinstates a suspended venue to what it was: off the network if its owner had taken it off', async () => {
    const { owner, venueId } = await impostorInReview();
    const reviewId = await pendingReviewOf(venueId, owner.token);
    const approved = await app.gql(Approve, { reviewId }, { token: admin.token });
    expect(approved.data?.approveVenueReview).toMatchObject({ __typename: 'VenueReviewPayload' });
    const published = (await venueRow(venueId)).status;
    expect(['CLAIMED', 'LISTED']).toContain(published);
    const suspend = async (suspended: boolean) => {
      const res = await app.gql(
        `mutation S($venueId: ID!, $suspended: Boolean!) { setVenueSuspended(input: { venueId: $venueId, suspended: $suspended }) { __typename } }`,
        { venueId, suspended },
        { token: admin.token },
      );
      expect(res.data, JSON.stringify(res.body)).toEqual({
        setVenueSuspended: { __typename: 'VenuePayload' },
      });
      return (await venueRow(venueId)).status;
    };
    // Suspended while on the network: back on it.
    expect(await suspend(true)).toBe('SUSPENDED');
    expect(await suspend(false)).toBe(published);
    // Taken off the network by its owner, then suspended: reinstated as the draft it was.
    const unpublished = await app.gql(UnpublishVenue, { venueId }, { token: owner.token });
    expect(unpublished.body).toMatchObject({ data: { unpublishVenue: { venue: { status: 'DRAFT' } } } });
    expect(await suspend(true)).toBe('SUSPENDED');
    expect(await suspend(false)).toBe('DRAFT');
  });

  it('cannot change its name while waiting; unpublishing withdraws the review', async () => {
    const { owner, venueId } = await impostorInReview();
    const reviewId = await pendingReviewOf(venueId, owner.token);
    const renamed = await app.gql(
      UpdateVenue,
      { input: { venueId, name: 'Something Else' } },
      { token: owner.token },
    );
    expect(renamed.data?.updateVenue).toMatchObject({ __typename: 'ConflictError' });
    expect(await venueRow(venueId)).toMatchObject({ name: REAL.name });

    const unpublished = await app.gql(UnpublishVenue, { venueId }, { token: owner.token });
    expect(unpublished.body).toMatchObject({ data: { unpublishVenue: { venue: { status: 'DRAFT' } } } });
    expect(
      await app.services.db.venueReview.findUniqueOrThrow({ where: { id: rawId(reviewId) } }),
    ).toMatchObject({
      status: 'WITHDRAWN',
      reviewedById: null,
    });
    const late = await app.gql(Approve, { reviewId }, { token: admin.token });
    expect(late.data?.approveVenueReview).toMatchObject({ __typename: 'ConflictError' });
    expect(await venueRow(venueId)).toMatchObject({ status: 'DRAFT' });
  });

  it('publishes straight away once it verified a claim on a venue', async () => {
    const newcomer = await newcomerWithVenue({
      name: `Claimed Group Venue ${tag}`,
      latitude: 38.73,
      longitude: -9.16,
    });
    const db = app.services.db;
    const organizationId = rawId(newcomer.organizationId);
    const listed = await db.venue.create({
      data: {
        name: `Listed ${tag}`,
        slug: `listed-${tag}`,
        timeZone: 'Europe/Lisbon',
        status: 'CLAIMED',
        organizationId,
        publishedAt: new Date(),
      },
    });
    await db.venueClaim.create({
      data: {
        venueId: listed.id,
        organizationId,
        requestedById: newcomer.owner.userId,
        method: 'VENUE_EMAIL',
        status: 'APPROVED',
        decidedAt: new Date(),
      },
    });
    const published = await app.gql(
      PublishVenue,
      { venueId: newcomer.venueId },
      { token: newcomer.owner.token },
    );
    expect(published.body).toMatchObject({ data: { publishVenue: { venue: { status: 'CLAIMED' } } } });
    expect(await db.venueReview.count({ where: { venueId: rawId(newcomer.venueId) } })).toBe(0);
  });
});

describe('a live venue changing who it says it is', () => {
  /** A trusted organisation's live venue, published through the API. */
  async function liveVenue() {
    const owner = await app.signIn();
    const organizationId = await createOrganizationAs(
      app,
      owner.token,
      `Live Group ${randomBytes(3).toString('hex')}`,
    );
    await trustOrganization(app, rawId(organizationId));
    const venue = await newcomerWithVenue(
      {
        name: `Quiet Corner ${randomBytes(3).toString('hex')}`,
        email: `hello-${tag}@quiet.example`,
        latitude: REAL.latitude - 0.001,
        longitude: REAL.longitude,
      },
      { owner, organizationId },
    );
    const published = await app.gql(PublishVenue, { venueId: venue.venueId }, { token: owner.token });
    expect(published.body).toMatchObject({ data: { publishVenue: { venue: { status: 'CLAIMED' } } } });
    return venue;
  }

  it('keeps its live name and email while the change waits for review; other fields change at once', async () => {
    const { owner, venueId } = await liveVenue();
    const before = await venueRow(venueId);

    const changed = await app.gql(
      UpdateVenue,
      { input: { venueId, name: REAL.name, email: REAL.email, description: 'Now the famous one' } },
      { token: owner.token },
    );
    expect(member(changed.data?.updateVenue, 'VenuePayload', changed).venue).toMatchObject({
      name: before.name,
      email: before.email,
      description: 'Now the famous one',
      pendingReview: {
        kind: 'CHANGE',
        status: 'PENDING',
        changes: expect.arrayContaining([
          { field: 'name', from: before.name, to: REAL.name },
          { field: 'email', from: before.email, to: REAL.email },
        ]),
      },
    });
    expect(await venueRow(venueId)).toMatchObject({
      name: before.name,
      email: before.email,
      status: 'CLAIMED',
    });
    const guest = await app.signIn();
    const seen = await app.gql(VenueStatusOf, { id: venueId }, { token: guest.token });
    expect(seen.data?.node).toMatchObject({ name: before.name, email: before.email });

    // Unpublishing and publishing again does not slip the new name through.
    await app.gql(UnpublishVenue, { venueId }, { token: owner.token });
    await app.gql(PublishVenue, { venueId }, { token: owner.token });
    expect(await venueRow(venueId)).toMatchObject({
      name: before.name,
      email: before.email,
      status: 'CLAIMED',
    });

    // The queue shows it with both flags; rejecting keeps the live values.
    const queue = await app.gql(Queue, { kind: 'CHANGE' }, { token: admin.token });
    const entry = queue.data?.venueReviews.edges.find((e) => e.node.venue?.id === venueId)?.node;
    const aboutReal = entry?.flags?.filter((f) => f.venue?.id === gid('Venue', real.venueId));
    expect(aboutReal?.map((f) => f.kind).sort()).toEqual(['SAME_CONTACT', 'SIMILAR_NAME']);
    const rejected = await app.gql(
      Reject,
      { reviewId: entry!.id, reason: 'That is the venue next door' },
      { token: admin.token },
    );
    expect(member(rejected.data?.rejectVenueReview, 'VenueReviewPayload', rejected).review.status).toBe(
      'REJECTED',
    );
    expect(await venueRow(venueId)).toMatchObject({
      name: before.name,
      email: before.email,
      status: 'CLAIMED',
    });
  });

  it('merges a second change into the pending one, and applies it when approved', async () => {
    const { owner, venueId } = await liveVenue();
    const before = await venueRow(venueId);
    await app.gql(
      UpdateVenue,
      { input: { venueId, name: `Quiet Corner Café ${tag}` } },
      { token: owner.token },
    );
    const second = await app.gql(
      UpdateVenue,
      { input: { venueId, phone: '+351210000111' } },
      { token: owner.token },
    );
    expect(member(second.data?.updateVenue, 'VenuePayload', second).venue.pendingReview).toMatchObject({
      changes: [
        { field: 'name', from: before.name, to: `Quiet Corner Café ${tag}` },
        { field: 'phone', from: null, to: '+351210000111' },
      ],
    });
    const rows = await app.services.db.venueReview.findMany({
      where: { venueId: rawId(venueId) },
      orderBy: { createdAt: 'asc' },
    });
    expect(rows.map((r) => [r.kind, r.status])).toEqual([
      ['CHANGE', 'WITHDRAWN'],
      ['CHANGE', 'PENDING'],
    ]);

    const approved = await app.gql(
      Approve,
      { reviewId: gid('VenueReview', rows[1]!.id) },
      { token: admin.token },
    );
    expect(member(approved.data?.approveVenueReview, 'VenueReviewPayload', approved).review.status).toBe(
      'APPROVED',
    );
    expect(await venueRow(venueId)).toMatchObject({
      name: `Quiet Corner Café ${tag}`,
      phone: '+351210000111',
      email: before.email,
      status: 'CLAIMED',
    });
  });

  it('drops the change its former organisation proposed once the venue changes hands', async () => {
    const { owner, venueId } = await liveVenue();
    await app.gql(UpdateVenue, { input: { venueId, name: `Parting Shot ${tag}` } }, { token: owner.token });
    const db = app.services.db;
    const buyer = await db.organization.create({ data: { name: `Buyer ${tag}` } });
    const claim = await db.venueClaim.create({
      data: {
        venueId: rawId(venueId),
        organizationId: buyer.id,
        requestedById: admin.userId,
        method: 'MANUAL_REVIEW',
        note: 'We bought the business',
      },
    });
    const approved = await app.gql(
      ReviewClaim,
      { claimId: encodeGlobalID('VenueClaim', claim.id) },
      { token: admin.token },
    );
    expect(approved.data?.reviewVenueClaim.__typename, JSON.stringify(approved.body)).toBe(
      'VenueClaimPayload',
    );
    expect(await db.venueReview.findFirstOrThrow({ where: { venueId: rawId(venueId) } })).toMatchObject({
      kind: 'CHANGE',
      status: 'WITHDRAWN',
      reason: 'The venue changed hands',
    });
    expect((await venueRow(venueId)).name).not.toBe(`Parting Shot ${tag}`);
  });

  it('lets a platform admin correct a live venue directly', async () => {
    const { venueId } = await liveVenue();
    const fixed = await app.gql(
      UpdateVenue,
      { input: { venueId, name: `Corrected ${tag}` } },
      { token: admin.token },
    );
    expect(member(fixed.data?.updateVenue, 'VenuePayload', fixed).venue).toMatchObject({
      name: `Corrected ${tag}`,
      pendingReview: null,
    });
  });
});

describe('deciding reviews', () => {
  it('takes one decision when two admins decide at once', async () => {
    const { owner, venueId } = await impostorInReview();
    const reviewId = await pendingReviewOf(venueId, owner.token);
    const [approved, rejected] = await Promise.all([
      app.gql(Approve, { reviewId }, { token: admin.token }),
      app.gql(Reject, { reviewId, reason: 'Lookalike' }, { token: admin.token }),
    ]);
    const outcomes = [
      approved.data?.approveVenueReview?.__typename,
      rejected.data?.rejectVenueReview?.__typename,
    ];
    expect(outcomes.sort()).toEqual(['ConflictError', 'VenueReviewPayload']);
    const review = await app.services.db.venueReview.findUniqueOrThrow({ where: { id: rawId(reviewId) } });
    expect((await venueRow(venueId)).status).toBe(review.status === 'APPROVED' ? 'CLAIMED' : 'DRAFT');
  });

  it('is for platform admins only, and a refused decision changes nothing', async () => {
    const { owner, venueId } = await impostorInReview();
    const reviewId = await pendingReviewOf(venueId, owner.token);
    const byOwner = await app.gql(Approve, { reviewId }, { token: owner.token });
    expect(byOwner.body).toEqual({
      data: null,
      errors: [
        {
          message: 'You are not allowed to do this',
          locations: [{ line: 3, column: 3 }],
          path: ['approveVenueReview'],
          extensions: { code: 'FORBIDDEN' },
        },
      ],
    });
    const queue = await app.gql(Queue, {}, { token: owner.token });
    expect(queue.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await venueRow(venueId)).toMatchObject({ status: 'IN_REVIEW' });
    expect(
      await app.services.db.venueReview.findUniqueOrThrow({ where: { id: rawId(reviewId) } }),
    ).toMatchObject({
      status: 'PENDING',
    });
    const unknown = await app.gql(
      Approve,
      { reviewId: gid('VenueReview', '00000000-0000-4000-8000-000000000000') },
      { token: admin.token },
    );
    expect(unknown.data?.approveVenueReview).toMatchObject({ __typename: 'NotFoundError' });
  });
});

/** The next Friday (in Lisbon) at a local time, as an ISO instant. */
function nextFridayAt(time: string): string {
  let day = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 2 });
  while (day.dayOfWeek !== 5) day = day.add({ days: 1 });
  return new Date(
    Temporal.PlainDateTime.from(`${day.toString()}T${time}`).toZonedDateTime('Europe/Lisbon')
      .epochMilliseconds,
  ).toISOString();
}
