/**
 * The daily `data-retention` job deletes history past its retention and nothing else: finished
 * webhook deliveries (with their attempts) after 30 days but never a pending one, public A2A tasks
 * without a booking after 7 days and a booking's after 180, recovered-job records after 90 days,
 * tool-call audits after 180 days.
 * Sign-in codes a day after they expired; confirmations and unordered delivery quotes 30 days after
 * they expired, reminders 30 days after they were sent or cancelled; refresh tokens only once their whole family (one
 * sign-in) expired a day ago, so a rotated token of a live session is still known as reused.
 * Configured ones: Stripe and Lalamove events once applied, usage events once reported or
 * abandoned, chat messages once handled or ignored (failed ones later); never one still pending
 * or unbilled. What was sent is emptied (its row and key kept) once sent or given up.
 * In batches, and a second run deletes nothing more.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dataRetentionTask,
  pruneExpiredRecords,
  RETENTION_DAYS,
} from '../../src/domain/operations/retention.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { crontab } from '../../src/worker/crontab.ts';
import { parseSchedules } from '../../src/worker/crontab-check.ts';
import { handlers } from '../../src/worker/task-list.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { person } from '../helpers/authz.ts';
import { runDueJobs, waitFor } from '../helpers/jobs.ts';

const DAY = 86_400_000;
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const daysAgo = (days: number, plus = 0) => new Date(app.clock.now().getTime() - days * DAY + plus);
const settings = () => app.services.config.retention;

/** A person's delivery quote (their addresses in its stops), expiring at `expiresAt`. */
function deliveryQuote(userId: string, expiresAt: Date) {
  return app.services.db.deliveryQuote.create({
    data: {
      userId,
      externalQuotationId: `q_${randomUUID()}`,
      serviceType: 'MOTORCYCLE',
      stops: [{ address: 'Rua das Flores 12' }, { address: 'Avenida da Liberdade 3' }],
      priceTotal: '42000',
      currency: 'IDR',
      expiresAt,
    },
  });
}

/** A delivery of the quote an operator settled as never booked at `settledAt`; its id. */
async function notPlacedOrder(quote: { id: string; userId: string }, settledAt: Date): Promise<string> {
  const [order] = await app.services.db.$queryRaw<{ id: string }[]>`
    INSERT INTO delivery_orders (id, quote_id, user_id, external_order_id, status, price_total, currency, updated_at)
    VALUES (gen_random_uuid(), ${quote.id}::uuid, ${quote.userId}::uuid, ${`pending:${randomUUID()}`},
            'NOT_PLACED', '42000', 'IDR', ${settledAt})
    RETURNING id::text`;
  return order!.id;
}

async function world() {
  const db = app.services.db;
  const organization = await db.organization.create({ data: { name: `Retention ${randomUUID()}` } });
  const owner = await person(app, organization.id, 'OWNER');
  const venue = await createBookableVenue(db, {});
  const startsAt = new Date(app.clock.now().getTime() + DAY);
  const booking = await db.booking.create({
    data: {
      venueId: venue.id,
      guestId: owner.userId,
      partySize: 2,
      startsAt,
      endsAt: new Date(startsAt.getTime() + 90 * 60_000),
      source: 'A2A',
    },
  });
  const subscription = await db.webhookSubscription.create({
    data: {
      organizationId: organization.id,
      url: 'https://hooks.example.com/agnt',
      events: ['booking.confirmed'],
      secretCiphertext: 'sealed',
      secretKeyId: 'k1',
    },
  });
  // One that ended long ago, as a booking whose tasks may go.
  const pastStart = new Date(app.clock.now().getTime() - 200 * DAY);
  const past = await db.booking.create({
    data: {
      venueId: venue.id,
      guestId: owner.userId,
      partySize: 2,
      startsAt: pastStart,
      endsAt: new Date(pastStart.getTime() + 90 * 60_000),
      status: 'COMPLETED',
      source: 'A2A',
    },
  });
  return {
    organizationId: organization.id,
    bookingId: booking.id,
    pastBookingId: past.id,
    subscriptionId: subscription.id,
  };
}

