import { encodeGlobalID } from '@pothos/plugin-relay';
import { MANAGERS } from '../../domain/organizations/access.ts';
import { builder } from '../builder.ts';
import { idCursors } from '../cursors.ts';
import { mutation, payloadType } from './mutation.ts';
import { Organization } from './organization.ts';

const managers = (organizationId: string) => ({ orgRole: { organizationId, roles: MANAGERS } });

/** Who may call a mutation about an existing subscription or delivery: a person managing its organisation. */
const managersOf = (organizationId: string | null) =>
  organizationId ? { $all: { person: true, ...managers(organizationId) } } : { person: true };

export const WebhookEvent = builder.enumType('WebhookEvent', {
  description: 'What a webhook can be told of. The event type on the wire is the value in brackets.',
  values: {
    BOOKING_REQUESTED: {
      value: 'booking.requested',
      description: 'A guest asked for a table (booking.requested).',
    },
    BOOKING_CONFIRMED: {
      value: 'booking.confirmed',
      description: 'The venue confirmed (booking.confirmed).',
    },
    BOOKING_DECLINED: { value: 'booking.declined', description: 'The venue declined (booking.declined).' },
    BOOKING_CANCELLED: {
      value: 'booking.cancelled',
      description: 'The guest or the venue cancelled (booking.cancelled).',
    },
    BOOKING_COMPLETED: { value: 'booking.completed', description: 'The visit is over (booking.completed).' },
    BILLING_SUBSCRIPTION_UPDATED: {
      value: 'billing.subscription.updated',
      description:
        "The organisation's subscription changed status, plan or standing (billing.subscription.updated).",
    },
    BILLING_INVOICE_FINALIZED: {
      value: 'billing.invoice.finalized',
      description: 'A booking-fee invoice was finalised and is being collected (billing.invoice.finalized).',
    },
    BILLING_INVOICE_PAID: {
      value: 'billing.invoice.paid',
      description: 'A booking-fee invoice was paid (billing.invoice.paid).',
    },
    BILLING_FEE_ACCRUED: {
      value: 'billing.fee.accrued',
      description: "A booking's fee was accrued, or revised after its value changed (billing.fee.accrued).",
    },
    BILLING_FEE_WAIVED: {
      value: 'billing.fee.waived',
      description: "A booking's fee was waived (billing.fee.waived).",
    },
    BILLING_CREDITS_PURCHASED: {
      value: 'billing.credits.purchased',
      description: 'Credits bought through Stripe Checkout were granted (billing.credits.purchased).',
    },
  } as const,
});

const WebhookDeliveryStatus = builder.enumType('WebhookDeliveryStatus', {
  values: {
    PENDING: { description: 'Waiting to be sent, or to be retried.' },
    DELIVERED: { description: 'The receiver answered 2xx.' },
    FAILED: { description: 'Retried for the whole retry window (3 days) without success.' },
  } as const,
});

// Reached only through WebhookDelivery.attemptLog.
builder.prismaObject('WebhookAttempt', {
  description: 'One try at sending a delivery.',
  fields: (t) => ({
    attemptedAt: t.expose('attemptedAt', { type: 'DateTime' }),
    statusCode: t.exposeInt('statusCode', {
      nullable: true,
      description: "The receiver's HTTP status; null when none came.",
    }),
    durationMs: t.exposeInt('durationMs'),
    responseSnippet: t.exposeString('responseSnippet', {
      nullable: true,
      description: "The start of the receiver's answer (at most 1,000 characters).",
    }),
    error: t.exposeString('error', { nullable: true }),
  }),
});

export const WebhookDelivery = builder.prismaNode('WebhookDelivery', {
  id: { field: 'id' },
  description: 'One event for one webhook, and how sending it went.',
  select: { id: true, subscription: { select: { organizationId: true } } },
  authScopes: (delivery) => managers(delivery.subscription.organizationId),
  fields: (t) => ({
    messageId: t.exposeString('messageId', {
      description: 'The `webhook-id` header: the same on every attempt and resend.',
    }),
    eventType: t.exposeString('eventType', { description: 'booking.confirmed, …, or webhook.test.' }),
    body: t.string({
      description: 'The JSON body sent.',
      select: { payload: true },
      resolve: (delivery) => JSON.stringify(delivery.payload),
    }),
    status: t.expose('status', { type: WebhookDeliveryStatus }),
    attempts: t.exposeInt('attempts', { description: 'Attempts since it was queued or last resent.' }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    attemptLog: t.relation('attemptLog', {
      description: 'Every attempt, newest first (at most 50).',
      query: { orderBy: { attemptedAt: 'desc' }, take: 50 },
    }),
    subscription: t.relation('subscription'),
  }),
});

export const WebhookSubscription = builder.prismaNode('WebhookSubscription', {
  id: { field: 'id' },
  description:
    "An organisation's webhook: a URL told of the events it chose, signed the Standard Webhooks way.",
  // The sealed secrets never leave the database: only what the fields need is selected.
  select: { id: true, organizationId: true },
  authScopes: (subscription) => managers(subscription.organizationId),
  fields: (t) => ({
    url: t.exposeString('url'),
    events: t.field({
      type: [WebhookEvent],
      select: { events: true },
      resolve: (subscription) => subscription.events as never,
    }),
    description: t.exposeString('description'),
    enabled: t.exposeBoolean('enabled'),
    disabledAt: t.expose('disabledAt', { type: 'DateTime', nullable: true }),
    disabledReason: t.exposeString('disabledReason', { nullable: true }),
    failingSince: t.expose('failingSince', {
      type: 'DateTime',
      nullable: true,
      description:
        'The first failed attempt of the current run of failures (no success, no gap over 12 hours, same URL, since last enabled); null while it is healthy.',
    }),
    previousSecretExpiresAt: t.expose('previousSecretExpiresAt', {
      type: 'DateTime',
      nullable: true,
      description: 'After a rotation, until when the previous secret also signs.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    organization: t.relation('organization'),
    deliveries: t.relatedConnection('deliveries', {
      description: 'Deliveries, newest first.',
      cursor: 'id',
      query: (args) => idCursors(args, { orderBy: [{ sequence: 'desc' }] }),
      totalCount: true,
    }),
  }),
});

builder.prismaObjectField(Organization, 'webhookSubscriptions', (t) =>
  t.relatedConnection('webhookSubscriptions', {
    description: 'Webhooks, newest first. Owners and admins.',
    authScopes: (org) => managers(org.id),
    cursor: 'id',
    query: (args) => idCursors(args, { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] }),
    totalCount: true,
  }),
);

const SubscriptionWithSecret = builder.simpleObject('WebhookSubscriptionSecretPayload', {
  fields: (t) => ({
    subscription: t.field({ type: WebhookSubscription }),
    secret: t.string({
      description: 'The signing secret (whsec_…). It is shown this once and cannot be read again.',
    }),
  }),
});

mutation('createWebhookSubscription', {
  description: 'Subscribes a URL to events. Owners and admins, signed in as themselves.',
  input: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    url: t.string({ description: 'An https URL on the public internet.' }),
    events: t.field({ type: [WebhookEvent] }),
    description: t.string({ required: false }),
  }),
  payload: SubscriptionWithSecret,
  authScopes: (input) => ({ $all: { person: true, ...managers(input.organizationId.id) } }),
  resolve: (input, ctx) =>
    ctx.domain.webhooks.createWebhookSubscription(ctx.access, {
      organizationId: input.organizationId.id,
      url: input.url,
      events: input.events,
      description: input.description,
    }),
});

