/**
 * The domain operations GraphQL calls, bound once per process to the dependencies they take
 * (the database, the booking effects, the keyring, mail, rate limits, signing keys, the clock).
 * Resolvers reach them as `ctx.domain.<area>.<function>(access, input)`: the same names as in
 * src/domain, grouped by its folders, without the first arguments a resolver has no business
 * holding. This is all of the database a resolver can reach: the context carries no Prisma
 * client (the Pothos Prisma plugin gets its own through src/api/prisma-client.ts).
 *
 * A domain function GraphQL starts to use gets a line here; one GraphQL no longer uses loses it.
 */

import {
  listAgents,
  rotateAgentSigningSecret,
  setAgentPaused,
  updateAgentDna,
} from '../domain/agents/agents.ts';
import {
  adjustOrganizationCredits,
  openBillingPortal,
  organizationBilling,
  startCheckout,
} from '../domain/billing/checkout.ts';
import { buyCredits } from '../domain/billing/credits-purchase.ts';
import {
  organizationFeeInvoices,
  organizationFees,
  recordBookingValue,
  setVenueCurrency,
  setVenueReferralFee,
  waiveBookingFee,
} from '../domain/billing/fees.ts';
import { changePlan } from '../domain/billing/plan-change.ts';
import {
  allowedTransitions,
  cancelBooking,
  canSeeBooking,
  createBooking,
  findBookingOrThrow,
  findBookingWithOwnerOrThrow,
  guestBookings,
  modifyBooking,
  organizationOfBooking,
  requireBooking,
  transitionBooking,
} from '../domain/bookings/bookings.ts';
import { feedbackSummary, leaveFeedback } from '../domain/bookings/feedback.ts';
import { loadedVenueAvailability, venueAvailability } from '../domain/bookings/venue-availability.ts';
import {
  settleDeliveryOrder,
  unplacedDeliveries,
  unplacedDeliveriesById,
} from '../domain/delivery/settle.ts';
import { developerTier, setDeveloperTier } from '../domain/developer/tiers.ts';
import { apiKeyUsage } from '../domain/developer/usage.ts';
import { tasteProfile } from '../domain/graph/profile.ts';
import {
  personalRank,
  type RankableHit,
  type RankBasis,
  type TasteEdgesOf,
  tasteEdgesFrom,
} from '../domain/graph/rank.ts';
import { suggestVenues } from '../domain/graph/suggest.ts';
import { requestAccountDeletion } from '../domain/identity/account-deletion.ts';
import type { Actor } from '../domain/identity/actor.ts';
import { revokeRefreshToken, rotateRefreshToken } from '../domain/identity/refresh-tokens.ts';
import { requestSignInCode, verifySignInCode } from '../domain/identity/sign-in.ts';
import { findUser } from '../domain/identity/users.ts';
import {
  acceptInvitation,
  declineInvitation,
  inviteMember,
  isAddressOf,
  organizationInvitations,
  organizationOfInvitation,
  pendingInvitations,
  withdrawInvitation,
} from '../domain/invitations/invitations.ts';
import { forgetAll, forgetMemory } from '../domain/memory/memories.ts';
import { updateProfile } from '../domain/memory/profile.ts';
import {
  acceptBookingRequest,
  answerVenueQuestion,
  declineBookingRequest,
  findInboxItemOrThrow,
  findInboxItemWithOwnerOrThrow,
  type InboxEventPayload,
  inboxTopic,
  organizationOfInboxItem,
  venueInbox,
} from '../domain/network/staff-inbox.ts';
import {
  approveFaqEntry,
  faqDrafts,
  findFaqEntryWithVenueOrThrow,
  organizationOfFaqEntry,
  rejectFaqEntry,
  venueFaq,
} from '../domain/network/venue-faq.ts';
import {
  factsOfConflict,
  findFactConflictWithOwnerOrThrow,
  organizationOfFactConflict,
  resolveFactConflict,
  venueFactConflicts,
  venueFacts,
} from '../domain/network/venue-wiki.ts';
import { onboardingChecklist } from '../domain/onboarding/checklist.ts';
import {
  failedInboundMessages,
  inboundMessagesById,
  retryInboundMessage,
} from '../domain/operations/failed-inbound.ts';
import { cancelJob, jobsById, listJobs, retryJob } from '../domain/operations/job-queue.ts';
import type { Access } from '../domain/organizations/access.ts';
import { batchedRoles, createAccess } from '../domain/organizations/access.ts';
import {
  createOrganizationApiKey,
  organizationOfApiKey,
  revokeOrganizationApiKey,
} from '../domain/organizations/api-keys.ts';
import {
  changeMemberRole,
  createOrganization,
  findOrganization,
  organizationOfMembership,
  removeMember,
  renameOrganization,
} from '../domain/organizations/organizations.ts';
import { webhookDeps } from '../domain/outbound-webhooks/deps.ts';
import {
  createWebhookSubscription,
  deleteWebhookSubscription,
  organizationOfWebhookDelivery,
  organizationOfWebhookSubscription,
  resendWebhookDelivery,
  rotateWebhookSecret,
  sendTestWebhook,
  updateWebhookSubscription,
} from '../domain/outbound-webhooks/subscriptions.ts';
import { setReengagementOptIn } from '../domain/reengagement/reengagement.ts';
import { cancelReminder, pendingReminders } from '../domain/reminders/reminders.ts';
import { applyScanDraft } from '../domain/scan/apply.ts';
import { findScanOrThrow, organizationOfScan, scanBusiness } from '../domain/scan/scans.ts';
import { organizationUsage } from '../domain/usage/events.ts';
import {
  cancelVenueClaim,
  countPendingClaims,
  organizationOfClaim,
  pendingClaims,
  requestVenueClaim,
  reviewVenueClaim,
  verifyVenueClaim,
} from '../domain/venues/claims.ts';
import {
  approveVenueReview,
  countReviewQueue,
  pendingReviewOf,
  rejectVenueReview,
  reviewQueue,
} from '../domain/venues/reviews.ts';
import { searchVenues, venuesOfHits } from '../domain/venues/search.ts';
import {
  batchedOrganizationOfVenue,
  createVenue,
  findVenue,
  listUnownedVenue,
  publishVenue,
  setBookingRules,
  setHoursExceptions,
  setOpeningHours,
  setTables,
  setVenueSuspended,
  unpublishVenue,
  updateVenueProfile,
  visibleVenueBySlug,
} from '../domain/venues/venues.ts';
import type { Logger } from '../platform/logger.ts';
import type { Services } from '../wiring/services.ts';
import type { LiveAccess } from './live-access.ts';

