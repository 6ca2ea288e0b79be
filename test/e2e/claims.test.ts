/**
 * Venue claims over real HTTP, with codes read from the loopback SMTP server and every effect
 * checked in Postgres: claiming by the venue's address, by an address on its website's domain and
 * by review; wrong, exhausted and expired codes; concurrent claims; contesting a venue another
 * organisation runs; rate limits; and who may do what, with refused calls changing nothing.
 *
 * People and organisations are written straight to the database and given real access tokens
 * (the sign-in flow is tested elsewhere; the first test signs in through it all the same).
 * Tokens are issued when used, because one test moves the app's clock past their lifetime.
 */
import { randomBytes } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentSigningKey, verifyingKey } from '../../src/domain/agents/agents.ts';
import { issueAccessToken } from '../../src/domain/identity/access-tokens.ts';
import { createApiKey } from '../../src/domain/identity/api-keys.ts';
import {
  addressIsOnWebsite,
  CLAIM_CODES_PER_VENUE,
  CLAIM_REQUESTS_PER_USER,
  isSharedMailDomain,
} from '../../src/domain/venues/claims.ts';
import { graphql } from '../generated/gql.ts';
import type { ClaimFieldsFragment } from '../generated/graphql.ts';
import {
  type GraphQLResponse,
  member,
  rawId,
  startTestApp,
  type TestApp,
  uniqueEmail,
} from '../helpers/app.ts';

graphql(`
  fragment ClaimFields on VenueClaim {
    id
    status
    method
    codeSentTo
    attemptsLeft
    expiresAt
    note
    reviewNote
    decidedAt
    venue { id status organization { id } }
    organization { id }
    requestedBy { id }
    events { action outcome method detail createdAt actor { id } }
  }
`);

const CreateOrganization = graphql(`
  mutation ClaimsCreateOrganization($name: String!) {
    createOrganization(input: { name: $name }) {
      __typename
      ... on OrganizationPayload { organization { id name } }
    }
  }
`);

const RotateAgentSecret = graphql(`
  mutation ClaimsRotateAgentSecret($agentId: ID!) {
    rotateAgentSigningSecret(input: { agentId: $agentId }) {
      __typename
      ... on Error { message }
    }
  }
`);

const ListVenue = graphql(`
  mutation ClaimsListVenue($input: ListVenueInput!) {
    listVenue(input: $input) {
      __typename
      ... on CreateVenuePayload { venue { id name email } }
      ... on Error { message }
    }
  }
`);

const RequestClaim = graphql(`
  mutation ClaimsRequest($input: RequestVenueClaimInput!) {
    requestVenueClaim(input: $input) {
      __typename
      ... on VenueClaimPayload { claim { ...ClaimFields } }
      ... on ValidationError { field }
      ... on RateLimitedError { retryAfterSeconds }
      ... on Error { message }
    }
  }
`);

const VerifyClaim = graphql(`
  mutation ClaimsVerify($input: VerifyVenueClaimInput!) {
    verifyVenueClaim(input: $input) {
      __typename
      ... on VenueClaimPayload { claim { ...ClaimFields } }
      ... on ValidationError { field }
      ... on Error { message }
    }
  }
`);

const ReviewClaim = graphql(`
  mutation ClaimsReview($input: ReviewVenueClaimInput!) {
    reviewVenueClaim(input: $input) {
      __typename
      ... on VenueClaimPayload { claim { ...ClaimFields } }
      ... on ValidationError { field }
      ... on Error { message }
    }
  }
`);

const CancelClaim = graphql(`
  mutation ClaimsCancel($input: CancelVenueClaimInput!) {
    cancelVenueClaim(input: $input) {
      __typename
      ... on VenueClaimPayload { claim { ...ClaimFields } }
      ... on Error { message }
    }
  }
`);

const ReadClaim = graphql(`
  query ClaimsRead($id: ID!) {
    node(id: $id) {
      __typename
      ... on VenueClaim { ...ClaimFields }
    }
  }
`);

const OrganizationClaims = graphql(`
  query ClaimsOfOrganization($id: ID!, $status: [VenueClaimStatus!]) {
    organization(id: $id) {
      venues(first: 20) { edges { node { id status } } }
      venueClaims(first: 20, status: $status) { totalCount edges { node { id status method } } }
    }
  }
`);

const PendingClaims = graphql(`
  query ClaimsPending($method: VenueClaimMethod) {
    pendingVenueClaims(first: 100, method: $method) {
      totalCount
      edges { node { id method status organization { id } } }
    }
  }
`);

let app: TestApp;
let platformAdmin: Person;

beforeAll(async () => {
  app = await startTestApp();
  const user = await app.services.db.user.create({
    data: { email: uniqueEmail('platform'), isPlatformAdmin: true },
  });
  platformAdmin = personOf(user.id);
});
afterAll(() => app?.close());

interface Person {
  userId: string;
  /** The person's Relay id, as `User.id` shows it. */
  id: string;
  /** A fresh access token, valid at the app's current clock. */
  token(): Promise<string>;
}

interface Org {
  /** Relay id. */
  id: string;
  rawId: string;
  name: string;
  owner: Person;
  admin: Person;
  staff: Person;
}

const hex = () => randomBytes(4).toString('hex');

function personOf(userId: string): Person {
  return {
    userId,
    id: encodeGlobalID('User', userId),
    token: async () =>
      (
        await issueAccessToken(app.services.keys, {
          userId,
          auth: app.services.config.auth,
          now: app.clock.now(),
        })
      ).token,
  };
}

async function organization(label = 'Claims Org'): Promise<Org> {
  const db = app.services.db;
  const org = await db.organization.create({ data: { name: `${label} ${hex()}` } });
  const person = async (role: 'OWNER' | 'ADMIN' | 'STAFF') => {
    const user = await db.user.create({ data: { email: uniqueEmail(role.toLowerCase()) } });
    await db.membership.create({ data: { organizationId: org.id, userId: user.id, role } });
    return personOf(user.id);
  };
  return {
    id: encodeGlobalID('Organization', org.id),
    rawId: org.id,
    name: org.name,
    owner: await person('OWNER'),
    admin: await person('ADMIN'),
    staff: await person('STAFF'),
  };
}

/** A LISTED venue without an owner, put on the network by a platform admin. */
async function listedVenue(profile: { email?: string; website?: string } = {}) {
  const res = await app.gql(
    ListVenue,
    { input: { name: `Harbour Lights ${hex()}`, timeZone: 'Europe/Lisbon', ...profile } },
    { token: await platformAdmin.token() },
  );
  const { venue } = member(res.data?.listVenue, 'CreateVenuePayload', res);
  return { id: venue.id, rawId: rawId(venue.id), name: venue.name, email: venue.email };
}