mutation('updateWebhookSubscription', {
  description:
    'Changes a webhook: its URL, events or description, or disables (deliveries wait) and enables it (they go, in order). Owners and admins.',
  input: (t) => ({
    subscriptionId: t.globalID({ for: WebhookSubscription }),
    url: t.string({ required: false }),
    events: t.field({ type: [WebhookEvent], required: false }),
    description: t.string({ required: false }),
    enabled: t.boolean({ required: false }),
  }),
  payload: payloadType('UpdateWebhookSubscriptionPayload', 'subscription', WebhookSubscription),
  authScopes: async (input, ctx) =>
    managersOf(await ctx.domain.webhooks.organizationOfWebhookSubscription(input.subscriptionId.id)),
  resolve: async (input, ctx) => ({
    subscription: await ctx.domain.webhooks.updateWebhookSubscription(ctx.access, {
      subscriptionId: input.subscriptionId.id,
      url: input.url,
      events: input.events,
      description: input.description,
      enabled: input.enabled,
    }),
  }),
});

mutation('deleteWebhookSubscription', {
  description: 'Deletes a webhook with its deliveries. Owners and admins.',
  input: (t) => ({ subscriptionId: t.globalID({ for: WebhookSubscription }) }),
  payload: builder.simpleObject('DeleteWebhookSubscriptionPayload', {
    fields: (t) => ({ deletedSubscriptionId: t.id() }),
  }),
  authScopes: async (input, ctx) =>
    managersOf(await ctx.domain.webhooks.organizationOfWebhookSubscription(input.subscriptionId.id)),
  resolve: async (input, ctx) => {
    const { deletedId } = await ctx.domain.webhooks.deleteWebhookSubscription(ctx.access, {
      subscriptionId: input.subscriptionId.id,
    });
    return { deletedSubscriptionId: encodeGlobalID('WebhookSubscription', deletedId) };
  },
});

mutation('rotateWebhookSecret', {
  description:
    'Gives a webhook a new signing secret. The previous one keeps signing beside it for 24 hours. Owners and admins.',
  input: (t) => ({ subscriptionId: t.globalID({ for: WebhookSubscription }) }),
  payload: SubscriptionWithSecret,
  authScopes: async (input, ctx) =>
    managersOf(await ctx.domain.webhooks.organizationOfWebhookSubscription(input.subscriptionId.id)),
  resolve: (input, ctx) =>
    ctx.domain.webhooks.rotateWebhookSecret(ctx.access, { subscriptionId: input.subscriptionId.id }),
});

mutation('sendTestWebhook', {
  description: 'Queues a webhook.test delivery to the webhook. Owners and admins.',
  input: (t) => ({ subscriptionId: t.globalID({ for: WebhookSubscription }) }),
  payload: payloadType('SendTestWebhookPayload', 'delivery', WebhookDelivery),
  authScopes: async (input, ctx) =>
    managersOf(await ctx.domain.webhooks.organizationOfWebhookSubscription(input.subscriptionId.id)),
  resolve: async (input, ctx) => ({
    delivery: await ctx.domain.webhooks.sendTestWebhook(ctx.access, {
      subscriptionId: input.subscriptionId.id,
    }),
  }),
});

mutation('resendWebhookDelivery', {
  description: 'Sends a delivered or failed delivery again, with the same webhook-id. Owners and admins.',
  input: (t) => ({ deliveryId: t.globalID({ for: WebhookDelivery }) }),
  payload: payloadType('ResendWebhookDeliveryPayload', 'delivery', WebhookDelivery),
  authScopes: async (input, ctx) =>
    managersOf(await ctx.domain.webhooks.organizationOfWebhookDelivery(input.deliveryId.id)),
  resolve: async (input, ctx) => ({
    delivery: await ctx.domain.webhooks.resendWebhookDelivery(ctx.access, {
      deliveryId: input.deliveryId.id,
    }),
  }),
});