/** What binding the operations takes: the services they need, and nothing GraphQL sees. */
export type DomainServices = Pick<
  Services,
  | 'config'
  | 'logger'
  | 'db'
  | 'now'
  | 'keyring'
  | 'bookings'
  | 'revokedSessions'
  | 'mailer'
  | 'limiter'
  | 'keys'
  | 'pubsub'
  | 'billing'
  | 'apiQuota'
  | 'delivery'
  | 'database'
>;

/** Every operation a resolver may call, by area. */
export type Domain = ReturnType<typeof bindDomain>;

/** `fn` with its first argument (the dependencies it takes) given once. */
function given<D, A extends unknown[], R>(deps: D, fn: (deps: D, ...args: A) => R): (...args: A) => R {
  return (...args) => fn(deps, ...args);
}

/**
 * Builds the operations once per process (createGraphQLServer); every request shares them, and
 * what this process remembers for a while (`remembered`: LiveAccess's).
 */
export function bindDomain(services: DomainServices, remembered: LiveAccess['remembered']) {
  const { db, keyring, now, config, mailer, limiter, keys, revokedSessions: sessions } = services;
  // A person's taste, kept a few seconds: their next search (a page on, the words refined) ranks
  // without reading it again.
  const readTaste = tasteEdgesFrom(db);
  // Roles read through an Access (a request's, a live subscriber's re-check) share one statement
  // with the lookups made in the same turn: a thousand subscribers re-checking after one event.
  const roles = batchedRoles(db);
  const tasteEdges: TasteEdgesOf = (userId) =>
    remembered(`taste\n${userId}`, config.memory.tasteCacheMs, () => readTaste(userId));
  const claims = { db, mailer, limiter, keys, keyring, logger: services.logger, now };
  // Sign-in logs under the request's logger (its `request.id`), so the resolver hands it over.
  const signIn = (logger: Logger) => ({ db, mailer, limiter, keys, config, now, sessions, logger });
  const staffInbox = {
    bookings: services.bookings,
    // The decision is committed; a lost announcement must not turn it into an error for the caller.
    publishInbox: (event: InboxEventPayload) =>
      services.pubsub
        .publish(inboxTopic(event.venueId), event)
        .catch((error) => services.logger.error({ err: error }, 'could not publish an inbox event')),
  };
  const checkout = {
    db,
    locks: services.database.locks,
    stripe: services.billing.stripe,
    publicUrl: config.http.publicUrl,
    plans: config.billing.plans,
    meteredPrices: config.billing.meteredPrices,
    now,
    graceDays: config.billing.graceDays,
  };
  const credits = {
    ...checkout,
    creditsPrice: config.billing.creditsPrice,
    currency: config.usage.apiCallCurrency,
    min: config.usage.creditsMinPurchase,
    max: config.usage.creditsMaxPurchase,
  };
  const fees = {
    db,
    now,
    fees: config.fees,
    plans: config.billing.plans,
    graceDays: config.billing.graceDays,
  };
  const webhooks = webhookDeps({ config, db, keyring, now });
  return {
    agents: {
      listAgents: given(db, listAgents),
      updateAgentDna: given(db, updateAgentDna),
      setAgentPaused: given(db, setAgentPaused),
      // The previous key keeps verifying for the configured overlap (A2A_KEY_OVERLAP_SECONDS).
      rotateAgentSigningSecret: (access: Access, input: { agentId: string }) =>
        rotateAgentSigningSecret(db, access, keyring, {
          ...input,
          keyOverlapSeconds: config.network.keyOverlapSeconds,
          now: now(),
        }),
    },
    billing: {
      adjustCredits: given({ db, currency: config.usage.apiCallCurrency }, adjustOrganizationCredits),
      buyCredits: given(credits, buyCredits),
      changePlan: given(checkout, changePlan),
      openBillingPortal: given(checkout, openBillingPortal),
      organizationBilling: given(checkout, organizationBilling),
      organizationFeeInvoices: given(db, organizationFeeInvoices),
      organizationFees: given(db, organizationFees),
      recordBookingValue: given(fees, recordBookingValue),
      setVenueCurrency: given(db, setVenueCurrency),
      setVenueReferralFee: given(db, setVenueReferralFee),
      startCheckout: given(checkout, startCheckout),
      usage: given({ db, now }, organizationUsage),
      waiveBookingFee: given(fees, waiveBookingFee),
    },
    bookings: {
      allowedTransitions: given({ db, now }, allowedTransitions),
      canSeeBooking: given(db, canSeeBooking),
      cancelBooking: given(services.bookings, cancelBooking),
      createBooking: given(services.bookings, createBooking),
      findBookingOrThrow: given(db, findBookingOrThrow),
      feedbackSummary: given(db, feedbackSummary),
      findBookingWithOwnerOrThrow: given(db, findBookingWithOwnerOrThrow),
      guestBookings: given(db, guestBookings),
      leaveFeedback: given(db, leaveFeedback),
      modifyBooking: given(services.bookings, modifyBooking),
      organizationOfBooking: given(db, organizationOfBooking),
      requireBooking: given(db, requireBooking),
      transitionBooking: given(services.bookings, transitionBooking),
      venueAvailability: given(db, venueAvailability),
      loadedVenueAvailability: given(db, loadedVenueAvailability),
    },
    developer: {
      apiKeyUsage: given(services.apiQuota, apiKeyUsage),
      developerTier: given(services.apiQuota, developerTier),
      setDeveloperTier: given(services.apiQuota, setDeveloperTier),
    },
    identity: {
      findUser: given(db, findUser),
      requestSignInCode: (logger: Logger, input: Parameters<typeof requestSignInCode>[1]) =>
        requestSignInCode(signIn(logger), input),
      verifySignInCode: (logger: Logger, input: Parameters<typeof verifySignInCode>[1]) =>
        verifySignInCode(signIn(logger), input),
      rotateRefreshToken: (logger: Logger, token: string) => rotateRefreshToken(signIn(logger), token),
      revokeRefreshToken: given({ db, sessions, now }, revokeRefreshToken),
      requestAccountDeletion: given({ db, sessions, now }, requestAccountDeletion),
      setReengagementOptIn: given(db, setReengagementOptIn),
    },
    graph: {
      personalRank: <H extends RankableHit>(userId: string | null, hits: H[], basis: RankBasis) =>
        personalRank(tasteEdges, userId, hits, basis, now()),
      suggestVenues: (userId: string, first: number | null | undefined) =>
        suggestVenues(db, userId, { first, now: now() }),
      tasteProfile: (userId: string, first: number | null | undefined) =>
        tasteProfile(db, userId, { first, now: now() }),
    },
    memory: {
      forgetAll: (userId: string) => forgetAll(db, userId, { now }),
      forgetMemory: given(db, forgetMemory),
      updateProfile: given(db, updateProfile),
    },
    reminders: {
      pendingReminders: given(db, pendingReminders),
      cancelReminder: (userId: string, reminderId: string) => cancelReminder(db, userId, reminderId, now()),
    },
    network: {
      acceptBookingRequest: given(staffInbox, acceptBookingRequest),
      answerVenueQuestion: given(staffInbox, answerVenueQuestion),
      declineBookingRequest: given(staffInbox, declineBookingRequest),
      findInboxItemOrThrow: given(db, findInboxItemOrThrow),
      findInboxItemWithOwnerOrThrow: given(db, findInboxItemWithOwnerOrThrow),
      organizationOfInboxItem: given(db, organizationOfInboxItem),
      venueInbox: given(db, venueInbox),
    },
    onboarding: {
      onboardingChecklist: given(db, onboardingChecklist),
    },
    delivery: {
      settleDeliveryOrder: given(services.delivery, settleDeliveryOrder),
      unplacedDeliveries: given(db, unplacedDeliveries),
      unplacedDeliveriesById: given(db, unplacedDeliveriesById),
    },
    operations: {
      cancelJob: given(db, cancelJob),
      failedInboundMessages: given(db, failedInboundMessages),
      inboundMessagesById: given(db, inboundMessagesById),
      retryInboundMessage: given(db, retryInboundMessage),
      jobsById: given(db, jobsById),
      listJobs: given(db, listJobs),
      retryJob: given(db, retryJob),
    },
    organizations: {
      createAccess: (actor: Actor) => createAccess(db, actor, roles),
      changeMemberRole: given(db, changeMemberRole),
      createOrganization: (access: Access, input: Parameters<typeof createOrganization>[2]) =>
        createOrganization(db, access, input, { organizationsPerPerson: config.auth.organizationsPerPerson }),
      createOrganizationApiKey: (access: Access, input: Parameters<typeof createOrganizationApiKey>[2]) =>
        createOrganizationApiKey(db, access, input, {
          keyPrefix: config.auth.apiKeyPrefix,
          keysPerOrganization: config.auth.apiKeysPerOrganization,
          now,
        }),
      findOrganization: given(db, findOrganization),
      inviteMember: given({ db, now }, inviteMember),
      acceptInvitation: given({ db, now }, acceptInvitation),
      declineInvitation: given({ db, now }, declineInvitation),
      withdrawInvitation: given({ db, now }, withdrawInvitation),
      pendingInvitations: given({ db, now }, pendingInvitations),
      organizationInvitations: given({ db, now }, organizationInvitations),
      organizationOfInvitation: given(db, organizationOfInvitation),
      isAddressOf: given(db, isAddressOf),
      organizationOfApiKey: given(db, organizationOfApiKey),
      organizationOfMembership: given(db, organizationOfMembership),
      removeMember: given(db, removeMember),
      renameOrganization: given(db, renameOrganization),
      revokeOrganizationApiKey: (access: Access, input: { apiKeyId: string }) =>
        revokeOrganizationApiKey(db, access, input, { now }),
    },
    scan: {
      applyScanDraft: given({ db, keyring }, applyScanDraft),
      findScanOrThrow: given(db, findScanOrThrow),
      organizationOfScan: given(db, organizationOfScan),
      scanBusiness: given(db, scanBusiness),
    },
    webhooks: {
      createWebhookSubscription: given(webhooks, createWebhookSubscription),
      deleteWebhookSubscription: given(webhooks, deleteWebhookSubscription),
      organizationOfWebhookDelivery: given(db, organizationOfWebhookDelivery),
      organizationOfWebhookSubscription: given(db, organizationOfWebhookSubscription),
      resendWebhookDelivery: given(webhooks, resendWebhookDelivery),
      rotateWebhookSecret: given(webhooks, rotateWebhookSecret),
      sendTestWebhook: given(webhooks, sendTestWebhook),
      updateWebhookSubscription: given(webhooks, updateWebhookSubscription),
    },
    venueWiki: {
      approveFaqEntry: (access: Access, input: Parameters<typeof approveFaqEntry>[2]) =>
        approveFaqEntry(db, access, input, now()),
      factsOfConflict: given(db, factsOfConflict),
      faqDrafts: given(db, faqDrafts),
      findFactConflictWithOwnerOrThrow: given(db, findFactConflictWithOwnerOrThrow),
      findFaqEntryWithVenueOrThrow: given(db, findFaqEntryWithVenueOrThrow),
      organizationOfFactConflict: given(db, organizationOfFactConflict),
      organizationOfFaqEntry: given(db, organizationOfFaqEntry),
      rejectFaqEntry: (access: Access, input: Parameters<typeof rejectFaqEntry>[2]) =>
        rejectFaqEntry(db, access, input, now()),
      resolveFactConflict: (access: Access, input: Parameters<typeof resolveFactConflict>[2]) =>
        resolveFactConflict(db, access, input, now()),
      venueFactConflicts: given(db, venueFactConflicts),
      venueFacts: given(db, venueFacts),
      venueFaq: given(db, venueFaq),
    },
    venues: {
      approveVenueReview: given(db, approveVenueReview),
      cancelVenueClaim: given(claims, cancelVenueClaim),
      countPendingClaims: given(db, countPendingClaims),
      countReviewQueue: given(db, countReviewQueue),
      createVenue: (access: Access, input: Parameters<typeof createVenue>[3]) =>
        createVenue(db, access, keyring, input),
      findVenue: given(db, findVenue),
      listUnownedVenue: (access: Access, input: Parameters<typeof listUnownedVenue>[3]) =>
        listUnownedVenue(db, access, keyring, input),
      organizationOfClaim: given(db, organizationOfClaim),
      organizationOfVenue: batchedOrganizationOfVenue(db),
      pendingClaims: given(db, pendingClaims),
      pendingReviewOf: given(db, pendingReviewOf),
      publishVenue: given(db, publishVenue),
      rejectVenueReview: given(db, rejectVenueReview),
      requestVenueClaim: given(claims, requestVenueClaim),
      reviewQueue: given(db, reviewQueue),
      reviewVenueClaim: given(claims, reviewVenueClaim),
      searchVenues: given(db, searchVenues),
      setBookingRules: given(db, setBookingRules),
      setHoursExceptions: given(db, setHoursExceptions),
      setOpeningHours: given(db, setOpeningHours),
      setTables: given(db, setTables),
      setVenueSuspended: given(db, setVenueSuspended),
      unpublishVenue: given(db, unpublishVenue),
      updateVenueProfile: given(db, updateVenueProfile),
      venuesOfHits: given(db, venuesOfHits),
      verifyVenueClaim: given(claims, verifyVenueClaim),
      visibleVenueBySlug: given(db, visibleVenueBySlug),
    },
  };
}
