/**
 * Notices that reach everyone: the person's chat where they have one, else email through the
 * real SMTP transport (to the loopback SMTP server), written in their language; failed with the
 * reason when there is neither. Jobs are run in this process (`runDueJobs`) so each step is seen.
 * And the feedback request's answer, by chat tool and by GraphQL, shown to the venue.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dailySummaryTask } from '../../src/domain/bookings/tasks.ts';
import { runToolCall } from '../../src/domain/conversation/tools.ts';
import { NoticeEmailRetry, noticeEmailTask, sendNoticeEmail } from '../../src/domain/notices/email.ts';
import { noticeChat, noticeChatSql, queueNotice } from '../../src/domain/notices/notices.ts';
import {
  NOTICE_KINDS,
  NOTICE_LANGUAGES,
  noticeLanguage,
  renderNotice,
} from '../../src/domain/notices/templates.ts';
import { leaveFeedbackTool } from '../../src/domain/tools/bookings.ts';
import { smtpMailer } from '../../src/integrations/mail/mailer.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { createBooking } from '../factories/bookings.ts';
import { createOrganization, createPerson, tag } from '../factories/people.ts';
import { toolContext } from '../factories/tools.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { graphql } from '../generated/index.ts';
import { startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';
import { accessToken } from '../helpers/authz.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const zone = 'Asia/Makassar';
let app: TestApp;
let ownerId: string;
let ownerEmail: string;
let ownerToken: string;
let venue: { id: string; name: string };

beforeAll(async () => {
  app = await startTestApp();
  const db = app.services.db;
  // An owner who signs in by email and reads Indonesian (Bali).
  const owner = await createPerson(db, { label: 'owner', language: 'id-ID' });
  ownerId = owner.id;
  ownerEmail = owner.email!;
  ownerToken = await accessToken(app, owner.id);
  const org = await createOrganization(db, { members: [{ userId: owner.id, role: 'OWNER' }] });
  venue = await createBookableVenue(db, {
    name: `Warung Senja ${tag()}`,
    timeZone: zone,
    organizationId: org.id,
    leadTimeMinutes: 0,
  });
}, 60_000);
afterAll(() => app?.close());

/** `time` on the local day `days` from today, at the venue. */
function local(days: number, time: string): Date {
  const today = Temporal.Now.zonedDateTimeISO(zone).toPlainDate();
  return new Date(today.add({ days }).toZonedDateTime({ timeZone: zone, plainTime: time }).epochMilliseconds);
}

/** Makes the keyed job due now (it was scheduled for later). */
async function makeDue(key: string) {
  const { rowCount } = await app.services.database.pool.query(
    `SELECT graphile_worker.reschedule_jobs(ARRAY(SELECT id FROM graphile_worker.jobs WHERE key = $1), run_at => now())`,
    [key],
  );
  expect(rowCount, `a job keyed ${key}`).toBe(1);
}

async function mailsTo(address: string) {
  return app.smtp.messages.filter((m) => m.envelopeTo.includes(address.toLowerCase()));
}

const CreateBooking = graphql(`
  mutation NoticesCreateBooking($input: CreateBookingInput!) {
    createBooking(input: $input) {
      __typename
      ... on BookingPayload { booking { id status } }
      ... on Error { message }
    }
  }
`);

const LeaveFeedback = graphql(`
  mutation NoticesLeaveFeedback($input: LeaveBookingFeedbackInput!) {
    leaveBookingFeedback(input: $input) {
      __typename
      ... on BookingPayload { booking { id feedback { score comment } } }
      ... on ValidationError { field }
      ... on Error { message }
    }
  }
`);

const BookingFeedback = graphql(`
  query NoticesBookingFeedback($id: ID!, $venueId: ID!) {
    node(id: $id) { ... on Booking { feedback { score comment } } }
    venue: node(id: $venueId) { ... on Venue { feedbackSummary { average count } } }
  }
`);

