/**
 * Venue claims: how an organisation takes over a venue that is already on the network.
 *
 * A manager (OWNER or ADMIN) of an organisation asks to claim a venue and picks how to prove the
 * venue is theirs:
 *
 * - VENUE_EMAIL: a 6-digit code goes to the venue's listed address;
 * - WEBSITE_EMAIL: a code goes to an address they give on the domain of the venue's website
 *   (the website's host or a parent of it, ignoring a leading `www.`);
 * - MANUAL_REVIEW: a platform admin reads their note and approves or rejects.
 *
 * A LISTED venue without an owner may be claimed by any method. A venue another organisation
 * runs can only be contested through review: a code at the venue's address would otherwise let
 * anyone who once read that inbox take a running business away from its owners.
 *
 * Codes are stored as HMAC-SHA256 under a server-side pepper (as sign-in codes are), bound to the
 * claim, live 30 minutes and allow 5 attempts. An attempt is counted by a conditional UPDATE
 * before the code is compared, so no burst of concurrent guesses gets more than 5 comparisons;
 * the 5th wrong one ends the claim (EXPIRED).
 *
 * Guessing is bounded per venue, not only per claim: codes for one venue are rate limited
 * (CLAIM_CODES_PER_VENUE an hour, whoever asks), so however many accounts an attacker holds, a
 * venue's code space of a million sees at most 25 guesses an hour. The price is that someone
 * requesting codes for a venue can hold its real owners' code requests back for an hour; review
 * stays open to them.
 *
 * One organisation has at most one open (PENDING) claim per venue. There is no unique index for
 * that (a partial one would need a schema change), so every transaction that opens or decides a
 * claim first locks the venue row (`SELECT … FOR UPDATE`): requests and approvals of one venue
 * run one at a time, and always lock venue before claim, so two of them never wait on each other.
 *
 * Every step leaves a ClaimAuditEvent: who, when, how (method), what they did (action) and what
 * came of it (outcome). Neither the code nor its hash appears in any event or answer.
 */
import { createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { z } from 'zod';
import type { Prisma, VenueClaim } from '../../generated/prisma/client.ts';
import type { ClaimMethod, ClaimStatus, VenueStatus } from '../../generated/prisma/enums.ts';
import type { Mailer } from '../../integrations/mail/mailer.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import {
  AuthenticationError,
  ConflictError,
  NotAllowedError,
  NotFoundError,
  RateLimitedError,
  ValidationError,
} from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { RateLimiter } from '../../platform/rate-limit.ts';
import { replaceVenueAgentSecret } from '../agents/agents.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import { normalizeEmail } from '../identity/email.ts';
import type { SigningKeys } from '../identity/signing-keys.ts';
import { type Access, ANY_ROLE, MANAGERS } from '../organizations/access.ts';
import { parseInput } from '../validation.ts';
import { PUBLIC_STATUSES, requireVenue } from './venues.ts';

export const CLAIM_CODE_TTL_MINUTES = 30;
export const CLAIM_CODE_MAX_ATTEMPTS = 5;
/** Claims one person may request in a window, by any method. */
export const CLAIM_REQUESTS_PER_USER = 5;
/** Codes that may be mailed for one venue in a window, whoever asks. */
export const CLAIM_CODES_PER_VENUE = 5;
export const CLAIM_LIMIT_WINDOW_SECONDS = 3600;

/** What someone did to a claim. Stored as text; the GraphQL enum lists the same values. */
export const CLAIM_ACTIONS = [
  'REQUEST',
  'SEND_CODE',
  'VERIFY',
  'REVIEW',
  'CANCEL',
  'SUPERSEDE',
  'EXPIRE',
] as const;
export type ClaimAction = (typeof CLAIM_ACTIONS)[number];

/** What came of it. */
export const CLAIM_OUTCOMES = [
  'REQUESTED',
  'CODE_SENT',
  'CODE_NOT_SENT',
  'CODE_WRONG',
  'CODE_EXPIRED',
  'ATTEMPTS_EXHAUSTED',
  'APPROVED',
  'REJECTED',
  'CANCELLED',
  'SUPERSEDED',
] as const;
export type ClaimOutcome = (typeof CLAIM_OUTCOMES)[number];

