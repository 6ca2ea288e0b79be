/**
 * Deliveries Lalamove has not confirmed, settled by an operator over GraphQL against the Lalamove
 * fake: a platform admin lists what waits with the quotation to look for, and records either the
 * order Lalamove booked from it (adopted in the state Lalamove reports, as its webhook would) or
 * that it booked nothing (the delivery removed, the person's confirmation released). A delivery
 * still being placed, an order of another quotation or of no one, an already placed delivery and
 * callers who are not platform admins are refused, and change nothing.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryDeps } from '../../src/domain/delivery/deps.ts';
import {
  applyLalamoveEvent,
  NOT_PLACED_WATCH_DAYS,
  readOrderFrom,
} from '../../src/domain/delivery/lalamove-events.ts';
import { cancelDelivery, confirmDelivery, deliveryStatus } from '../../src/domain/delivery/order.ts';
import { type FakeLalamove, startFakeLalamove } from '../fakes/lalamove.ts';
import { graphql } from '../generated/gql.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { createActors } from '../helpers/authz.ts';
import { platformAdminToken } from '../helpers/jobs.ts';
import { API_KEY, API_SECRET, confirmedQuote, DRIVER_A, deliveryDeps, refused } from './support.ts';

let fake: FakeLalamove;
let app: TestApp;
let deps: DeliveryDeps;

beforeAll(async () => {
  fake = await startFakeLalamove({ apiKey: API_KEY, apiSecret: API_SECRET });
  app = await startTestApp({
    env: { LALAMOVE_API_KEY: API_KEY, LALAMOVE_API_SECRET: API_SECRET, LALAMOVE_API_URL: fake.url },
  });
  deps = deliveryDeps(app.services.db, fake.url).deps;
});
afterAll(async () => {
  await app?.close();
  await fake?.close();
});

const Unplaced = graphql(`
  query SettleUnplacedDeliveries($first: Int, $after: String) {
    unplacedDeliveries(first: $first, after: $after) {
      edges { node { id status lalamoveQuotationId priceTotal currency createdAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const Settle = graphql(`
  mutation SettleDeliveryOrder($id: ID!, $lalamoveOrderId: String, $notBooked: Boolean) {
    settleDeliveryOrder(input: { deliveryId: $id, lalamoveOrderId: $lalamoveOrderId, notBooked: $notBooked }) {
      __typename
      ... on SettleDeliveryOrderPayload { deliveryId status }
      ... on ValidationError { field }
      ... on Error { message }
    }
  }
`);

const gid = (id: string) => encodeGlobalID('UnplacedDelivery', id);

/** A confirmed quote whose placement got no answer; `booked`: Lalamove booked it all the same. */
async function unplaced(booked: boolean) {
  const { userId, quote } = await confirmedQuote(deps, app.services.db);
  fake.failNext(504, { path: '/v3/orders', afterCreate: booked });
  await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'PLACEMENT_UNKNOWN');
  const stored = await app.services.db.deliveryQuote.findUniqueOrThrow({
    where: { id: quote.id },
    include: { order: true },
  });
  const remote = [...fake.orders.values()].find((o) => o.quotationId === stored.externalQuotationId);
  const { id: confirmationId } = await app.services.db.confirmation.findFirstOrThrow({
    where: { quoteId: quote.id },
    select: { id: true },
  });
  return { userId, quote: stored, order: stored.order!, confirmationId, remote };
}

/** A delivery placed as usual, whose Lalamove order belongs to its own quotation. */
async function placed() {
  const { userId, quote } = await confirmedQuote(deps, app.services.db);
  const view = await confirmDelivery(deps, userId, { quoteId: quote.id });
  return app.services.db.deliveryOrder.findUniqueOrThrow({ where: { id: view.orderId! } });
}

async function settle(token: string, id: string, input: { lalamoveOrderId?: string; notBooked?: boolean }) {
  const res = await app.gql(Settle, { id: gid(id), ...input }, { token });
  expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
  return res.data!.settleDeliveryOrder;
}