describe('notices by email', () => {
  it("an email-only guest booked by the venue's team gets the confirmation and both reminders by email, in Spanish", async () => {
    const guestEmail = uniqueEmail('guest');
    const guest = await createPerson(app.services.db, { email: guestEmail, language: 'es-MX' });
    const startsAt = local(3, '19:00');
    const created = await app.gql(
      CreateBooking,
      {
        input: {
          venueId: encodeGlobalID('Venue', venue.id),
          startsAt: startsAt.toISOString(),
          partySize: 2,
          guestEmail,
        },
      },
      { token: ownerToken },
    );
    const booking = created.data?.createBooking;
    expect(booking?.__typename, JSON.stringify(created.body)).toBe('BookingPayload');
    const bookingId = Buffer.from((booking as { booking: { id: string } }).booking.id, 'base64')
      .toString()
      .split(':')[1]!;

    // Queued as an email, with its job, in the booking's transaction; sent when the job runs.
    const queued = await app.services.db.outboundMessage.findFirstOrThrow({
      where: { bookingId, kind: 'booking.confirmed' },
    });
    expect(queued).toMatchObject({ channel: 'EMAIL', emailTo: guestEmail, chatId: null, status: 'PENDING' });
    await runDueJobs(app, ['notice-email']);
    const confirmation = await app.smtp.nextMessageTo(guestEmail);
    const when = /[^,]+, \d+ [^,]+, 19:00/.source;
    expect(confirmation.subject).toMatch(new RegExp(`^Reserva confirmada: ${venue.name}, ${when}$`));
    expect(confirmation.text).toMatch(
      new RegExp(`^Tu mesa para 2 en ${venue.name} el ${when} está confirmada\\.$`),
    );
    expect(
      await app.services.db.outboundMessage.findUniqueOrThrow({ where: { id: queued.id } }),
    ).toMatchObject({ status: 'SENT', attempts: 1 });

    for (const [before, words] of [
      ['24h', 'mañana'],
      ['2h', 'dentro de dos horas'],
    ] as const) {
      await makeDue(`booking:${bookingId}:reminder-${before}`);
      await runDueJobs(app, ['booking-reminder']);
      await runDueJobs(app, ['notice-email']);
      const reminder = await app.smtp.nextMessageTo(guestEmail);
      expect(reminder.text).toMatch(
        new RegExp(
          `^Recordatorio: tu mesa para 2 en ${venue.name} es ${words}, ${when}\\. Si cambian tus planes, cancela la reserva o avisa al local\\.$`,
        ),
      );
    }
    expect(await mailsTo(guestEmail)).toHaveLength(3);
    expect(await app.services.db.booking.findUniqueOrThrow({ where: { id: bookingId } })).toMatchObject({
      guestId: guest.id,
      status: 'CONFIRMED',
    });
  });

  it("an email-only owner gets the venue's daily summary by email, in Indonesian", async () => {
    const guest = await createPerson(app.services.db);
    await createBooking(app.services.db, {
      venueId: venue.id,
      guestId: guest.id,
      startsAt: local(20, '19:30'),
      partySize: 4,
      status: 'CONFIRMED',
    });
    const seven = local(20, '07:15').toISOString();
    const job = await enqueue(app.services.db, dailySummaryTask, { _cron: { ts: seven } });
    expect(job.id).toBeTruthy();
    await runDueJobs(app, ['venue-daily-summary']);
    await runDueJobs(app, ['notice-email']);
    const summary = await app.smtp.nextMessageTo(ownerEmail);
    expect(summary.subject).toBe(`${venue.name} hari ini: 1 pemesanan, 4 tamu.`);
    expect(summary.text).toBe(`${venue.name} hari ini: 1 pemesanan, 4 tamu.\n• 19.30 — 4 (dikonfirmasi)`);
    const row = await app.services.db.outboundMessage.findFirstOrThrow({
      where: { userId: ownerId, kind: 'venue.daily_summary' },
    });
    expect(row).toMatchObject({ channel: 'EMAIL', status: 'SENT', emailTo: ownerEmail });
  });

  it('a person with a chat still gets the chat, not an email', async () => {
    const person = await createPerson(app.services.db, { language: 'pt-BR' });
    const chat = await app.services.db.chat.create({
      data: {
        platform: 'TELEGRAM',
        account: 'notices_bot',
        externalChatId: `chat-${tag()}`,
        userId: person.id,
        lastInboundAt: new Date(),
      },
    });
    const result = await queueNotice(app.services.db, {
      userId: person.id,
      kind: 'booking.not_answered_yet',
      params: { venue: venue.name, partySize: 2, startsAt: local(2, '19:00'), timeZone: zone },
      dedupeKey: `test:${tag()}`,
    });
    expect(result).toEqual({ queued: true, via: 'CHAT' });
    const row = await app.services.db.outboundMessage.findFirstOrThrow({ where: { userId: person.id } });
    expect(row).toMatchObject({
      channel: 'CHAT',
      chatId: chat.id,
      emailTo: null,
      subject: null,
      status: 'PENDING',
      body: `${venue.name} ainda não respondeu; aviso você assim que responder.`,
    });
    // The chat's drain has its job; no email job was added.
    const { rows } = await app.services.database.pool.query<{ task_identifier: string }>(
      `SELECT task_identifier FROM graphile_worker.jobs WHERE key = $1 OR key = $2`,
      [`send:${chat.id}`, `notice-email:${row.id}`],
    );
    expect(rows.map((r) => r.task_identifier)).toEqual(['chat-send']);
  });

  it('a person whose only chat blocked us is reached by email', async () => {
    const person = await createPerson(app.services.db);
    await app.services.db.chat.create({
      data: {
        platform: 'TELEGRAM',
        account: 'notices_bot',
        externalChatId: `chat-${tag()}`,
        userId: person.id,
        unreachableAt: new Date(),
        unreachableReason: 'Forbidden: bot was blocked by the user',
      },
    });
    const result = await queueNotice(app.services.db, {
      userId: person.id,
      kind: 'booking.feedback',
      params: { venue: venue.name },
      dedupeKey: `test:${tag()}`,
    });
    expect(result).toEqual({ queued: true, via: 'EMAIL' });
  });

  it('a WhatsApp chat past its 24-hour window is passed over: another chat, else email, else FAILED saying why', async () => {
    const db = app.services.db;
    const hours = (n: number) => new Date(Date.now() - n * 3_600_000);
    const whatsapp = (userId: string, lastInboundAt: Date) =>
      db.chat.create({
        data: {
          platform: 'WHATSAPP',
          account: '15550001',
          externalChatId: `wa-${tag()}`,
          userId,
          lastInboundAt,
        },
      });
    const notice = (userId: string) =>
      queueNotice(db, {
        userId,
        kind: 'booking.feedback',
        params: { venue: venue.name },
        dedupeKey: `test:${tag()}`,
      });
    // Spoke on WhatsApp two hours ago: the chat.
    const recent = await createPerson(db);
    const open = await whatsapp(recent.id, hours(2));
    expect(await notice(recent.id)).toEqual({ queued: true, via: 'CHAT' });
    expect(await db.outboundMessage.findFirstOrThrow({ where: { userId: recent.id } })).toMatchObject({
      chatId: open.id,
    });
    // Quiet for two days on WhatsApp, with an older Telegram chat: the Telegram chat.
    const both = await createPerson(db);
    await whatsapp(both.id, hours(48));
    const telegram = await db.chat.create({
      data: {
        platform: 'TELEGRAM',
        account: 'notices_bot',
        externalChatId: `chat-${tag()}`,
        userId: both.id,
        lastInboundAt: hours(72),
      },
    });
    expect(await notice(both.id)).toEqual({ queued: true, via: 'CHAT' });
    expect(await db.outboundMessage.findFirstOrThrow({ where: { userId: both.id } })).toMatchObject({
      chatId: telegram.id,
    });
    // Quiet for 23½ hours (the window would close before it is sent), with an email: by email.
    const late = await createPerson(db);
    await whatsapp(late.id, new Date(Date.now() - 23.5 * 3_600_000));
    expect(await notice(late.id)).toEqual({ queued: true, via: 'EMAIL' });
    // Quiet for two days, no email: FAILED, saying why.
    const quiet = await db.user.create({ data: { displayName: 'Quiet' } });
    await whatsapp(quiet.id, hours(48));
    expect(await notice(quiet.id)).toEqual({ queued: true, via: null });
    expect(await db.outboundMessage.findFirstOrThrow({ where: { userId: quiet.id } })).toMatchObject({
      status: 'FAILED',
      failureReason:
        "The person's chats are past the 24 hours after their last message in which WhatsApp and Instagram take one, and they have no email address",
    });
  });

  it('takes the same chats for a notice in SQL as in its own query', async () => {
    const db = app.services.db;
    const person = await createPerson(db);
    const hours = (n: number) => new Date(Date.now() - n * 3_600_000);
    const chats = [
      { platform: 'WHATSAPP', lastInboundAt: hours(2) },
      { platform: 'WHATSAPP', lastInboundAt: hours(23.5) },
      { platform: 'INSTAGRAM', lastInboundAt: hours(1) },
      { platform: 'INSTAGRAM', lastInboundAt: null },
      { platform: 'TELEGRAM', lastInboundAt: hours(500) },
      { platform: 'TELEGRAM', lastInboundAt: hours(1), shared: true },
      {
        platform: 'TELEGRAM',
        lastInboundAt: hours(1),
        unreachableAt: hours(0.5),
        unreachableReason: 'blocked',
      },
    ] as const;
    for (const chat of chats) {
      await db.chat.create({
        data: { account: 'notices', externalChatId: `chat-${tag()}`, userId: person.id, ...chat },
      });
    }
    const now = new Date();
    const byQuery = await db.chat.findMany({
      where: { userId: person.id, ...noticeChat(now) },
      select: { id: true },
    });
    const bySql = await db.$queryRaw<{ id: string }[]>`
      SELECT c.id FROM chats c WHERE c.user_id = ${person.id}::uuid AND ${noticeChatSql(now)}`;
    expect(byQuery).toHaveLength(3);
    expect(bySql.map((row) => row.id).sort()).toEqual(byQuery.map((row) => row.id).sort());
  });

  it('nobody reachable: the notice is FAILED with the reason, and no job waits for it', async () => {
    const nobody = await app.services.db.user.create({ data: { displayName: 'No Way' } });
    const key = `test:${tag()}`;
    const params = { venue: venue.name, partySize: 2, startsAt: local(2, '19:00'), timeZone: zone };
    const result = await queueNotice(app.services.db, {
      userId: nobody.id,
      kind: 'booking.requested',
      params,
      dedupeKey: key,
    });
    expect(result).toEqual({ queued: true, via: null });
    const row = await app.services.db.outboundMessage.findUniqueOrThrow({ where: { dedupeKey: key } });
    expect(row).toMatchObject({
      status: 'FAILED',
      failureReason: 'The person has no chat with us and no email address',
      chatId: null,
      emailTo: null,
    });
    const { rowCount } = await app.services.database.pool.query(
      `SELECT FROM graphile_worker.jobs WHERE key = $1`,
      [`notice-email:${row.id}`],
    );
    expect(rowCount).toBe(0);
    // Queued again under the same key: nothing new.
    expect(
      await queueNotice(app.services.db, {
        userId: nobody.id,
        kind: 'booking.requested',
        params,
        dedupeKey: key,
      }),
    ).toEqual({ queued: false, via: null });
  });

  it('the email task run twice sends one mail', async () => {
    const person = await createPerson(app.services.db, { label: 'twice' });
    const key = `test:${tag()}`;
    await queueNotice(app.services.db, {
      userId: person.id,
      kind: 'venue.answer',
      params: { venue: venue.name, question: 'Do you have vegan dishes?', answer: 'Yes, several.' },
      dedupeKey: key,
    });
    const row = await app.services.db.outboundMessage.findUniqueOrThrow({ where: { dedupeKey: key } });
    await runDueJobs(app, ['notice-email']);
    // A second job for the same message (a duplicate, the outbox sweep), and a direct second run.
    await enqueue(app.services.db, noticeEmailTask, { messageId: row.id });
    await runDueJobs(app, ['notice-email']);
    const deps = {
      database: app.services.database,
      mailer: app.services.mailer,
      logger: app.services.logger,
      now: app.clock.now,
    };
    expect(await sendNoticeEmail(deps, row.id, { finalAttempt: false })).toBe('done');
    const mails = await mailsTo(person.email!);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.text).toBe(
      `${venue.name} answered your question "Do you have vegan dishes?": Yes, several.`,
    );
    expect(mails[0]!.headers.get('message-id')).toBe(`<${row.id}@notices.agnt>`);
    expect(await app.services.db.outboundMessage.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
      status: 'SENT',
      attempts: 1,
    });
  });

  it('a mail server that cannot take it now is retried; one that refuses for good fails the notice', async () => {
    const queue = async () => {
      const person = await createPerson(app.services.db, { label: 'smtp' });
      const key = `test:${tag()}`;
      await queueNotice(app.services.db, {
        userId: person.id,
        kind: 'booking.feedback',
        params: { venue: venue.name },
        dedupeKey: key,
      });
      return app.services.db.outboundMessage.findUniqueOrThrow({ where: { dedupeKey: key } });
    };
    const deps = (url: string) => ({
      database: app.services.database,
      mailer: smtpMailer(url, 'agnt@example.test', app.services.logger),
      logger: app.services.logger,
      now: app.clock.now,
    });

    // Nothing listens: transient. The row waits, its attempt counted; on the last attempt it fails.
    const down = deps('smtp://127.0.0.1:9');
    const waiting = await queue();
    await expect(sendNoticeEmail(down, waiting.id, { finalAttempt: false })).rejects.toBeInstanceOf(
      NoticeEmailRetry,
    );
    expect(
      await app.services.db.outboundMessage.findUniqueOrThrow({ where: { id: waiting.id } }),
    ).toMatchObject({
      status: 'PENDING',
      attempts: 1,
    });
    expect(await sendNoticeEmail(down, waiting.id, { finalAttempt: true })).toBe('failed');
    const gaveUp = await app.services.db.outboundMessage.findUniqueOrThrow({ where: { id: waiting.id } });
    expect(gaveUp.status).toBe('FAILED');
    expect(gaveUp.failureReason).toMatch(/^gave up after 2 attempts: /);

    // A server that answers 550 to the recipient: permanent, failed at once.
    const refusing = new SMTPServer({
      disabledCommands: ['STARTTLS', 'AUTH'],
      authOptional: true,
      logger: false,
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error('No such mailbox here'), { responseCode: 550 }));
      },
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { port } = refusing.server.address() as { port: number };
      const refused = await queue();
      expect(
        await sendNoticeEmail(deps(`smtp://127.0.0.1:${port}`), refused.id, { finalAttempt: false }),
      ).toBe('failed');
      const row = await app.services.db.outboundMessage.findUniqueOrThrow({ where: { id: refused.id } });
      expect(row.status).toBe('FAILED');
      expect(row.failureReason).toMatch(/^refused by the mail server: .*550/);
    } finally {
      await new Promise<void>((resolve) => refusing.close(() => resolve()));
    }
  });
});

