/**
 * Who may call what on venues and their agents: every venue and agent mutation, and the reads
 * whose answer depends on the caller, run as every kind of caller against the real server. Each
 * cell states its outcome:
 *
 * - `allowed`: the call succeeds and its effect is in the answer and the database;
 * - `null`: the call succeeds but the field hides itself from this caller (it reads null, with no
 *   error): fields that are fine to ask for but not this caller's to see;
 * - `HTTP 401`: the credential itself no longer works (a write key whose creator was removed
 *   from the organisation, or whose organisation has no owner left): refused before GraphQL
 *   runs, like any credential that does not verify. A write key whose creator was demoted to
 *   STAFF acts as that STAFF member would;
 * - `UNAUTHENTICATED` / `FORBIDDEN`: scope-auth refuses before the resolver runs (a GraphQL error
 *   with that `extensions.code`, the field null);
 * - `hidden`: `node(id)` answers null with no error, as for a venue that does not exist;
 * - `NotAllowedError`: the mutation admits any signed-in caller and the domain says no, as a typed
 *   member of the result union.
 *
 * Every outcome but `allowed` is also checked to have changed nothing in the database.
 *
 * Every cell gets fresh organisations, callers (test/helpers/authz.ts) and a venue with its agent,
 * written straight to the database, so cells are independent and can be read one by one. The
 * venue is a complete DRAFT (profile, location, hours, confirmed rules, a table): publishing it
 * really publishes, and rows that need it on the network publish it first.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentSigningSecret, createVenueAgent } from '../../src/domain/agents/agents.ts';
import { graphql } from '../generated/gql.ts';
import { type GraphQLResponse, rawId, startTestApp, type TestApp } from '../helpers/app.ts';
import {
  ACTORS,
  type Actor,
  type Actors,
  createActors,
  credentialFor,
  expectRefusal,
  expectUnauthorized,
  HIDDEN,
  hiddenWhereRefused,
  unique,
  userOf,
  valueAt,
} from '../helpers/authz.ts';
import { trustOrganization } from '../helpers/venues.ts';

type Outcome =
  | 'allowed'
  | 'null'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NotAllowedError'
  | 'HTTP 401'
  | typeof HIDDEN;

const CreateVenue = graphql(`
  mutation AuthzVenuesCreateVenue($organizationId: ID!, $name: String!) {
    createVenue(input: { organizationId: $organizationId, name: $name, timeZone: "Europe/Lisbon" }) {
      __typename
      ... on CreateVenuePayload { agentSigningSecret venue { id name status } }
      ... on Error { message }
    }
  }
`);

const ListVenue = graphql(`
  mutation AuthzVenuesListVenue($name: String!) {
    listVenue(input: { name: $name, timeZone: "Europe/Lisbon" }) {
      __typename
      ... on CreateVenuePayload { agentSigningSecret venue { id name status organization { id } } }
      ... on Error { message }
    }
  }
`);

const UpdateVenue = graphql(`
  mutation AuthzVenuesUpdateVenue($venueId: ID!, $description: String!) {
    updateVenue(input: { venueId: $venueId, description: $description }) {
      __typename
      ... on VenuePayload { venue { id description } }
      ... on Error { message }
    }
  }
`);

const RenameVenue = graphql(`
  mutation AuthzVenuesRenameVenue($venueId: ID!, $name: String!) {
    updateVenue(input: { venueId: $venueId, name: $name }) {
      __typename
      ... on VenuePayload { venue { name pendingReview { kind changes { field from to } } } }
      ... on Error { message }
    }
  }
`);

const SetOpeningHours = graphql(`
  mutation AuthzVenuesSetOpeningHours($venueId: ID!) {
    setOpeningHours(input: { venueId: $venueId, hours: [{ weekday: 1, opensAt: "09:00", closesAt: "13:00" }] }) {
      __typename
      ... on VenuePayload { venue { openingHours { weekday opensAt closesAt } } }
      ... on Error { message }
    }
  }
`);

const SetHoursExceptions = graphql(`
  mutation AuthzVenuesSetHoursExceptions($venueId: ID!) {
    setHoursExceptions(
      input: { venueId: $venueId, exceptions: [{ date: "2031-12-25", closed: true, reason: "Christmas" }] }
    ) {
      __typename
      ... on VenuePayload { venue { hoursExceptions(from: "2031-12-01", days: 31) { date closed reason } } }
      ... on Error { message }
    }
  }
`);

const SetBookingRules = graphql(`
  mutation AuthzVenuesSetBookingRules($venueId: ID!) {
    setBookingRules(
      input: {
        venueId: $venueId
        partySizeMin: 2
        partySizeMax: 12
        slotMinutes: 30
        turnMinutes: 120
        leadTimeMinutes: 180
        bookingHorizonDays: 90
        coversPerSlot: 20
      }
    ) {
      __typename
      ... on VenuePayload { venue { bookingRules { partySizeMin partySizeMax coversPerSlot } } }
      ... on Error { message }
    }
  }
`);

const SetVenueTables = graphql(`
  mutation AuthzVenuesSetVenueTables($venueId: ID!) {
    setVenueTables(input: { venueId: $venueId, tables: [{ name: "Window", seats: 2, combinable: true }] }) {
      __typename
      ... on VenuePayload { venue { tables { name seats combinable } } }
      ... on Error { message }
    }
  }
`);

const PublishVenue = graphql(`
  mutation AuthzVenuesPublishVenue($venueId: ID!) {
    publishVenue(input: { venueId: $venueId }) {
      __typename
      ... on VenuePayload { venue { status } }
      ... on Error { message }
    }
  }
`);

const UnpublishVenue = graphql(`
  mutation AuthzVenuesUnpublishVenue($venueId: ID!) {
    unpublishVenue(input: { venueId: $venueId }) {
      __typename
      ... on VenuePayload { venue { status } }
      ... on Error { message }
    }
  }
`);

const SetVenueSuspended = graphql(`
  mutation AuthzVenuesSetVenueSuspended($venueId: ID!, $suspended: Boolean!) {
    setVenueSuspended(input: { venueId: $venueId, suspended: $suspended }) {
      __typename
      ... on VenuePayload { venue { status } }
      ... on Error { message }
    }
  }
`);

const ApproveVenueReview = graphql(`
  mutation AuthzVenuesApproveVenueReview($reviewId: ID!) {
    approveVenueReview(input: { reviewId: $reviewId, note: "Checked" }) {
      __typename
      ... on VenueReviewPayload { review { status reason venue { status } } }
      ... on Error { message }
    }
  }
`);

const RejectVenueReview = graphql(`
  mutation AuthzVenuesRejectVenueReview($reviewId: ID!) {
    rejectVenueReview(input: { reviewId: $reviewId, reason: "Not this venue's business" }) {
      __typename
      ... on VenueReviewPayload { review { status reason venue { status } } }
      ... on Error { message }
    }
  }
`);

const VenueReviewQueue = graphql(`
  query AuthzVenuesReviewQueue {
    venueReviews(first: 100) { edges { node { id kind status } } }
  }
`);

const VenuePendingReview = graphql(`
  query AuthzVenuesPendingReview($id: ID!) {
    node(id: $id) { ... on Venue { pendingReview { kind status } } }
  }
`);

const VenueReviewFlags = graphql(`
  query AuthzVenuesReviewFlags($id: ID!) {
    node(id: $id) { id ... on VenueReview { flags { kind } } }
  }
`);

const UpdateAgentDna = graphql(`
  mutation AuthzVenuesUpdateAgentDna($agentId: ID!) {
    updateAgentDna(
      input: {
        agentId: $agentId
        persona: { name: "Table Tester", tone: formal, languages: ["en", "pt"] }
        capabilities: ["bookings"]
        tools: ["check_availability", "escalate_to_staff"]
      }
    ) {
      __typename
      ... on AgentPayload { agent { name dna { persona { name tone } tools } } }
      ... on Error { message }
    }
  }
`);

const RotateAgentSigningSecret = graphql(`
  mutation AuthzVenuesRotateAgentSigningSecret($agentId: ID!) {
    rotateAgentSigningSecret(input: { agentId: $agentId }) {
      __typename
      ... on RotateAgentSigningSecretPayload { signingSecret agent { id hasSigningSecret } }
      ... on Error { message }
    }
  }
`);

const VenueSummary = graphql(`
  query AuthzVenuesSummary($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on Venue { name status }
    }
  }
`);

const VenueNode = graphql(`
  query AuthzVenuesNode($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on Venue {
        name
        slug
        status
        cuisines
        address { city countryCode }
        location { latitude longitude }
        openingHours { weekday opensAt closesAt }
        bookingRules { partySizeMin partySizeMax }
        agent { kind name }
      }
    }
  }
`);

const VenueOrganization = graphql(`
  query AuthzVenuesOrganization($id: ID!) {
    node(id: $id) { ... on Venue { organization { id } } }
  }
`);

const VenueTables = graphql(`
  query AuthzVenuesTables($id: ID!) {
    node(id: $id) { ... on Venue { tables { name seats } } }
  }
`);

const VenueChecklist = graphql(`
  query AuthzVenuesChecklist($id: ID!) {
    node(id: $id) { ... on Venue { checklist { key done } } }
  }
`);

const VenueAgentDna = graphql(`
  query AuthzVenuesAgentDna($id: ID!) {
    node(id: $id) { ... on Venue { agent { dna { persona { name } tools } } } }
  }
`);

/** The callers, and the organisation's venue with its business agent. */
interface Fixture extends Actors {
  venue: { id: string; name: string; slug: string };
  agent: { id: string };
  /** The venue's pending review, for rows that prepare one. */
  review?: { id: string };
}

