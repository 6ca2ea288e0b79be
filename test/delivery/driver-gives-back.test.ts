/**
 * A Lalamove driver may give an order back: Lalamove moves it from ON_GOING back to
 * ASSIGNING_DRIVER, reports no driver while it looks for another, and then a new driver takes it.
 * The person must see that as it happens, through the webhook and through a status read alike:
 * no driver (not the one who left) while Lalamove looks, then the new one. Any other step back is
 * an old answer and changes nothing, and an answer read before a newer one was stored never
 * overwrites it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryDeps } from '../../src/domain/delivery/deps.ts';
import { applyLalamoveEvent, readOrderFrom } from '../../src/domain/delivery/lalamove-events.ts';
import { deliveryStatus } from '../../src/domain/delivery/order.ts';
import { createLalamoveClient } from '../../src/integrations/lalamove/client.ts';
import { driverAssigned, type FakeDriver, type FakeLalamove, statusChanged } from '../fakes/lalamove.ts';
import type { TestApp } from '../helpers/app.ts';
import { API_KEY, API_SECRET, DRIVER_A, DRIVER_B, type LalamoveHarness, lalamoveHarness } from './support.ts';

let lalamove: LalamoveHarness;
let fake: FakeLalamove;
let app: TestApp;
let deps: DeliveryDeps;

beforeAll(async () => {
  lalamove = await lalamoveHarness();
  ({ fake, app, deps } = lalamove);
});
afterAll(() => lalamove.close());

const shown = (driver: FakeDriver) => ({ driverId: expect.any(String), ...driver });
const booked = () => lalamove.booked();
const delivered = (event: Parameters<LalamoveHarness['delivered']>[0]) => lalamove.delivered(event);

/** What the person is shown from what is stored, without asking Lalamove. */
const storedView = (userId: string, orderId: string) =>
  deliveryStatus({ ...deps, lalamove: undefined }, userId, { orderId });