describe('templates', () => {
  it('has every notice in every language, with a subject and a body', () => {
    const booking = {
      venue: 'Sari',
      partySize: 3,
      startsAt: new Date('2026-12-05T12:00:00Z'),
      timeZone: zone,
    };
    const params = {
      'booking.changed': { ...booking, was: { startsAt: new Date('2026-12-05T11:00:00Z'), partySize: 2 } },
      'booking.feedback': { venue: 'Sari' },
      'venue.answer': { venue: 'Sari', answer: 'Yes' },
      'venue.daily_summary': { venue: 'Sari', timeZone: zone, bookings: [] },
      'venue.review_decided': { venue: 'Sari', change: 'PUBLISH', approved: false, reason: 'A duplicate' },
      'billing.past_due': {
        organization: 'Sari',
        plan: 'AGNT Venue Growth',
        graceEndsAt: new Date('2026-12-12T12:00:00Z'),
        billingUrl: 'https://agnt.example/billing',
      },
      'billing.restricted': {
        organization: 'Sari',
        plan: 'AGNT Venue Growth',
        billingUrl: 'https://agnt.example/billing',
      },
      'billing.recovered': { organization: 'Sari', plan: 'AGNT Venue Growth' },
      'billing.fee_invoice_failed': {
        organization: 'Sari',
        month: '2026-11',
        amountMinor: 56_000n,
        currency: 'IDR',
        payUrl: 'https://invoice.stripe.test/i/in_1',
      },
      'webhook.disabled': { url: 'https://hooks.example.com/', organization: 'Sari', days: 5 },
      reminder: { text: 'Call Sari about Friday' },
      'account.reengagement': { name: 'Sari' },
      'delivery.driver_assigned': {
        destination: 'Jalan Sari 4',
        driver: 'Budi',
        plate: 'B 1234 XY',
        trackingUrl: 'https://share.lalamove.test/1',
        replacing: true,
      },
      'delivery.picked_up': { destination: 'Jalan Sari 4', trackingUrl: null },
      'delivery.completed': { destination: 'Jalan Sari 4' },
      'delivery.ended': { destination: 'Jalan Sari 4', status: 'EXPIRED' },
    } as Record<string, unknown>;
    for (const language of NOTICE_LANGUAGES) {
      for (const kind of NOTICE_KINDS) {
        for (const via of ['CHAT', 'EMAIL'] as const) {
          const rendered = renderNotice(kind, (params[kind] ?? booking) as never, { language, via });
          expect(rendered.language).toBe(language);
          expect(rendered.subject.length, `${language} ${kind}`).toBeGreaterThan(5);
          expect(rendered.body, `${language} ${kind}`).toContain('Sari');
        }
      }
    }
    expect(NOTICE_KINDS).toHaveLength(25);
  });

  it('tells a guest what their booking is now and what it was, when the venue changed it', () => {
    const changed = renderNotice(
      'booking.changed',
      {
        venue: 'Sari',
        partySize: 4,
        startsAt: new Date('2026-12-05T13:00:00Z'),
        timeZone: 'Asia/Jakarta',
        was: { startsAt: new Date('2026-12-05T12:00:00Z'), partySize: 2 },
      },
      { language: 'en', via: 'CHAT' },
    );
    expect(changed.body).toBe(
      "Sari has changed your booking: it is now for 4 on Sat 5 Dec, 20:00 (it was for 2 on Sat 5 Dec, 19:00). Tell me if that doesn't suit you.",
    );
  });

  it('writes an amount in its currency’s own minor units, as the language writes money', () => {
    const failed = (amountMinor: bigint, currency: string, language: 'en' | 'pt') =>
      renderNotice(
        'billing.fee_invoice_failed',
        { organization: 'Sari', month: '2026-11', amountMinor, currency, payUrl: 'https://pay.test/i' },
        { language, via: 'EMAIL' },
      ).body;
    expect(failed(560n, 'USD', 'en')).toContain('$5.60');
    expect(failed(500n, 'JPY', 'en')).toContain('¥500');
    expect(failed(560n, 'EUR', 'pt')).toContain('€\u00a05,60');
  });

  it("writes the venue's local time as the language does, and offers a declined booking's alternatives", () => {
    const at = new Date('2026-12-05T12:00:00Z'); // 20:00 in Bali
    const p = { venue: 'Sari', partySize: 2, startsAt: at, timeZone: zone };
    expect(renderNotice('booking.confirmed', p, { language: 'en', via: 'CHAT' }).body).toBe(
      'Your table for 2 at Sari on Sat 5 Dec, 20:00 is confirmed.',
    );
    expect(renderNotice('booking.confirmed', p, { language: 'id', via: 'CHAT' }).body).toBe(
      'Meja Anda untuk 2 orang di Sari pada Sab, 5 Des, 20.00 sudah dikonfirmasi.',
    );
    const alternatives = [new Date('2026-12-05T13:00:00Z'), new Date('2026-12-05T13:30:00Z')];
    expect(
      renderNotice('booking.declined', { ...p, alternatives }, { language: 'en', via: 'CHAT' }).body,
    ).toBe(
      "Sari can't take your booking for Sat 5 Dec, 20:00. They could do Sat 5 Dec, 21:00 or Sat 5 Dec, 21:30. Shall I book one of those, or look elsewhere?",
    );
    expect(renderNotice('booking.escalated', p, { language: 'en', via: 'CHAT' }).body).toBe(
      "Sari's team is checking your request for 2 on Sat 5 Dec, 20:00; I'll tell you as soon as they answer.",
    );
  });

  it("chooses by the person's BCP 47 tag, falling back to English", () => {
    expect(noticeLanguage('pt-BR')).toBe('pt');
    expect(noticeLanguage('es')).toBe('es');
    expect(noticeLanguage('ID')).toBe('id');
    expect(noticeLanguage('in-ID')).toBe('id');
    expect(noticeLanguage('fr-FR')).toBe('en');
    expect(noticeLanguage(null)).toBe('en');
  });
});