export interface ClaimDeps {
  db: Db;
  mailer: Mailer;
  limiter: RateLimiter;
  keys: SigningKeys;
  /** The agent secrets' keyring: a venue taken over gets its agent a secret of its own. */
  keyring: SecretKeyring;
  logger: Logger;
  /** The clock; tests move their own. */
  now: () => Date;
}

/** A claim as the domain hands it out: everything but the code's hash. */
export type PublicClaim = Omit<VenueClaim, 'codeHash'>;

const METHODS = ['VENUE_EMAIL', 'WEBSITE_EMAIL', 'MANUAL_REVIEW'] as const;

const requestSchema = z
  .object({
    venueId: z.string(),
    organizationId: z.string(),
    method: z.enum(METHODS),
    email: z.string().trim().max(254).nullish(),
    note: z.string().trim().max(2000, 'At most 2000 characters').nullish(),
  })
  .superRefine((input, ctx) => {
    if (input.method === 'MANUAL_REVIEW' && (input.note ?? '').length < 10) {
      ctx.addIssue({
        code: 'custom',
        path: ['note'],
        message:
          'Tell the reviewer who you are and how you are connected to the venue (at least 10 characters)',
      });
    }
    if (input.method === 'WEBSITE_EMAIL' && !input.email) {
      ctx.addIssue({
        code: 'custom',
        path: ['email'],
        message: "Give an address on the domain of the venue's website",
      });
    }
    if (input.method !== 'WEBSITE_EMAIL' && input.email) {
      ctx.addIssue({
        code: 'custom',
        path: ['email'],
        message: 'Only the WEBSITE_EMAIL method takes an address; the others know where to go',
      });
    }
  });

export type RequestClaimInput = z.input<typeof requestSchema>;

const reviewNoteSchema = z.object({
  note: z.string().trim().min(1, 'Say why, for the claimant and the audit trail').max(2000),
});

const isUuid = (value: string) => z.uuid().safeParse(value).success;

const OPEN_CLAIM = 'Your organisation already has an open claim on this venue: verify or cancel it first';

/**
 * Asks to claim a venue for an organisation. Code methods mail the code before returning; the
 * answer is the PENDING claim.
 */
export async function requestVenueClaim(
  deps: ClaimDeps,
  access: Access,
  input: RequestClaimInput,
): Promise<PublicClaim> {
  const userId = access.requirePerson();
  if (!isUuid(input.organizationId)) throw new NotFoundError('Organisation not found');
  await access.require(input.organizationId, MANAGERS);
  const parsed = parseInput(requestSchema, input);
  const venue = await requireVenue(deps.db, access, parsed.venueId);
  const request = { ...parsed, email: parsed.email ? normalizeEmail(parsed.email) : null };
  const codeEmail = claimTarget(venue, request);

  // The person first, so someone already over their own limit cannot use up a venue's allowance;
  // nor does a request refused for a claim still open (asked again while its email is on its way):
  // it mails nothing. (Checked again under the lock below, for two at once.)
  await limit(deps.limiter, `claim:request:user:${userId}`, CLAIM_REQUESTS_PER_USER);
  const stillOpen = await deps.db.venueClaim.findFirst({
    where: {
      venueId: venue.id,
      organizationId: request.organizationId,
      ...claimStatusWhere(['PENDING'], deps.now()),
    },
    select: { id: true },
  });
  if (stillOpen) throw new ConflictError(OPEN_CLAIM);
  if (codeEmail) await limit(deps.limiter, `claim:code:venue:${venue.id}`, CLAIM_CODES_PER_VENUE);

  const now = deps.now();
  const claimId = randomUUID();
  const code = codeEmail ? randomInt(0, 1_000_000).toString().padStart(6, '0') : null;
  const { claim, organizationName } = await deps.db.$transaction(async (tx) => {
    // Checked again under the lock: the venue may have changed hands or left the network since.
    const locked = await lockVenue(tx, venue.id);
    if (!locked) throw new NotFoundError('Venue not found');
    const target = claimTarget({ ...venue, ...locked }, request);

    const open = await tx.venueClaim.findFirst({
      where: { venueId: venue.id, organizationId: request.organizationId, status: 'PENDING' },
    });
    if (open && isCodeExpired(open, now)) {
      // A code that ran out does not hold the place: close it, and say so in its trail.
      await tx.venueClaim.update({ where: { id: open.id }, data: { status: 'EXPIRED', decidedAt: now } });
      await audit(tx, open, { actorId: null, action: 'EXPIRE', outcome: 'CODE_EXPIRED', at: now });
    } else if (open) {
      throw new ConflictError(OPEN_CLAIM);
    }

    const created = await tx.venueClaim.create({
      data: {
        id: claimId,
        venueId: venue.id,
        organizationId: request.organizationId,
        requestedById: userId,
        method: request.method,
        codeEmail: target,
        codeHash: code ? hashCode(deps.keys, claimId, code) : null,
        expiresAt: code ? new Date(now.getTime() + CLAIM_CODE_TTL_MINUTES * 60_000) : null,
        note: request.note || null,
        createdAt: now,
      },
      omit: { codeHash: true },
    });
    await audit(tx, created, {
      actorId: userId,
      action: 'REQUEST',
      outcome: 'REQUESTED',
      detail: locked.organizationId ? 'contests the organisation that runs the venue' : null,
      at: now,
    });
    const organization = await tx.organization.findUniqueOrThrow({
      where: { id: request.organizationId },
      select: { name: true },
    });
    return { claim: created, organizationName: organization.name };
  });

  if (code && claim.codeEmail) {
    await sendCode(deps, claim, { code, venueName: venue.name, organizationName, requestedAt: now });
  }
  deps.logger.info(
    { 'claim.id': claim.id, 'venue.id': venue.id, 'claim.method': claim.method },
    'venue claim requested',
  );
  return claim;
}

