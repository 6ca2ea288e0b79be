/**
 * Quoting a delivery: Lalamove prices the trip, the quote is stored with everything the order will
 * need (stops, contacts, remarks), and its confirmation is minted in the same transaction. What
 * the person confirms is therefore exactly what will be booked: confirm_delivery takes only the
 * quote's id and adds nothing of its own.
 */
import { z } from 'zod';
import type { Prisma } from '../../generated/prisma/client.ts';
import { LalamoveError } from '../../integrations/lalamove/client.ts';
import { ValidationError } from '../../platform/errors.ts';
import { parseInput } from '../validation.ts';
import { mintConfirmation } from './confirmation.ts';
import { type DeliveryDeps, requireLalamove } from './deps.ts';
import { DeliveryError } from './errors.ts';

/** How far ahead Lalamove takes a scheduled delivery. */
const MAX_SCHEDULE_DAYS = 30;
/** Lalamove honours a quotation for five minutes; used when its stated expiry cannot be read. */
const FALLBACK_QUOTE_MS = 5 * 60_000;

const contact = z.object({
  name: z.string().trim().min(1, 'A name is required').max(100).describe('Who hands over or receives it'),
  phone: z
    .string()
    .trim()
    .regex(/^\+[1-9]\d{6,14}$/, 'A phone number in international form, such as +85212345678')
    .describe('Their phone number, with the country code (the driver calls it)'),
});

const place = z.object({
  address: z.string().trim().min(3, 'An address is required').max(300).describe('The street address'),
  latitude: z.number().min(-90).max(90),
  longitude: z.number().min(-180).max(180),
  contact,
});

export const deliveryQuoteInput = z.object({
  pickup: place.describe('Where the driver collects the item'),
  dropoff: place
    .extend({
      remarks: z.string().trim().max(500).optional().describe('Notes for the driver at the drop-off'),
    })
    .describe('Where the driver delivers it'),
  serviceType: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]{1,39}$/, 'A Lalamove service type such as MOTORCYCLE, CAR or VAN')
    .default('MOTORCYCLE')
    .describe('The vehicle: MOTORCYCLE (default), CAR, VAN, … as the market offers'),
  scheduleAt: z.iso
    .datetime({ offset: true, error: 'A date and time with its offset, such as 2026-12-24T18:00:00+08:00' })
    .optional()
    .describe('When to pick up; leave out for as soon as possible'),
  item: z
    .object({
      quantity: z
        .string()
        .regex(/^\d{1,4}$/)
        .optional(),
      weight: z
        .string()
        .regex(/^[A-Z0-9_]{1,40}$/)
        .optional()
        .describe('LESS_THAN_3_KG, …'),
      categories: z
        .array(z.string().regex(/^[A-Z0-9_]{1,40}$/))
        .max(10)
        .optional(),
      handlingInstructions: z
        .array(z.string().regex(/^[A-Z0-9_]{1,40}$/))
        .max(10)
        .optional(),
    })
    .optional(),
});

export type DeliveryQuoteInput = z.input<typeof deliveryQuoteInput>;

/** A quote's stops as stored (`delivery_quotes.stops`): pickup first. */
export const storedStops = z
  .array(
    z.object({
      stopId: z.string(),
      coordinates: z.object({ lat: z.string(), lng: z.string() }),
      address: z.string(),
      contact: z.object({ name: z.string(), phone: z.string() }),
      remarks: z.string().optional(),
    }),
  )
  .min(2);

export interface QuoteView {
  id: string;
  priceTotal: string;
  currency: string;
  expiresAt: Date;
  serviceType: string;
  pickup: { address: string; contact: { name: string; phone: string } };
  dropoff: { address: string; contact: { name: string; phone: string }; remarks: string | null };
  scheduleAt: string | null;
}

export interface QuotedDelivery {
  quote: QuoteView;
  /**
   * `token` goes only into the Confirm button (`confirmButtonPayload(token)`); `code` is shown to
   * the person by code, not by the model (`confirmationNote`).
   */
  confirmation: { token: string; code: string; expiresAt: Date };
}

