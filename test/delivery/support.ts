/** What the delivery tests share: people, a quote request, a clock, and checking a refusal. */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { releaseConfirmation } from '../../src/domain/confirmations/confirmations.ts';
import type { DeliveryDeps } from '../../src/domain/delivery/deps.ts';
import { DeliveryError, type DeliveryRefusal } from '../../src/domain/delivery/errors.ts';
import { confirmDelivery } from '../../src/domain/delivery/order.ts';
import { type DeliveryQuoteInput, quoteDelivery } from '../../src/domain/delivery/quote.ts';
import { createLalamoveClient } from '../../src/integrations/lalamove/client.ts';
import type { Db } from '../../src/platform/db.ts';
import { type FakeDriver, type FakeLalamove, startFakeLalamove } from '../fakes/lalamove.ts';
import { startTestApp } from '../helpers/app.ts';
import { runDueJobs } from '../helpers/jobs.ts';

export const API_KEY = 'pk_test_5f0c2a7e9d1b4c3a8e6f';
export const API_SECRET = 'sk_test_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d';

export async function createPerson(db: Db): Promise<string> {
  const user = await db.user.create({
    data: { email: `person-${randomBytes(5).toString('hex')}@example.test`, displayName: 'Person' },
  });
  return user.id;
}

export function quoteRequest(overrides: Partial<DeliveryQuoteInput> = {}): DeliveryQuoteInput {
  return {
    pickup: {
      address: 'Innocentre, 72 Tat Chee Ave, Kowloon Tong',
      latitude: 22.33547351186244,
      longitude: 114.17615807116502,
      contact: { name: 'Michal', phone: '+85238485765' },
    },
    dropoff: {
      address: 'Canton Rd, Tsim Sha Tsui',
      latitude: 22.29553167157697,
      longitude: 114.16885175766998,
      contact: { name: 'Katrina', phone: '+85238485764' },
      remarks: 'Ring twice',
    },
    ...overrides,
  };
}

/** A new person's quote, confirmed by their own `CONFIRM <code>` message a second later. */
export async function confirmedQuote(deps: DeliveryDeps, db: Db) {
  const userId = await createPerson(db);
  const { quote, confirmation } = await quoteDelivery(deps, userId, quoteRequest());
  await releaseConfirmation(
    db,
    userId,
    { buttonPayload: null, text: `CONFIRM ${confirmation.code}` },
    new Date(Date.now() + 1000),
  );
  return { userId, quote, confirmation };
}

/** Delivery deps on their own movable clock (Lalamove's side keeps real time). */
export function deliveryDeps(db: Db, apiUrl: string | null, confirmMinutes = 10) {
  let offset = 0;
  const deps: DeliveryDeps = {
    db,
    lalamove: apiUrl
      ? createLalamoveClient({
          apiKey: API_KEY,
          apiSecret: API_SECRET,
          apiUrl,
          market: 'HK',
          timeoutMs: 2000,
        })
      : undefined,
    now: () => new Date(Date.now() + offset),
    confirmMinutes,
  };
  return {
    deps,
    advance(ms: number) {
      offset += ms;
    },
  };
}

/** Awaits a promise that must fail with a DeliveryError of `code`; returns the error. */
export async function refused(promise: Promise<unknown>, code: DeliveryRefusal): Promise<DeliveryError> {
  const error = await promise.then(
    (value) => {
      throw new Error(`expected ${code}, but it succeeded with ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  expect((error as DeliveryError).code, (error as Error).message).toBe(code);
  return error as DeliveryError;
}

export const DRIVER_A: FakeDriver = { name: 'Chan Tai Man', phone: '+85290001111', plateNumber: 'AB 1234' };
export const DRIVER_B: FakeDriver = { name: 'Wong Siu Ming', phone: '+85290002222', plateNumber: 'XY 5678' };

/**
 * The app with Lalamove's fake behind it, for tests driven by Lalamove's webhooks: `booked()` a
 * delivery through the whole flow, and `delivered(event)`, the webhook then the job it left, run
 * as the worker runs it.
 */
export async function lalamoveHarness() {
  const fake = await startFakeLalamove({ apiKey: API_KEY, apiSecret: API_SECRET });
  const app = await startTestApp({
    env: { LALAMOVE_API_KEY: API_KEY, LALAMOVE_API_SECRET: API_SECRET, LALAMOVE_API_URL: fake.url },
  });
  const { deps } = deliveryDeps(app.services.db, fake.url);
  const hook = `${app.url}/webhooks/lalamove`;
  return {
    fake,
    app,
    deps,
    /** A person's delivery booked through the whole flow: their id, our order id, Lalamove's order. */
    async booked() {
      const { userId, quote } = await confirmedQuote(deps, app.services.db);
      const placed = await confirmDelivery(deps, userId, { quoteId: quote.id });
      const row = await app.services.db.deliveryOrder.findUniqueOrThrow({ where: { id: placed.orderId! } });
      return { userId, orderId: row.id, remote: fake.orders.get(row.externalOrderId)! };
    },
    async delivered(event: Parameters<FakeLalamove['postWebhook']>[1]) {
      expect((await fake.postWebhook(hook, event)).status).toBe(200);
      await runDueJobs(app, ['lalamove-event']);
    },
    async close(this: void) {
      await app.close();
      await fake.close();
    },
  };
}

export type LalamoveHarness = Awaited<ReturnType<typeof lalamoveHarness>>;
