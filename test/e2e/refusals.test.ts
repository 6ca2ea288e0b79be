/**
 * What a person sees when a mutation refuses its input: every mutation's invalid inputs, sent as
 * a dashboard would, answer a ValidationError whose `field` is a path of the input that was sent
 * (so a form can put the message next to its control) and whose message is a sentence for a
 * person, not a validator's wording. Every mutation of the schema has a row: a new mutation
 * without one fails here.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encodeGlobalID } from '@pothos/plugin-relay';
import {
  buildSchema,
  type GraphQLInputType,
  getNamedType,
  getNullableType,
  isInputObjectType,
  isListType,
  isUnionType,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import { openInboxItem } from '../../src/domain/network/staff-inbox.ts';
import { recordVenueFacts } from '../../src/domain/network/venue-wiki.ts';
import { consumerAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { BOOKING_RULES } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, createActors, guest } from '../helpers/authz.ts';

const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
const mutations = schema.getMutationType()!.getFields();

type Caller = 'owner' | 'platformAdmin' | 'guest' | 'anonymous';
interface Case {
  /** What is wrong, in a few words. */
  what: string;
  as?: Caller;
  input: (ids: Ids) => Record<string, unknown>;
  /** The field the refusal names; null when no single field is at fault. */
  field: string | null;
  /** The sentence, where the rule has one of its own. */
  message?: string;
}

interface Ids {
  organizationId: string;
  venueId: string;
  agentId: string;
  /** The owner's own consumer agent. */
  consumerAgentId: string;
  claimId: string;
  bookingId: string;
  /** Items of the venue's inbox: a booking request and a question, both OPEN. */
  requestItemId: string;
  questionItemId: string;
  /** A webhook subscription of the organisation (written straight to the database). */
  subscriptionId: string;
  /** The venue's wiki: a conflict (on `phone`), a fact of another key, and a FAQ draft. */
  conflictId: string;
  otherFactId: string;
  faqEntryId: string;
  /** A finished business scan of the organisation whose draft has a name and a phone. */
  scanId: string;
}

const uuid = '00000000-0000-4000-8000-000000000000';
const gid = (type: string, id: string) => encodeGlobalID(type, id);

const rules = (ids: Ids, change: Record<string, unknown>) => ({
  venueId: gid('Venue', ids.venueId),
  ...BOOKING_RULES,
  ...change,
});

const hook = (ids: Ids, change: Record<string, unknown>) => ({
  organizationId: gid('Organization', ids.organizationId),
  url: 'https://hooks.example.com/agnt',
  events: ['BOOKING_CONFIRMED'],
  ...change,
});

const dna = (ids: Ids, change: Record<string, unknown>) => ({
  agentId: gid('Agent', ids.agentId),
  persona: { name: 'Sol', tone: 'warm', languages: ['en'] },
  capabilities: ['bookings'],
  tools: ['check_availability'],
  ...change,
});

/**
 * Every mutation's invalid inputs. An empty list says the mutation takes only ids and choices
 * that GraphQL itself checks, so no input of it is refused as invalid (a wrong id is NotFound).
 */