interface Row {
  name: string;
  /**
   * Where the answer is read from: the top-level field, or a field inside it for reads whose
   * subject is one field of the venue.
   */
  path: string[];
  /** Changes to the fresh fixture before the call (e.g. publish the venue). */
  prepare?: (fx: Fixture) => Promise<void>;
  call: (fx: Fixture, token: string | undefined) => Promise<GraphQLResponse<unknown>>;
  /** For allowed cells: the answer and the database show the effect (which may depend on who called). */
  effect: (fx: Fixture, answer: Record<string, unknown>, actor: Actor) => Promise<void>;
  expected: Record<Actor, Outcome>;
}

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const gid = (type: 'Organization' | 'Venue' | 'Agent' | 'VenueReview', id: string) =>
  encodeGlobalID(type, id);

async function createFixture(): Promise<Fixture> {
  const actors = await createActors(app);
  const db = app.services.db;
  const name = unique('Authz Venue');
  const venue = await db.venue.create({
    data: {
      organizationId: actors.organizationId,
      name,
      slug: name.toLowerCase().replace(/ /g, '-'),
      cuisines: ['portuguese'],
      description: 'Grilled fish by the river',
      addressLine1: 'Rua das Flores 1',
      city: 'Lisboa',
      countryCode: 'PT',
      latitude: 38.71,
      longitude: -9.14,
      timeZone: 'Europe/Lisbon',
      bookingRulesConfirmedAt: new Date(),
      hours: { create: [{ weekday: 5, opensAt: '19:00', closesAt: '02:00' }] },
      tables: { create: [{ name: 'Terrace', seats: 4 }] },
    },
  });
  // The domain's own maker, so the agent has a sealed signing secret like any real one.
  const { agent } = await createVenueAgent(db, app.services.keyring, venue);
  return { ...actors, venue: { id: venue.id, name, slug: venue.slug }, agent: { id: agent.id } };
}