/** Lalamove's webhook about `orderId`, applied as its job applies it. */
const reported = (eventId: string, orderId: string) =>
  applyLalamoveEvent(
    app.services.db,
    { eventId, eventType: 'ORDER_STATUS_CHANGED', data: { order: { orderId } } },
    { readOrder: readOrderFrom(deps.lalamove!) },
  );

/** The kinds of delivery notices the person was told. */
async function toldOf(userId: string): Promise<string[]> {
  const told = await app.services.db.outboundMessage.findMany({
    where: { userId, kind: { startsWith: 'delivery.' } },
  });
  return told.map((notice) => notice.kind);
}

describe('settling an unplaced delivery', () => {
  it('adopts the order Lalamove booked from the quotation, in the state Lalamove reports', async () => {
    const { userId, quote, order, remote } = await unplaced(true);
    const other = await placed();
    let admin = await platformAdminToken(app);

    const listed = await app.gql(Unplaced, { first: 100 }, { token: admin });
    expect(listed.errors, JSON.stringify(listed.body)).toBeUndefined();
    expect(listed.data?.unplacedDeliveries.edges.map((e) => e.node)).toContainEqual({
      id: gid(order.id),
      status: 'PLACEMENT_UNKNOWN',
      lalamoveQuotationId: quote.externalQuotationId,
      priceTotal: quote.priceTotal,
      currency: quote.currency,
      createdAt: order.createdAt.toISOString(),
    });

    // Its placement may still be in flight: too early to settle.
    expect(await settle(admin, order.id, { lalamoveOrderId: remote!.orderId })).toMatchObject({
      __typename: 'ConflictError',
      message: expect.stringContaining('may still be being placed'),
    });
    app.clock.advance(6 * 60_000);
    admin = await platformAdminToken(app);

    expect(await settle(admin, order.id, { lalamoveOrderId: '999999999999' })).toEqual({
      __typename: 'ValidationError',
      field: 'lalamoveOrderId',
      message: 'Lalamove has no order 999999999999',
    });
    expect(await settle(admin, order.id, { lalamoveOrderId: other.externalOrderId })).toMatchObject({
      __typename: 'ValidationError',
      field: 'lalamoveOrderId',
      message: expect.stringContaining('was booked from another quotation'),
    });
    expect(await settle(admin, order.id, {})).toMatchObject({
      __typename: 'ValidationError',
      field: 'lalamoveOrderId',
    });
    expect(await app.services.db.deliveryOrder.findUniqueOrThrow({ where: { id: order.id } })).toEqual(order);

    fake.setStatus(remote!.orderId, 'ON_GOING');
    expect(await settle(admin, order.id, { lalamoveOrderId: remote!.orderId })).toEqual({
      __typename: 'SettleDeliveryOrderPayload',
      deliveryId: order.id,
      status: 'ON_GOING',
    });
    expect(await app.services.db.deliveryOrder.findUniqueOrThrow({ where: { id: order.id } })).toMatchObject({
      externalOrderId: remote!.orderId,
      status: 'ON_GOING',
    });
    // The person sees their delivery going; operators no longer see it waiting.
    expect((await deliveryStatus(deps, userId, { quoteId: quote.id })).status).toBe('ON_GOING');
    const after = await app.gql(Unplaced, { first: 100 }, { token: admin });
    expect(after.data?.unplacedDeliveries.edges.some((e) => e.node.id === gid(order.id))).toBe(false);
    expect(await settle(admin, order.id, { notBooked: true })).toMatchObject({
      __typename: 'ConflictError',
      message: `This delivery is already placed: Lalamove order ${remote!.orderId}`,
    });
  });

  it('marks a delivery Lalamove never booked NOT_PLACED, and still adopts an order Lalamove reports later', async () => {
    const { userId, quote, order, confirmationId, remote } = await unplaced(false);
    expect(remote).toBeUndefined();
    app.clock.advance(6 * 60_000);
    const admin = await platformAdminToken(app);

    expect(await settle(admin, order.id, { lalamoveOrderId: 'x', notBooked: true })).toMatchObject({
      __typename: 'ValidationError',
      field: 'notBooked',
    });
    expect(await settle(admin, order.id, { notBooked: true })).toEqual({
      __typename: 'SettleDeliveryOrderPayload',
      deliveryId: order.id,
      status: 'NOT_PLACED',
    });
    // The person sees it was never booked (and asks for a new quote); nothing to cancel.
    expect((await deliveryStatus(deps, userId, { quoteId: quote.id })).status).toBe('NOT_PLACED');
    await refused(cancelDelivery(deps, userId, { quoteId: quote.id }), 'NOT_CANCELLABLE');
    // Its confirmation stays spent: the quote cannot be booked again.
    expect(
      await app.services.db.confirmation.findUniqueOrThrow({
        where: { id: confirmationId },
        select: { usedAt: true },
      }),
    ).toEqual({ usedAt: expect.any(Date) });
    expect(await settle(admin, order.id, { notBooked: true })).toEqual({
      __typename: 'ConflictError',
      message: 'This delivery is already settled as not booked',
    });
    const listed = await app.gql(Unplaced, { first: 100 }, { token: admin });
    expect(listed.data?.unplacedDeliveries.edges.some((e) => e.node.id === gid(order.id))).toBe(false);
    // Asked to book it again, the agent is told it never was, and why it cannot be now.
    const again = await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'EXPIRED');
    expect(again.message).toBe(
      'Lalamove never booked this quote, and it can no longer be: get a new quote and ask the person to confirm that one.',
    );
  });

  it('follows an order Lalamove reports after all for a delivery settled as not booked', async () => {
    // The operator looked at a dashboard that lagged: Lalamove had booked it.
    const { userId, quote, order, remote } = await unplaced(true);
    app.clock.advance(6 * 60_000);
    const admin = await platformAdminToken(app);
    expect(await settle(admin, order.id, { notBooked: true })).toMatchObject({ status: 'NOT_PLACED' });

    fake.setStatus(remote!.orderId, 'ASSIGNING_DRIVER');
    const outcome = await applyLalamoveEvent(
      app.services.db,
      { eventId: 'late', eventType: 'ORDER_STATUS_CHANGED', data: { order: { orderId: remote!.orderId } } },
      { readOrder: readOrderFrom(deps.lalamove!) },
    );
    expect(outcome).toEqual({ outcome: 'applied', orderId: order.id, revived: true });
    expect((await deliveryStatus(deps, userId, { quoteId: quote.id })).status).toBe('ASSIGNING_DRIVER');
  });

  it('tells the person where a delivery settled as not booked stands, once Lalamove reports it after all', async () => {
    const { userId, order, remote } = await unplaced(true);
    app.clock.advance(6 * 60_000);
    const admin = await platformAdminToken(app);
    expect(await settle(admin, order.id, { notBooked: true })).toMatchObject({ status: 'NOT_PLACED' });

    fake.setStatus(remote!.orderId, 'ON_GOING', DRIVER_A);
    fake.setStatus(remote!.orderId, 'PICKED_UP');
    expect(await reported('late-picked', remote!.orderId)).toEqual({
      outcome: 'applied',
      orderId: order.id,
      revived: true,
    });
    expect(await toldOf(userId)).toEqual(['delivery.picked_up']);
  });

  it('tells the person how a delivery whose placement got no answer ended, when Lalamove reports it', async () => {
    const { userId, order, remote } = await unplaced(true);
    // Nothing to write but the status adoption writes: no driver ever took it, no tracking page.
    Object.assign(fake.setStatus(remote!.orderId, 'EXPIRED'), { driverId: '', shareLink: '' });
    expect(await reported('adopt-expired', remote!.orderId)).toEqual({
      outcome: 'applied',
      orderId: order.id,
    });
    expect(await toldOf(userId)).toEqual(['delivery.ended']);
  });

  it('stops watching a delivery settled as not booked after a week, but an operator can still name its order', async () => {
    const { userId, quote, order, remote } = await unplaced(true);
    app.clock.advance(6 * 60_000);
    let admin = await platformAdminToken(app);
    expect(await settle(admin, order.id, { notBooked: true })).toMatchObject({ status: 'NOT_PLACED' });

    // Another delivery still waits for its id, so the order is looked for among ours.
    await unplaced(false);
    // Eight days on, Lalamove's webhook names the order: past the watch, it is not adopted.
    const later = new Date(app.clock.now().getTime() + (NOT_PLACED_WATCH_DAYS + 1) * 86_400_000);
    fake.setStatus(remote!.orderId, 'PICKED_UP');
    const event = {
      eventId: 'late',
      eventType: 'ORDER_STATUS_CHANGED',
      data: { order: { orderId: remote!.orderId } },
    };
    expect(
      await applyLalamoveEvent(app.services.db, event, {
        readOrder: readOrderFrom(deps.lalamove!),
        now: () => later,
      }),
    ).toEqual({ outcome: 'ignored', reason: 'unknown_order' });
    expect((await deliveryStatus(deps, userId, { quoteId: quote.id })).status).toBe('NOT_PLACED');

    // The operator who finds the charge names it: followed again, in Lalamove's state.
    app.clock.advance((NOT_PLACED_WATCH_DAYS + 1) * 86_400_000);
    admin = await platformAdminToken(app);
    expect(await settle(admin, order.id, { lalamoveOrderId: remote!.orderId })).toEqual({
      __typename: 'SettleDeliveryOrderPayload',
      deliveryId: order.id,
      status: 'PICKED_UP',
    });
    expect((await deliveryStatus(deps, userId, { quoteId: quote.id })).status).toBe('PICKED_UP');
  });

  it('pages the deliveries that wait, oldest first, also past one settled meanwhile', async () => {
    const waiting = [
      (await unplaced(false)).order,
      (await unplaced(false)).order,
      (await unplaced(false)).order,
    ];
    app.clock.advance(6 * 60_000);
    const admin = await platformAdminToken(app);
    const ours = (ids: string[]) => ids.filter((id) => waiting.some((o) => gid(o.id) === id));
    const all = await app.gql(Unplaced, { first: 100 }, { token: admin });
    const everyone = all.data!.unplacedDeliveries.edges.map((e) => e.node.id);
    expect(ours(everyone)).toEqual(waiting.map((o) => gid(o.id)));

    const at = everyone.indexOf(gid(waiting[0]!.id));
    const first = await app.gql(Unplaced, { first: at + 1 }, { token: admin });
    expect(first.data?.unplacedDeliveries.edges.at(-1)?.node.id).toBe(gid(waiting[0]!.id));
    // The last one seen is settled before the next page is asked for: the page goes on after it.
    await settle(admin, waiting[0]!.id, { notBooked: true });
    const next = await app.gql(
      Unplaced,
      { first: 2, after: first.data!.unplacedDeliveries.pageInfo.endCursor },
      { token: admin },
    );
    expect(next.errors, JSON.stringify(next.body)).toBeUndefined();
    expect(next.data?.unplacedDeliveries.edges.map((e) => e.node.id)).toEqual(everyone.slice(at + 1, at + 3));
    const bad = await app.gql(Unplaced, { first: 2, after: 'nonsense' }, { token: admin });
    expect(bad.errors?.[0]?.message).toBe('This is not a cursor of this list');
  });

  it('refuses everyone but platform admins, before anything runs', async () => {
    const { order } = await unplaced(false);
    app.clock.advance(6 * 60_000);
    const caller = await createActors(app);
    for (const token of [caller.owner.token, caller.staff.token, caller.keyWrite.secret, undefined]) {
      const list = await app.gql(Unplaced, { first: 5 }, token ? { token } : {});
      expect(list.errors?.[0]?.extensions?.code, JSON.stringify(list.body)).toMatch(
        /FORBIDDEN|UNAUTHENTICATED/,
      );
      const res = await app.gql(Settle, { id: gid(order.id), notBooked: true }, token ? { token } : {});
      expect(res.errors?.[0]?.extensions?.code, JSON.stringify(res.body)).toMatch(
        /FORBIDDEN|UNAUTHENTICATED/,
      );
    }
    expect(await app.services.db.deliveryOrder.findUniqueOrThrow({ where: { id: order.id } })).toEqual(order);
  });
});
