/**
 * Safety rule 1: no Lalamove delivery is booked without the person's explicit confirmation of
 * that quote. The happy paths, then every way around the rule we could think of, each refused
 * with its reason and with no order reaching Lalamove (the fake counts them).
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirmationCode, releaseConfirmation } from '../../src/domain/confirmations/confirmations.ts';
import { CONFIRM_BUTTON_PREFIX, confirmButtonPayload } from '../../src/domain/delivery/confirmation.ts';
import { cancelDelivery, confirmDelivery, deliveryStatus } from '../../src/domain/delivery/order.ts';
import { confirmationNote, quoteDelivery } from '../../src/domain/delivery/quote.ts';
import { ValidationError } from '../../src/platform/errors.ts';
import { type FakeLalamove, startFakeLalamove } from '../fakes/lalamove.ts';
import { createTestDatabase, type TestDatabase, waitingForLock } from '../helpers/db.ts';
import { API_KEY, API_SECRET, createPerson, deliveryDeps, quoteRequest, refused } from './support.ts';

let database: TestDatabase;
let fake: FakeLalamove;

beforeAll(async () => {
  database = await createTestDatabase();
  fake = await startFakeLalamove({ apiKey: API_KEY, apiSecret: API_SECRET });
});
afterAll(async () => {
  await fake.close();
  await database.drop();
});

const SECOND = 1000;
const ordersPlaced = () => fake.requests.filter((r) => r.method === 'POST' && r.path === '/v3/orders').length;

/** A person with a fresh quote, and what they can do with their own messages. */
async function quoted(options: { confirmMinutes?: number } = {}) {
  const { deps, advance } = deliveryDeps(database.prisma, fake.url, options.confirmMinutes);
  const userId = await createPerson(database.prisma);
  const result = await quoteDelivery(deps, userId, quoteRequest());
  // The person reads the quote before answering.
  advance(2 * SECOND);
  const say = (
    who: string,
    message: { buttonPayload?: string | null; text?: string | null; receivedAt?: Date; eventId?: string },
  ) =>
    releaseConfirmation(
      database.prisma,
      who,
      {
        buttonPayload: message.buttonPayload ?? null,
        text: message.text ?? null,
        receivedAt: message.receivedAt,
        eventId: message.eventId,
      },
      deps.now(),
    );
  return { deps, advance, userId, ...result, say };
}

