/**
 * `quote_delivery`, `confirm_delivery` and `get_delivery_status` (Lalamove).
 *
 * Safety rule 1 lives in src/domain/delivery: an order is placed only for a quote whose
 * single-use confirmation the person released with their own message. Here, the quote's Confirm
 * button and its typed code are put on the reply by code (`replyButtons`, `replyNotes`), so the
 * model never handles the token and cannot misstate the price the button books.
 *
 * For people only. A quote is confirmed by the person's own press or message in their chat, which
 * an API key has not got, and an order spends the person's money with a courier.
 */
import { z } from 'zod';
import { confirmButtonPayload } from '../delivery/confirmation.ts';
import type { DeliveryDeps } from '../delivery/deps.ts';
import { confirmDelivery, type DeliveryView, deliveryStatus } from '../delivery/order.ts';
import { confirmationNote, deliveryQuoteInput, quoteDelivery } from '../delivery/quote.ts';
import { type ChatCaller, defineTool, onReply, requireReplyRoom } from './contract.ts';

const quoteId = z.uuid('A quote id as returned by quote_delivery');

/** A delivery as the tools return it (DeliveryView, its instant as an ISO string). */
const deliveryOutput = z.object({
  quoteId: z.uuid(),
  orderId: z.uuid().nullable().describe('Null while the quote is not booked'),
  status: z
    .string()
    .describe(
      'AWAITING_CONFIRMATION, CONFIRMED or QUOTE_EXPIRED before booking; then PLACING, PLACEMENT_UNKNOWN, NOT_PLACED (never booked: get a new quote) or Lalamove’s own (ASSIGNING_DRIVER, ON_GOING, PICKED_UP, COMPLETED, CANCELED, REJECTED, EXPIRED)',
    ),
  priceTotal: z.string(),
  currency: z.string(),
  pickup: z.object({ address: z.string() }),
  dropoff: z.object({ address: z.string() }),
  shareLink: z.string().nullable().describe('Lalamove’s live tracking page'),
  driver: z
    .object({
      driverId: z.string(),
      name: z.string().nullable(),
      phone: z.string().nullable(),
      plateNumber: z.string().nullable(),
    })
    .nullable(),
  updatedAt: z.string(),
});

// What the model reads is the same JSON either way: a Date is written as its ISO string.
const deliveryAnswer = (view: DeliveryView): z.input<typeof deliveryOutput> => ({
  ...view,
  updatedAt: view.updatedAt.toISOString(),
});

export function deliveryTools(deps: DeliveryDeps) {
  const quote = defineTool({
    name: 'quote_delivery',
    description:
      'Get a Lalamove price to deliver something from a pickup to a drop-off (addresses with coordinates and a contact name and phone at each). The person is shown the price with a Confirm button and a code; nothing is booked until they confirm.',
    sideEffect: 'READ',
    callers: { person: true },
    input: deliveryQuoteInput,
    output: z.object({
      quoteId: z.uuid(),
      price: z.string().describe('Amount and currency'),
      serviceType: z.string(),
      expiresAt: z.string(),
      note: z.string(),
    }),
    async run(input, context: ChatCaller) {
      // Its Confirm and note go on the reply with any held actions': refused, before a quote is
      // made, when the reply has no room to show them whole. The note is the two stops as given
      // and a few fixed words (price, service, code: fewer than 200 characters). Checked and added
      // on the reply alone (onReply): the calls of one model step run at once.
      const quoted = await onReply(context, async () => {
        requireReplyRoom(
          context,
          [input.pickup, input.dropoff]
            .map((stop) => `${stop.address} (${stop.contact.name}, ${stop.contact.phone})`)
            .join('\n')
            .concat('x'.repeat(200)),
        );
        const made = await quoteDelivery(deps, context.userId, input);
        context.replyButtons.push({
          id: confirmButtonPayload(made.confirmation.token),
          title: `Confirm ${made.quote.priceTotal} ${made.quote.currency}`.slice(0, 20),
        });
        context.replyNotes.push(confirmationNote(made, context.now()));
        return made;
      });
      const { quote: view } = quoted;
      return {
        quoteId: view.id,
        price: `${view.priceTotal} ${view.currency}`,
        serviceType: view.serviceType,
        expiresAt: view.expiresAt.toISOString(),
        note: 'The price, a Confirm button and a confirmation code are added to your reply automatically. Tell the person to confirm if they want it; do not call confirm_delivery until they have.',
      };
    },
  });

  const confirm = defineTool({
    name: 'confirm_delivery',
    description:
      'Book a quoted delivery, only after the person themselves confirmed that quote (pressed Confirm or sent the code). Refused otherwise.',
    sideEffect: 'MONEY',
    callers: { person: true },
    // It carries its own confirmation of the person (safety rule 1): no second one is asked for.
    whenTainted: 'self',
    // Longer than the Lalamove client's own timeout (10 s): the order is placed once, and the
    // model must hear how it went rather than a timeout while it is still being placed.
    timeoutMs: 20_000,
    input: z.object({ quote_id: quoteId }),
    output: deliveryOutput,
    async run(input, context) {
      return deliveryAnswer(await confirmDelivery(deps, context.userId, { quoteId: input.quote_id }));
    },
  });

  const status = defineTool({
    name: 'get_delivery_status',
    description:
      'Where a delivery stands (by its quote or order id): booked, driver, live tracking link. The person is told unasked when a driver takes it (or a new one takes over), when it is picked up, and when it arrives or ends.',
    sideEffect: 'READ',
    callers: { person: true },
    // The driver's details come from Lalamove, not from us.
    untrustedResult: true,
    input: z.object({ quote_id: quoteId.optional(), order_id: z.uuid().optional() }),
    output: deliveryOutput,
    async run(input, context) {
      return deliveryAnswer(
        await deliveryStatus(deps, context.userId, { quoteId: input.quote_id, orderId: input.order_id }),
      );
    },
  });

  return [quote, confirm, status];
}