describe('a driver who gives the order back', () => {
  it('through the webhook: the person sees no driver while Lalamove looks, then the new one', async () => {
    const { userId, orderId, remote } = await booked();
    fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_A);
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ASSIGNING_DRIVER') });
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });
    const first = await storedView(userId, orderId);
    expect(first).toMatchObject({ status: 'ON_GOING', driver: shown(DRIVER_A) });

    fake.setStatus(remote.orderId, 'ASSIGNING_DRIVER');
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ON_GOING') });
    // Lalamove's tracking page is the order's, not the driver's: it stays.
    expect(await storedView(userId, orderId)).toMatchObject({
      status: 'ASSIGNING_DRIVER',
      driver: null,
      shareLink: first.shareLink,
    });

    fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_B);
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ASSIGNING_DRIVER') });
    const after = await storedView(userId, orderId);
    expect(after).toMatchObject({ status: 'ON_GOING', driver: shown(DRIVER_B) });
    expect(after.driver?.driverId).toBe(remote.driverId);
  });

  it('through a status read, with no webhook: the same', async () => {
    const { userId, orderId, remote } = await booked();
    fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_A);
    expect(await deliveryStatus(deps, userId, { orderId })).toMatchObject({
      status: 'ON_GOING',
      driver: shown(DRIVER_A),
    });

    fake.setStatus(remote.orderId, 'ASSIGNING_DRIVER');
    expect(await deliveryStatus(deps, userId, { orderId })).toMatchObject({
      status: 'ASSIGNING_DRIVER',
      driver: null,
    });
    expect(await storedView(userId, orderId)).toMatchObject({ status: 'ASSIGNING_DRIVER', driver: null });

    fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_B);
    expect(await deliveryStatus(deps, userId, { orderId })).toMatchObject({
      status: 'ON_GOING',
      driver: shown(DRIVER_B),
    });
  });

  it('any other step back is an old answer and changes nothing', async () => {
    const { userId, orderId, remote } = await booked();
    fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_A);
    fake.setStatus(remote.orderId, 'PICKED_UP');
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ON_GOING') });
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });
    const picked = await app.services.db.deliveryOrder.findUniqueOrThrow({ where: { id: orderId } });
    expect(picked.status).toBe('PICKED_UP');

    // Answers from before the pickup, as a lagging read could give them.
    for (const older of ['ASSIGNING_DRIVER', 'ON_GOING']) {
      const answer = { ...remote, status: older, driverId: older === 'ON_GOING' ? remote.driverId : '' };
      // Lalamove answers the next read of the order with it, once.
      const lagging = () =>
        fake.respond((request) =>
          request.method === 'GET' && request.path === `/v3/orders/${remote.orderId}`
            ? { status: 200, body: { data: answer } }
            : undefined,
        );
      lagging();
      const outcome = await applyLalamoveEvent(
        app.services.db,
        {
          eventId: `older-${older}`,
          eventType: 'ORDER_STATUS_CHANGED',
          data: statusChanged(answer, 'ON_GOING'),
        },
        { readOrder: readOrderFrom(deps.lalamove!) },
      );
      expect(outcome.outcome).toBe('duplicate');
      lagging();
      expect(await deliveryStatus(deps, userId, { orderId })).toMatchObject({
        status: 'PICKED_UP',
        driver: shown(DRIVER_A),
      });
    }
    expect(await app.services.db.deliveryOrder.findUniqueOrThrow({ where: { id: orderId } })).toEqual(picked);
  });

  it('an answer read before a newer one was stored does not overwrite it: Lalamove is asked again', async () => {
    const { userId, orderId, remote } = await booked();
    const lalamove = readOrderFrom(deps.lalamove!);
    fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_A);
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });

    // A reads the step back; before it stores it, B takes the order and that is stored first.
    fake.setStatus(remote.orderId, 'ASSIGNING_DRIVER');
    const stepBack = statusChanged(remote, 'ON_GOING');
    let reads = 0;
    const outcome = await applyLalamoveEvent(
      app.services.db,
      { eventId: 'step-back', eventType: 'ORDER_STATUS_CHANGED', data: stepBack },
      {
        readOrder: async (id) => {
          const answer = await lalamove(id);
          if (reads++ === 0) {
            fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_B);
            await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });
          }
          return answer;
        },
      },
    );
    expect(reads).toBe(2);
    expect(outcome.outcome).toBe('duplicate');
    expect(await storedView(userId, orderId)).toMatchObject({ status: 'ON_GOING', driver: shown(DRIVER_B) });

    // The other way round: driver B's order, read just before B gave it back and that was stored.
    const stillB = statusChanged(remote, 'ASSIGNING_DRIVER');
    reads = 0;
    await applyLalamoveEvent(
      app.services.db,
      { eventId: 'still-b', eventType: 'ORDER_STATUS_CHANGED', data: stillB },
      {
        readOrder: async (id) => {
          const answer = await lalamove(id);
          if (reads++ === 0) {
            fake.setStatus(remote.orderId, 'ASSIGNING_DRIVER');
            await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ON_GOING') });
          }
          return answer;
        },
      },
    );
    expect(reads).toBe(2);
    expect(await storedView(userId, orderId)).toMatchObject({ status: 'ASSIGNING_DRIVER', driver: null });
  });

  it('a status read that a newer webhook overtook shows what the webhook stored', async () => {
    const { userId, orderId, remote } = await booked();
    fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_A);
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });

    // The person asks as A gives the order back; Lalamove's answer to them is slow, and B has
    // taken the order (and its webhook is stored) by the time it arrives.
    fake.setStatus(remote.orderId, 'ASSIGNING_DRIVER');
    const path = `/v3/orders/${remote.orderId}`;
    let answer = () => {};
    const until = new Promise<void>((resolve) => {
      answer = resolve;
    });
    fake.respond((request) =>
      request.method === 'GET' && request.path === path
        ? { status: 200, body: { data: { ...remote } }, until }
        : undefined,
    );
    const asked = fake.requests.length;
    // A client patient enough for the webhook to be applied while it waits.
    const patient = createLalamoveClient({
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      apiUrl: fake.url,
      market: 'HK',
      timeoutMs: 30_000,
    });
    const reading = deliveryStatus({ ...deps, lalamove: patient }, userId, { orderId });
    await expect.poll(() => fake.requests.slice(asked).some((r) => r.path === path)).toBe(true);
    fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_B);
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });
    answer();

    expect(await reading).toMatchObject({ status: 'ON_GOING', driver: shown(DRIVER_B) });
    expect(await storedView(userId, orderId)).toMatchObject({ status: 'ON_GOING', driver: shown(DRIVER_B) });
  });
});