/**
 * Checks a code. The right one approves the claim: the venue moves to the organisation. Wrong,
 * expired and exhausted codes are AuthenticationError; a claim already decided is ConflictError.
 */
export async function verifyVenueClaim(
  deps: ClaimDeps,
  access: Access,
  input: { claimId: string; code: string },
): Promise<PublicClaim> {
  const userId = access.requirePerson();
  const claim = await requireClaim(deps.db, access, input.claimId);
  await access.require(claim.organizationId, MANAGERS);
  if (claim.method === 'MANUAL_REVIEW')
    throw new NotAllowedError('A reviewer decides this claim; there is no code to enter');
  const code = input.code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(code)) throw new ValidationError('The code is 6 digits', 'code');

  const now = deps.now();
  throwIfClosed(claim.status, 'verify');
  if (isCodeExpired(claim, now)) {
    await expire(deps.db, claim, { actorId: userId, action: 'VERIFY', at: now });
    throw new AuthenticationError('The code has expired: claim the venue again for a new one');
  }

  // Reserve one attempt. The WHERE is evaluated again on the locked row, so concurrent attempts
  // are counted one by one and none passes once the last has been taken. RETURNING gives this
  // attempt's own number, not a stale read.
  const [reserved] = await deps.db.$queryRaw<{ attempts: number }[]>`
    UPDATE venue_claims SET attempts = attempts + 1, updated_at = ${now}
    WHERE id = ${claim.id}::uuid AND status = 'PENDING' AND expires_at > ${now}
      AND attempts < ${CLAIM_CODE_MAX_ATTEMPTS}
    RETURNING attempts`;
  if (!reserved) {
    throwIfClosed(await currentStatus(deps.db, claim, now), 'verify');
    throw new AuthenticationError('No attempts are left for this code: claim the venue again for a new one');
  }

  const expected = Buffer.from(claim.codeHash ?? '', 'hex');
  const given = Buffer.from(hashCode(deps.keys, claim.id, code), 'hex');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    const left = CLAIM_CODE_MAX_ATTEMPTS - reserved.attempts;
    if (left > 0) {
      await audit(deps.db, claim, {
        actorId: userId,
        action: 'VERIFY',
        outcome: 'CODE_WRONG',
        detail: `attempt ${reserved.attempts} of ${CLAIM_CODE_MAX_ATTEMPTS}`,
        at: now,
      });
      throw new AuthenticationError(
        `The code is wrong (${left} ${left === 1 ? 'attempt' : 'attempts'} left)`,
      );
    }
    await deps.db.$transaction(async (tx) => {
      const ended = await tx.venueClaim.updateMany({
        where: { id: claim.id, status: 'PENDING' },
        data: { status: 'EXPIRED', decidedAt: now },
      });
      await audit(tx, claim, {
        actorId: userId,
        action: 'VERIFY',
        outcome: ended.count === 1 ? 'ATTEMPTS_EXHAUSTED' : 'CODE_WRONG',
        detail: `attempt ${reserved.attempts} of ${CLAIM_CODE_MAX_ATTEMPTS}`,
        at: now,
      });
    });
    throw new AuthenticationError(
      'The code is wrong and no attempts are left: claim the venue again for a new code',
    );
  }

  return approve(deps, claim, { actorId: userId, action: 'VERIFY', reviewNote: null, now });
}