describe('feedback', () => {
  async function visit(status: 'COMPLETED' | 'SEATED' | 'CONFIRMED', guestId: string, days = -1) {
    return createBooking(app.services.db, {
      venueId: venue.id,
      guestId,
      startsAt: local(days, '19:00'),
      status,
    });
  }
  const callTool = (userId: string, input: Record<string, unknown>) =>
    runToolCall(
      {
        db: app.services.db,
        timeoutMs: 5000,
        tools: new Map([['leave_feedback', leaveFeedbackTool({ db: app.services.db })]]),
      },
      { type: 'tool_use', id: `t-${tag()}`, name: 'leave_feedback', input },
      toolContext(userId),
    );

  it('is given in chat and by GraphQL, stored once per booking, and shown to the venue', async () => {
    const guest = await createPerson(app.services.db);
    const guestToken = await accessToken(app, guest.id);
    const completed = await visit('COMPLETED', guest.id);
    // Seated, and the turn is over: the completion job has not run yet, but the visit is over.
    const seated = await visit('SEATED', guest.id, -2);

    const byChat = await callTool(guest.id, { booking_id: completed.id, score: 5, comment: 'Lovely sambal' });
    expect(byChat.isError, byChat.content).toBe(false);
    expect(JSON.parse(byChat.content)).toEqual({
      bookingId: completed.id,
      venue: venue.name,
      score: 5,
      comment: 'Lovely sambal',
    });

    const byGraphQL = await app.gql(
      LeaveFeedback,
      { input: { bookingId: encodeGlobalID('Booking', seated.id), score: 2, comment: 'Slow' } },
      { token: guestToken },
    );
    expect(byGraphQL.data?.leaveBookingFeedback, JSON.stringify(byGraphQL.body)).toMatchObject({
      __typename: 'BookingPayload',
      booking: { feedback: { score: 2, comment: 'Slow' } },
    });
    // A second answer replaces the first: still one row for the booking.
    const again = await app.gql(
      LeaveFeedback,
      { input: { bookingId: encodeGlobalID('Booking', seated.id), score: 3 } },
      { token: guestToken },
    );
    expect(again.data?.leaveBookingFeedback, JSON.stringify(again.body)).toMatchObject({
      booking: { feedback: { score: 3, comment: null } },
    });
    expect(await app.services.db.bookingFeedback.count({ where: { bookingId: seated.id } })).toBe(1);

    const seen = await app.gql(
      BookingFeedback,
      { id: encodeGlobalID('Booking', completed.id), venueId: encodeGlobalID('Venue', venue.id) },
      { token: ownerToken },
    );
    expect(seen.data, JSON.stringify(seen.body)).toEqual({
      node: { feedback: { score: 5, comment: 'Lovely sambal' } },
      venue: { feedbackSummary: { average: 4, count: 2 } },
    });
    // The summary is for the venue's team: the guest reads null.
    const asGuest = await app.gql(
      BookingFeedback,
      { id: encodeGlobalID('Booking', completed.id), venueId: encodeGlobalID('Venue', venue.id) },
      { token: guestToken },
    );
    expect(asGuest.data, JSON.stringify(asGuest.body)).toEqual({
      node: { feedback: { score: 5, comment: 'Lovely sambal' } },
      venue: { feedbackSummary: null },
    });
  });

  it("is refused for someone else's booking, a visit not over yet, and a score outside 1 to 5", async () => {
    const guest = await createPerson(app.services.db);
    const stranger = await createPerson(app.services.db);
    const completed = await visit('COMPLETED', guest.id);
    const upcoming = await visit('CONFIRMED', guest.id, 4);

    // Someone else's booking: in chat it does not exist; by GraphQL it is not theirs to see.
    const strangerTool = await callTool(stranger.id, { booking_id: completed.id, score: 1 });
    expect(strangerTool.isError).toBe(true);
    expect(strangerTool.content).toContain('No such booking of yours');
    const strangerGql = await app.gql(
      LeaveFeedback,
      { input: { bookingId: encodeGlobalID('Booking', completed.id), score: 1 } },
      { token: await accessToken(app, stranger.id) },
    );
    expect(strangerGql.data?.leaveBookingFeedback ?? null, JSON.stringify(strangerGql.body)).toBeNull();
    expect(strangerGql.errors?.[0]?.extensions?.code, JSON.stringify(strangerGql.body)).toBe('FORBIDDEN');
    // The venue's owner sees the booking but was not its guest.
    const ownerGql = await app.gql(
      LeaveFeedback,
      { input: { bookingId: encodeGlobalID('Booking', completed.id), score: 5 } },
      { token: ownerToken },
    );
    expect(ownerGql.data?.leaveBookingFeedback, JSON.stringify(ownerGql.body)).toEqual({
      __typename: 'NotAllowedError',
      message: "Only the booking's guest can leave feedback on it",
    });

    // Not over yet.
    const early = await app.gql(
      LeaveFeedback,
      { input: { bookingId: encodeGlobalID('Booking', upcoming.id), score: 4 } },
      { token: await accessToken(app, guest.id) },
    );
    expect(early.data?.leaveBookingFeedback, JSON.stringify(early.body)).toEqual({
      __typename: 'FeedbackNotOpenError',
      message: 'Feedback opens once the visit is over; this booking is confirmed',
    });
    const earlyTool = await callTool(guest.id, { booking_id: upcoming.id, score: 4 });
    expect(earlyTool.isError).toBe(true);
    expect(earlyTool.content).toContain('Feedback opens once the visit is over');

    // Out of range: a typed ValidationError naming the field; the model hears the bound.
    const seven = await app.gql(
      LeaveFeedback,
      { input: { bookingId: encodeGlobalID('Booking', completed.id), score: 7 } },
      { token: await accessToken(app, guest.id) },
    );
    expect(seven.data?.leaveBookingFeedback, JSON.stringify(seven.body)).toEqual({
      __typename: 'ValidationError',
      field: 'score',
      message: 'A score is a whole number from 1 to 5',
    });
    const sevenTool = await callTool(guest.id, { booking_id: completed.id, score: 7 });
    expect(sevenTool.isError).toBe(true);
    expect(sevenTool.content).toMatch(/score/);

    expect(
      await app.services.db.bookingFeedback.count({
        where: { bookingId: { in: [completed.id, upcoming.id] } },
      }),
    ).toBe(0);
  });
});