/** Puts the fixture's venue on the network, as publishVenue would. */
async function published(fx: Fixture) {
  await app.services.db.venue.update({
    where: { id: fx.venue.id },
    data: { status: 'CLAIMED', publishedAt: new Date() },
  });
}

/** The fixture's organisation is one the platform vouched for: its venues publish without review. */
async function trusted(fx: Fixture) {
  await trustOrganization(app, fx.organizationId);
}

/** The fixture's venue, published by its new organisation, waits for review. */
async function inReview(fx: Fixture) {
  const db = app.services.db;
  await db.venue.update({ where: { id: fx.venue.id }, data: { status: 'IN_REVIEW' } });
  const review = await db.venueReview.create({
    data: {
      venueId: fx.venue.id,
      organizationId: fx.organizationId,
      kind: 'PUBLISH',
      proposed: { name: fx.venue.name, email: null, phone: null, website: null },
      flags: [{ kind: 'NEW_ORGANIZATION' }],
      requestedById: fx.owner.userId,
    },
  });
  fx.review = { id: review.id };
}

/** The fixture's venue is live, with a new name waiting for review. */
async function renameInReview(fx: Fixture) {
  await published(fx);
  const review = await app.services.db.venueReview.create({
    data: {
      venueId: fx.venue.id,
      organizationId: fx.organizationId,
      kind: 'CHANGE',
      proposed: { name: 'Renamed Venue' },
      previous: { name: fx.venue.name },
      requestedById: fx.owner.userId,
    },
  });
  fx.review = { id: review.id };
}

/**
 * What a refused call must leave untouched: the venue with everything it has, its agent (DNA and
 * sealed secret), and the size of every table a mutation here could write.
 */
async function snapshot(fx: Fixture) {
  const db = app.services.db;
  return {
    venue: await db.venue.findUnique({
      where: { id: fx.venue.id },
      include: {
        hours: { orderBy: [{ weekday: 'asc' }, { opensAt: 'asc' }] },
        exceptions: { orderBy: [{ date: 'asc' }, { opensAt: 'asc' }] },
        tables: { orderBy: { name: 'asc' } },
      },
    }),
    agent: await db.agent.findUnique({ where: { id: fx.agent.id } }),
    reviews: await db.venueReview.findMany({
      where: { venueId: fx.venue.id },
      orderBy: { createdAt: 'asc' },
    }),
    organization: await db.organization.findUnique({ where: { id: fx.organizationId } }),
    counts: {
      venues: await db.venue.count(),
      agents: await db.agent.count(),
      openingHours: await db.openingHours.count(),
      hoursExceptions: await db.hoursException.count(),
      venueTables: await db.venueTable.count(),
      venueReviews: await db.venueReview.count(),
      outboundMessages: await db.outboundMessage.count(),
    },
  };
}