async function request(
  who: Person | null,
  input: {
    venueId: string;
    organizationId: string;
    method: 'VENUE_EMAIL' | 'WEBSITE_EMAIL' | 'MANUAL_REVIEW';
    email?: string;
    note?: string;
  },
) {
  return app.gql(RequestClaim, { input }, { token: await who?.token() });
}

async function verify(who: Person | null, claimId: string, code: string) {
  return app.gql(VerifyClaim, { input: { claimId, code } }, { token: await who?.token() });
}

async function review(who: Person | null, claimId: string, approve: boolean, note: string) {
  return app.gql(ReviewClaim, { input: { claimId, approve, note } }, { token: await who?.token() });
}

async function cancel(who: Person | null, claimId: string) {
  return app.gql(CancelClaim, { input: { claimId } }, { token: await who?.token() });
}

/** The claim in a mutation's payload, or a failure that prints the whole answer. */
function claimOf<T>(res: GraphQLResponse<T>, field: keyof T & string): ClaimFieldsFragment {
  const value = (res.data as Record<string, { __typename?: string; claim?: ClaimFieldsFragment }> | null)?.[
    field
  ];
  if (value?.__typename !== 'VenueClaimPayload' || !value.claim) {
    throw new Error(`expected VenueClaimPayload, got:\n${JSON.stringify(res.body, null, 2)}`);
  }
  return value.claim;
}

/** The code in a claim mail. */
function codeIn(mail: { text: string }): string {
  const code = /dashboard: (\d{6})\b/.exec(mail.text)?.[1];
  if (!code) throw new Error(`no code in:\n${mail.text}`);
  return code;
}

function wrongCode(code: string): string {
  return ((Number(code) + 1) % 1_000_000).toString().padStart(6, '0');
}

/** Asks for a code by the venue's address and returns the claim and the code from the mail. */
async function claimWithCode(org: Org, venue: { id: string; email: string | null }) {
  const res = await request(org.owner, { venueId: venue.id, organizationId: org.id, method: 'VENUE_EMAIL' });
  const claim = claimOf(res, 'requestVenueClaim');
  const code = codeIn(await app.smtp.nextMessageTo(venue.email!));
  return { claim, code };
}

const trail = (claim: ClaimFieldsFragment) => claim.events.map((e) => `${e.action}/${e.outcome}`);

async function stored(venueRawId: string) {
  const db = app.services.db;
  return {
    venue: await db.venue.findUniqueOrThrow({
      where: { id: venueRawId },
      select: { organizationId: true, status: true, updatedAt: true },
    }),
    agent: await db.agent.findUnique({ where: { venueId: venueRawId }, select: { organizationId: true } }),
    claims: await db.venueClaim.findMany({ where: { venueId: venueRawId }, orderBy: { id: 'asc' } }),
    events: await db.claimAuditEvent.count({ where: { venueId: venueRawId } }),
  };
}

function expectRefused(res: GraphQLResponse<unknown>, field: string, code: 'FORBIDDEN' | 'UNAUTHENTICATED') {
  const body = JSON.stringify(res.body, null, 2);
  expect(res.errors, body).toEqual([expect.objectContaining({ path: [field], extensions: { code } })]);
  expect((res.data as Record<string, unknown> | null)?.[field] ?? null, body).toBeNull();
}

