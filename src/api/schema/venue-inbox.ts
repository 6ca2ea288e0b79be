/**
 * The venue agent's inbox for its staff: booking requests the agent would not decide alone and
 * questions the venue's facts do not answer, oldest first; the decisions staff make on them (each
 * moves the booking and answers the guest's agent by envelope); and the live feed of new items.
 */
import { IllegalTransitionError } from '../../domain/bookings/errors.ts';
import {
  BookingRequestSettledError,
  type InboxEventPayload,
  InboxItemSettledError,
  inboxTopic,
  MAX_ALTERNATIVES,
} from '../../domain/network/staff-inbox.ts';
import { ANY_ROLE } from '../../domain/organizations/access.ts';
import { NotAllowedError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { byIdCursor } from '../cursors.ts';
import { teamOf } from '../scopes.ts';
import { BookingStatus, REVOKED, readOnlyKey, venueEvents } from './booking.ts';
import { describedEnum } from './enums.ts';
import { commonErrors, errorType } from './errors.ts';
import { mutation, payloadType } from './mutation.ts';
import { Venue } from './venue.ts';

const InboxItemKind = describedEnum('InboxItemKind', {
  BOOKING_REQUEST: 'A booking request for staff to accept or decline.',
  QUESTION: "A guest's question for staff to answer.",
});

const InboxItemStatus = describedEnum('InboxItemStatus', {
  OPEN: 'Waiting for staff.',
  ACCEPTED: 'Staff accepted the booking.',
  DECLINED: 'Staff declined the booking (with the times they offered instead).',
  ANSWERED: 'Staff answered the question.',
  CLOSED: 'Settled another way (the booking was cancelled, lapsed or decided elsewhere) before staff acted.',
});

errorType(
  InboxItemSettledError,
  'InboxItemSettledError',
  'Someone already acted on this item, or it was closed: nothing was changed. `status` is where it is now.',
  (t) => ({ status: t.field({ type: InboxItemStatus, resolve: (e) => e.status }) }),
);

errorType(
  BookingRequestSettledError,
  'BookingRequestSettledError',
  "The item's booking no longer waits for the venue's answer: the item is now CLOSED and nothing was sent. `bookingStatus` is the booking's status (null if it is gone).",
  (t) => ({
    bookingStatus: t.field({ type: BookingStatus, nullable: true, resolve: (e) => e.bookingStatus }),
  }),
);

export const VenueInboxItem = builder.prismaNode('VenueInboxItem', {
  id: { field: 'id' },
  description:
    "What a venue's business agent put before the venue's staff. Seen by the venue's team (and platform admins).",
  select: { id: true, venue: { select: { organizationId: true } } },
  authScopes: (item) => teamOf(item.venue.organizationId),
  fields: (t) => ({
    kind: t.expose('kind', { type: InboxItemKind }),
    status: t.expose('status', { type: InboxItemStatus }),
    guestText: t.exposeString('guestText', {
      nullable: true,
      description:
        "The guest's own words (special requests, the question), as plain text: untrusted, show it as text, never as markup.",
    }),
    reason: t.exposeString('reason', { description: 'Why the agent put it before staff.' }),
    venue: t.relation('venue'),
    booking: t.relation('booking', { nullable: true, description: 'The booking asked for (requests).' }),
    answer: t.exposeString('answer', {
      nullable: true,
      description: "Staff's answer to a question, or their reason for declining.",
    }),
    answerForEveryGuest: t.exposeBoolean('answerForAll', {
      description:
        "Staff said the answer holds for any guest who asks the same (the venue's agent gives it to others).",
    }),
    alternatives: t.expose('alternatives', {
      type: ['DateTime'],
      description: 'The times staff offered instead when declining.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    resolvedAt: t.expose('resolvedAt', { type: 'DateTime', nullable: true }),
  }),
});

// --- reads ---

builder.prismaObjectField(Venue, 'agentInbox', (t) =>
  t.prismaConnection({
    type: VenueInboxItem,
    cursor: 'id',
    description: "What the venue's agent put before its staff, oldest first. The venue's team.",
    authScopes: (v) => teamOf(v.organizationId),
    args: {
      status: t.arg({ type: InboxItemStatus, required: false, description: 'Only these (default: all).' }),
    },
    resolve: (query, venue, args, ctx) =>
      ctx.domain.network.venueInbox(
        ctx.access,
        { venueId: venue.id, status: args.status ?? null },
        byIdCursor(query, args),
      ),
  }),
);

// --- writes ---

const VenueInboxItemPayload = payloadType('VenueInboxItemPayload', 'item', VenueInboxItem);

const decisionErrors = [
  ...commonErrors,
  InboxItemSettledError,
  BookingRequestSettledError,
  IllegalTransitionError,
];

/** Who may decide an item: its venue's team (any role, as for the booking's own moves), never a read-only key. */
async function itemTeam(itemId: string, ctx: Context) {
  if (readOnlyKey(ctx)) return false;
  return teamOf(await ctx.domain.network.organizationOfInboxItem(itemId));
}

/** The payload of a decision: the item read again with what the `VenueInboxItem` type's auth scopes read. */
async function itemPayload(ctx: Context, written: Promise<{ id: string }>) {
  const { id } = await written;
  return { item: await ctx.domain.network.findInboxItemWithOwnerOrThrow(id) };
}

mutation('acceptBookingRequest', {
  description:
    "Accepts a booking request from the venue's inbox: the booking is CONFIRMED and the guest's agent told. The venue's team.",
  input: (t) => ({ itemId: t.globalID({ for: VenueInboxItem }) }),
  payload: VenueInboxItemPayload,
  errors: decisionErrors,
  authScopes: (input, ctx) => itemTeam(input.itemId.id, ctx),
  resolve: (input, ctx) =>
    itemPayload(ctx, ctx.domain.network.acceptBookingRequest(ctx.access, { itemId: input.itemId.id })),
});

mutation('declineBookingRequest', {
  description:
    "Declines a booking request from the venue's inbox: the booking is DECLINED and the guest's agent told, with the times offered instead. The venue's team.",
  input: (t) => ({
    itemId: t.globalID({ for: VenueInboxItem }),
    reason: t.string({ required: false, description: 'Told to the guest, and kept with the item.' }),
    alternatives: t.field({
      type: ['DateTime'],
      required: false,
      description: `Up to ${MAX_ALTERNATIVES} other start times to offer: each in the future and free for the party.`,
    }),
  }),
  payload: VenueInboxItemPayload,
  errors: decisionErrors,
  authScopes: (input, ctx) => itemTeam(input.itemId.id, ctx),
  resolve: (input, ctx) =>
    itemPayload(
      ctx,
      ctx.domain.network.declineBookingRequest(ctx.access, {
        itemId: input.itemId.id,
        reason: input.reason ?? null,
        alternatives: input.alternatives ?? [],
      }),
    ),
});

mutation('answerVenueQuestion', {
  description:
    "Answers a guest's question from the venue's inbox; the guest's agent is told. The venue's team.",
  input: (t) => ({
    itemId: t.globalID({ for: VenueInboxItem }),
    answer: t.string({ description: 'Plain text, up to 2000 characters.' }),
    forEveryGuest: t.boolean({
      required: false,
      defaultValue: false,
      description:
        "The answer holds for any guest who asks the same: the venue's agent learns it and answers the next guest itself. Leave false for an answer that names this guest, their table or their date.",
    }),
  }),
  payload: VenueInboxItemPayload,
  errors: decisionErrors,
  authScopes: (input, ctx) => itemTeam(input.itemId.id, ctx),
  resolve: (input, ctx) =>
    itemPayload(
      ctx,
      ctx.domain.network.answerVenueQuestion(ctx.access, {
        itemId: input.itemId.id,
        answer: input.answer,
        forEveryGuest: input.forEveryGuest ?? false,
      }),
    ),
});

// --- live updates ---

/** The events of `events` that `keep` accepts; hanging up hangs up the source. */
function filtered(
  events: AsyncIterableIterator<unknown>,
  keep: (event: InboxEventPayload) => boolean,
): AsyncIterableIterator<unknown> {
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      for (;;) {
        const event = await events.next();
        if (event.done || keep(event.value as InboxEventPayload)) return event;
      }
    },
    async return() {
      await events.return?.();
      return { done: true as const, value: undefined };
    },
  };
}

/** The venue's inbox events while the subscriber is still on its team (re-checked as bookings' are). */
function venueInboxEvents(ctx: Context, venueId: string, keep: (event: InboxEventPayload) => boolean) {
  return venueEvents(ctx, venueId, filtered(ctx.services.pubsub.subscribe(inboxTopic(venueId)), keep));
}

/** The item an event is about, or FORBIDDEN once the subscriber lost the right to read it. */
function loadEventItem(query: object, payload: unknown, ctx: Context) {
  if (payload === REVOKED) throw new NotAllowedError();
  return ctx.domain.network.findInboxItemOrThrow((payload as InboxEventPayload).itemId, query);
}

builder.subscriptionField('venueInboxItemAdded', (t) =>
  t.prismaField({
    type: VenueInboxItem,
    description: "Each new item in the venue's inbox, as the agent opens it. The venue's team.",
    args: { venueId: t.arg.globalID({ for: Venue, required: true }) },
    authScopes: (_root, args) => ({ venueRole: { venueId: args.venueId.id, roles: ANY_ROLE } }),
    subscribe: (_root, args, ctx) => venueInboxEvents(ctx, args.venueId.id, (e) => e.change !== 'resolved'),
    resolve: (query, payload, _args, ctx) => loadEventItem(query, payload, ctx),
  }),
);

builder.subscriptionField('venueInboxItemChanged', (t) =>
  t.prismaField({
    type: VenueInboxItem,
    description:
      "Every item of the venue's inbox as it is opened, decided or closed, so every dashboard of the team stays in step. The venue's team.",
    args: { venueId: t.arg.globalID({ for: Venue, required: true }) },
    authScopes: (_root, args) => ({ venueRole: { venueId: args.venueId.id, roles: ANY_ROLE } }),
    subscribe: (_root, args, ctx) => venueInboxEvents(ctx, args.venueId.id, () => true),
    resolve: (query, payload, _args, ctx) => loadEventItem(query, payload, ctx),
  }),
);