describe('confirming a quote', () => {
  it('quotes, is confirmed with the button, and books exactly one order', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    expect(quote).toMatchObject({ priceTotal: '140', currency: 'HKD', serviceType: 'MOTORCYCLE' });
    expect(confirmation.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(confirmation.code).toMatch(/^\d{6}$/);
    expect(confirmButtonPayload(confirmation.token).length).toBeLessThanOrEqual(64);
    expect(confirmation.expiresAt.getTime()).toBeLessThanOrEqual(quote.expiresAt.getTime());
    // What the person reads next to the button is written by code, from the stored quote.
    const note = confirmationNote({ quote, confirmation }, deps.now());
    expect(note).toContain('140 HKD');
    expect(note).toContain('From: Innocentre, 72 Tat Chee Ave, Kowloon Tong (Michal, +85238485765)');
    expect(note).toContain('To: Canton Rd, Tsim Sha Tsui (Katrina, +85238485764)');
    expect(note).toContain(`CONFIRM ${confirmation.code}`);
    expect(note).not.toContain(confirmation.token);

    // Only the token's hash is stored.
    const stored = await database.prisma.confirmation.findFirstOrThrow({
      where: { quoteId: quote.id },
    });
    expect(stored.tokenHash).toBe(createHash('sha256').update(confirmation.token).digest('hex'));
    expect(JSON.stringify(stored)).not.toContain(confirmation.token);
    expect(stored).toMatchObject({
      userId,
      priceTotal: '140',
      currency: 'HKD',
      confirmedAt: null,
      usedAt: null,
    });

    const before = ordersPlaced();
    expect(await say(userId, { buttonPayload: confirmButtonPayload(confirmation.token) })).toEqual({
      quoteId: quote.id,
    });
    const order = await confirmDelivery(deps, userId, { quoteId: quote.id });
    expect(ordersPlaced()).toBe(before + 1);

    expect(order).toMatchObject({ quoteId: quote.id, status: 'ASSIGNING_DRIVER', priceTotal: '140' });
    expect(order.shareLink).toMatch(/^https:\/\/share\.sandbox\.lalamove\.com/);
    const row = await database.prisma.deliveryOrder.findUniqueOrThrow({ where: { id: order.orderId! } });
    const atLalamove = fake.orders.get(row.externalOrderId)!;
    expect(fake.quotes.has(atLalamove.quotationId)).toBe(true);
    expect(atLalamove.stops.map((s) => [s.name, s.phone])).toEqual([
      ['Michal', '+85238485765'],
      ['Katrina', '+85238485764'],
    ]);
    expect(atLalamove.stops[1]!.remarks).toBe('Ring twice');
    expect(fake.requests.every((r) => r.authorized)).toBe(true);
    const used = await database.prisma.confirmation.findUniqueOrThrow({ where: { id: stored.id } });
    expect(used.confirmedAt).not.toBeNull();
    expect(used.usedAt).not.toBeNull();
  });

  it('accepts the typed code, in any case, with spaces around it', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    expect(await say(userId, { text: `  Confirm   ${confirmation.code}\n` })).toEqual({ quoteId: quote.id });
    const before = ordersPlaced();
    await confirmDelivery(deps, userId, { quoteId: quote.id });
    expect(ordersPlaced()).toBe(before + 1);
  });

  it('a code releases only its own quote; a wrong code releases none', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    const second = await quoteDelivery(deps, userId, quoteRequest());
    expect(second.confirmation.code).not.toBe(confirmation.code);
    const wrong = String((Number(confirmation.code) + 1) % 1_000_000).padStart(6, '0');
    const unused =
      wrong === second.confirmation.code ? String((Number(wrong) + 1) % 1_000_000).padStart(6, '0') : wrong;
    expect(await say(userId, { text: `CONFIRM ${unused}` })).toBeNull();

    expect(await say(userId, { text: `CONFIRM ${second.confirmation.code}` })).toEqual({
      quoteId: second.quote.id,
    });
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'NOT_CONFIRMED');
    expect(await say(userId, { text: `CONFIRM ${confirmation.code}` })).toEqual({ quoteId: quote.id });
  });

  it('a code shared by two live confirmations (never minted so, but possible) releases neither', async () => {
    const { deps, userId, quote, say } = await quoted();
    const other = await quoteDelivery(deps, userId, quoteRequest());
    // Two token hashes with the same code, found by the birthday bound.
    const seen = new Map<string, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; !pair; i++) {
      const hash = createHash('sha256').update(`collide-${i}`).digest('hex');
      const code = confirmationCode(hash);
      const earlier = seen.get(code);
      if (earlier) pair = [earlier, hash];
      else seen.set(code, hash);
    }
    await database.prisma.confirmation.updateMany({
      where: { quoteId: quote.id },
      data: { tokenHash: pair[0] },
    });
    await database.prisma.confirmation.updateMany({
      where: { quoteId: other.quote.id },
      data: { tokenHash: pair[1] },
    });
    expect(await say(userId, { text: `CONFIRM ${confirmationCode(pair[0])}` })).toBeNull();
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'NOT_CONFIRMED');
    await refused(confirmDelivery(deps, userId, { quoteId: other.quote.id }), 'NOT_CONFIRMED');
  });

  it('shows where a quote stands before it is booked, and the order after', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    expect((await deliveryStatus(deps, userId, { quoteId: quote.id })).status).toBe('AWAITING_CONFIRMATION');
    await say(userId, { text: `CONFIRM ${confirmation.code}` });
    expect((await deliveryStatus(deps, userId, { quoteId: quote.id })).status).toBe('CONFIRMED');
    const order = await confirmDelivery(deps, userId, { quoteId: quote.id });

    const row = await database.prisma.deliveryOrder.findUniqueOrThrow({ where: { id: order.orderId! } });
    fake.setStatus(row.externalOrderId, 'ON_GOING');
    const status = await deliveryStatus(deps, userId, { orderId: order.orderId });
    expect(status).toMatchObject({
      status: 'ON_GOING',
      driver: { name: 'Chan Tai Man', plateNumber: 'AB 1234' },
    });
    expect((await deliveryStatus(deps, userId, {})).orderId).toBe(order.orderId);

    const stranger = await createPerson(database.prisma);
    await refused(deliveryStatus(deps, stranger, { orderId: order.orderId }), 'NOT_YOURS');
    await refused(deliveryStatus(deps, stranger, { quoteId: quote.id }), 'NOT_YOURS');
    await refused(deliveryStatus(deps, stranger, {}), 'NO_ORDER');
  });

  it('never takes an order back from a final status a webhook stored while its status was being asked', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    await say(userId, { buttonPayload: confirmButtonPayload(confirmation.token) });
    const order = await confirmDelivery(deps, userId, { quoteId: quote.id });
    const row = await database.prisma.deliveryOrder.findUniqueOrThrow({ where: { id: order.orderId! } });
    await database.prisma.deliveryOrder.update({ where: { id: row.id }, data: { status: 'PICKED_UP' } });
    fake.setStatus(row.externalOrderId, 'PICKED_UP');
    // The completion's webhook is being written (its row held) as the person asks where it is.
    const webhook = await database.pool.connect();
    try {
      await webhook.query('BEGIN');
      await webhook.query('SELECT id FROM delivery_orders WHERE id = $1 FOR UPDATE', [row.id]);
      await webhook.query(`UPDATE delivery_orders SET status = 'COMPLETED' WHERE id = $1`, [row.id]);
      const asked = deliveryStatus(deps, userId, { orderId: order.orderId });
      await waitingForLock(database.prisma, 'delivery_orders');
      await webhook.query('COMMIT');
      await asked;
    } finally {
      webhook.release();
    }
    expect(await database.prisma.deliveryOrder.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
      status: 'COMPLETED',
    });
  });

  it('cancels a booked delivery once', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    await say(userId, { buttonPayload: confirmButtonPayload(confirmation.token) });
    const order = await confirmDelivery(deps, userId, { quoteId: quote.id });
    const stranger = await createPerson(database.prisma);
    await refused(cancelDelivery(deps, stranger, { orderId: order.orderId }), 'NOT_YOURS');

    const cancelled = await cancelDelivery(deps, userId, { orderId: order.orderId });
    expect(cancelled.status).toBe('CANCELED');
    const row = await database.prisma.deliveryOrder.findUniqueOrThrow({ where: { id: order.orderId! } });
    expect(fake.orders.get(row.externalOrderId)!.status).toBe('CANCELED');
    await refused(cancelDelivery(deps, userId, { orderId: order.orderId }), 'NOT_CANCELLABLE');
  });

  it('asks for the contacts the driver needs before quoting', async () => {
    const { deps } = deliveryDeps(database.prisma, fake.url);
    const userId = await createPerson(database.prisma);
    const { contact: _, ...noContact } = quoteRequest().dropoff as { contact: unknown };
    const before = fake.quotes.size;
    const error = await quoteDelivery(deps, userId, quoteRequest({ dropoff: noContact as never })).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.field).toBe('dropoff.contact');
    const badPhone = quoteRequest();
    badPhone.pickup.contact.phone = '3848 5765';
    await expect(quoteDelivery(deps, userId, badPhone)).rejects.toThrow(/international form/);
    expect(fake.quotes.size).toBe(before);
  });

  it('says delivery is unavailable when Lalamove is not connected', async () => {
    const { deps } = deliveryDeps(database.prisma, null);
    const userId = await createPerson(database.prisma);
    await refused(quoteDelivery(deps, userId, quoteRequest()), 'UNAVAILABLE');
  });
});

