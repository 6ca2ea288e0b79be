/**
 * A person who booked a delivery hears of it as Lalamove reports it, without asking: the driver who
 * takes it (and a new one, when the first gives it back), the pickup with its tracking page, the
 * arrival, or an end that is not an arrival. Once each, however often Lalamove repeats itself;
 * never a step the person already saw by asking.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryStatus } from '../../src/domain/delivery/order.ts';
import { driverAssigned, statusChanged } from '../fakes/lalamove.ts';
import { DRIVER_A, DRIVER_B, type LalamoveHarness, lalamoveHarness } from './support.ts';

let lalamove: LalamoveHarness;
beforeAll(async () => {
  lalamove = await lalamoveHarness();
});
afterAll(() => lalamove.close());

const booked = () => lalamove.booked();
const delivered = (event: Parameters<LalamoveHarness['delivered']>[0]) => lalamove.delivered(event);

/** What the person has been told about deliveries, oldest first. */
async function told(userId: string) {
  const rows = await lalamove.app.services.db.outboundMessage.findMany({
    where: { userId, kind: { startsWith: 'delivery.' } },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  return rows.map((row) => ({ kind: row.kind, body: row.body, channel: row.channel, subject: row.subject }));
}

describe('a delivery, as the person hears of it', () => {
  it('the driver, a new driver after a give-back, the pickup and the arrival: each once', async () => {
    const { userId, remote } = await booked();
    expect(await told(userId)).toEqual([]);

    lalamove.fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_A);
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });
    // Lalamove repeats itself: nothing new to say.
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ASSIGNING_DRIVER') });
    const first = await told(userId);
    expect(first).toEqual([
      {
        kind: 'delivery.driver_assigned',
        channel: 'EMAIL',
        subject: 'A driver is taking your delivery',
        body: expect.stringContaining(
          '🛵 Chan Tai Man (AB 1234) is taking your delivery to Canton Rd, Tsim Sha Tsui.',
        ),
      },
    ]);
    expect(first[0]!.body).toContain(`Follow it live: ${remote.shareLink}`);

    // The driver gives it back (nothing said while Lalamove looks), and another takes it.
    lalamove.fake.setStatus(remote.orderId, 'ASSIGNING_DRIVER');
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ON_GOING') });
    expect(await told(userId)).toHaveLength(1);
    lalamove.fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_B);
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });

    lalamove.fake.setStatus(remote.orderId, 'PICKED_UP');
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ON_GOING') });
    lalamove.fake.setStatus(remote.orderId, 'COMPLETED');
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'PICKED_UP') });
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'PICKED_UP') });

    const all = await told(userId);
    expect(all.map((notice) => notice.kind)).toEqual([
      'delivery.driver_assigned',
      'delivery.driver_assigned',
      'delivery.picked_up',
      'delivery.completed',
    ]);
    expect(all[1]).toMatchObject({
      subject: 'Your delivery has a new driver',
      body: expect.stringContaining(
        'Wong Siu Ming (XY 5678) has taken over your delivery to Canton Rd, Tsim Sha Tsui (the previous driver gave it back).',
      ),
    });
    expect(all[2]!.body).toBe(
      `📦 Your delivery to Canton Rd, Tsim Sha Tsui has been picked up and is on its way. Follow it live: ${remote.shareLink}`,
    );
    expect(all[3]!.body).toBe('✅ Your delivery to Canton Rd, Tsim Sha Tsui has been delivered.');
  });

  it('names a driver once Lalamove gives the name, and a driver who comes back after giving it back', async () => {
    const { userId, remote } = await booked();
    // Lalamove says the order is on its way before it says who drives it, and cannot tell yet when
    // asked: nothing to say yet.
    lalamove.fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_A);
    lalamove.fake.failNext(500, {
      method: 'GET',
      path: `/v3/orders/${remote.orderId}/drivers/${remote.driverId}`,
    });
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ASSIGNING_DRIVER') });
    expect(await told(userId)).toEqual([]);
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });
    expect((await told(userId)).map((notice) => notice.body)).toEqual([
      expect.stringContaining('Chan Tai Man (AB 1234) is taking your delivery'),
    ]);

    // The driver gives it back, then takes it again.
    lalamove.fake.setStatus(remote.orderId, 'ASSIGNING_DRIVER');
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ON_GOING') });
    lalamove.fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_A);
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });
    expect((await told(userId)).map((notice) => notice.body)).toEqual([
      expect.stringContaining('Chan Tai Man (AB 1234) is taking your delivery'),
      expect.stringContaining('Chan Tai Man (AB 1234) has taken over your delivery'),
    ]);
  });

  it('asks Lalamove who drives when the order is on its way before its DRIVER_ASSIGNED, and says it once', async () => {
    const { userId, remote } = await booked();
    lalamove.fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_B);
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ASSIGNING_DRIVER') });
    const named = [expect.stringContaining('Wong Siu Ming (XY 5678) is taking your delivery')];
    expect((await told(userId)).map((notice) => notice.body)).toEqual(named);
    await delivered({ eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) });
    expect((await told(userId)).map((notice) => notice.body)).toEqual(named);
  });

  it('an end that is not an arrival, in the person’s language', async () => {
    const { userId, remote } = await booked();
    await lalamove.app.services.db.user.update({ where: { id: userId }, data: { language: 'pt-BR' } });
    lalamove.fake.setStatus(remote.orderId, 'EXPIRED');
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ASSIGNING_DRIVER') });
    expect(await told(userId)).toEqual([
      {
        kind: 'delivery.ended',
        channel: 'EMAIL',
        subject: 'Sua entrega não foi feita',
        body: 'Nenhum entregador aceitou a sua entrega para Canton Rd, Tsim Sha Tsui a tempo, e ela expirou. Escreva para o seu agente AGNT se quiser pedi-la de novo.',
      },
    ]);
  });

  it('a step the person saw by asking is not announced when the webhook comes after', async () => {
    const { userId, orderId, remote } = await booked();
    lalamove.fake.setStatus(remote.orderId, 'ON_GOING', DRIVER_A);
    lalamove.fake.setStatus(remote.orderId, 'PICKED_UP');
    // The person asks (get_delivery_status): Lalamove's answer is stored and shown to them.
    expect(await deliveryStatus(lalamove.deps, userId, { orderId })).toMatchObject({ status: 'PICKED_UP' });
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ON_GOING') });
    expect(await told(userId)).toEqual([]);
    // What they have not seen yet is announced.
    lalamove.fake.setStatus(remote.orderId, 'COMPLETED');
    await delivered({ eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'PICKED_UP') });
    expect((await told(userId)).map((notice) => notice.kind)).toEqual(['delivery.completed']);
  });
});