/** Platform admins: approve (the venue moves) or reject a pending claim, with a note either way. */
export async function reviewVenueClaim(
  deps: ClaimDeps,
  access: Access,
  input: { claimId: string; approve: boolean; note: string },
): Promise<PublicClaim> {
  const adminId = access.requirePerson();
  if (!access.isPlatformAdmin) throw new NotAllowedError('Only platform admins review claims');
  const { note } = parseInput(reviewNoteSchema, { note: input.note });
  const claim = await requireClaim(deps.db, access, input.claimId);
  const now = deps.now();
  throwIfClosed(effectiveStatus(claim, now), 'decide');
  if (input.approve) {
    return approve(deps, claim, { actorId: adminId, action: 'REVIEW', reviewNote: note, now });
  }
  return deps.db.$transaction(async (tx) => {
    const rejected = await tx.venueClaim.updateMany({
      where: { id: claim.id, status: 'PENDING' },
      data: { status: 'REJECTED', reviewNote: note, reviewedById: adminId, decidedAt: now },
    });
    if (rejected.count !== 1) throwIfClosed(await currentStatus(tx, claim, now), 'decide');
    await audit(tx, claim, {
      actorId: adminId,
      action: 'REVIEW',
      outcome: 'REJECTED',
      detail: note,
      at: now,
    });
    return tx.venueClaim.findUniqueOrThrow({ where: { id: claim.id }, omit: { codeHash: true } });
  });
}

/** The claiming organisation's managers withdraw a pending claim. */
export async function cancelVenueClaim(
  deps: ClaimDeps,
  access: Access,
  input: { claimId: string },
): Promise<PublicClaim> {
  const userId = access.requirePerson();
  const claim = await requireClaim(deps.db, access, input.claimId);
  await access.require(claim.organizationId, MANAGERS);
  const now = deps.now();
  return deps.db.$transaction(async (tx) => {
    const cancelled = await tx.venueClaim.updateMany({
      where: { id: claim.id, status: 'PENDING' },
      data: { status: 'CANCELLED', decidedAt: now },
    });
    if (cancelled.count !== 1) throwIfClosed(await currentStatus(tx, claim, now), 'decide');
    await audit(tx, claim, { actorId: userId, action: 'CANCEL', outcome: 'CANCELLED', at: now });
    return tx.venueClaim.findUniqueOrThrow({ where: { id: claim.id }, omit: { codeHash: true } });
  });
}

/** The organisation that made a claim, or null (for authorising before the real work). */
export async function organizationOfClaim(db: DbOrTx, claimId: string): Promise<string | null> {
  if (!isUuid(claimId)) return null;
  const claim = await db.venueClaim.findUnique({ where: { id: claimId }, select: { organizationId: true } });
  return claim?.organizationId ?? null;
}

/**
 * The status to show: a code claim whose code ran out is EXPIRED even before anyone touches it
 * again (the row is closed lazily, by the next verify or request).
 */
export function effectiveStatus(
  claim: Pick<VenueClaim, 'status' | 'method' | 'expiresAt'>,
  now: Date,
): ClaimStatus {
  return claim.status === 'PENDING' && isCodeExpired(claim, now) ? 'EXPIRED' : claim.status;
}