const CASES: Record<string, Case[]> = {
  createOrganization: [{ what: 'an empty name', input: () => ({ name: ' ' }), field: 'name' }],
  renameOrganization: [
    {
      what: 'a one-letter name',
      input: (ids) => ({ organizationId: gid('Organization', ids.organizationId), name: 'x' }),
      field: 'name',
    },
  ],
  inviteMember: [
    {
      what: 'a malformed address',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        email: 'not-an-address',
        role: 'STAFF',
      }),
      field: 'email',
    },
  ],
  changeMemberRole: [],
  removeMember: [],
  acceptInvitation: [],
  declineInvitation: [],
  withdrawInvitation: [],
  createApiKey: [
    {
      what: 'an empty name',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: '',
        scopes: ['READ'],
      }),
      field: 'name',
    },
    {
      what: 'no scope',
      input: (ids) => ({ organizationId: gid('Organization', ids.organizationId), name: 'Till', scopes: [] }),
      field: 'scopes',
    },
  ],
  revokeApiKey: [],
  requestSignInCode: [
    { what: 'a malformed address', as: 'anonymous', input: () => ({ email: 'nope' }), field: 'email' },
  ],
  signInWithCode: [
    {
      what: 'a code that is not 6 digits',
      as: 'anonymous',
      input: () => ({ email: 'someone@example.test', code: '12ab' }),
      field: 'code',
    },
  ],
  createVenue: [
    {
      what: 'a one-letter name',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'x',
        timeZone: 'Europe/Lisbon',
      }),
      field: 'name',
    },
    {
      what: 'an unknown time zone',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'Harbour',
        timeZone: 'Mars/Olympus',
      }),
      field: 'timeZone',
    },
    {
      what: 'an unknown social network',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'Harbour',
        timeZone: 'Europe/Lisbon',
        socialHandles: [{ network: 'myspace', handle: '@harbour' }],
      }),
      field: 'socialHandles.0.network',
      message: 'Use one of instagram, facebook, tiktok, x, threads',
    },
    {
      what: 'a handle with spaces',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'Harbour',
        timeZone: 'Europe/Lisbon',
        socialHandles: [
          { network: 'INSTAGRAM', handle: '@harbour' },
          { network: 'tiktok', handle: 'harbour lights' },
        ],
      }),
      field: 'socialHandles.1.handle',
    },
    {
      what: 'a network twice',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'Harbour',
        timeZone: 'Europe/Lisbon',
        socialHandles: [
          { network: 'instagram', handle: '@harbour' },
          { network: 'Instagram', handle: '@harbour2' },
        ],
      }),
      field: 'socialHandles.1.network',
    },
    {
      what: 'a latitude off the globe',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'Harbour',
        timeZone: 'Europe/Lisbon',
        latitude: 123,
        longitude: 0,
      }),
      field: 'latitude',
    },
    {
      what: 'a price level of 9',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'Harbour',
        timeZone: 'Europe/Lisbon',
        priceLevel: 9,
      }),
      field: 'priceLevel',
    },
    {
      what: 'a photo over http',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'Harbour',
        timeZone: 'Europe/Lisbon',
        photos: ['https://example.com/a.jpg', 'http://example.com/b.jpg'],
      }),
      field: 'photos.1',
    },
    {
      what: 'a one-letter cuisine',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'Harbour',
        timeZone: 'Europe/Lisbon',
        cuisines: ['seafood', 'x'],
      }),
      field: 'cuisines.1',
    },
    {
      what: 'a description that is too long',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'Harbour',
        timeZone: 'Europe/Lisbon',
        description: 'a'.repeat(2001),
      }),
      field: 'description',
      message: 'Use at most 2000 characters',
    },
    {
      what: 'thirteen cuisines',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        name: 'Harbour',
        timeZone: 'Europe/Lisbon',
        cuisines: Array.from({ length: 13 }, (_, i) => `cuisine${i}`),
      }),
      field: 'cuisines',
      message: 'Give at most 12',
    },
  ],
  listVenue: [
    {
      what: 'a malformed email',
      as: 'platformAdmin',
      input: () => ({ name: 'Harbour', timeZone: 'Europe/Lisbon', email: 'harbour' }),
      field: 'email',
    },
  ],
  updateVenue: [
    {
      what: 'a malformed phone number',
      input: (ids) => ({ venueId: gid('Venue', ids.venueId), phone: '12345' }),
      field: 'phone',
    },
    {
      what: 'an unknown social network',
      input: (ids) => ({
        venueId: gid('Venue', ids.venueId),
        socialHandles: [{ network: 'orkut', handle: 'harbour' }],
      }),
      field: 'socialHandles.0.network',
    },
    {
      what: 'a slug with spaces',
      input: (ids) => ({ venueId: gid('Venue', ids.venueId), slug: 'harbour lights' }),
      field: 'slug',
    },
    {
      what: 'a website that is not a web address',
      input: (ids) => ({ venueId: gid('Venue', ids.venueId), website: 'ftp://harbour.example' }),
      field: 'website',
    },
  ],
  setOpeningHours: [
    {
      what: 'weekday 9',
      input: (ids) => ({
        venueId: gid('Venue', ids.venueId),
        hours: [{ weekday: 9, opensAt: '12:00', closesAt: '15:00' }],
      }),
      field: 'hours.0.weekday',
    },
    {
      what: 'a closing time of 25:00',
      input: (ids) => ({
        venueId: gid('Venue', ids.venueId),
        hours: [
          { weekday: 1, opensAt: '12:00', closesAt: '15:00' },
          { weekday: 2, opensAt: '12:00', closesAt: '25:00' },
        ],
      }),
      field: 'hours.1.closesAt',
    },
  ],
  setHoursExceptions: [
    {
      what: 'a date that does not exist',
      input: (ids) => ({
        venueId: gid('Venue', ids.venueId),
        exceptions: [{ date: '2026-02-30', closed: true }],
      }),
      field: 'exceptions.0.date',
    },
    {
      what: 'a date to clear that is not a date',
      input: (ids) => ({
        venueId: gid('Venue', ids.venueId),
        exceptions: [],
        clearDates: ['2026-12-24', 'soon'],
      }),
      field: 'clearDates.1',
    },
  ],
  setBookingRules: [
    {
      what: 'a 2-minute slot',
      input: (ids) => rules(ids, { slotMinutes: 2 }),
      field: 'slotMinutes',
      message: 'A booking slot is at least 5 minutes',
    },
    {
      what: 'a smallest party above the largest',
      input: (ids) => rules(ids, { partySizeMin: 8, partySizeMax: 4 }),
      field: 'partySizeMin',
      message: 'The smallest party cannot be larger than the largest',
    },
    {
      what: 'no room in a slot',
      input: (ids) => rules(ids, { coversPerSlot: 0 }),
      field: 'coversPerSlot',
    },
    {
      what: 'a negative notice',
      input: (ids) => rules(ids, { leadTimeMinutes: -5 }),
      field: 'leadTimeMinutes',
    },
  ],
  setVenueTables: [
    {
      what: 'a table with no seats',
      input: (ids) => ({ venueId: gid('Venue', ids.venueId), tables: [{ name: 'T1', seats: 0 }] }),
      field: 'tables.0.seats',
      message: 'A table seats at least 1 guest',
    },
    {
      what: 'two tables of one name',
      input: (ids) => ({
        venueId: gid('Venue', ids.venueId),
        tables: [
          { name: 'T1', seats: 2 },
          { name: 't1', seats: 4 },
        ],
      }),
      field: 'tables.1.name',
    },
  ],
  publishVenue: [
    {
      what: 'a venue not ready (no single field of the input is at fault)',
      input: (ids) => ({ venueId: gid('Venue', ids.venueId) }),
      field: null,
    },
  ],
  unpublishVenue: [],
  setVenueSuspended: [],
  setDeveloperTier: [],
  requestVenueClaim: [
    {
      what: 'a manual review without a note',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        venueId: gid('Venue', uuid),
        method: 'MANUAL_REVIEW',
      }),
      field: 'note',
    },
    {
      what: 'an address for a method that takes none',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        venueId: gid('Venue', uuid),
        method: 'VENUE_EMAIL',
        email: 'me@example.test',
      }),
      field: 'email',
    },
  ],
  verifyVenueClaim: [
    {
      what: 'a code that is not 6 digits',
      input: (ids) => ({ claimId: gid('VenueClaim', ids.claimId), code: '12345x' }),
      field: 'code',
    },
  ],
  reviewVenueClaim: [
    {
      what: 'no note',
      as: 'platformAdmin',
      input: (ids) => ({ claimId: gid('VenueClaim', ids.claimId), approve: false, note: '  ' }),
      field: 'note',
    },
  ],
  cancelVenueClaim: [],
  startCheckout: [
    {
      what: 'a free plan',
      input: (ids) => ({ organizationId: gid('Organization', ids.organizationId), plan: 'DEVELOPER_FREE' }),
      field: 'plan',
      message: 'A free plan needs no checkout',
    },
  ],
  changePlan: [
    {
      what: 'a free plan',
      input: (ids) => ({ organizationId: gid('Organization', ids.organizationId), plan: 'DEVELOPER_FREE' }),
      field: 'plan',
      message:
        'Moving to a free plan is cancelling the paid one: do that in the billing portal (openBillingPortal)',
    },
  ],
  openBillingPortal: [],
  buyCredits: [
    {
      what: 'less than the least one purchase buys',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        amount: 100,
        currency: 'USD',
      }),
      field: 'amount',
      message: 'Buy from $5.00 to $1,000.00 of credit at a time',
    },
    {
      what: 'a currency credits are not sold in',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        amount: 1000,
        currency: 'EUR',
      }),
      field: 'currency',
      message: 'Credits are sold in USD',
    },
    {
      what: 'a currency that is not a code',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        amount: 1000,
        currency: 'dollars',
      }),
      field: 'currency',
    },
  ],
  setVenueCurrency: [
    {
      what: 'a currency without cents',
      as: 'platformAdmin',
      input: (ids) => ({ venueId: gid('Venue', ids.venueId), currency: 'JPY' }),
      field: 'currency',
      message: 'Bookings cannot be charged in JPY yet: choose a currency with cents',
    },
  ],
  setVenueReferralFee: [
    {
      what: 'a rate above 100 %',
      as: 'platformAdmin',
      input: (ids) => ({ venueId: gid('Venue', ids.venueId), bps: 10_001 }),
      field: 'bps',
      message: 'A referral rate is a whole number of basis points from 0 to 10000 (700 is 7 %)',
    },
  ],
  recordBookingValue: [
    {
      what: 'a value below zero',
      input: (ids) => ({ bookingId: gid('Booking', ids.bookingId), value: -100 }),
      field: 'value',
      message: 'A booking value is a whole number of minor units, zero or more',
    },
  ],
  waiveBookingFee: [
    {
      what: 'no reason',
      as: 'platformAdmin',
      input: (ids) => ({ bookingId: gid('Booking', ids.bookingId), reason: '  ' }),
      field: 'reason',
      message: 'Say why the fee is waived',
    },
  ],
  adjustCredits: [
    {
      what: 'no reason',
      as: 'platformAdmin',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        amount: 100,
        currency: 'USD',
        reason: '  ',
      }),
      field: 'reason',
      message: 'Say why the credits change',
    },
    {
      what: 'a zero amount',
      as: 'platformAdmin',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        amount: 0,
        currency: 'USD',
        reason: 'goodwill',
      }),
      field: 'amount',
    },
    {
      what: 'a currency that is not a code',
      as: 'platformAdmin',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        amount: 100,
        currency: 'euros',
        reason: 'goodwill',
      }),
      field: 'currency',
    },
    {
      what: 'a currency credits are not kept in',
      as: 'platformAdmin',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        amount: 100,
        currency: 'EUR',
        reason: 'goodwill',
      }),
      field: 'currency',
      message: 'Credits are kept in USD, the currency paid calls are priced in',
    },
  ],
  approveVenueReview: [
    {
      what: 'a note that is too long',
      as: 'platformAdmin',
      input: () => ({ reviewId: gid('VenueReview', uuid), note: 'n'.repeat(2001) }),
      field: 'note',
      message: 'A note is at most 2,000 characters',
    },
  ],
  rejectVenueReview: [
    {
      what: 'no reason',
      as: 'platformAdmin',
      input: () => ({ reviewId: gid('VenueReview', uuid), reason: '  ' }),
      field: 'reason',
      message: 'Say why, for the venue and the audit trail',
    },
  ],
  updateAgentDna: [
    {
      what: 'an unknown tool',
      input: (ids) => dna(ids, { tools: ['check_availability', 'launch_rockets'] }),
      field: 'tools.1',
    },
    {
      what: 'a language that is not a tag',
      input: (ids) => dna(ids, { persona: { name: 'Sol', tone: 'warm', languages: ['English'] } }),
      field: 'persona.languages.0',
    },
    {
      what: 'a contact with no way to reach them',
      input: (ids) => dna(ids, { escalationContact: { name: 'Marta' } }),
      field: 'escalationContact.email',
    },
    {
      what: 'a blackout that ends before it starts',
      input: (ids) =>
        dna(ids, {
          bookingPolicy: {
            autoAcceptWithinRules: true,
            blackoutWindows: [{ startsAt: '2026-12-24T20:00:00Z', endsAt: '2026-12-24T18:00:00Z' }],
          },
        }),
      field: 'bookingPolicy.blackoutWindows.0.endsAt',
    },
  ],
  rotateAgentSigningSecret: [],
  setAgentPaused: [
    {
      what: "a person's own agent, not a venue's",
      input: (ids) => ({ agentId: gid('Agent', ids.consumerAgentId), paused: true }),
      field: 'agentId',
      message: "Only a venue's agent can be paused",
    },
  ],
  createBooking: [
    {
      what: 'a party of 0',
      as: 'guest',
      input: (ids) => ({
        venueId: gid('Venue', ids.venueId),
        partySize: 0,
        startsAt: '2027-01-05T19:00:00Z',
      }),
      field: 'partySize',
    },
    {
      what: 'a short idempotency key',
      as: 'guest',
      input: (ids) => ({
        venueId: gid('Venue', ids.venueId),
        partySize: 2,
        startsAt: '2027-01-05T19:00:00Z',
        clientKey: 'abc',
      }),
      field: 'clientKey',
    },
    {
      what: "the venue's team booking for a malformed address",
      input: (ids) => ({
        venueId: gid('Venue', ids.venueId),
        partySize: 2,
        startsAt: '2027-01-05T19:00:00Z',
        guestEmail: 'guest-at-example',
      }),
      field: 'guestEmail',
    },
  ],
  modifyBooking: [
    {
      what: 'a party of 0',
      as: 'guest',
      input: (ids) => ({ bookingId: gid('Booking', ids.bookingId), partySize: 0 }),
      field: 'partySize',
      message: 'A party is at least 1 guest',
    },
  ],
  cancelBooking: [],
  leaveBookingFeedback: [
    {
      what: 'a score of 0',
      as: 'guest',
      input: (ids) => ({ bookingId: gid('Booking', ids.bookingId), score: 0 }),
      field: 'score',
      message: 'A score is a whole number from 1 to 5',
    },
    {
      what: 'a score of 6',
      as: 'guest',
      input: (ids) => ({ bookingId: gid('Booking', ids.bookingId), score: 6 }),
      field: 'score',
      message: 'A score is a whole number from 1 to 5',
    },
    {
      what: 'a comment over 2000 characters',
      as: 'guest',
      input: (ids) => ({ bookingId: gid('Booking', ids.bookingId), score: 4, comment: 'x'.repeat(2001) }),
      field: 'comment',
      message: 'A comment is at most 2000 characters',
    },
  ],
  confirmBooking: [],
  declineBooking: [],
  holdBooking: [],
  seatBooking: [],
  completeBooking: [],
  markBookingNoShow: [],
  acceptBookingRequest: [
    {
      what: "a question's item",
      input: (ids) => ({ itemId: gid('VenueInboxItem', ids.questionItemId) }),
      field: 'itemId',
      message: 'This is a question: answer it instead',
    },
  ],
  declineBookingRequest: [
    {
      what: 'six other times',
      input: (ids) => ({
        itemId: gid('VenueInboxItem', ids.requestItemId),
        alternatives: [1, 2, 3, 4, 5, 6].map((d) => `2027-01-0${d}T19:00:00.000Z`),
      }),
      field: 'alternatives',
      message: 'Offer at most 5 other times',
    },
    {
      what: 'a time in the past',
      input: (ids) => ({
        itemId: gid('VenueInboxItem', ids.requestItemId),
        alternatives: ['2027-01-05T20:00:00.000Z', '2020-01-05T20:00:00.000Z'],
      }),
      field: 'alternatives.1',
      message: 'Offer a time in the future',
    },
    {
      what: 'a reason that is too long',
      input: (ids) => ({ itemId: gid('VenueInboxItem', ids.requestItemId), reason: 'a'.repeat(2001) }),
      field: 'reason',
      message: 'Use at most 2000 characters',
    },
  ],
  resolveVenueFactConflict: [
    {
      what: 'a fact the conflict is not between',
      input: (ids) => ({
        conflictId: gid('VenueFactConflict', ids.conflictId),
        factId: gid('VenueFact', ids.otherFactId),
      }),
      field: 'factId',
      message: 'Choose one of the facts this conflict is between',
    },
  ],
  approveFaqEntry: [
    {
      what: 'a blank answer',
      input: (ids) => ({ entryId: gid('VenueFaqEntry', ids.faqEntryId), answer: '   ' }),
      field: 'answer',
      message: 'Write an answer',
    },
    {
      what: 'a blank question',
      input: (ids) => ({ entryId: gid('VenueFaqEntry', ids.faqEntryId), question: ' ' }),
      field: 'question',
      message: 'Write the question',
    },
    {
      what: 'an answer too long',
      input: (ids) => ({ entryId: gid('VenueFaqEntry', ids.faqEntryId), answer: 'x'.repeat(2001) }),
      field: 'answer',
      message: 'Use at most 2000 characters',
    },
  ],
  rejectFaqEntry: [],
  answerVenueQuestion: [
    {
      what: 'a blank answer',
      input: (ids) => ({ itemId: gid('VenueInboxItem', ids.questionItemId), answer: '   ' }),
      field: 'answer',
      message: 'Write an answer',
    },
    {
      what: "a booking request's item",
      input: (ids) => ({ itemId: gid('VenueInboxItem', ids.requestItemId), answer: 'Yes, we do' }),
      field: 'itemId',
    },
  ],
  updateProfile: [
    {
      what: 'a party of 0',
      input: () => ({ usualPartySize: 0 }),
      field: 'usualPartySize',
    },
    {
      what: 'a latitude without a longitude',
      input: () => ({ latitude: 38.7 }),
      field: 'longitude',
    },
    {
      what: 'an unknown time zone',
      input: () => ({ timeZone: 'Atlantis/Capital' }),
      field: 'timeZone',
    },
  ],
  forgetMemory: [],
  deleteAccount: [
    {
      what: 'no confirmation',
      input: () => ({ confirm: 'yes please' }),
      field: 'confirm',
      message: 'Type DELETE to confirm deleting your account',
    },
  ],
  cancelReminder: [
    {
      what: 'an id that is not a reminder’s',
      input: (ids) => ({ reminderId: gid('Booking', ids.bookingId) }),
      field: 'reminderId',
      message: 'Not a reminder id',
    },
  ],
  registerTelegramWebhook: [
    {
      what: 'a bot that is not configured',
      as: 'platformAdmin',
      input: () => ({ bot: 'nope' }),
      field: 'bot',
    },
  ],
  retryJob: [],
  cancelJob: [],
  retryInboundMessage: [],
  settleDeliveryOrder: [
    {
      what: 'neither the order Lalamove booked nor that it booked none',
      as: 'platformAdmin',
      input: () => ({ deliveryId: gid('UnplacedDelivery', randomUUID()) }),
      field: 'lalamoveOrderId',
      message: 'Give either the Lalamove order booked from the quotation, or notBooked when there is none',
    },
  ],
  createWebhookSubscription: [
    {
      what: 'a URL that is not one',
      input: (ids) => hook(ids, { url: 'hooks.example.com' }),
      field: 'url',
      message: 'Enter a full URL, such as https://example.com/webhooks',
    },
    {
      what: 'a private address',
      input: (ids) => hook(ids, { url: 'https://10.1.2.3/hooks' }),
      field: 'url',
      message: 'Webhooks cannot be sent to 10.1.2.3: 10.1.2.3 is a private address',
    },
    {
      what: 'the cloud metadata address',
      input: (ids) => hook(ids, { url: 'http://169.254.169.254/latest/meta-data' }),
      field: 'url',
    },
    {
      what: 'a loopback name',
      input: (ids) => hook(ids, { url: 'http://localhost:8080/hooks' }),
      field: 'url',
    },
    { what: 'no event', input: (ids) => hook(ids, { events: [] }), field: 'events' },
    {
      what: 'a description too long',
      input: (ids) => hook(ids, { description: 'x'.repeat(201) }),
      field: 'description',
    },
  ],
  updateWebhookSubscription: [
    {
      what: 'a link-local address',
      input: (ids) => ({
        subscriptionId: gid('WebhookSubscription', ids.subscriptionId),
        url: 'http://[fe80::1]/',
      }),
      field: 'url',
    },
    {
      what: 'no event',
      input: (ids) => ({ subscriptionId: gid('WebhookSubscription', ids.subscriptionId), events: [] }),
      field: 'events',
    },
  ],
  deleteWebhookSubscription: [],
  rotateWebhookSecret: [],
  sendTestWebhook: [],
  resendWebhookDelivery: [],
  scanBusiness: [
    {
      what: 'not a web address',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        url: 'ftp://example.com/',
      }),
      field: 'url',
      message: 'Only http and https websites can be scanned',
    },
    {
      what: 'an address with a password',
      input: (ids) => ({
        organizationId: gid('Organization', ids.organizationId),
        url: 'https://me:secret@example.com/',
      }),
      field: 'url',
    },
  ],
  applyScanDraft: [
    {
      what: 'no field chosen',
      input: (ids) => ({ scanId: gid('Scan', ids.scanId), fields: [], timeZone: 'Europe/Lisbon' }),
      field: 'fields',
    },
    {
      what: 'a field the scan did not find',
      input: (ids) => ({ scanId: gid('Scan', ids.scanId), fields: ['EMAIL'], timeZone: 'Europe/Lisbon' }),
      field: 'fields.0',
      message: 'The scan found no email',
    },
    {
      what: 'a new venue without a time zone',
      input: (ids) => ({ scanId: gid('Scan', ids.scanId), fields: ['NAME'] }),
      field: 'timeZone',
    },
    {
      what: 'a name that would replace the venue’s without being listed in replace',
      input: (ids) => ({
        scanId: gid('Scan', ids.scanId),
        venueId: gid('Venue', ids.venueId),
        fields: ['NAME'],
      }),
      field: 'fields.0',
      message: 'The venue already has a name: list it in replace to overwrite it',
    },
  ],
};