/** Asks Lalamove for a price, stores the quote and mints the person's confirmation for it. */
export async function quoteDelivery(
  deps: DeliveryDeps,
  userId: string,
  input: DeliveryQuoteInput,
): Promise<QuotedDelivery> {
  const { pickup, dropoff, serviceType, scheduleAt, item } = parseInput(deliveryQuoteInput, input);
  const client = requireLalamove(deps);
  const now = deps.now();
  if (scheduleAt) {
    const at = Date.parse(scheduleAt);
    if (at <= now.getTime()) throw new ValidationError('The pickup time is in the past', 'scheduleAt');
    if (at > now.getTime() + MAX_SCHEDULE_DAYS * 86_400_000) {
      throw new ValidationError(
        `Deliveries can be scheduled up to ${MAX_SCHEDULE_DAYS} days ahead`,
        'scheduleAt',
      );
    }
  }

  const coordinates = (p: { latitude: number; longitude: number }) => ({
    lat: String(p.latitude),
    lng: String(p.longitude),
  });
  let quotation: Awaited<ReturnType<typeof client.quote>>;
  try {
    quotation = await client.quote({
      serviceType,
      stops: [
        { coordinates: coordinates(pickup), address: pickup.address },
        { coordinates: coordinates(dropoff), address: dropoff.address },
      ],
      ...(scheduleAt ? { scheduleAt: new Date(scheduleAt).toISOString() } : {}),
      ...(item ? { item } : {}),
    });
  } catch (error) {
    throw lalamoveFailure(error, 'quote');
  }

  const [from, to] = quotation.stops as [(typeof quotation.stops)[0], (typeof quotation.stops)[0]];
  const stated = Date.parse(quotation.expiresAt);
  const quoteExpiresAt = new Date(Number.isNaN(stated) ? now.getTime() + FALLBACK_QUOTE_MS : stated);
  if (quoteExpiresAt <= now) {
    throw new DeliveryError('UNAVAILABLE', 'Lalamove gave a price that has already expired; ask again.');
  }
  const confirmBy = new Date(
    Math.min(now.getTime() + deps.confirmMinutes * 60_000, quoteExpiresAt.getTime()),
  );
  const stops: z.output<typeof storedStops> = [
    {
      stopId: from.stopId,
      coordinates: coordinates(pickup),
      address: pickup.address,
      contact: pickup.contact,
    },
    {
      stopId: to.stopId,
      coordinates: coordinates(dropoff),
      address: dropoff.address,
      contact: dropoff.contact,
      ...(dropoff.remarks ? { remarks: dropoff.remarks } : {}),
    },
  ];
  const priceTotal = quotation.priceBreakdown.total;
  const currency = quotation.priceBreakdown.currency;

  return deps.db.$transaction(async (tx) => {
    const quote = await tx.deliveryQuote.create({
      data: {
        userId,
        externalQuotationId: quotation.quotationId,
        serviceType: quotation.serviceType || serviceType,
        stops: stops as Prisma.InputJsonValue,
        priceTotal,
        currency,
        expiresAt: quoteExpiresAt,
        createdAt: now,
      },
    });
    const confirmation = await mintConfirmation(tx, {
      userId,
      quoteId: quote.id,
      priceTotal,
      currency,
      expiresAt: confirmBy,
      now,
    });
    return {
      quote: {
        id: quote.id,
        priceTotal,
        currency,
        expiresAt: quote.expiresAt,
        serviceType: quote.serviceType,
        pickup: { address: pickup.address, contact: pickup.contact },
        dropoff: { address: dropoff.address, contact: dropoff.contact, remarks: dropoff.remarks ?? null },
        scheduleAt: scheduleAt ?? null,
      },
      confirmation,
    };
  });
}

/**
 * What the person is confirming, in the words of the code rather than the model's: the reply that
 * carries the Confirm button should end with this, so the price and places the button books are
 * the ones the person read.
 */
export function confirmationNote({ quote, confirmation }: QuotedDelivery, now: Date): string {
  const minutes = Math.max(1, Math.floor((confirmation.expiresAt.getTime() - now.getTime()) / 60_000));
  const when = quote.scheduleAt ? `, pickup at ${quote.scheduleAt}` : '';
  return [
    `Delivery by ${quote.serviceType.toLowerCase()}: ${quote.priceTotal} ${quote.currency}${when}.`,
    `From: ${quote.pickup.address} (${quote.pickup.contact.name}, ${quote.pickup.contact.phone})`,
    `To: ${quote.dropoff.address} (${quote.dropoff.contact.name}, ${quote.dropoff.contact.phone})`,
    `To book it, press Confirm or send: CONFIRM ${confirmation.code} (within ${minutes} min).`,
  ].join('\n');
}

/** A Lalamove failure as something the person can be told. */
export function lalamoveFailure(error: unknown, doing: string): Error {
  if (!(error instanceof LalamoveError)) return error as Error;
  if (error.refused && error.status !== 401 && error.status !== 403 && error.status !== 429) {
    return new DeliveryError(
      'LALAMOVE_REFUSED',
      `Lalamove would not ${doing} this delivery: ${error.reason ?? 'it gave no reason'}${
        error.errorId ? ` (${error.errorId})` : ''
      }`,
    );
  }
  return new DeliveryError('UNAVAILABLE', `Lalamove is not answering right now, so I could not ${doing} it.`);
}
