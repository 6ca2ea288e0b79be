/**
 * Deliveries Lalamove has not confirmed, for platform admins: what waits, with the quotation to
 * look for in Lalamove's dashboard, and what they found there. The rules live in
 * src/domain/delivery/settle.ts.
 */
import { resolveCursorConnection } from '@pothos/plugin-relay';
import {
  type UnplacedDelivery as UnplacedDeliveryRecord,
  unplacedCursor,
} from '../../domain/delivery/settle.ts';
import { builder } from '../builder.ts';
import { describedEnum } from './enums.ts';
import { mutation } from './mutation.ts';

const UnplacedDeliveryStatus = describedEnum('UnplacedDeliveryStatus', {
  PLACING:
    'The process stopped between claiming the quote and asking Lalamove: Lalamove may or may not have been asked.',
  PLACEMENT_UNKNOWN: 'Lalamove did not answer the placement: it may have booked the order.',
});

export const UnplacedDelivery = builder.node(builder.objectRef<UnplacedDeliveryRecord>('UnplacedDelivery'), {
  description:
    'A delivery a person confirmed whose booking Lalamove has not confirmed: its webhook settles it, or an operator does (`settleDeliveryOrder`). The person’s confirmation is spent meanwhile. Platform admins.',
  authScopes: { platformAdmin: true },
  id: { resolve: (order) => order.id },
  loadMany: async (ids, ctx) =>
    ctx.access.isPlatformAdmin ? ctx.domain.delivery.unplacedDeliveriesById(ids) : [],
  fields: (t) => ({
    status: t.field({ type: UnplacedDeliveryStatus, resolve: (order) => order.status }),
    lalamoveQuotationId: t.exposeString('quotationId', {
      description: 'The quotation it was to be booked from: look for an order of it in Lalamove’s dashboard.',
    }),
    priceTotal: t.exposeString('priceTotal', { description: 'The price the person confirmed.' }),
    currency: t.exposeString('currency'),
    createdAt: t.expose('createdAt', {
      type: 'DateTime',
      description: 'When the person’s order was claimed.',
    }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.queryField('unplacedDeliveries', (t) =>
  t.connection({
    type: UnplacedDelivery,
    description: 'Platform admins: deliveries whose booking Lalamove has not confirmed, oldest first.',
    authScopes: { platformAdmin: true },
    resolve: (_root, args, ctx) =>
      resolveCursorConnection<Promise<UnplacedDeliveryRecord[]>>(
        { args, toCursor: unplacedCursor, defaultSize: 20, maxSize: 100 },
        (page) => ctx.domain.delivery.unplacedDeliveries(page),
      ),
  }),
);

mutation('settleDeliveryOrder', {
  description:
    'Platform admins: records what Lalamove’s dashboard says of an unplaced delivery (five minutes after it was ordered at the earliest). With `lalamoveOrderId`: that order, booked from the delivery’s quotation, becomes the delivery’s, in the state Lalamove reports. With `notBooked`: the delivery is NOT_PLACED, which the person sees (they ask for a new quote); should Lalamove report an order of its quotation within a week after all, it is adopted and an error logged.',
  input: (t) => ({
    deliveryId: t.globalID({ for: UnplacedDelivery }),
    lalamoveOrderId: t.string({ required: false, description: 'Lalamove’s order id.' }),
    notBooked: t.boolean({ required: false, description: 'Lalamove booked nothing for the quotation.' }),
  }),
  payload: builder.simpleObject('SettleDeliveryOrderPayload', {
    fields: (t) => ({
      deliveryId: t.id({
        description: 'Our id of the delivery order (as the person’s delivery tools name it).',
      }),
      status: t.string({
        description:
          'Where the delivery stands now: Lalamove’s status (ASSIGNING_DRIVER, ON_GOING, …), or NOT_PLACED.',
      }),
    }),
  }),
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => {
    const settled = await ctx.domain.delivery.settleDeliveryOrder({
      orderId: input.deliveryId.id,
      lalamoveOrderId: input.lalamoveOrderId,
      notBooked: input.notBooked,
    });
    return { deliveryId: input.deliveryId.id, status: settled.status };
  },
});