describe('claiming by the venue’s listed address', () => {
  it('mails a code to the venue, and the right code moves the venue with a complete trail', async () => {
    const owner = await app.signIn();
    const created = await app.gql(
      CreateOrganization,
      { name: `Harbour Group ${hex()}` },
      { token: owner.token },
    );
    const organization = member(
      created.data?.createOrganization,
      'OrganizationPayload',
      created,
    ).organization;
    const address = `hello-${hex()}@harbour.test`;
    const venue = await listedVenue({ email: address.toUpperCase() });
    expect(venue.email).toBe(address.toUpperCase());

    const asked = await app.gql(
      RequestClaim,
      { input: { venueId: venue.id, organizationId: organization.id, method: 'VENUE_EMAIL' } },
      { token: owner.token },
    );
    const claim = claimOf(asked, 'requestVenueClaim');
    expect(claim).toMatchObject({
      status: 'PENDING',
      method: 'VENUE_EMAIL',
      codeSentTo: 'h***@harbour.test',
      attemptsLeft: 5,
      decidedAt: null,
      venue: { id: venue.id, status: 'LISTED', organization: null },
      organization: { id: organization.id },
      requestedBy: { id: encodeGlobalID('User', owner.userId) },
    });
    const lifetime = Date.parse(claim.expiresAt!) - app.clock.now().getTime();
    expect(lifetime).toBeGreaterThan(29 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(30 * 60_000);

    const mail = await app.smtp.nextMessageTo(address);
    expect(mail.subject).toContain(venue.name);
    expect(mail.text).toContain(organization.name);
    const code = codeIn(mail);

    // Stored as an HMAC, bound to the claim; never the code itself.
    const row = await app.services.db.venueClaim.findUniqueOrThrow({ where: { id: rawId(claim.id) } });
    expect(row.codeHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.codeHash).not.toContain(code);

    const verified = await app.gql(
      VerifyClaim,
      { input: { claimId: claim.id, code } },
      { token: owner.token },
    );
    const approved = claimOf(verified, 'verifyVenueClaim');
    expect(approved).toMatchObject({
      status: 'APPROVED',
      decidedAt: expect.any(String),
      venue: { id: venue.id, status: 'CLAIMED', organization: { id: organization.id } },
    });
    expect(trail(approved)).toEqual(['REQUEST/REQUESTED', 'SEND_CODE/CODE_SENT', 'VERIFY/APPROVED']);
    expect(approved.events.map((e) => e.actor?.id ?? null)).toEqual([
      encodeGlobalID('User', owner.userId),
      null,
      encodeGlobalID('User', owner.userId),
    ]);
    expect(approved.events.every((e) => e.method === 'VENUE_EMAIL')).toBe(true);
    expect(approved.events[1]!.detail).toBe('h***@harbour.test');

    // The venue is the organisation's now, and so is its business agent.
    const listed = await app.gql(OrganizationClaims, { id: organization.id }, { token: owner.token });
    expect(listed.data?.organization?.venues.edges.map((e) => e.node)).toEqual([
      { id: venue.id, status: 'CLAIMED' },
    ]);
    expect(listed.data?.organization?.venueClaims).toMatchObject({
      totalCount: 1,
      edges: [{ node: { id: claim.id, status: 'APPROVED' } }],
    });
    const state = await stored(venue.rawId);
    expect(state.venue).toMatchObject({ organizationId: rawId(organization.id), status: 'CLAIMED' });
    expect(state.agent).toEqual({ organizationId: rawId(organization.id) });

    // Neither the code nor its hash is in any answer.
    for (const res of [asked, verified, listed]) {
      expect(JSON.stringify(res.body)).not.toContain(row.codeHash!);
      expect(JSON.stringify(res.body)).not.toMatch(new RegExp(`(^|[^0-9A-Za-z])${code}([^0-9]|$)`));
    }
    const events = await app.services.db.claimAuditEvent.findMany({ where: { claimId: row.id } });
    expect(JSON.stringify(events)).not.toContain(code);
  });

  it('refuses the method when the venue has no listed address', async () => {
    const org = await organization();
    const venue = await listedVenue();
    const res = await request(org.owner, {
      venueId: venue.id,
      organizationId: org.id,
      method: 'VENUE_EMAIL',
    });
    expect(res.data?.requestVenueClaim).toMatchObject({ __typename: 'ValidationError', field: 'method' });
    expect((await stored(venue.rawId)).claims).toEqual([]);
  });
});

describe('claiming by an address on the website’s domain', () => {
  it('sends the code to an address on the site’s domain or a parent of it, and refuses any other', async () => {
    const org = await organization();
    const domain = `harbour-${hex()}.test`;
    const venue = await listedVenue({ website: `https://www.book.${domain}/menu` });
    const ask = (email?: string) =>
      request(org.owner, { venueId: venue.id, organizationId: org.id, method: 'WEBSITE_EMAIL', email });

    for (const email of [
      undefined,
      'owner@gmail.com',
      `owner@evil${domain}`,
      `owner@kitchen.book.${domain}`,
      `owner@${domain}.evil.test`,
    ]) {
      const refused = await ask(email);
      expect(refused.data?.requestVenueClaim, `${email}: ${JSON.stringify(refused.body)}`).toMatchObject({
        __typename: 'ValidationError',
        field: 'email',
      });
    }
    expect((await stored(venue.rawId)).claims).toEqual([]);

    // The parent domain of book.<domain>, written in capitals: accepted, and the code goes there.
    const asked = await ask(`Owner@${domain.toUpperCase()}`);
    const claim = claimOf(asked, 'requestVenueClaim');
    expect(claim).toMatchObject({ method: 'WEBSITE_EMAIL', status: 'PENDING', codeSentTo: `o***@${domain}` });
    const code = codeIn(await app.smtp.nextMessageTo(`owner@${domain}`));

    const verified = await verify(org.admin, claim.id, code);
    expect(claimOf(verified, 'verifyVenueClaim')).toMatchObject({
      status: 'APPROVED',
      venue: { status: 'CLAIMED', organization: { id: org.id } },
    });
  });

  it('accepts the site’s own host, and refuses when the venue has no website', async () => {
    const org = await organization();
    const domain = `bistro-${hex()}.test`;
    const venue = await listedVenue({ website: `https://${domain}` });
    const asked = await request(org.owner, {
      venueId: venue.id,
      organizationId: org.id,
      method: 'WEBSITE_EMAIL',
      email: `chef@${domain}`,
    });
    expect(claimOf(asked, 'requestVenueClaim').codeSentTo).toBe(`c***@${domain}`);
    await app.smtp.nextMessageTo(`chef@${domain}`);

    const bare = await listedVenue();
    const refused = await request(org.owner, {
      venueId: bare.id,
      organizationId: org.id,
      method: 'WEBSITE_EMAIL',
      email: `chef@${domain}`,
    });
    expect(refused.data?.requestVenueClaim).toMatchObject({ __typename: 'ValidationError', field: 'method' });
  });

  it('matches domains as the rule says', () => {
    expect(addressIsOnWebsite('a@example.com', 'https://example.com')).toBe(true);
    expect(addressIsOnWebsite('a@example.com', 'https://www.example.com/x')).toBe(true);
    expect(addressIsOnWebsite('a@www.example.com', 'https://example.com')).toBe(true);
    expect(addressIsOnWebsite('a@example.com', 'https://shop.eu.example.com')).toBe(true);
    expect(addressIsOnWebsite('a@eu.example.com', 'https://shop.eu.example.com')).toBe(true);
    expect(addressIsOnWebsite('a@shop.example.com', 'https://example.com')).toBe(false);
    expect(addressIsOnWebsite('a@badexample.com', 'https://example.com')).toBe(false);
    expect(addressIsOnWebsite('a@com', 'https://example.com')).toBe(false);
    expect(addressIsOnWebsite('a@example.co.uk', 'https://shop.example.co.uk')).toBe(true);
    expect(addressIsOnWebsite('a@co.uk', 'https://shop.example.co.uk')).toBe(false);
    expect(addressIsOnWebsite('a@1.2.3.4', 'http://1.2.3.4')).toBe(false);
    expect(addressIsOnWebsite('a@café.example', 'https://www.xn--caf-dma.example')).toBe(true);
    expect(addressIsOnWebsite('a@example.com', null)).toBe(false);
  });

  it("refuses an address at a mail provider anyone can sign up to, even on the website's domain", async () => {
    // The venue's page lives on a platform that also gives out mailboxes.
    for (const [website, email] of [
      ['https://blog.naver.com/harbour', 'owner@naver.com'],
      ['http://harbour.free.fr', 'owner@free.fr'],
      ['http://members.aol.com/harbour', 'owner@aol.com'],
    ] as const) {
      expect(addressIsOnWebsite(email, website)).toBe(true);
      const venue = await listedVenue({ website });
      const org = await organization('Squatter');
      const refused = await request(org.owner, {
        venueId: venue.id,
        organizationId: org.id,
        method: 'WEBSITE_EMAIL',
        email,
      });
      expect(refused.data?.requestVenueClaim).toMatchObject({
        __typename: 'ValidationError',
        field: 'email',
      });
      expect(await app.services.db.venueClaim.count({ where: { venueId: venue.rawId } })).toBe(0);
    }
    expect(isSharedMailDomain('a@yahoo.co.uk')).toBe(true);
    expect(isSharedMailDomain('a@hotmail.fr')).toBe(true);
    expect(isSharedMailDomain('a@live.jazzclub.pt')).toBe(false);
    expect(isSharedMailDomain('a@harbourbar.com')).toBe(false);
  });
});

describe('manual review', () => {
  it('queues claims for platform admins, who reject or approve them with a note', async () => {
    const venue = await listedVenue();
    const first = await organization('First');
    const second = await organization('Second');
    const ask = (org: Org, note?: string) =>
      request(org.owner, { venueId: venue.id, organizationId: org.id, method: 'MANUAL_REVIEW', note });

    const noNote = await ask(first);
    expect(noNote.data?.requestVenueClaim).toMatchObject({ __typename: 'ValidationError', field: 'note' });
    const emailToo = await request(first.owner, {
      venueId: venue.id,
      organizationId: first.id,
      method: 'MANUAL_REVIEW',
      note: 'I own the place, ask the mayor',
      email: 'me@example.com',
    });
    expect(emailToo.data?.requestVenueClaim).toMatchObject({ __typename: 'ValidationError', field: 'email' });

    const a = claimOf(
      await ask(first, 'We bought the restaurant in March; deed attached.'),
      'requestVenueClaim',
    );
    const b = claimOf(
      await ask(second, 'I am the chef-owner, see the photo of our licence.'),
      'requestVenueClaim',
    );
    expect(a).toMatchObject({
      status: 'PENDING',
      codeSentTo: null,
      expiresAt: null,
      attemptsLeft: null,
      note: 'We bought the restaurant in March; deed attached.',
    });
    expect(trail(a)).toEqual(['REQUEST/REQUESTED']);

    // The queue: oldest first, filtered by method.
    const queue = await app.gql(
      PendingClaims,
      { method: 'MANUAL_REVIEW' },
      { token: await platformAdmin.token() },
    );
    const ids = queue.data?.pendingVenueClaims.edges.map((e) => e.node.id) ?? [];
    expect(ids.indexOf(a.id), JSON.stringify(queue.body)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(a.id)).toBeLessThan(ids.indexOf(b.id));
    expect(queue.data?.pendingVenueClaims.totalCount).toBe(ids.length);
    const codesOnly = await app.gql(
      PendingClaims,
      { method: 'VENUE_EMAIL' },
      { token: await platformAdmin.token() },
    );
    expect(codesOnly.data?.pendingVenueClaims.edges.map((e) => e.node.id)).not.toContain(a.id);

    const bare = await review(platformAdmin, a.id, false, '  ');
    expect(bare.data?.reviewVenueClaim).toMatchObject({ __typename: 'ValidationError', field: 'note' });

    const rejected = claimOf(
      await review(platformAdmin, a.id, false, 'The deed names another company.'),
      'reviewVenueClaim',
    );
    expect(rejected).toMatchObject({ status: 'REJECTED', reviewNote: 'The deed names another company.' });
    expect((await stored(venue.rawId)).venue).toMatchObject({ organizationId: null, status: 'LISTED' });

    // The claimant reads the decision; the reviewer is not someone they may see.
    const seen = await app.gql(ReadClaim, { id: a.id }, { token: await first.staff.token() });
    const asSeen = seen.data?.node as ClaimFieldsFragment;
    expect(asSeen).toMatchObject({ status: 'REJECTED', reviewNote: 'The deed names another company.' });
    expect(trail(asSeen)).toEqual(['REQUEST/REQUESTED', 'REVIEW/REJECTED']);
    expect(asSeen.events[1]!.actor).toBeNull();

    const approved = claimOf(await review(platformAdmin, b.id, true, 'Licence checked.'), 'reviewVenueClaim');
    expect(approved).toMatchObject({
      status: 'APPROVED',
      reviewNote: 'Licence checked.',
      venue: { status: 'CLAIMED', organization: { id: second.id } },
    });
    expect(trail(approved)).toEqual(['REQUEST/REQUESTED', 'REVIEW/APPROVED']);
    expect(approved.events[1]!.actor).toEqual({ id: platformAdmin.id });
    const state = await stored(venue.rawId);
    expect(state.venue).toMatchObject({ organizationId: second.rawId, status: 'CLAIMED' });
    expect(state.agent).toEqual({ organizationId: second.rawId });

    // Decided claims leave the queue and stay decided.
    const after = await app.gql(PendingClaims, {}, { token: await platformAdmin.token() });
    const left = after.data?.pendingVenueClaims.edges.map((e) => e.node.id);
    expect(left).not.toContain(a.id);
    expect(left).not.toContain(b.id);
    const again = await review(platformAdmin, a.id, true, 'Changed my mind');
    expect(again.data?.reviewVenueClaim).toMatchObject({ __typename: 'ConflictError' });
    expect((await stored(venue.rawId)).venue).toMatchObject({ organizationId: second.rawId });
  });

  it("gives a venue's reviews to the organisation that runs it now, after it changes hands", async () => {
    const venue = await listedVenue();
    const before = await organization('Before');
    const claimed = claimOf(
      await request(before.owner, {
        venueId: venue.id,
        organizationId: before.id,
        method: 'MANUAL_REVIEW',
        note: 'We run this harbour bar.',
      }),
      'requestVenueClaim',
    );
    claimOf(await review(platformAdmin, claimed.id, true, 'Checked.'), 'reviewVenueClaim');
    // The first owner's change of name, reviewed and withdrawn.
    await app.services.db.venueReview.create({
      data: {
        venueId: venue.rawId,
        organizationId: before.rawId,
        kind: 'CHANGE',
        status: 'WITHDRAWN',
        proposed: { name: 'Old Harbour' },
      },
    });
    const after = await organization('After');
    const contest = claimOf(
      await request(after.owner, {
        venueId: venue.id,
        organizationId: after.id,
        method: 'MANUAL_REVIEW',
        note: 'We bought it this month.',
      }),
      'requestVenueClaim',
    );
    claimOf(await review(platformAdmin, contest.id, true, 'Deed checked.'), 'reviewVenueClaim');
    const READ = `query R($id: ID!) { node(id: $id) { ... on Venue { reviews(first: 10) { totalCount edges { node { kind status } } } } } }`;
    const read = await app.gql(READ, { id: venue.id }, { token: await after.owner.token() });
    expect(read.errors).toBeUndefined();
    expect(read.data).toEqual({
      node: { reviews: { totalCount: 1, edges: [{ node: { kind: 'CHANGE', status: 'WITHDRAWN' } }] } },
    });
  });
});

describe('codes', () => {
  it('expires the claim after 5 wrong codes, and the right code then fails', async () => {
    const org = await organization();
    const venue = await listedVenue({ email: `door-${hex()}@harbour.test` });
    const { claim, code } = await claimWithCode(org, venue);
    const wrong = wrongCode(code);

    const malformed = await verify(org.owner, claim.id, '12ab');
    expect(malformed.data?.verifyVenueClaim).toMatchObject({ __typename: 'ValidationError', field: 'code' });

    for (const left of [4, 3, 2, 1]) {
      const res = await verify(org.owner, claim.id, wrong);
      expect(res.data?.verifyVenueClaim, JSON.stringify(res.body)).toMatchObject({
        __typename: 'AuthenticationError',
        message: expect.stringContaining(`${left} attempt`),
      });
    }
    const fifth = await verify(org.owner, claim.id, wrong);
    expect(fifth.data?.verifyVenueClaim).toMatchObject({
      __typename: 'AuthenticationError',
      message: expect.stringContaining('no attempts are left'),
    });
    const right = await verify(org.owner, claim.id, code);
    expect(right.data?.verifyVenueClaim).toMatchObject({ __typename: 'AuthenticationError' });

    const read = await app.gql(ReadClaim, { id: claim.id }, { token: await org.owner.token() });
    const after = read.data?.node as ClaimFieldsFragment;
    expect(after).toMatchObject({ status: 'EXPIRED', attemptsLeft: 0 });
    expect(trail(after)).toEqual([
      'REQUEST/REQUESTED',
      'SEND_CODE/CODE_SENT',
      'VERIFY/CODE_WRONG',
      'VERIFY/CODE_WRONG',
      'VERIFY/CODE_WRONG',
      'VERIFY/CODE_WRONG',
      'VERIFY/ATTEMPTS_EXHAUSTED',
    ]);
    expect(after.events[2]!.detail).toBe('attempt 1 of 5');
    expect((await stored(venue.rawId)).venue).toMatchObject({ organizationId: null, status: 'LISTED' });

    // The spent claim no longer holds the organisation's place: a new one can start.
    const fresh = await claimWithCode(org, venue);
    expect(fresh.claim.status).toBe('PENDING');
  });

  it('counts concurrent guesses one by one: a burst gets 5 comparisons at most', async () => {
    const org = await organization();
    const venue = await listedVenue({ email: `burst-${hex()}@harbour.test` });
    const { claim, code } = await claimWithCode(org, venue);
    const token = await org.owner.token();
    const burst = await Promise.all(
      Array.from({ length: 12 }, () =>
        app.gql(VerifyClaim, { input: { claimId: claim.id, code: wrongCode(code) } }, { token }),
      ),
    );
    expect(burst.map((r) => r.data?.verifyVenueClaim?.__typename)).toEqual(
      Array(12).fill('AuthenticationError'),
    );
    const row = await app.services.db.venueClaim.findUniqueOrThrow({
      where: { id: rawId(claim.id) },
      include: { events: true },
    });
    expect(row).toMatchObject({ attempts: 5, status: 'EXPIRED' });
    expect(row.events.map((e) => e.outcome).sort()).toEqual([
      'ATTEMPTS_EXHAUSTED',
      'CODE_SENT',
      'CODE_WRONG',
      'CODE_WRONG',
      'CODE_WRONG',
      'CODE_WRONG',
      'REQUESTED',
    ]);
  });

  it('refuses a code after 30 minutes and records that it expired', async () => {
    const org = await organization();
    const venue = await listedVenue({ email: `late-${hex()}@harbour.test` });
    const { claim, code } = await claimWithCode(org, venue);

    app.clock.advance(31 * 60_000);
    const before = await app.gql(ReadClaim, { id: claim.id }, { token: await org.owner.token() });
    expect(before.data?.node).toMatchObject({ status: 'EXPIRED' });
    const pendingNow = await app.gql(
      OrganizationClaims,
      { id: org.id, status: ['PENDING'] },
      { token: await org.owner.token() },
    );
    expect(pendingNow.data?.organization?.venueClaims.totalCount).toBe(0);

    const late = await verify(org.owner, claim.id, code);
    expect(late.data?.verifyVenueClaim).toMatchObject({
      __typename: 'AuthenticationError',
      message: expect.stringContaining('expired'),
    });
    const state = await stored(venue.rawId);
    expect(state.venue).toMatchObject({ organizationId: null, status: 'LISTED' });
    expect(state.claims).toMatchObject([{ status: 'EXPIRED', attempts: 0 }]);
    const read = await app.gql(ReadClaim, { id: claim.id }, { token: await org.owner.token() });
    expect(trail(read.data?.node as ClaimFieldsFragment)).toEqual([
      'REQUEST/REQUESTED',
      'SEND_CODE/CODE_SENT',
      'VERIFY/CODE_EXPIRED',
    ]);

    // A new request gets a new code that works.
    const again = await claimWithCode(org, venue);
    const verified = await verify(org.owner, again.claim.id, again.code);
    expect(claimOf(verified, 'verifyVenueClaim').status).toBe('APPROVED');
  });

  it('lets the organisation cancel a pending claim, after which its code is useless', async () => {
    const org = await organization();
    const venue = await listedVenue({ email: `quit-${hex()}@harbour.test` });
    const { claim, code } = await claimWithCode(org, venue);
    const cancelled = claimOf(await cancel(org.admin, claim.id), 'cancelVenueClaim');
    expect(cancelled).toMatchObject({ status: 'CANCELLED', decidedAt: expect.any(String) });
    expect(trail(cancelled)).toEqual(['REQUEST/REQUESTED', 'SEND_CODE/CODE_SENT', 'CANCEL/CANCELLED']);
    expect((await verify(org.owner, claim.id, code)).data?.verifyVenueClaim).toMatchObject({
      __typename: 'ConflictError',
    });
    expect((await cancel(org.owner, claim.id)).data?.cancelVenueClaim).toMatchObject({
      __typename: 'ConflictError',
    });
    expect((await stored(venue.rawId)).venue).toMatchObject({ organizationId: null, status: 'LISTED' });
  });
});

describe('one venue, several claimants', () => {
  it('lets two organisations claim at once; the first right code wins and the other claim is superseded', async () => {
    const venue = await listedVenue({ email: `both-${hex()}@harbour.test` });
    const [one, two] = [await organization('One'), await organization('Two')];
    const asked = await Promise.all(
      [one, two].map((org) =>
        request(org.owner, { venueId: venue.id, organizationId: org.id, method: 'VENUE_EMAIL' }),
      ),
    );
    const claims = asked.map((res) => claimOf(res, 'requestVenueClaim'));
    expect(claims.map((c) => c.status)).toEqual(['PENDING', 'PENDING']);

    const mails = [await app.smtp.nextMessageTo(venue.email!), await app.smtp.nextMessageTo(venue.email!)];
    const codeFor = (org: Org) => codeIn(mails.find((m) => m.text.includes(org.name))!);
    const answers = await Promise.all(
      [one, two].map((org, i) => verify(org.owner, claims[i]!.id, codeFor(org))),
    );
    const kinds = answers.map((res) => res.data?.verifyVenueClaim?.__typename);
    expect([...kinds].sort(), JSON.stringify(answers.map((a) => a.body))).toEqual([
      'ConflictError',
      'VenueClaimPayload',
    ]);
    const winner = kinds[0] === 'VenueClaimPayload' ? 0 : 1;
    const [won, lost] = winner === 0 ? [one, two] : [two, one];

    const state = await stored(venue.rawId);
    expect(state.venue).toMatchObject({ organizationId: won.rawId, status: 'CLAIMED' });
    expect(state.agent).toEqual({ organizationId: won.rawId });
    const loser = await app.gql(
      ReadClaim,
      { id: claims[1 - winner]!.id },
      { token: await lost.owner.token() },
    );
    const loserClaim = loser.data?.node as ClaimFieldsFragment;
    expect(loserClaim.status).toBe('CANCELLED');
    expect(trail(loserClaim)).toContain('SUPERSEDE/SUPERSEDED');
    // The other organisation now sees a venue that is not theirs.
    expect(loserClaim.venue).toMatchObject({ status: 'CLAIMED', organization: null });
  });

  it('keeps one open claim per venue per organisation, even when two arrive together', async () => {
    const org = await organization();
    const venue = await listedVenue({ email: `twice-${hex()}@harbour.test` });
    const token = await org.owner.token();
    const input = { venueId: venue.id, organizationId: org.id, method: 'VENUE_EMAIL' as const };
    const answers = await Promise.all([
      app.gql(RequestClaim, { input }, { token }),
      app.gql(RequestClaim, { input }, { token }),
    ]);
    expect(answers.map((r) => r.data?.requestVenueClaim?.__typename).sort()).toEqual([
      'ConflictError',
      'VenueClaimPayload',
    ]);
    const later = await request(org.admin, {
      venueId: venue.id,
      organizationId: org.id,
      method: 'MANUAL_REVIEW',
      note: 'Trying review as well, just in case.',
    });
    expect(later.data?.requestVenueClaim).toMatchObject({ __typename: 'ConflictError' });
    const state = await stored(venue.rawId);
    expect(state.claims).toHaveLength(1);
    expect(app.smtp.messages.filter((m) => m.envelopeTo.includes(venue.email!))).toHaveLength(1);
  });

  it('lets a venue another organisation runs be contested only through review', async () => {
    const venue = await listedVenue({
      email: `run-${hex()}@harbour.test`,
      website: `https://run-${hex()}.test`,
    });
    const [holder, challenger] = [await organization('Holder'), await organization('Challenger')];
    const { claim, code } = await claimWithCode(holder, venue);
    claimOf(await verify(holder.owner, claim.id, code), 'verifyVenueClaim');
    // The holder is shown its agent's secret, as any organisation that runs an agent may be.
    const agent = await app.services.db.agent.findUniqueOrThrow({ where: { venueId: venue.rawId } });
    const rotated = await app.gql(
      RotateAgentSecret,
      { agentId: encodeGlobalID('Agent', agent.id) },
      { token: await holder.owner.token() },
    );
    expect(rotated.data?.rotateAgentSigningSecret).toMatchObject({
      __typename: 'RotateAgentSigningSecretPayload',
    });
    const holderKey = await agentSigningKey(app.services.db, app.services.keyring, agent.id);
    const before = await stored(venue.rawId);

    for (const method of ['VENUE_EMAIL', 'WEBSITE_EMAIL'] as const) {
      const res = await request(challenger.owner, {
        venueId: venue.id,
        organizationId: challenger.id,
        method,
        ...(method === 'WEBSITE_EMAIL' ? { email: 'owner@run.test' } : {}),
      });
      expect(res.data?.requestVenueClaim, JSON.stringify(res.body)).toMatchObject({
        __typename: 'NotAllowedError',
        message: expect.stringContaining('manual review'),
      });
    }
    const own = await request(holder.owner, {
      venueId: venue.id,
      organizationId: holder.id,
      method: 'MANUAL_REVIEW',
      note: 'Claiming our own venue again',
    });
    expect(own.data?.requestVenueClaim).toMatchObject({ __typename: 'ConflictError' });
    expect(await stored(venue.rawId)).toEqual(before);

    // The holder's agent escalates to its manager, and closes for a private event.
    const dna = agent.dna as Record<string, Record<string, unknown>>;
    const window = { startsAt: '2027-03-01T18:00:00Z', endsAt: '2027-03-01T23:00:00Z' };
    await app.services.db.agent.update({
      where: { id: agent.id },
      data: {
        dna: {
          ...dna,
          escalationContact: { name: 'Rui Holder', email: 'rui@holder.test', phone: '+351 910 000 000' },
          bookingPolicy: { ...dna.bookingPolicy, blackoutWindows: [{ ...window, reason: "Rui's wedding" }] },
        },
      },
    });
    const contest = claimOf(
      await request(challenger.owner, {
        venueId: venue.id,
        organizationId: challenger.id,
        method: 'MANUAL_REVIEW',
        note: 'We bought the business from them last week; contract attached.',
      }),
      'requestVenueClaim',
    );
    expect(contest).toMatchObject({ status: 'PENDING', venue: { status: 'CLAIMED', organization: null } });
    const approved = claimOf(
      await review(platformAdmin, contest.id, true, 'Sale contract verified.'),
      'reviewVenueClaim',
    );
    expect(approved.venue).toMatchObject({ status: 'CLAIMED', organization: { id: challenger.id } });
    expect(approved.events.at(-1)).toMatchObject({
      action: 'REVIEW',
      outcome: 'APPROVED',
      detail: `taken over from organisation ${holder.rawId}`,
    });
    const state = await stored(venue.rawId);
    expect(state.venue).toMatchObject({ organizationId: challenger.rawId, status: 'CLAIMED' });
    expect(state.agent).toEqual({ organizationId: challenger.rawId });
    // Whom the venue was taken from is kept on the claim (who held it before, for its fees).
    expect(
      await app.services.db.venueClaim.findUniqueOrThrow({
        where: { id: rawId(contest.id) },
        select: { takenOverFrom: true },
      }),
    ).toEqual({ takenOverFrom: holder.rawId });
    // The secret the holder was shown signs for the venue's agent no more, overlap or not: what
    // reaches the gateway from the takeover on is refused (what reached it before, such as the
    // platform's own replies on their way, still verifies). The agent has a new secret, which no
    // one has seen until the new holder rotates it.
    const taken = await app.services.db.agent.findUniqueOrThrow({ where: { id: agent.id } });
    // The former team's contact and their closed times' reasons do not pass to the new holder.
    const takenDna = taken.dna as {
      escalationContact: unknown;
      bookingPolicy: { blackoutWindows: unknown[] };
    };
    expect(takenDna.escalationContact).toBeNull();
    expect(takenDna.bookingPolicy.blackoutWindows).toEqual([window]);
    const decidedAt = new Date(String(approved.decidedAt));
    expect(verifyingKey(app.services.keyring, taken, holderKey.kid, decidedAt)).toBeNull();
    expect(verifyingKey(app.services.keyring, taken, holderKey.kid, app.clock.now())).toBeNull();
    expect(
      verifyingKey(app.services.keyring, taken, holderKey.kid, new Date(decidedAt.getTime() - 1000))?.secret,
    ).toEqual(holderKey.secret);
    const newKey = await agentSigningKey(app.services.db, app.services.keyring, agent.id);
    expect(newKey.kid).not.toBe(holderKey.kid);
    expect(newKey.secret.equals(holderKey.secret)).toBe(false);
    const holderView = await app.gql(
      OrganizationClaims,
      { id: holder.id },
      { token: await holder.owner.token() },
    );
    expect(holderView.data?.organization?.venues.edges).toEqual([]);
  });

  it('hides draft and suspended venues of others', async () => {
    const db = app.services.db;
    const org = await organization();
    const owner = await organization('Drafting');
    const draft = await db.venue.create({
      data: {
        name: 'Not Yet',
        slug: `not-yet-${hex()}`,
        timeZone: 'Europe/Lisbon',
        organizationId: owner.rawId,
      },
    });
    const suspended = await listedVenue({ email: `gone-${hex()}@harbour.test` });
    await db.venue.update({ where: { id: suspended.rawId }, data: { status: 'SUSPENDED' } });

    for (const venueId of [encodeGlobalID('Venue', draft.id), suspended.id]) {
      for (const method of ['VENUE_EMAIL', 'MANUAL_REVIEW'] as const) {
        const res = await request(org.owner, {
          venueId,
          organizationId: org.id,
          method,
          ...(method === 'MANUAL_REVIEW' ? { note: 'It is ours, honestly.' } : {}),
        });
        expect(res.data?.requestVenueClaim, JSON.stringify(res.body)).toMatchObject({
          __typename: 'NotFoundError',
        });
      }
    }
    expect(await db.venueClaim.count({ where: { venueId: { in: [draft.id, suspended.rawId] } } })).toBe(0);

    // A claim on a venue that later leaves the network still reads, without the venue.
    const leaving = await listedVenue();
    const claim = claimOf(
      await request(org.owner, {
        venueId: leaving.id,
        organizationId: org.id,
        method: 'MANUAL_REVIEW',
        note: 'It is ours, honestly.',
      }),
      'requestVenueClaim',
    );
    await db.venue.update({ where: { id: leaving.rawId }, data: { status: 'SUSPENDED' } });
    const read = await app.gql(ReadClaim, { id: claim.id }, { token: await org.owner.token() });
    expect(read.errors, JSON.stringify(read.body)).toBeUndefined();
    expect(read.data?.node).toMatchObject({ status: 'PENDING', venue: null });
    // And it cannot be approved while the venue is off the network.
    const refused = await review(platformAdmin, claim.id, true, 'Looks fine');
    expect(refused.data?.reviewVenueClaim).toMatchObject({ __typename: 'ConflictError' });
    expect((await stored(leaving.rawId)).venue).toMatchObject({ organizationId: null, status: 'SUSPENDED' });
  });
});

describe('rate limits', () => {
  it(`lets one person request ${CLAIM_REQUESTS_PER_USER} claims an hour`, async () => {
    const org = await organization();
    const venues = [];
    for (let i = 0; i <= CLAIM_REQUESTS_PER_USER; i++) venues.push(await listedVenue());
    const ask = (venueId: string) =>
      request(org.owner, {
        venueId,
        organizationId: org.id,
        method: 'MANUAL_REVIEW',
        note: 'Our venue, truly.',
      });
    for (const venue of venues.slice(0, CLAIM_REQUESTS_PER_USER))
      claimOf(await ask(venue.id), 'requestVenueClaim');
    const over = await ask(venues.at(-1)!.id);
    const refused = over.data?.requestVenueClaim;
    expect(refused, JSON.stringify(over.body)).toMatchObject({ __typename: 'RateLimitedError' });
    const retryAfter = (refused as { retryAfterSeconds: number }).retryAfterSeconds;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect((await stored(venues.at(-1)!.rawId)).claims).toEqual([]);
    // Someone else in the organisation still can.
    claimOf(
      await request(org.admin, {
        venueId: venues.at(-1)!.id,
        organizationId: org.id,
        method: 'MANUAL_REVIEW',
        note: 'Our venue, truly.',
      }),
      'requestVenueClaim',
    );
  });

  it(`mails at most ${CLAIM_CODES_PER_VENUE} codes an hour for one venue, whoever asks`, async () => {
    const venue = await listedVenue({ email: `busy-${hex()}@harbour.test` });
    const orgs = [];
    for (let i = 0; i <= CLAIM_CODES_PER_VENUE; i++) orgs.push(await organization(`Asker ${i}`));
    for (const org of orgs.slice(0, CLAIM_CODES_PER_VENUE)) {
      claimOf(
        await request(org.owner, { venueId: venue.id, organizationId: org.id, method: 'VENUE_EMAIL' }),
        'requestVenueClaim',
      );
    }
    const last = orgs.at(-1)!;
    const over = await request(last.owner, {
      venueId: venue.id,
      organizationId: last.id,
      method: 'VENUE_EMAIL',
    });
    expect(over.data?.requestVenueClaim, JSON.stringify(over.body)).toMatchObject({
      __typename: 'RateLimitedError',
    });
    const state = await stored(venue.rawId);
    expect(state.claims).toHaveLength(CLAIM_CODES_PER_VENUE);
    for (let i = 0; i < CLAIM_CODES_PER_VENUE; i++) await app.smtp.nextMessageTo(venue.email!);
    expect(app.smtp.messages.filter((m) => m.envelopeTo.includes(venue.email!))).toHaveLength(
      CLAIM_CODES_PER_VENUE,
    );
    // Review sends no mail, so it stays open to the venue's real owners.
    const reviewed = await request(last.owner, {
      venueId: venue.id,
      organizationId: last.id,
      method: 'MANUAL_REVIEW',
      note: 'The code never reached us; we are the owners.',
    });
    expect(claimOf(reviewed, 'requestVenueClaim').status).toBe('PENDING');
  });
});

describe('asking again', () => {
  it("refuses a second request while the first claim is open without spending the venue's codes", async () => {
    const venue = await listedVenue({ email: `slow-${hex()}@harbour.test` });
    const org = await organization('Impatient');
    const ask = () =>
      request(org.owner, { venueId: venue.id, organizationId: org.id, method: 'VENUE_EMAIL' });
    claimOf(await ask(), 'requestVenueClaim');
    // Pressed again twice while the first email is on its way: refused, and nothing is mailed.
    for (let i = 0; i < 2; i++) {
      const again = await ask();
      expect(again.data?.requestVenueClaim, JSON.stringify(again.body)).toMatchObject({
        __typename: 'ConflictError',
        message: 'Your organisation already has an open claim on this venue: verify or cancel it first',
      });
    }
    // Others asking for the venue still have its hour's codes but the one mailed.
    const others = [];
    for (let i = 1; i < CLAIM_CODES_PER_VENUE; i++) others.push(await organization(`Other ${i}`));
    for (const other of others) {
      claimOf(
        await request(other.owner, { venueId: venue.id, organizationId: other.id, method: 'VENUE_EMAIL' }),
        'requestVenueClaim',
      );
    }
  });
});

describe('who may do what', () => {
  it('refuses outsiders, staff, API keys and anonymous callers before anything runs, and changes nothing', async () => {
    const db = app.services.db;
    const org = await organization();
    const outsider = await organization('Outsider');
    const venue = await listedVenue({ email: `guarded-${hex()}@harbour.test` });
    const { claim, code } = await claimWithCode(org, venue);
    const { secret } = await createApiKey(
      db,
      {
        organizationId: org.rawId,
        createdById: org.owner.userId,
        name: 'dashboard',
        scopes: ['read', 'write'],
      },
      { keyPrefix: app.services.config.auth.apiKeyPrefix },
    );
    const key: Person = { userId: org.owner.userId, id: org.owner.id, token: async () => secret };
    const before = await stored(venue.rawId);
    const unchanged = async () => expect(await stored(venue.rawId)).toEqual(before);
    const askFor = (who: Person | null, method: 'VENUE_EMAIL' | 'MANUAL_REVIEW' = 'MANUAL_REVIEW') =>
      request(who, { venueId: venue.id, organizationId: org.id, method, note: 'Let me in, please.' });

    const refusals: [() => Promise<GraphQLResponse<unknown>>, string, 'FORBIDDEN' | 'UNAUTHENTICATED'][] = [
      [() => askFor(org.staff), 'requestVenueClaim', 'FORBIDDEN'],
      [() => askFor(key), 'requestVenueClaim', 'FORBIDDEN'],
      [() => askFor(outsider.owner), 'requestVenueClaim', 'FORBIDDEN'],
      [() => askFor(null), 'requestVenueClaim', 'UNAUTHENTICATED'],
      [() => verify(org.staff, claim.id, code), 'verifyVenueClaim', 'FORBIDDEN'],
      [() => verify(key, claim.id, code), 'verifyVenueClaim', 'FORBIDDEN'],
      [() => verify(outsider.owner, claim.id, code), 'verifyVenueClaim', 'FORBIDDEN'],
      [() => verify(null, claim.id, code), 'verifyVenueClaim', 'UNAUTHENTICATED'],
      [() => cancel(org.staff, claim.id), 'cancelVenueClaim', 'FORBIDDEN'],
      [() => cancel(key, claim.id), 'cancelVenueClaim', 'FORBIDDEN'],
      [() => cancel(outsider.owner, claim.id), 'cancelVenueClaim', 'FORBIDDEN'],
      [() => cancel(null, claim.id), 'cancelVenueClaim', 'UNAUTHENTICATED'],
      [() => review(org.owner, claim.id, true, 'I approve myself'), 'reviewVenueClaim', 'FORBIDDEN'],
      [() => review(outsider.owner, claim.id, false, 'Reject them'), 'reviewVenueClaim', 'FORBIDDEN'],
      [() => review(null, claim.id, true, 'Anyone?'), 'reviewVenueClaim', 'UNAUTHENTICATED'],
      [
        async () => app.gql(PendingClaims, {}, { token: await org.owner.token() }),
        'pendingVenueClaims',
        'FORBIDDEN',
      ],
      [() => app.gql(PendingClaims, {}), 'pendingVenueClaims', 'UNAUTHENTICATED'],
    ];
    for (const [call, field, code] of refusals) {
      expectRefused(await call(), field, code);
      await unchanged();
    }

    // Reading the claim: its organisation's members and keys, and platform admins; nobody else.
    // To an outsider the claim's id names nothing: null, no error.
    const outsiderRead = await app.gql(ReadClaim, { id: claim.id }, { token: await outsider.owner.token() });
    expect(outsiderRead.body).toEqual({ data: { node: null } });
    for (const reader of [org.staff, key, platformAdmin]) {
      const read = await app.gql(ReadClaim, { id: claim.id }, { token: await reader.token() });
      expect(read.data?.node, JSON.stringify(read.body)).toMatchObject({ id: claim.id, status: 'PENDING' });
    }
    // An unknown claim is not found, not refused.
    const unknown = encodeGlobalID('VenueClaim', '00000000-0000-4000-8000-000000000000');
    expect((await cancel(org.owner, unknown)).data?.cancelVenueClaim).toMatchObject({
      __typename: 'NotFoundError',
    });
    await unchanged();

    // A manual-review claim has no code to enter.
    const other = await listedVenue();
    const manual = claimOf(
      await request(org.owner, {
        venueId: other.id,
        organizationId: org.id,
        method: 'MANUAL_REVIEW',
        note: 'Ours too, since 2019.',
      }),
      'requestVenueClaim',
    );
    expect((await verify(org.owner, manual.id, '123456')).data?.verifyVenueClaim).toMatchObject({
      __typename: 'NotAllowedError',
    });

    // Any manager of the organisation may enter the code, not only the person who asked.
    const verified = await verify(org.admin, claim.id, code);
    expect(claimOf(verified, 'verifyVenueClaim').events.at(-1)).toMatchObject({
      action: 'VERIFY',
      outcome: 'APPROVED',
      actor: { id: org.admin.id },
    });
  });
});