/** The claims waiting for a code or a reviewer, oldest first; `query` is the page and selection. */
export function pendingClaims(
  db: DbOrTx,
  filter: { method?: ClaimMethod | null; now: Date },
  query: Omit<Prisma.VenueClaimFindManyArgs, 'where' | 'orderBy'> = {},
) {
  return db.venueClaim.findMany({
    ...query,
    where: pendingWhere(filter),
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
}

/** How many claims `pendingClaims` lists in all. */
export function countPendingClaims(db: DbOrTx, filter: { method?: ClaimMethod | null; now: Date }) {
  return db.venueClaim.count({ where: pendingWhere(filter) });
}

function pendingWhere(filter: { method?: ClaimMethod | null; now: Date }): Prisma.VenueClaimWhereInput {
  return {
    ...claimStatusWhere(['PENDING'], filter.now),
    ...(filter.method ? { method: filter.method } : {}),
  };
}

/** A Prisma filter for claims whose effective status is one of `statuses` (all when null). */
export function claimStatusWhere(
  statuses: readonly ClaimStatus[] | null | undefined,
  now: Date,
): Prisma.VenueClaimWhereInput {
  if (!statuses) return {};
  const live: Prisma.VenueClaimWhereInput = {
    status: 'PENDING',
    OR: [{ expiresAt: null }, { expiresAt: { gt: now } }],
  };
  const ranOut: Prisma.VenueClaimWhereInput = { status: 'PENDING', expiresAt: { lte: now } };
  const stored = statuses.filter((s) => s !== 'PENDING');
  return {
    OR: [
      ...(stored.length ? [{ status: { in: stored } }] : []),
      ...(statuses.includes('PENDING') ? [live] : []),
      ...(statuses.includes('EXPIRED') ? [ranOut] : []),
    ],
  };
}

/** "o***@example.com": enough to recognise an address, not enough to harvest it. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  return `${email.slice(0, 1)}***${email.slice(at)}`;
}

/** The domain of an address, lower-case and in its ASCII form, a leading `www.` left off. */
function domainOfAddress(email: string): string {
  return domainToASCII(email.slice(email.lastIndexOf('@') + 1).toLowerCase()).replace(/^www\./, '');
}

/**
 * Whether an address is on the domain of a website: its domain is the site's host, or a parent
 * of it, a leading `www.` ignored on both. International names are compared in their ASCII form.
 */
export function addressIsOnWebsite(email: string, website: string | null): boolean {
  const host = websiteHost(website);
  const domain = domainOfAddress(email);
  if (!host || !domain.includes('.')) return false;
  if (domain === host) return true;
  return host.endsWith(`.${domain}`) && !looksLikePublicSuffix(domain);
}

// --- inside ---

interface LockedVenue {
  id: string;
  organizationId: string | null;
  status: VenueStatus;
  email: string | null;
  website: string | null;
}

async function lockVenue(tx: Tx, venueId: string): Promise<LockedVenue | null> {
  const [venue] = await tx.$queryRaw<LockedVenue[]>`
    SELECT id, organization_id AS "organizationId", status::text AS status, email, website
    FROM venues WHERE id = ${venueId}::uuid FOR UPDATE`;
  return venue ?? null;
}

/**
 * Whether the organisation may claim the venue by the method it chose, and where the code goes
 * (null for review).
 */
function claimTarget(
  venue: Pick<LockedVenue, 'organizationId' | 'status' | 'email' | 'website'>,
  request: { organizationId: string; method: ClaimMethod; email: string | null },
): string | null {
  if (venue.organizationId === request.organizationId)
    throw new ConflictError('This venue already belongs to your organisation');
  // Seen only by callers who may see a venue off the network (its other organisation, admins).
  if (!PUBLIC_STATUSES.includes(venue.status))
    throw new NotAllowedError('Only venues on the network (listed or claimed) can be claimed');
  if (venue.organizationId !== null && request.method !== 'MANUAL_REVIEW') {
    throw new NotAllowedError(
      'Another organisation runs this venue: contest it through manual review, with a note for the reviewer',
    );
  }
  switch (request.method) {
    case 'VENUE_EMAIL':
      if (!venue.email)
        throw new ValidationError('This venue has no listed email address: choose another method', 'method');
      return venue.email.trim().toLowerCase();
    case 'WEBSITE_EMAIL': {
      const host = websiteHost(venue.website);
      if (!host)
        throw new ValidationError(
          'This venue has no website with a domain name: choose another method',
          'method',
        );
      if (!request.email || !addressIsOnWebsite(request.email, venue.website))
        throw new ValidationError(`Use an address on ${host}, the domain of the venue's website`, 'email');
      // A venue's page on a platform that also gives out mailboxes (blog.naver.com, *.free.fr): an
      // address there is anyone's, and shows nothing about who runs the venue.
      if (isSharedMailDomain(request.email))
        throw new ValidationError(
          "An address at a mail provider anyone can sign up to does not show the website is yours: use the venue's listed email, or manual review",
          'email',
        );
      return request.email;
    }
    case 'MANUAL_REVIEW':
      return null;
  }
}

/** The host of a website without a leading `www.`; null when it has no domain name (an IP address). */
function websiteHost(website: string | null): string | null {
  if (!website) return null;
  let host: string;
  try {
    host = new URL(website).hostname.toLowerCase().replace(/\.$/, '');
  } catch {
    return null;
  }
  if (host.startsWith('[') || /^\d+(\.\d+){3}$/.test(host) || !host.includes('.')) return null;
  return host.replace(/^www\./, '');
}

// Without the public suffix list we cannot know every registry's suffixes; these catch the
// common second levels (co.uk, com.au, org.br…), so the parent of `shop.example.co.uk` stops at
// `example.co.uk` instead of letting any `@co.uk` address through.
const SECOND_LEVELS = new Set([
  'ac',
  'co',
  'com',
  'edu',
  'gob',
  'go',
  'gov',
  'ltd',
  'ne',
  'net',
  'or',
  'org',
  'plc',
]);

/**
 * Mail providers that give an address to anyone, by domain or by family (`yahoo.*`): an address
 * there proves nothing about a website on the same domain.
 */
const SHARED_MAIL_DOMAINS = new Set(
  (
    'gmail.com googlemail.com outlook.com msn.com aol.com aim.com icloud.com me.com mac.com ' +
    'proton.me protonmail.com pm.me tutanota.com fastmail.com hey.com zoho.com mail.com email.com ' +
    'gmx.com gmx.net web.de t-online.de freenet.de mail.ru bk.ru list.ru inbox.ru rambler.ru ' +
    'yandex.com yandex.ru naver.com daum.net hanmail.net kakao.com qq.com 163.com 126.com sina.com ' +
    'free.fr orange.fr wanadoo.fr sfr.fr laposte.net libero.it virgilio.it tiscali.it alice.it ' +
    'seznam.cz wp.pl o2.pl interia.pl onet.pl uol.com.br bol.com.br terra.com.br rediffmail.com ' +
    'comcast.net verizon.net att.net sbcglobal.net btinternet.com sky.com virginmedia.com ' +
    'bigpond.com optusnet.com.au shaw.ca rogers.com telus.net'
  ).split(' '),
);
const SHARED_MAIL_FAMILIES = ['yahoo', 'ymail', 'hotmail', 'live', 'outlook', 'gmx', 'yandex'];

/** Whether `email` is at a provider that gives addresses to anyone (see SHARED_MAIL_DOMAINS). */
export function isSharedMailDomain(email: string): boolean {
  const domain = domainOfAddress(email);
  if (SHARED_MAIL_DOMAINS.has(domain)) return true;
  const [first, ...rest] = domain.split('.');
  if (!SHARED_MAIL_FAMILIES.includes(first!)) return false;
  // yahoo.com, hotmail.fr, yahoo.co.uk, live.com.au: the family's name before a generic or a
  // country's suffix (not live.jazzclub.pt, a business's own name).
  const [one, two] = rest;
  if (rest.length === 1) return one === 'com' || one === 'net' || one!.length === 2;
  return rest.length === 2 && (one === 'co' || one === 'com') && two!.length === 2;
}

function looksLikePublicSuffix(domain: string): boolean {
  const labels = domain.split('.');
  return labels.length === 2 && labels[1]!.length === 2 && SECOND_LEVELS.has(labels[0]!);
}

function isCodeExpired(claim: Pick<VenueClaim, 'method' | 'expiresAt'>, now: Date): boolean {
  return claim.method !== 'MANUAL_REVIEW' && claim.expiresAt !== null && claim.expiresAt <= now;
}

/** The claim if the caller may see it (its organisation's members, platform admins). */
async function requireClaim(db: DbOrTx, access: Access, claimId: string): Promise<VenueClaim> {
  const claim = isUuid(claimId) ? await db.venueClaim.findUnique({ where: { id: claimId } }) : null;
  if (!claim || !(await access.has(claim.organizationId, ANY_ROLE)))
    throw new NotFoundError('Claim not found');
  return claim;
}

async function currentStatus(db: DbOrTx, claim: Pick<VenueClaim, 'id'>, now: Date): Promise<ClaimStatus> {
  const fresh = await db.venueClaim.findUniqueOrThrow({
    where: { id: claim.id },
    select: { status: true, method: true, expiresAt: true },
  });
  return effectiveStatus(fresh, now);
}

/**
 * A claim that is over. To someone entering a code, an expired claim is an AuthenticationError,
 * like a wrong code (the code did not work; a new claim gets a new one); otherwise, and for any
 * claim already decided, a ConflictError.
 */
function throwIfClosed(status: ClaimStatus, purpose: 'verify' | 'decide'): void {
  switch (status) {
    case 'PENDING':
      return;
    case 'EXPIRED': {
      const message =
        'This claim has expired (its code ran out or had too many wrong attempts): claim the venue again for a new code';
      throw purpose === 'verify' ? new AuthenticationError(message) : new ConflictError(message);
    }
    case 'APPROVED':
      throw new ConflictError('This claim has already been approved');
    case 'REJECTED':
      throw new ConflictError('This claim has been rejected');
    case 'CANCELLED':
      throw new ConflictError(
        'This claim has been cancelled (by your organisation, or because another claim won)',
      );
  }
}

/** Closes a code claim whose code ran out, once, with its event. */
async function expire(
  db: Db,
  claim: VenueClaim,
  by: { actorId: string | null; action: ClaimAction; at: Date },
): Promise<void> {
  await db.$transaction(async (tx) => {
    const ended = await tx.venueClaim.updateMany({
      where: { id: claim.id, status: 'PENDING' },
      data: { status: 'EXPIRED', decidedAt: by.at },
    });
    if (ended.count === 1) await audit(tx, claim, { ...by, outcome: 'CODE_EXPIRED' });
  });
}

/**
 * Gives the venue to the claim's organisation: the venue becomes CLAIMED, its agent follows, the
 * claim is APPROVED and every other pending claim on the venue is closed as superseded. One
 * transaction, holding the venue row, which re-checks what the decision rests on.
 */
async function approve(
  { db, keyring }: Pick<ClaimDeps, 'db' | 'keyring'>,
  claim: VenueClaim,
  by: { actorId: string; action: 'VERIFY' | 'REVIEW'; reviewNote: string | null; now: Date },
): Promise<PublicClaim> {
  return db.$transaction(async (tx) => {
    const venue = await lockVenue(tx, claim.venueId);
    if (!venue || !PUBLIC_STATUSES.includes(venue.status))
      throw new ConflictError('The venue is no longer on the network');
    if (venue.organizationId === claim.organizationId)
      throw new ConflictError('The venue already belongs to your organisation');
    if (venue.organizationId !== null && claim.method !== 'MANUAL_REVIEW')
      throw new ConflictError('Another organisation has claimed the venue meanwhile');

    const decided = await tx.venueClaim.updateMany({
      where: { id: claim.id, status: 'PENDING' },
      data: {
        status: 'APPROVED',
        decidedAt: by.now,
        takenOverFrom: venue.organizationId,
        ...(by.action === 'REVIEW' ? { reviewedById: by.actorId, reviewNote: by.reviewNote } : {}),
      },
    });
    if (decided.count !== 1)
      throwIfClosed(await currentStatus(tx, claim, by.now), by.action === 'VERIFY' ? 'verify' : 'decide');

    await tx.venue.update({
      where: { id: venue.id },
      data: { organizationId: claim.organizationId, status: 'CLAIMED' },
    });
    await tx.agent.updateMany({
      where: { venueId: venue.id },
      data: { organizationId: claim.organizationId },
    });
    if (venue.organizationId !== null) {
      // Whoever ran the venue may know its agent's secret: taken over, it signs for it no more.
      await replaceVenueAgentSecret(tx, keyring, venue.id, by.now);
      // Nor do the former team's people go with it: the contact staff questions were escalated
      // to (a name, an email, a phone), and what their closed times said (a private event's
      // reason may name someone). The times themselves stay.
      await tx.$executeRaw`
        UPDATE agents
        SET dna = jsonb_set(dna || '{"escalationContact": null}'::jsonb, '{bookingPolicy,blackoutWindows}',
              coalesce((SELECT jsonb_agg(w - 'reason')
                        FROM jsonb_array_elements(dna->'bookingPolicy'->'blackoutWindows') AS w), '[]'::jsonb),
              false)
        WHERE venue_id = ${venue.id}::uuid`;
    }
    // What the former organisation proposed for the venue is no longer theirs to propose.
    await tx.venueReview.updateMany({
      where: { venueId: venue.id, status: 'PENDING' },
      data: { status: 'WITHDRAWN', reason: 'The venue changed hands', decidedAt: by.now },
    });
    await audit(tx, claim, {
      actorId: by.actorId,
      action: by.action,
      outcome: 'APPROVED',
      detail: venue.organizationId ? `taken over from organisation ${venue.organizationId}` : by.reviewNote,
      at: by.now,
    });

    const others = await tx.venueClaim.findMany({
      where: { venueId: venue.id, status: 'PENDING', id: { not: claim.id } },
      select: { id: true, venueId: true, method: true },
    });
    if (others.length > 0) {
      await tx.venueClaim.updateMany({
        where: { id: { in: others.map((o) => o.id) }, status: 'PENDING' },
        data: { status: 'CANCELLED', decidedAt: by.now },
      });
      await tx.claimAuditEvent.createMany({
        data: others.map((other) => ({
          claimId: other.id,
          venueId: other.venueId,
          method: other.method,
          actorId: by.actorId,
          action: 'SUPERSEDE',
          outcome: 'SUPERSEDED',
          detail: 'another organisation’s claim on the venue was approved',
          createdAt: by.now,
        })),
      });
    }
    return tx.venueClaim.findUniqueOrThrow({ where: { id: claim.id }, omit: { codeHash: true } });
  });
}

/**
 * Mails the code. On failure the claim is closed (so it does not hold the organisation's one open
 * claim on the venue) and the error goes up, masked, for the caller to try again.
 */
async function sendCode(
  deps: ClaimDeps,
  claim: PublicClaim,
  mail: { code: string; venueName: string; organizationName: string; requestedAt: Date },
): Promise<void> {
  const to = claim.codeEmail!;
  try {
    await deps.mailer.send({
      to,
      subject: `Your AGNT code to manage ${mail.venueName}`,
      text: [
        `${mail.organizationName} asked to manage ${mail.venueName} on AGNT.`,
        '',
        `If that is you or your team, enter this code in the AGNT dashboard: ${mail.code}`,
        '',
        `It works for ${CLAIM_CODE_TTL_MINUTES} minutes. If you do not know them, ignore this message: nothing changes without the code.`,
      ].join('\n'),
    });
  } catch (error) {
    await deps.db.$transaction(async (tx) => {
      await tx.venueClaim.updateMany({
        where: { id: claim.id, status: 'PENDING' },
        data: { status: 'CANCELLED', decidedAt: deps.now() },
      });
      await audit(tx, claim, {
        actorId: null,
        action: 'SEND_CODE',
        outcome: 'CODE_NOT_SENT',
        detail: maskEmail(to),
        at: after(deps.now(), mail.requestedAt),
      });
    });
    throw error;
  }
  await audit(deps.db, claim, {
    actorId: null,
    action: 'SEND_CODE',
    outcome: 'CODE_SENT',
    detail: maskEmail(to),
    at: after(deps.now(), mail.requestedAt),
  });
}

/** `now`, or 1 ms after `previous` if the clock has not moved: a claim's events keep their order. */
function after(now: Date, previous: Date): Date {
  return new Date(Math.max(now.getTime(), previous.getTime() + 1));
}

async function audit(
  db: DbOrTx,
  claim: Pick<VenueClaim, 'id' | 'venueId' | 'method'>,
  event: {
    actorId: string | null;
    action: ClaimAction;
    outcome: ClaimOutcome;
    detail?: string | null;
    at: Date;
  },
): Promise<void> {
  await db.claimAuditEvent.create({
    data: {
      claimId: claim.id,
      venueId: claim.venueId,
      method: claim.method,
      actorId: event.actorId,
      action: event.action,
      outcome: event.outcome,
      detail: event.detail ?? null,
      createdAt: event.at,
    },
  });
}

function hashCode(keys: SigningKeys, claimId: string, code: string): string {
  return createHmac('sha256', keys.deriveSecret('venue-claim-code'))
    .update(`${claimId}\n${code}`)
    .digest('hex');
}

async function limit(limiter: RateLimiter, key: string, max: number): Promise<void> {
  const result = await limiter.hit(key, max, CLAIM_LIMIT_WINDOW_SECONDS);
  if (!result.allowed) {
    throw new RateLimitedError(
      `Too many claim requests: try again in ${result.retryAfterSeconds} seconds`,
      result.retryAfterSeconds,
    );
  }
}