/** Words of a validator, not of a person. */
const VALIDATOR_WORDING =
  /Invalid input|expected|received|Too (small|big)|[<>]=|undefined|nonempty|regex|\bNaN\b/i;

/**
 * Whether `path` names a place in the input: each step is a field of the input type there (sent
 * or not: a form has a control for a field left empty) or the index of an item that was sent.
 */
function resolves(type: GraphQLInputType, value: unknown, path: string[]): boolean {
  if (path.length === 0) return true;
  const [step, ...rest] = path as [string, ...string[]];
  const bare = getNullableType(type);
  if (isListType(bare)) {
    if (!/^\d+$/.test(step) || !Array.isArray(value) || Number(step) >= value.length) return false;
    return resolves(bare.ofType, value[Number(step)], rest);
  }
  if (!isInputObjectType(bare)) return false;
  const field = bare.getFields()[step];
  if (!field) return false;
  return resolves(field.type, (value as Record<string, unknown> | undefined)?.[step], rest);
}

let app: TestApp;
let fx: Actors;
let ids: Ids;
let guestToken: string;

beforeAll(async () => {
  app = await startTestApp();
  fx = await createActors(app);
  const person = await guest(app);
  guestToken = person.token;
  const created = await app.gql<{ createVenue: { venue: { id: string } } }, unknown>(
    `mutation($input: CreateVenueInput!) { createVenue(input: $input) { ... on CreateVenuePayload { venue { id } } } }`,
    {
      input: {
        organizationId: gid('Organization', fx.organizationId),
        name: 'Refusal Rooms',
        timeZone: 'Europe/Lisbon',
      },
    },
    { token: fx.owner.token },
  );
  const venueId = Buffer.from(created.data!.createVenue.venue.id, 'base64').toString().split(':')[1]!;
  const agent = await app.services.db.agent.findFirstOrThrow({ where: { venueId } });
  const claim = await app.services.db.venueClaim.create({
    data: {
      venueId,
      organizationId: fx.organizationId,
      requestedById: fx.owner.userId,
      method: 'VENUE_EMAIL',
      codeEmail: 'venue@example.test',
      codeHash: 'x',
      expiresAt: new Date(Date.now() + 600_000),
    },
  });
  const startsAt = new Date('2027-01-05T19:00:00Z');
  const booking = await app.services.db.booking.create({
    data: {
      venueId,
      guestId: person.userId,
      requestedById: person.userId,
      partySize: 2,
      startsAt,
      endsAt: new Date(startsAt.getTime() + 90 * 60_000),
      source: 'DASHBOARD',
    },
  });
  const item = (kind: 'BOOKING_REQUEST' | 'QUESTION') =>
    app.services.db.$transaction((tx) =>
      openInboxItem(tx, {
        venueId,
        kind,
        envelopeId: randomUUID(),
        fromAgent: consumerAgentId(person.userId),
        bookingId: kind === 'BOOKING_REQUEST' ? booking.id : null,
        guestId: person.userId,
        guestText: kind === 'QUESTION' ? 'Do you have a high chair?' : null,
        reason: 'refusals table',
      }),
    );
  await recordVenueFacts(
    app.services.db,
    venueId,
    [{ key: 'phone', text: '+351 21 000 0000' }],
    'OWNER_EDIT',
  );
  await recordVenueFacts(
    app.services.db,
    venueId,
    [
      { key: 'phone', text: '+351 21 999 9999' },
      { key: 'wifi', text: 'Free wifi' },
    ],
    'SCAN',
  );
  const conflict = await app.services.db.venueFactConflict.findFirstOrThrow({ where: { venueId } });
  const otherFact = await app.services.db.venueFact.findFirstOrThrow({ where: { venueId, key: 'wifi' } });
  const faqEntry = await app.services.db.venueFaqEntry.create({
    data: {
      venueId,
      questionKey: 'children',
      question: 'Do you have a high chair?',
      answer: 'Yes',
      askedCount: 2,
      lastAskedAt: new Date(),
    },
  });
  ids = {
    conflictId: conflict.id,
    otherFactId: otherFact.id,
    faqEntryId: faqEntry.id,
    organizationId: fx.organizationId,
    venueId,
    agentId: agent.id,
    consumerAgentId: (await ensureConsumerAgent(app.services.db, app.services.keyring, fx.owner.userId)).id,
    claimId: claim.id,
    bookingId: booking.id,
    requestItemId: (await item('BOOKING_REQUEST')).item.id,
    questionItemId: (await item('QUESTION')).item.id,
    subscriptionId: (
      await app.services.db.webhookSubscription.create({
        data: {
          organizationId: fx.organizationId,
          url: 'https://hooks.example.com/agnt',
          events: ['booking.confirmed'],
          secretCiphertext: 'unused',
          secretKeyId: 'unused',
        },
      })
    ).id,
    scanId: (
      await app.services.db.businessScan.create({
        data: {
          organizationId: fx.organizationId,
          url: 'https://harbour.example.com/',
          status: 'DONE',
          draft: [
            {
              field: 'name',
              value: 'Harbour Lights Scanned',
              display: 'Harbour Lights Scanned',
              source: 'json-ld',
            },
            { field: 'phone', value: '+351212345678', display: '+351212345678', source: 'json-ld' },
          ],
        },
      })
    ).id,
  };
}, 60_000);