describe('every way around the rule is refused, and nothing reaches Lalamove', () => {
  it('no quote', async () => {
    const { deps, userId } = await quoted();
    const before = ordersPlaced();
    await refused(confirmDelivery(deps, userId, { quoteId: crypto.randomUUID() }), 'NO_QUOTE');
    await refused(confirmDelivery(deps, userId, { quoteId: 'the-one-from-before' }), 'NO_QUOTE');
    await refused(
      confirmDelivery(deps, userId, { quoteId: "'; DROP TABLE delivery_orders; --" }),
      'NO_QUOTE',
    );
    expect(ordersPlaced()).toBe(before);
  });

  it("another person's quote, even once its owner confirmed it", async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    const stranger = await createPerson(database.prisma);
    const before = ordersPlaced();
    await refused(confirmDelivery(deps, stranger, { quoteId: quote.id }), 'NOT_YOURS');
    await say(userId, { buttonPayload: confirmButtonPayload(confirmation.token) });
    await refused(confirmDelivery(deps, stranger, { quoteId: quote.id }), 'NOT_YOURS');
    expect(ordersPlaced()).toBe(before);
  });

  it("another person's button or code does not release anything", async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    const stranger = await createPerson(database.prisma);
    const before = ordersPlaced();
    // The stranger saw the button or the code (a shared group, a forwarded screenshot).
    expect(await say(stranger, { buttonPayload: confirmButtonPayload(confirmation.token) })).toBeNull();
    expect(await say(stranger, { text: `CONFIRM ${confirmation.code}` })).toBeNull();
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'NOT_CONFIRMED');
    // And the stranger's own quote is not confirmed by the owner's code.
    const theirs = await quoteDelivery(deps, stranger, quoteRequest());
    expect(await say(userId, { buttonPayload: confirmButtonPayload(theirs.confirmation.token) })).toBeNull();
    await refused(confirmDelivery(deps, stranger, { quoteId: theirs.quote.id }), 'NOT_CONFIRMED');
    expect(ordersPlaced()).toBe(before);
  });

  it('confirm_delivery before the person confirmed', async () => {
    const { deps, userId, quote } = await quoted();
    const before = ordersPlaced();
    const error = await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'NOT_CONFIRMED');
    expect(error.message).toMatch(/press the Confirm button or send the CONFIRM code/);
    expect(ordersPlaced()).toBe(before);
    const stored = await database.prisma.confirmation.findFirstOrThrow({
      where: { quoteId: quote.id },
    });
    expect(stored.usedAt).toBeNull();
  });

  it('an expired confirmation can neither be released nor used', async () => {
    const late = await quoted({ confirmMinutes: 1 });
    late.advance(61 * SECOND);
    expect(
      await late.say(late.userId, { buttonPayload: confirmButtonPayload(late.confirmation.token) }),
    ).toBeNull();
    expect(await late.say(late.userId, { text: `CONFIRM ${late.confirmation.code}` })).toBeNull();

    const released = await quoted({ confirmMinutes: 1 });
    await released.say(released.userId, { text: `CONFIRM ${released.confirmation.code}` });
    released.advance(61 * SECOND);
    const before = ordersPlaced();
    await refused(confirmDelivery(late.deps, late.userId, { quoteId: late.quote.id }), 'EXPIRED');
    await refused(confirmDelivery(released.deps, released.userId, { quoteId: released.quote.id }), 'EXPIRED');
    expect(ordersPlaced()).toBe(before);
  });

  it('never lasts longer than Lalamove honours the quote', async () => {
    const { deps, userId, quote, confirmation, say, advance } = await quoted({ confirmMinutes: 60 });
    expect(confirmation.expiresAt.getTime()).toBe(quote.expiresAt.getTime());
    await say(userId, { text: `CONFIRM ${confirmation.code}` });
    advance(6 * 60 * SECOND);
    const before = ordersPlaced();
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'EXPIRED');
    expect(ordersPlaced()).toBe(before);
  });

  it('a message that arrived before the quote existed', async () => {
    const sentEarly = new Date(Date.now() - 5 * SECOND);
    const { deps, userId, quote, confirmation, say } = await quoted();
    // Processed now, but it reached us before the quote was made (it could not have meant it).
    expect(await say(userId, { text: `CONFIRM ${confirmation.code}`, receivedAt: sentEarly })).toBeNull();
    expect(
      await say(userId, { buttonPayload: confirmButtonPayload(confirmation.token), receivedAt: sentEarly }),
    ).toBeNull();
    const before = ordersPlaced();
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'NOT_CONFIRMED');
    expect(ordersPlaced()).toBe(before);
  });

  it('the phrase inside a longer message, or anything short of the exact phrase', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    const code = confirmation.code;
    const attempts = [
      `please CONFIRM ${code}`,
      `CONFIRM ${code} thanks`,
      `CONFIRM ${code}.`,
      `CONFIRM ${code}7`,
      `CONFIRM ${code.slice(1)}`,
      `CONFIRM ${code} CONFIRM ${code}`,
      `CONFIRM\u200b ${code}`,
      `CONFIRM ${code.replace(/\d/, (d) => String.fromCharCode(0xff10 + Number(d)))}`,
      `CONFIRM: ${code}`,
      code,
      `The venue says: "CONFIRM ${code}"`,
      `> CONFIRM ${code}`,
      `CONFIRM ${confirmButtonPayload(confirmation.token)}`,
    ];
    for (const text of attempts) expect(await say(userId, { text }), text).toBeNull();
    const payloads = [
      `${confirmButtonPayload(confirmation.token)} `,
      `x${confirmButtonPayload(confirmation.token)}`,
      `${CONFIRM_BUTTON_PREFIX}${confirmation.token.slice(0, -1)}`,
      `${CONFIRM_BUTTON_PREFIX}${createHash('sha256').update(confirmation.token).digest('hex')}`,
      confirmation.token,
      `delivery:confirm:${code}`,
    ];
    for (const buttonPayload of payloads)
      expect(await say(userId, { buttonPayload }), buttonPayload).toBeNull();
    // The token typed as text is not a button press.
    expect(await say(userId, { text: confirmButtonPayload(confirmation.token) })).toBeNull();
    const before = ordersPlaced();
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'NOT_CONFIRMED');
    expect(ordersPlaced()).toBe(before);
  });

  it('a confirmation books once: reuse is ALREADY_USED and pressing again releases nothing', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    await say(userId, { buttonPayload: confirmButtonPayload(confirmation.token) });
    const before = ordersPlaced();
    await confirmDelivery(deps, userId, { quoteId: quote.id });
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'ALREADY_USED');
    expect(await say(userId, { buttonPayload: confirmButtonPayload(confirmation.token) })).toBeNull();
    expect(await say(userId, { text: `CONFIRM ${confirmation.code}` })).toBeNull();
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'ALREADY_USED');
    expect(ordersPlaced()).toBe(before + 1);
  });

  it('a release not acted on yet is released again: the same message retried, or the person pressing again', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    const press = { buttonPayload: confirmButtonPayload(confirmation.token), eventId: randomUUID() };
    expect(await say(userId, press)).toEqual({ quoteId: quote.id });
    // The turn is retried (no model answered): the press is still the person's confirmation.
    expect(await say(userId, press)).toEqual({ quoteId: quote.id });
    // The person presses again, or types the code, before anything was booked.
    expect(await say(userId, { ...press, eventId: randomUUID() })).toEqual({ quoteId: quote.id });
    const typed = { text: `CONFIRM ${confirmation.code}`, eventId: randomUUID() };
    expect(await say(userId, typed)).toEqual({ quoteId: quote.id });
    const before = ordersPlaced();
    await confirmDelivery(deps, userId, { quoteId: quote.id });
    // Once booked, a new press releases nothing; the last releasing message retried may, and it
    // still books once.
    expect(await say(userId, { ...press, eventId: randomUUID() })).toBeNull();
    expect(await say(userId, typed)).toEqual({ quoteId: quote.id });
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'ALREADY_USED');
    expect(ordersPlaced()).toBe(before + 1);
  });

  it('ten confirm_delivery calls at once book exactly one order', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    await say(userId, { text: `confirm ${confirmation.code}` });
    const before = ordersPlaced();
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => confirmDelivery(deps, userId, { quoteId: quote.id })),
    );
    const booked = results.filter((r) => r.status === 'fulfilled');
    const reasons = results.flatMap((r) =>
      r.status === 'rejected' ? [(r.reason as { code?: string }).code] : [],
    );
    expect(booked).toHaveLength(1);
    expect(reasons).toEqual(Array(9).fill('ALREADY_USED'));
    expect(ordersPlaced()).toBe(before + 1);
    expect(await database.prisma.deliveryOrder.count({ where: { quoteId: quote.id } })).toBe(1);
  });

  it('a price that changed after the confirmation', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    await say(userId, { text: `CONFIRM ${confirmation.code}` });
    await database.prisma.deliveryQuote.update({ where: { id: quote.id }, data: { priceTotal: '180' } });
    const before = ordersPlaced();
    const error = await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'PRICE_CHANGED');
    expect(error.message).toMatch(/180 HKD.*140 HKD/);
    expect(ordersPlaced()).toBe(before);
  });

  it('Lalamove charging another price than the confirmed one: the order is cancelled at once', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    await say(userId, { text: `CONFIRM ${confirmation.code}` });
    // Lalamove books it, but at 190 HKD.
    const { externalQuotationId } = await database.prisma.deliveryQuote.findUniqueOrThrow({
      where: { id: quote.id },
    });
    const quotation = fake.quotes.get(externalQuotationId)!;
    quotation.priceBreakdown = { ...quotation.priceBreakdown, total: '190' };
    const error = await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'PRICE_CHANGED');
    expect(error.message).toMatch(/190 HKD instead of the confirmed 140 HKD.*cancelled/);
    const row = await database.prisma.deliveryOrder.findFirstOrThrow({ where: { quoteId: quote.id } });
    expect(row.status).toBe('CANCELED');
    expect(fake.orders.get(row.externalOrderId)!.status).toBe('CANCELED');
  });
});