describe('data retention', () => {
  it('is scheduled daily, with its handler listed', () => {
    const items = parseSchedules(crontab, handlers).filter((i) => i.task === 'data-retention');
    expect(items).toHaveLength(1);
    expect(handlers.map((h) => h.name)).toContain('data-retention');
  });

  it('deletes what is past its retention, keeps the rest, in batches; a second run deletes nothing', async () => {
    const db = app.services.db;
    const w = await world();
    const task = (bookingId: string | null, updatedAt: Date) =>
      db.$executeRaw`INSERT INTO a2a_tasks (id, organization_id, context_id, booking_id, task, created_at, updated_at)
        VALUES (${randomUUID()}::uuid, ${w.organizationId}::uuid, 'ctx', ${bookingId}::uuid, '{}'::jsonb, ${updatedAt}, ${updatedAt})`;
    const minute = 60_000;
    await task(null, daysAgo(RETENTION_DAYS.a2aTasksWithoutBooking, -minute)); // gone
    await task(null, daysAgo(RETENTION_DAYS.a2aTasksWithoutBooking, minute)); // kept
    await task(w.bookingId, daysAgo(RETENTION_DAYS.a2aTasksWithoutBooking + 1)); // kept: a booking's
    await task(w.pastBookingId, daysAgo(RETENTION_DAYS.a2aTasksOfBooking, -minute)); // gone
    // Kept: unchanged for as long, but its booking is still to come (made months ahead).
    await task(w.bookingId, daysAgo(RETENTION_DAYS.a2aTasksOfBooking, -minute));

    const delivery = async (status: 'PENDING' | 'DELIVERED' | 'FAILED', createdAt: Date) => {
      const id = randomUUID();
      await db.webhookDelivery.create({
        data: {
          id,
          subscriptionId: w.subscriptionId,
          messageId: `msg_${id}`,
          eventType: 'booking.confirmed',
          payload: {},
          status,
          queuedAt: createdAt,
          createdAt,
          attemptLog: { create: [{ attemptedAt: createdAt, durationMs: 12, statusCode: 200 }] },
        },
      });
      return id;
    };
    const old = daysAgo(RETENTION_DAYS.webhookDeliveries, -minute);
    const oldDelivered = await delivery('DELIVERED', old);
    const oldFailed = await delivery('FAILED', old);
    const oldPending = await delivery('PENDING', old);
    const recent = await delivery('DELIVERED', daysAgo(RETENTION_DAYS.webhookDeliveries, minute));

    const recovery = (recoveredAt: Date) =>
      db.jobRecovery.create({
        data: {
          jobId: 1n,
          taskIdentifier: 'noop',
          workerId: 'w',
          outcome: 'RELEASED',
          reason: 'worker died',
          attempts: 1,
          maxAttempts: 3,
          runAt: recoveredAt,
          lockedAt: recoveredAt,
          jobCreatedAt: recoveredAt,
          recoveredAt,
        },
      });
    const oldRecovery = await recovery(daysAgo(RETENTION_DAYS.jobRecoveries, -minute));
    const newRecovery = await recovery(daysAgo(RETENTION_DAYS.jobRecoveries, minute));

    const { userId: caller } = await person(app, w.organizationId, 'STAFF');
    const toolCall = (createdAt: Date) =>
      db.toolCall.create({
        data: {
          userId: caller,
          tool: 'search_venues',
          sideEffect: 'READ',
          input: { text: 'sushi' },
          outcome: 'OK',
          durationMs: 3,
          createdAt,
        },
      });
    await toolCall(daysAgo(RETENTION_DAYS.toolCalls, -minute)); // gone
    const recentCall = await toolCall(daysAgo(RETENTION_DAYS.toolCalls, minute)); // kept

    // Batches of one: every batch is its own statement, and the loop runs until nothing is left.
    const deleted = await pruneExpiredRecords(db, app.clock.now(), settings(), 1);
    expect(deleted.webhookDeliveries).toBeGreaterThanOrEqual(2);
    expect(deleted.jobRecoveries).toBeGreaterThanOrEqual(1);

    const tasks = await db.a2aTask.findMany({ where: { organizationId: w.organizationId } });
    expect(tasks.map((t) => [t.bookingId, t.updatedAt > daysAgo(8)]).sort()).toEqual(
      [
        [null, true],
        [w.bookingId, false],
        [w.bookingId, false],
      ].sort(),
    );
    const deliveries = await db.webhookDelivery.findMany({ where: { subscriptionId: w.subscriptionId } });
    expect(deliveries.map((d) => d.id).sort()).toEqual([oldPending, recent].sort());
    expect(await db.webhookAttempt.count({ where: { deliveryId: { in: [oldDelivered, oldFailed] } } })).toBe(
      0,
    );
    const recoveries = await db.jobRecovery.findMany({
      where: { id: { in: [oldRecovery.id, newRecovery.id] } },
    });
    expect(recoveries.map((r) => r.id)).toEqual([newRecovery.id]);
    expect((await db.toolCall.findMany({ where: { userId: caller } })).map((c) => c.id)).toEqual([
      recentCall.id,
    ]);

    // The scheduled job, run as a worker runs it, finds nothing more of these.
    await enqueue(db, dataRetentionTask, {});
    await runDueJobs(app, ['data-retention']);
    expect(await db.a2aTask.count({ where: { organizationId: w.organizationId } })).toBe(3);
    expect(await db.webhookDelivery.count({ where: { subscriptionId: w.subscriptionId } })).toBe(2);
    expect(await db.jobRecovery.count({ where: { id: newRecovery.id } })).toBe(1);
    expect(await db.toolCall.count({ where: { userId: caller } })).toBe(1);
  });

  it('deletes receipts held for a message never recorded a day after they came', async () => {
    const db = app.services.db;
    const id = `wamid.retention-${randomUUID()}`;
    const held = (receivedAt: Date) =>
      db.heldReceipt.create({
        data: { platform: 'WHATSAPP', externalMessageId: id, status: 'READ', at: receivedAt, receivedAt },
      });
    await held(daysAgo(RETENTION_DAYS.heldReceipts, -60_000)); // gone
    const recent = await held(daysAgo(RETENTION_DAYS.heldReceipts, 60_000)); // kept
    const deleted = await pruneExpiredRecords(db, app.clock.now(), settings(), 1);
    expect(deleted.heldReceipts).toBeGreaterThanOrEqual(1);
    expect((await db.heldReceipt.findMany({ where: { externalMessageId: id } })).map((r) => r.id)).toEqual([
      recent.id,
    ]);
  });

  it('deletes sign-in codes a day after expiry and refresh tokens once their whole family expired', async () => {
    const db = app.services.db;
    const now = app.clock.now();
    const email = `retention-${randomUUID()}@example.com`;
    const code = (expiresAt: Date) =>
      db.signInCode.create({ data: { email, codeHash: randomUUID(), expiresAt } });
    await code(daysAgo(RETENTION_DAYS.signInCodes, -60_000)); // gone
    const fresh = await code(daysAgo(RETENTION_DAYS.signInCodes, 60_000)); // kept

    const user = await db.user.create({ data: { email } });
    const token = (familyId: string, expiresAt: Date, rotatedAt: Date | null = null) =>
      db.refreshToken.create({
        data: { userId: user.id, familyId, tokenHash: randomUUID(), expiresAt, rotatedAt },
      });
    const [dead, live] = [randomUUID(), randomUUID()];
    await token(dead, daysAgo(RETENTION_DAYS.refreshTokenFamilies + 3), now);
    await token(dead, daysAgo(RETENTION_DAYS.refreshTokenFamilies, -60_000));
    // A live family keeps its long-expired rotated token: presenting it again is reuse.
    const rotated = await token(live, daysAgo(40), now);
    const current = await token(live, new Date(now.getTime() + 20 * DAY));

    await pruneExpiredRecords(db, now, settings(), 1);
    expect((await db.signInCode.findMany({ where: { email } })).map((c) => c.id)).toEqual([fresh.id]);
    const tokens = await db.refreshToken.findMany({ where: { userId: user.id } });
    expect(tokens.map((t) => t.id).sort()).toEqual([rotated.id, current.id].sort());

    const again = await pruneExpiredRecords(db, now, settings());
    expect(await db.signInCode.count({ where: { email } })).toBe(1);
    expect(await db.refreshToken.count({ where: { userId: user.id } })).toBe(2);
    expect(again.refreshTokens).toBe(0);
  });

  it('deletes confirmations and unordered quotes 30 days after they expired, and reminders 30 days after they were sent or cancelled', async () => {
    const db = app.services.db;
    const now = app.clock.now();
    const minute = 60_000;
    const user = await db.user.create({ data: { email: `retention-${randomUUID()}@example.com` } });
    const old = daysAgo(RETENTION_DAYS.confirmations, -minute);
    const recent = daysAgo(RETENTION_DAYS.confirmations, minute);
    const confirmation = (expiresAt: Date, quoteId: string | null = null) =>
      db.confirmation.create({
        data: {
          userId: user.id,
          quoteId,
          tokenHash: randomUUID(),
          expiresAt,
          ...(quoteId
            ? { priceTotal: '42000', currency: 'IDR' }
            : { action: { tool: 'ask_venue', input: { text: 'Is the terrace open?' }, summary: 'Ask' } }),
        },
      });
    await confirmation(old); // gone
    const keptConfirmation = await confirmation(recent);
    const quote = (expiresAt: Date) => deliveryQuote(user.id, expiresAt);
    const unordered = await quote(daysAgo(RETENTION_DAYS.deliveryQuotes, -minute)); // gone, with its confirmation
    await confirmation(recent, unordered.id);
    const ordered = await quote(daysAgo(RETENTION_DAYS.deliveryQuotes, -minute)); // kept: its order needs it
    await db.deliveryOrder.create({
      data: {
        quoteId: ordered.id,
        userId: user.id,
        externalOrderId: `o_${randomUUID()}`,
        status: 'COMPLETED',
        priceTotal: '42000',
        currency: 'IDR',
      },
    });
    const fresh = await quote(daysAgo(RETENTION_DAYS.deliveryQuotes, minute)); // kept
    // Orders an operator settled as never booked: gone with their quotes 30 days after.
    const notPlaced = async (settledAt: Date) => {
      const settled = await quote(daysAgo(RETENTION_DAYS.deliveryQuotes + 1));
      await notPlacedOrder(settled, settledAt);
      return settled;
    };
    await notPlaced(daysAgo(RETENTION_DAYS.notPlacedOrders, -minute)); // gone, with its quote
    const settledLately = await notPlaced(daysAgo(RETENTION_DAYS.notPlacedOrders, minute)); // kept
    const reminder = (fields: { sentAt?: Date; cancelledAt?: Date }) =>
      db.reminder.create({
        data: { userId: user.id, text: 'Call Ana about the biopsy', dueAt: daysAgo(60), ...fields },
      });
    await reminder({ sentAt: daysAgo(RETENTION_DAYS.reminders, -minute) }); // gone
    await reminder({ cancelledAt: daysAgo(RETENTION_DAYS.reminders, -minute) }); // gone
    const sentLately = await reminder({ sentAt: daysAgo(RETENTION_DAYS.reminders, minute) });
    const due = await reminder({}); // not sent yet: kept, however old

    const first = await pruneExpiredRecords(db, now, settings(), 1);
    expect(first).toMatchObject({ deliveryQuotes: 2, notPlacedOrders: 1, reminders: 2 });
    expect((await db.confirmation.findMany({ where: { userId: user.id } })).map((c) => c.id)).toEqual([
      keptConfirmation.id,
    ]);
    expect((await db.deliveryQuote.findMany({ where: { userId: user.id } })).map((q) => q.id).sort()).toEqual(
      [ordered.id, fresh.id, settledLately.id].sort(),
    );
    expect((await db.reminder.findMany({ where: { userId: user.id } })).map((r) => r.id).sort()).toEqual(
      [sentLately.id, due.id].sort(),
    );
    expect(await pruneExpiredRecords(db, now, settings())).toMatchObject({
      confirmations: 0,
      deliveryQuotes: 0,
      notPlacedOrders: 0,
      reminders: 0,
    });
  });

  it('keeps a delivery settled as booked while its deletion as never booked waited for it', async () => {
    const db = app.services.db;
    const user = await db.user.create({ data: { email: `retention-${randomUUID()}@example.com` } });
    const quote = await deliveryQuote(user.id, daysAgo(RETENTION_DAYS.deliveryQuotes + 2));
    const orderId = await notPlacedOrder(quote, daysAgo(RETENTION_DAYS.notPlacedOrders + 1));
    // An operator settles it as booked after all, in a transaction the deletion has to wait for.
    let commit!: () => void;
    const committed = new Promise<void>((resolve) => {
      commit = resolve;
    });
    const settling = db.$transaction(async (tx) => {
      await tx.$executeRaw`
        UPDATE delivery_orders SET external_order_id = ${`lalamove-${randomUUID()}`}, status = 'PICKED_UP'
        WHERE id = ${orderId}::uuid`;
      await committed;
    });
    const pruning = pruneExpiredRecords(db, app.clock.now(), settings());
    await waitFor(async () => {
      const [row] = await db.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`;
      return (row?.n ?? 0) >= 1;
    }, 'the deletion to wait for the settling');
    commit();
    await settling;
    await pruning;
    expect(await db.deliveryOrder.findUnique({ where: { id: orderId } })).toMatchObject({
      status: 'PICKED_UP',
    });
    expect(await db.deliveryQuote.count({ where: { id: quote.id } })).toBe(1);
  });

  it('deletes invitations to join an organisation 90 days after they were sent, answered or not', async () => {
    const db = app.services.db;
    const now = app.clock.now();
    const inviter = await db.user.create({ data: { email: `inviter-${randomUUID()}@example.com` } });
    const organization = await db.organization.create({ data: { name: 'Retention Org' } });
    const invitation = (createdAt: Date, status: 'PENDING' | 'ACCEPTED' | 'DECLINED') =>
      db.organizationInvitation.create({
        data: {
          organizationId: organization.id,
          email: `invited-${randomUUID()}@example.com`,
          role: 'STAFF',
          status,
          invitedById: inviter.id,
          createdAt,
          expiresAt: new Date(createdAt.getTime() + 14 * DAY),
        },
      });
    const old = await invitation(daysAgo(RETENTION_DAYS.invitations, -60_000), 'ACCEPTED'); // gone
    await invitation(daysAgo(RETENTION_DAYS.invitations, -60_000), 'PENDING'); // lapsed long ago: gone
    const recent = await invitation(daysAgo(RETENTION_DAYS.invitations, 60_000), 'ACCEPTED'); // kept
    // Their emails go with them.
    const emailOf = (sent: { id: string; email: string }) =>
      db.outboundMessage.create({
        data: {
          userId: inviter.id,
          kind: 'organization.invitation',
          channel: 'EMAIL',
          emailTo: sent.email,
          body: 'Join us',
          dedupeKey: `invitation:${sent.id}`,
          data: { invitationId: sent.id },
        },
      });
    await emailOf(old);
    const kept = await emailOf(recent);
    // One whose text and address were emptied long before (RETENTION_MESSAGE_TEXT_DAYS) goes too.
    const older = await invitation(daysAgo(RETENTION_DAYS.invitations, -60_000), 'DECLINED');
    const emptied = await emailOf(older);
    await db.outboundMessage.update({ where: { id: emptied.id }, data: { body: '', emailTo: null } });

    const first = await pruneExpiredRecords(db, now, settings(), 1);
    expect(first.invitations).toBe(3);
    const left = await db.organizationInvitation.findMany({ where: { organizationId: organization.id } });
    expect(left.map((i) => i.id)).toEqual([recent.id]);
    const emails = await db.outboundMessage.findMany({ where: { userId: inviter.id } });
    expect(emails.map((m) => m.id)).toEqual([kept.id]);
    expect((await pruneExpiredRecords(db, now, settings())).invitations).toBe(0);
  });

  it('deletes applied provider events, settled usage and handled or failed chat messages past their configured retention, and empties what was sent, nothing else', async () => {
    const db = app.services.db;
    const { providerEventsDays, usageEventsDays, inboundEventsDays, failedInboundDays, messageTextDays } =
      settings();
    const minute = 60_000;

    const providerEvent = (receivedAt: Date, processedAt: Date | null) =>
      db.providerEvent.create({
        data: {
          provider: 'stripe',
          eventId: `evt_${randomUUID()}`,
          eventType: 'invoice.paid',
          payload: {},
          receivedAt,
          processedAt,
          outcome: processedAt && 'applied:stripe',
        },
      });
    const longAgo = daysAgo(providerEventsDays + 100);
    const applied = await providerEvent(longAgo, daysAgo(providerEventsDays, -minute)); // gone
    const appliedLately = await providerEvent(longAgo, daysAgo(providerEventsDays, minute)); // kept
    // Never applied (its job failed for good, or still retries): kept for an operator.
    const unapplied = await providerEvent(longAgo, null);
    const providerIds = [applied.id, appliedLately.id, unapplied.id];

    const organization = await db.organization.create({ data: { name: `Usage ${randomUUID()}` } });
    const usage = (
      occurredAt: Date,
      settled: { reportedAt?: Date; abandonedAt?: Date; claimedUntil?: Date },
    ) =>
      db.usageEvent.create({
        data: {
          organizationId: organization.id,
          meter: 'A2A_BOOKING',
          quantity: 1n,
          occurredAt,
          usageKey: `retention:${randomUUID()}`,
          createdAt: occurredAt,
          ...settled,
        },
      });
    const old = daysAgo(usageEventsDays, -minute);
    const reportedAt = new Date(old.getTime() + DAY);
    await usage(old, { reportedAt }); // gone
    await usage(old, { abandonedAt: new Date(old.getTime() + 36 * DAY) }); // gone: never billable
    const unreported = await usage(old, {}); // kept: still to be billed
    const claimed = await usage(old, { claimedUntil: app.clock.now() }); // kept: being reported
    const recentUsage = await usage(daysAgo(usageEventsDays, minute), { reportedAt }); // kept

    const chat = `retention-${randomUUID()}`;
    const inbound = (status: 'PENDING' | 'PROCESSED' | 'IGNORED' | 'FAILED', receivedAt: Date) =>
      db.inboundEvent.create({
        data: {
          platform: 'TELEGRAM',
          account: 'agnt',
          externalId: randomUUID(),
          externalChatId: chat,
          eventType: 'message',
          status,
          receivedAt,
          processedAt: status === 'PENDING' || status === 'IGNORED' ? null : receivedAt,
        },
      });
    const arrived = daysAgo(inboundEventsDays, -minute);
    await inbound('PROCESSED', arrived); // gone
    await inbound('IGNORED', arrived); // gone
    const failed = await inbound('FAILED', arrived); // kept for an operator
    const pending = await inbound('PENDING', arrived); // kept: still to be handled
    const recentMessage = await inbound('PROCESSED', daysAgo(inboundEventsDays, minute)); // kept
    // A failed one is kept longer, for an operator to retry, then goes too.
    await inbound('FAILED', daysAgo(failedInboundDays, -minute)); // gone
    const pendingLong = await inbound('PENDING', daysAgo(failedInboundDays, -minute)); // kept

    // What we sent: its text is emptied once sent or given up; the row and its key stay.
    const owner = await person(app, organization.id, 'OWNER');
    const sent = (status: 'PENDING' | 'SENT' | 'FAILED', createdAt: Date, extra: object = {}) =>
      db.outboundMessage.create({
        data: {
          userId: owner.userId,
          kind: 'booking.confirmed',
          body: 'Your table for 2 at Tasca do Chico, Friday 20:00, is confirmed.',
          content: { buttons: [{ text: 'Cancel', payload: 'cancel:1' }] },
          dedupeKey: `retention:${randomUUID()}`,
          status,
          createdAt,
          ...extra,
        },
      });
    const written = daysAgo(messageTextDays, -minute);
    const sentLong = await sent('SENT', written); // emptied
    const mailed = await sent('FAILED', written, {
      channel: 'EMAIL',
      emailTo: owner.email,
      subject: 'Confirmed',
    }); // emptied
    const unsent = await sent('PENDING', written); // kept whole: still to be sent
    const sentLately = await sent('SENT', daysAgo(messageTextDays, minute)); // kept whole

    const deleted = await pruneExpiredRecords(db, app.clock.now(), settings(), 1);
    expect({
      providerEvents: deleted.providerEvents,
      usageEvents: deleted.usageEvents,
      inboundEvents: deleted.inboundEvents,
      failedInboundEvents: deleted.failedInboundEvents,
      messageTexts: deleted.messageTexts,
    }).toEqual({
      providerEvents: 1,
      usageEvents: 2,
      inboundEvents: 2,
      failedInboundEvents: 1,
      messageTexts: 2,
    });

    const providerLeft = await db.providerEvent.findMany({ where: { id: { in: providerIds } } });
    expect(providerLeft.map((e) => e.id).sort()).toEqual([appliedLately.id, unapplied.id].sort());
    const usageLeft = await db.usageEvent.findMany({ where: { organizationId: organization.id } });
    expect(usageLeft.map((e) => e.id).sort()).toEqual([unreported.id, claimed.id, recentUsage.id].sort());
    const inboundLeft = await db.inboundEvent.findMany({ where: { externalChatId: chat } });
    expect(inboundLeft.map((e) => e.id).sort()).toEqual(
      [failed.id, pending.id, recentMessage.id, pendingLong.id].sort(),
    );
    const messages = await db.outboundMessage.findMany({
      where: { userId: owner.userId },
      select: {
        id: true,
        body: true,
        content: true,
        subject: true,
        emailTo: true,
        dedupeKey: true,
        status: true,
      },
    });
    const byId = new Map(messages.map((m) => [m.id, m]));
    for (const emptied of [sentLong, mailed]) {
      expect(byId.get(emptied.id)).toEqual({
        id: emptied.id,
        body: '',
        content: {},
        subject: null,
        emailTo: null,
        dedupeKey: emptied.dedupeKey,
        status: emptied.status,
      });
    }
    for (const whole of [unsent, sentLately]) expect(byId.get(whole.id)?.body).toBe(whole.body);

    // The scheduled job, with the configured periods, finds nothing more of these.
    await enqueue(db, dataRetentionTask, {});
    await runDueJobs(app, ['data-retention']);
    expect(await db.providerEvent.count({ where: { id: { in: providerIds } } })).toBe(2);
    expect(await db.usageEvent.count({ where: { organizationId: organization.id } })).toBe(3);
    expect(await db.inboundEvent.count({ where: { externalChatId: chat } })).toBe(4);
    const again = await pruneExpiredRecords(db, app.clock.now(), settings());
    expect([
      again.providerEvents,
      again.usageEvents,
      again.inboundEvents,
      again.failedInboundEvents,
      again.messageTexts,
    ]).toEqual([0, 0, 0, 0, 0]);
  });
});