afterAll(() => app?.close());

describe('refusals name a field of the input as it was sent, in a sentence for a person', () => {
  it('has a row for every mutation that can answer a ValidationError', () => {
    const refusing = Object.values(mutations)
      .filter((m) => {
        const result = getNamedType(m.type);
        return isUnionType(result) && result.getTypes().some((t) => t.name === 'ValidationError');
      })
      .map((m) => m.name)
      .sort();
    expect(Object.keys(CASES).sort()).toEqual(refusing);
  });

  const rows = Object.entries(CASES).flatMap(([mutation, cases]) => cases.map((c) => ({ mutation, ...c })));
  it.each(rows)('$mutation: $what', async (row) => {
    const input = row.input(ids);
    const argument = mutations[row.mutation]!.args.find((a) => a.name === 'input')!;
    const token =
      row.as === 'anonymous'
        ? undefined
        : row.as === 'platformAdmin'
          ? fx.platformAdmin.token
          : row.as === 'guest'
            ? guestToken
            : fx.owner.token;
    const res = await app.gql<
      Record<string, { __typename: string; message: string; field: string | null }>,
      unknown
    >(
      `mutation($input: ${String(argument.type)}) {
        ${row.mutation}(input: $input) { __typename ... on Error { message } ... on ValidationError { field } }
      }`,
      { input },
      { token },
    );
    const body = JSON.stringify(res.body, null, 2);
    const answer = res.data?.[row.mutation];
    expect(answer?.__typename, body).toBe('ValidationError');
    expect(answer?.field, body).toBe(row.field);
    if (answer?.field) expect(resolves(argument.type, input, answer.field.split('.')), body).toBe(true);
    expect(answer?.message, body).toMatch(/^[A-Z"]/);
    expect(answer?.message, body).not.toMatch(VALIDATOR_WORDING);
    if (row.message) expect(answer?.message, body).toBe(row.message);
  });
});