describe('when Lalamove fails while booking', () => {
  it('a refusal books nothing and leaves the confirmation usable', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    await say(userId, { text: `CONFIRM ${confirmation.code}` });
    fake.failNext(402, {
      path: '/v3/orders',
      errorId: 'ERR_INSUFFICIENT_CREDIT',
      message: 'Insufficient credit',
    });
    const before = fake.orders.size;
    const error = await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'LALAMOVE_REFUSED');
    expect(error.message).toMatch(/Insufficient credit \(ERR_INSUFFICIENT_CREDIT\)/);
    expect(fake.orders.size).toBe(before);
    expect(await database.prisma.deliveryOrder.count({ where: { quoteId: quote.id } })).toBe(0);

    await confirmDelivery(deps, userId, { quoteId: quote.id });
    expect(fake.orders.size).toBe(before + 1);
  });

  it('no answer: never tried again, so never booked twice', async () => {
    const { deps, userId, quote, confirmation, say } = await quoted();
    await say(userId, { text: `CONFIRM ${confirmation.code}` });
    fake.failNext(502, { path: '/v3/orders', afterCreate: true });
    const before = fake.orders.size;
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'PLACEMENT_UNKNOWN');
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'ALREADY_USED');
    expect(fake.orders.size).toBe(before + 1);
    expect((await deliveryStatus(deps, userId, { quoteId: quote.id })).status).toBe('PLACEMENT_UNKNOWN');
  });
});