const venueOf = (fx: Fixture) =>
  app.services.db.venue.findUniqueOrThrow({
    where: { id: fx.venue.id },
    include: { hours: true, exceptions: true, tables: true },
  });

/** The value at `path` inside `data`; undefined when a step on the way is missing. */

/**
 * Editing a venue: its organisation's managers, platform admins, and write keys (which act as an
 * ADMIN of their organisation). STAFF, read keys and outsiders are refused before anything runs.
 */
const VENUE_MANAGERS: Record<Actor, Outcome> = {
  OWNER: 'allowed',
  ADMIN: 'allowed',
  STAFF: 'FORBIDDEN',
  OTHER_OWNER: 'FORBIDDEN',
  PLATFORM_ADMIN: 'allowed',
  KEY_WRITE: 'allowed',
  KEY_READ: 'FORBIDDEN',
  KEY_CREATOR_REMOVED: 'HTTP 401',
  KEY_CREATOR_DEMOTED: 'FORBIDDEN',
  KEY_NO_OWNER: 'HTTP 401',
  ANONYMOUS: 'UNAUTHENTICATED',
};

/** Acts of the platform itself: listing unowned venues, suspending. */
const PLATFORM_ADMINS_ONLY: Record<Actor, Outcome> = {
  OWNER: 'FORBIDDEN',
  ADMIN: 'FORBIDDEN',
  STAFF: 'FORBIDDEN',
  OTHER_OWNER: 'FORBIDDEN',
  PLATFORM_ADMIN: 'allowed',
  KEY_WRITE: 'FORBIDDEN',
  KEY_READ: 'FORBIDDEN',
  KEY_CREATOR_REMOVED: 'HTTP 401',
  KEY_CREATOR_DEMOTED: 'FORBIDDEN',
  KEY_NO_OWNER: 'HTTP 401',
  ANONYMOUS: 'UNAUTHENTICATED',
};

/** What only the venue's organisation (any role, any key) and platform admins may read. */
const VENUE_TEAM_READS: Record<Actor, Outcome> = {
  OWNER: 'allowed',
  ADMIN: 'allowed',
  STAFF: 'allowed',
  OTHER_OWNER: 'FORBIDDEN',
  PLATFORM_ADMIN: 'allowed',
  KEY_WRITE: 'allowed',
  KEY_READ: 'allowed',
  KEY_CREATOR_REMOVED: 'HTTP 401',
  KEY_CREATOR_DEMOTED: 'allowed',
  KEY_NO_OWNER: 'HTTP 401',
  ANONYMOUS: 'UNAUTHENTICATED',
};

/** Like VENUE_TEAM_READS, for fields that read null for outsiders instead of refusing. */
const VENUE_TEAM_SEES: Record<Actor, Outcome> = {
  ...VENUE_TEAM_READS,
  OTHER_OWNER: 'null',
  ANONYMOUS: 'null',
};

const rows: Row[] = [
  {
    name: 'createVenue',
    path: ['createVenue'],
    call: (fx, token) =>
      app.gql(
        CreateVenue,
        { organizationId: gid('Organization', fx.organizationId), name: unique('New Venue') },
        { token },
      ),
    async effect(fx, answer) {
      expect(answer).toMatchObject({
        __typename: 'CreateVenuePayload',
        agentSigningSecret: expect.any(String),
        venue: { status: 'DRAFT' },
      });
      const { agentSigningSecret: secret, venue } = answer as {
        agentSigningSecret: string;
        venue: { id: string };
      };
      const id = rawId(venue.id);
      expect(await app.services.db.venue.findUnique({ where: { id } })).toMatchObject({
        organizationId: fx.organizationId,
        status: 'DRAFT',
      });
      // Its business agent came with it, holding the secret the answer showed this once.
      const agent = await app.services.db.agent.findUniqueOrThrow({ where: { venueId: id } });
      expect(agent).toMatchObject({ kind: 'VENUE', organizationId: fx.organizationId });
      const stored = await agentSigningSecret(app.services.db, app.services.keyring, agent.id);
      expect(stored.toString('base64url')).toBe(secret);
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'listVenue (an unowned venue)',
    path: ['listVenue'],
    call: (_fx, token) => app.gql(ListVenue, { name: unique('Listed Venue') }, { token }),
    async effect(_fx, answer) {
      expect(answer).toMatchObject({
        __typename: 'CreateVenuePayload',
        agentSigningSecret: expect.any(String),
        venue: { status: 'LISTED', organization: null },
      });
      const id = rawId((answer as { venue: { id: string } }).venue.id);
      expect(
        await app.services.db.venue.findUnique({ where: { id }, include: { agent: true } }),
      ).toMatchObject({
        organizationId: null,
        status: 'LISTED',
        publishedAt: expect.any(Date),
        agent: { kind: 'VENUE', organizationId: null },
      });
    },
    expected: PLATFORM_ADMINS_ONLY,
  },
  {
    name: 'updateVenue',
    path: ['updateVenue'],
    call: (fx, token) =>
      app.gql(
        UpdateVenue,
        { venueId: gid('Venue', fx.venue.id), description: 'Now with a garden' },
        { token },
      ),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'VenuePayload',
        venue: { id: gid('Venue', fx.venue.id), description: 'Now with a garden' },
      });
      expect((await venueOf(fx)).description).toBe('Now with a garden');
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'setOpeningHours',
    path: ['setOpeningHours'],
    call: (fx, token) => app.gql(SetOpeningHours, { venueId: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      const hours = [{ weekday: 1, opensAt: '09:00', closesAt: '13:00' }];
      expect(answer).toEqual({ __typename: 'VenuePayload', venue: { openingHours: hours } });
      expect((await venueOf(fx)).hours).toMatchObject(hours);
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'setHoursExceptions',
    path: ['setHoursExceptions'],
    call: (fx, token) => app.gql(SetHoursExceptions, { venueId: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'VenuePayload',
        venue: { hoursExceptions: [{ date: '2031-12-25', closed: true, reason: 'Christmas' }] },
      });
      expect((await venueOf(fx)).exceptions).toMatchObject([
        { date: new Date('2031-12-25T00:00:00Z'), closed: true, reason: 'Christmas' },
      ]);
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'setBookingRules',
    path: ['setBookingRules'],
    call: (fx, token) => app.gql(SetBookingRules, { venueId: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'VenuePayload',
        venue: { bookingRules: { partySizeMin: 2, partySizeMax: 12, coversPerSlot: 20 } },
      });
      expect(await venueOf(fx)).toMatchObject({
        partySizeMin: 2,
        partySizeMax: 12,
        slotMinutes: 30,
        turnMinutes: 120,
        leadTimeMinutes: 180,
        bookingHorizonDays: 90,
        coversPerSlot: 20,
      });
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'setVenueTables',
    path: ['setVenueTables'],
    call: (fx, token) => app.gql(SetVenueTables, { venueId: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      const tables = [{ name: 'Window', seats: 2, combinable: true }];
      expect(answer).toEqual({ __typename: 'VenuePayload', venue: { tables } });
      expect((await venueOf(fx)).tables).toMatchObject(tables);
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'updateVenue (a new name for a published venue)',
    path: ['updateVenue'],
    prepare: published,
    call: (fx, token) =>
      app.gql(RenameVenue, { venueId: gid('Venue', fx.venue.id), name: 'Renamed Venue' }, { token }),
    async effect(fx, answer, actor) {
      if (actor === 'PLATFORM_ADMIN') {
        // The platform's own correction applies at once.
        expect(answer).toEqual({
          __typename: 'VenuePayload',
          venue: { name: 'Renamed Venue', pendingReview: null },
        });
        expect((await venueOf(fx)).name).toBe('Renamed Venue');
        return;
      }
      // The venue's team proposes; the live name stays until a platform admin approves.
      expect(answer).toEqual({
        __typename: 'VenuePayload',
        venue: {
          name: fx.venue.name,
          pendingReview: {
            kind: 'CHANGE',
            changes: [{ field: 'name', from: fx.venue.name, to: 'Renamed Venue' }],
          },
        },
      });
      expect((await venueOf(fx)).name).toBe(fx.venue.name);
      expect(await app.services.db.venueReview.findMany({ where: { venueId: fx.venue.id } })).toEqual([
        expect.objectContaining({ kind: 'CHANGE', status: 'PENDING', requestedById: userOf(fx, actor) }),
      ]);
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'publishVenue (a complete DRAFT of a trusted organisation)',
    path: ['publishVenue'],
    prepare: trusted,
    call: (fx, token) => app.gql(PublishVenue, { venueId: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({ __typename: 'VenuePayload', venue: { status: 'CLAIMED' } });
      expect(await venueOf(fx)).toMatchObject({ status: 'CLAIMED', publishedAt: expect.any(Date) });
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'publishVenue (a complete DRAFT of a new organisation)',
    path: ['publishVenue'],
    call: (fx, token) => app.gql(PublishVenue, { venueId: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer, actor) {
      const reviews = await app.services.db.venueReview.findMany({ where: { venueId: fx.venue.id } });
      if (actor === 'PLATFORM_ADMIN') {
        // A platform admin publishing is the review.
        expect(answer).toEqual({ __typename: 'VenuePayload', venue: { status: 'CLAIMED' } });
        expect(await venueOf(fx)).toMatchObject({ status: 'CLAIMED', publishedAt: expect.any(Date) });
        expect(reviews).toEqual([]);
        return;
      }
      expect(answer).toEqual({ __typename: 'VenuePayload', venue: { status: 'IN_REVIEW' } });
      expect(await venueOf(fx)).toMatchObject({ status: 'IN_REVIEW', publishedAt: null });
      expect(reviews).toEqual([
        expect.objectContaining({ kind: 'PUBLISH', status: 'PENDING', requestedById: userOf(fx, actor) }),
      ]);
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'unpublishVenue (a venue waiting for review)',
    path: ['unpublishVenue'],
    prepare: inReview,
    call: (fx, token) => app.gql(UnpublishVenue, { venueId: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({ __typename: 'VenuePayload', venue: { status: 'DRAFT' } });
      expect((await venueOf(fx)).status).toBe('DRAFT');
      expect(
        await app.services.db.venueReview.findUniqueOrThrow({ where: { id: fx.review!.id } }),
      ).toMatchObject({
        status: 'WITHDRAWN',
      });
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'approveVenueReview (a pending publication)',
    path: ['approveVenueReview'],
    prepare: inReview,
    call: (fx, token) =>
      app.gql(ApproveVenueReview, { reviewId: gid('VenueReview', fx.review!.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'VenueReviewPayload',
        review: { status: 'APPROVED', reason: 'Checked', venue: { status: 'CLAIMED' } },
      });
      expect(await venueOf(fx)).toMatchObject({ status: 'CLAIMED', publishedAt: expect.any(Date) });
      expect(
        await app.services.db.venueReview.findUniqueOrThrow({ where: { id: fx.review!.id } }),
      ).toMatchObject({
        status: 'APPROVED',
        reviewedById: fx.platformAdmin.userId,
        decidedAt: expect.any(Date),
      });
      expect(
        (await app.services.db.organization.findUniqueOrThrow({ where: { id: fx.organizationId } }))
          .trustedAt,
      ).toEqual(expect.any(Date));
    },
    // Reviewing venues is the platform's job: a venue's own team cannot wave itself through.
    expected: PLATFORM_ADMINS_ONLY,
  },
  {
    name: 'rejectVenueReview (a pending change of name)',
    path: ['rejectVenueReview'],
    prepare: renameInReview,
    call: (fx, token) =>
      app.gql(RejectVenueReview, { reviewId: gid('VenueReview', fx.review!.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'VenueReviewPayload',
        review: { status: 'REJECTED', reason: "Not this venue's business", venue: { status: 'CLAIMED' } },
      });
      expect((await venueOf(fx)).name).toBe(fx.venue.name);
      expect(
        await app.services.db.venueReview.findUniqueOrThrow({ where: { id: fx.review!.id } }),
      ).toMatchObject({
        status: 'REJECTED',
        reviewedById: fx.platformAdmin.userId,
      });
    },
    expected: PLATFORM_ADMINS_ONLY,
  },
  {
    name: 'venueReviews (the review queue)',
    path: ['venueReviews'],
    prepare: inReview,
    call: (_fx, token) => app.gql(VenueReviewQueue, {}, { token }),
    async effect(fx, answer) {
      expect((answer as { edges: { node: unknown }[] }).edges.map((e) => e.node)).toContainEqual({
        id: gid('VenueReview', fx.review!.id),
        kind: 'PUBLISH',
        status: 'PENDING',
      });
    },
    expected: PLATFORM_ADMINS_ONLY,
  },
  {
    name: 'unpublishVenue (a published venue)',
    path: ['unpublishVenue'],
    prepare: published,
    call: (fx, token) => app.gql(UnpublishVenue, { venueId: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({ __typename: 'VenuePayload', venue: { status: 'DRAFT' } });
      expect((await venueOf(fx)).status).toBe('DRAFT');
    },
    expected: VENUE_MANAGERS,
  },
  {
    name: 'setVenueSuspended (suspend a published venue)',
    path: ['setVenueSuspended'],
    prepare: published,
    call: (fx, token) =>
      app.gql(SetVenueSuspended, { venueId: gid('Venue', fx.venue.id), suspended: true }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({ __typename: 'VenuePayload', venue: { status: 'SUSPENDED' } });
      expect((await venueOf(fx)).status).toBe('SUSPENDED');
    },
    // Suspension is the platform's lever on a venue: its own managers cannot pull it (or undo it).
    expected: PLATFORM_ADMINS_ONLY,
  },
  {
    name: "updateAgentDna (the venue's agent)",
    path: ['updateAgentDna'],
    call: (fx, token) => app.gql(UpdateAgentDna, { agentId: gid('Agent', fx.agent.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'AgentPayload',
        agent: {
          name: 'Table Tester',
          dna: {
            persona: { name: 'Table Tester', tone: 'formal' },
            tools: ['check_availability', 'escalate_to_staff'],
          },
        },
      });
      const agent = await app.services.db.agent.findUniqueOrThrow({ where: { id: fx.agent.id } });
      expect(agent).toMatchObject({
        name: 'Table Tester',
        dna: { capabilities: ['bookings'], tools: ['check_availability', 'escalate_to_staff'] },
      });
    },
    // The field admits any signed-in caller (agents of every kind share it); the domain refuses
    // whoever does not manage this agent's venue, as a typed error rather than FORBIDDEN.
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'NotAllowedError',
      OTHER_OWNER: 'NotAllowedError',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'allowed',
      KEY_READ: 'NotAllowedError',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'NotAllowedError',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: "rotateAgentSigningSecret (the venue's agent)",
    path: ['rotateAgentSigningSecret'],
    call: (fx, token) => app.gql(RotateAgentSigningSecret, { agentId: gid('Agent', fx.agent.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'RotateAgentSigningSecretPayload',
        signingSecret: expect.any(String),
        agent: { id: gid('Agent', fx.agent.id), hasSigningSecret: true },
      });
      const stored = await agentSigningSecret(app.services.db, app.services.keyring, fx.agent.id);
      expect(stored.toString('base64url')).toBe((answer as { signingSecret: string }).signingSecret);
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'NotAllowedError',
      OTHER_OWNER: 'NotAllowedError',
      PLATFORM_ADMIN: 'allowed',
      // A secret is handed to a person, never to a key: a leaked key cannot take over the agent.
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'node(id) of a DRAFT venue',
    path: ['node'],
    call: (fx, token) => app.gql(VenueSummary, { id: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'Venue',
        id: gid('Venue', fx.venue.id),
        name: fx.venue.name,
        status: 'DRAFT',
      });
    },
    // A draft is its organisation's business: nobody else learns what it is called, or that it
    // exists.
    expected: hiddenWhereRefused(VENUE_TEAM_READS),
  },
  {
    name: 'node(id) of a venue waiting for review',
    path: ['node'],
    prepare: inReview,
    call: (fx, token) => app.gql(VenueSummary, { id: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'Venue',
        id: gid('Venue', fx.venue.id),
        name: fx.venue.name,
        status: 'IN_REVIEW',
      });
    },
    // Not on the network until approved: like a draft, nobody else learns it exists.
    expected: hiddenWhereRefused(VENUE_TEAM_READS),
  },
  {
    name: 'Venue.pendingReview of a published venue with a new name waiting',
    path: ['node', 'pendingReview'],
    prepare: renameInReview,
    call: (fx, token) => app.gql(VenuePendingReview, { id: gid('Venue', fx.venue.id) }, { token }),
    async effect(_fx, answer) {
      expect(answer).toEqual({ kind: 'CHANGE', status: 'PENDING' });
    },
    expected: VENUE_TEAM_SEES,
  },
  {
    name: 'VenueReview.flags',
    path: ['node', 'flags'],
    prepare: inReview,
    call: (fx, token) => app.gql(VenueReviewFlags, { id: gid('VenueReview', fx.review!.id) }, { token }),
    async effect(_fx, answer) {
      expect(answer).toEqual([{ kind: 'NEW_ORGANIZATION' }]);
    },
    // The venue's team reads its review, but the flags may name venues it cannot see.
    expected: {
      OWNER: 'null',
      ADMIN: 'null',
      STAFF: 'null',
      OTHER_OWNER: HIDDEN,
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'null',
      KEY_READ: 'null',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'null',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: HIDDEN,
    },
  },
  {
    name: 'node(id) of a published venue: the public fields',
    path: ['node'],
    prepare: published,
    call: (fx, token) => app.gql(VenueNode, { id: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'Venue',
        id: gid('Venue', fx.venue.id),
        name: fx.venue.name,
        slug: fx.venue.slug,
        status: 'CLAIMED',
        cuisines: ['portuguese'],
        address: { city: 'Lisboa', countryCode: 'PT' },
        location: { latitude: 38.71, longitude: -9.14 },
        openingHours: [{ weekday: 5, opensAt: '19:00', closesAt: '02:00' }],
        bookingRules: { partySizeMin: 1, partySizeMax: 8 },
        agent: { kind: 'VENUE', name: `${fx.venue.name} concierge` },
      });
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'allowed',
      OTHER_OWNER: 'allowed',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'allowed',
      KEY_READ: 'allowed',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'allowed',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'allowed',
    },
  },
  {
    name: 'Venue.organization of a published venue',
    path: ['node', 'organization'],
    prepare: published,
    call: (fx, token) => app.gql(VenueOrganization, { id: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({ id: gid('Organization', fx.organizationId) });
    },
    expected: VENUE_TEAM_SEES,
  },
  {
    name: 'Venue.tables of a published venue',
    path: ['node', 'tables'],
    prepare: published,
    call: (fx, token) => app.gql(VenueTables, { id: gid('Venue', fx.venue.id) }, { token }),
    async effect(_fx, answer) {
      expect(answer).toEqual([{ name: 'Terrace', seats: 4 }]);
    },
    // `tables` is non-null, so a refusal takes the whole venue (`node`) with it.
    expected: VENUE_TEAM_SEES,
  },
  {
    name: 'Venue.checklist of a published venue',
    path: ['node', 'checklist'],
    prepare: published,
    call: (fx, token) => app.gql(VenueChecklist, { id: gid('Venue', fx.venue.id) }, { token }),
    async effect(_fx, answer) {
      expect(answer).toContainEqual({ key: 'published', done: true });
    },
    expected: VENUE_TEAM_SEES,
  },
  {
    name: 'Venue.agent.dna of a published venue',
    path: ['node', 'agent', 'dna'],
    prepare: published,
    call: (fx, token) => app.gql(VenueAgentDna, { id: gid('Venue', fx.venue.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toMatchObject({
        persona: { name: `${fx.venue.name} concierge` },
        tools: expect.arrayContaining(['accept_booking']),
      });
    },
    expected: VENUE_TEAM_SEES,
  },
];

describe.each(rows.map((row) => [row.name, row] as const))('%s', (_name, row) => {
  it.each(ACTORS.map((actor) => [actor, row.expected[actor]] as const))(
    'as %s: %s',
    async (actor, outcome) => {
      const fx = await createFixture();
      await row.prepare?.(fx);
      const credential = await credentialFor(app, fx, actor);
      const before = await snapshot(fx);
      const response = await row.call(fx, credential);
      const body = JSON.stringify(response.body);
      if (outcome === 'HTTP 401') {
        expectUnauthorized(response, body);
        expect(await snapshot(fx), `${body}\nthe refused call changed the database`).toEqual(before);
        return;
      }
      expect(response.status, body).toBe(200);

      if (outcome === 'allowed') {
        expect(response.errors, body).toBeUndefined();
        const answer = valueAt(response.data, row.path) as Record<string, unknown> | null | undefined;
        expect(answer, body).toBeTruthy();
        await row.effect(fx, answer!, actor);
        return;
      }

      expectRefusal(response, outcome, row, body);
      expect(await snapshot(fx), `${body}\nthe refused call changed the database`).toEqual(before);
    },
  );
});

describe('the answer to a refused call', () => {
  it('is exactly this for a STAFF member editing a venue', async () => {
    const fx = await createFixture();
    const response = await app.gql(
      UpdateVenue,
      { venueId: gid('Venue', fx.venue.id), description: 'Hijacked' },
      { token: fx.staff.token },
    );
    expect(response.body).toEqual({
      data: null,
      errors: [
        {
          message: 'You are not allowed to do this',
          locations: [{ line: 3, column: 3 }],
          path: ['updateVenue'],
          extensions: { code: 'FORBIDDEN' },
        },
      ],
    });
  });

  it("is exactly this for another organisation's owner reading a DRAFT venue: what a missing one gets", async () => {
    const fx = await createFixture();
    const response = await app.gql(
      VenueSummary,
      { id: gid('Venue', fx.venue.id) },
      { token: fx.otherOwner.token },
    );
    expect(response.body).toEqual({ data: { node: null } });
    const missing = await app.gql(
      VenueSummary,
      { id: gid('Venue', crypto.randomUUID()) },
      {
        token: fx.otherOwner.token,
      },
    );
    expect(missing.body).toEqual(response.body);
  });

  it("is exactly this for a STAFF member editing the venue's agent", async () => {
    const fx = await createFixture();
    const response = await app.gql(
      UpdateAgentDna,
      { agentId: gid('Agent', fx.agent.id) },
      { token: fx.staff.token },
    );
    expect(response.body).toEqual({
      data: { updateAgentDna: { __typename: 'NotAllowedError', message: 'You are not allowed to do this' } },
    });
  });
});
