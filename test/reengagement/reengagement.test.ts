/**
 * `reengage-people`: only people who opted in, have a chat we can reach (the message goes to a
 * private chat that takes it now, else to their email), and have been quiet two
 * weeks (nothing from them, nothing to them) get the check-in message, at 17:00 on their own clock;
 * never twice in a week, however many runs; a run is bounded. The person turns it on and off
 * themselves over GraphQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkInsCanReach,
  isoWeek,
  REENGAGEMENT,
  reengagePeopleTask,
  reengageQuietPeople,
} from '../../src/domain/reengagement/reengagement.ts';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { createPerson, tag } from '../factories/people.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const DAY = 86_400_000;
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

async function someone(
  fields: Partial<Prisma.UserCreateInput>,
  chat: {
    lastInboundDaysAgo: number | null;
    platform?: 'WHATSAPP' | 'INSTAGRAM' | 'TELEGRAM';
    shared?: boolean;
    unreachable?: boolean;
  },
) {
  const db = app.services.db;
  const person = await createPerson(db, { displayName: 'Maya Putri', ...fields });
  if (chat.lastInboundDaysAgo !== null) {
    await db.chat.create({
      data: {
        platform: chat.platform ?? 'WHATSAPP',
        account: 'agnt',
        externalChatId: tag(8),
        userId: person.id,
        lastInboundAt: new Date(Date.now() - chat.lastInboundDaysAgo * DAY),
        shared: chat.shared ?? false,
        ...(chat.unreachable ? { unreachableAt: new Date(), unreachableReason: 'blocked' } : {}),
      },
    });
  }
  return person;
}

/** The latest moment before now at which `zone`'s clock read 17:00. */
function lastFivePm(zone: string): Date {
  const clock = Temporal.Now.zonedDateTimeISO(zone);
  let at = clock.with({ hour: 17, minute: 0, second: 0, millisecond: 0, microsecond: 0, nanosecond: 0 });
  if (Temporal.ZonedDateTime.compare(at, clock) > 0) at = at.subtract({ days: 1 });
  return new Date(at.epochMilliseconds);
}

/** 17:00 for people whose zone we do not know. */
const fivePmUnknownZone = () => lastFivePm(REENGAGEMENT.unknownZone);

const sentTo = (userId: string) =>
  app.services.db.outboundMessage.findMany({ where: { userId, kind: 'account.reengagement' } });

describe('re-engagement', () => {
  it('writes only to quiet people who opted in, once a week', async () => {
    const db = app.services.db;
    const quiet = REENGAGEMENT.quietDays + 2;
    const optedIn = await someone({ reengagementOptIn: true }, { lastInboundDaysAgo: quiet });
    const never = await someone({}, { lastInboundDaysAgo: quiet });
    const active = await someone({ reengagementOptIn: true }, { lastInboundDaysAgo: 2 });
    const noChat = await someone({ reengagementOptIn: true }, { lastInboundDaysAgo: null });
    const deleted = await someone(
      { reengagementOptIn: true, deletedAt: new Date() },
      { lastInboundDaysAgo: quiet },
    );
    const contacted = await someone({ reengagementOptIn: true }, { lastInboundDaysAgo: quiet });
    await db.outboundMessage.create({
      data: {
        userId: contacted.id,
        kind: 'booking.reminder_24h',
        body: 'Reminder',
        dedupeKey: `r:${tag(8)}`,
      },
    });

    const now = fivePmUnknownZone();
    await reengageQuietPeople(db, now);
    const [message] = await sentTo(optedIn.id);
    expect(message).toMatchObject({
      status: 'PENDING',
      dedupeKey: `reengagement:${optedIn.id}:${isoWeek(now)}`,
    });
    expect(message!.body).toMatch(/^Hi Maya! It has been a while/);
    for (const person of [never, active, noChat, deleted, contacted]) {
      expect(await sentTo(person.id), person.id).toEqual([]);
    }
    expect((await db.user.findUniqueOrThrow({ where: { id: optedIn.id } })).reengagedAt).toEqual(now);

    // Again the same week, and the week after (our own message was a week ago): nothing.
    expect(await reengageQuietPeople(db, new Date(now.getTime() + DAY))).toBe(0);
    expect(await reengageQuietPeople(db, new Date(now.getTime() + 7 * DAY))).toBe(0);
    expect(await sentTo(optedIn.id)).toHaveLength(1);
    // Still quiet two weeks after it: one more.
    await reengageQuietPeople(db, new Date(now.getTime() + (REENGAGEMENT.quietDays + 1) * DAY));
    expect(await sentTo(optedIn.id)).toHaveLength(2);
  });

  it('picks only people the message can reach: a private chat that takes it now, else an email address', async () => {
    const db = app.services.db;
    const quiet = REENGAGEMENT.quietDays + 2;
    // WhatsApp and Instagram take free text only within a day of the person's last message; a
    // group is never where a person's own message goes; a blocked chat takes nothing.
    const whatsAppOnly = await someone(
      { reengagementOptIn: true, email: null },
      { lastInboundDaysAgo: quiet, platform: 'WHATSAPP' },
    );
    const instagramOnly = await someone(
      { reengagementOptIn: true, email: null },
      { lastInboundDaysAgo: quiet, platform: 'INSTAGRAM' },
    );
    const groupOnly = await someone(
      { reengagementOptIn: true, email: null },
      { lastInboundDaysAgo: quiet, platform: 'TELEGRAM', shared: true },
    );
    const blocked = await someone(
      { reengagementOptIn: true, email: null },
      { lastInboundDaysAgo: quiet, platform: 'TELEGRAM', unreachable: true },
    );
    const telegram = await someone(
      { reengagementOptIn: true, email: null },
      { lastInboundDaysAgo: quiet, platform: 'TELEGRAM' },
    );
    const whatsAppWithEmail = await someone(
      { reengagementOptIn: true },
      { lastInboundDaysAgo: quiet, platform: 'WHATSAPP' },
    );

    const now = fivePmUnknownZone();
    await reengageQuietPeople(db, now);
    expect(await sentTo(telegram.id)).toMatchObject([{ channel: 'CHAT', status: 'PENDING' }]);
    expect(await sentTo(whatsAppWithEmail.id)).toMatchObject([{ channel: 'EMAIL', status: 'PENDING' }]);
    // Each says how to stop them where it is read: in the chat by a command, by email in settings.
    expect((await sentTo(telegram.id))[0]!.body).toContain('send /checkins off to stop them');
    expect((await sentTo(whatsAppWithEmail.id))[0]!.body).toContain(
      'turn them off in your AGNT account settings',
    );
    // Nobody else is written to (not even a FAILED message), nor has their week spent.
    for (const person of [whatsAppOnly, instagramOnly, groupOnly, blocked]) {
      expect(await sentTo(person.id), person.id).toEqual([]);
      expect(
        (await db.user.findUniqueOrThrow({ where: { id: person.id } })).reengagedAt,
        person.id,
      ).toBeNull();
    }
    // What `/checkins on` warns of: only email or a chat we may write first in can reach them.
    for (const [person, reach] of [
      [telegram, true],
      [whatsAppWithEmail, true],
      [whatsAppOnly, false],
      [instagramOnly, false],
      [groupOnly, false],
      [blocked, false],
    ] as const) {
      expect(await checkInsCanReach(db, person.id, now), person.id).toBe(reach);
    }
    // Nobody this job ever picked has a message it could not send.
    expect(
      await db.outboundMessage.count({ where: { kind: 'account.reengagement', status: 'FAILED' } }),
    ).toBe(0);
  });

  it('is bounded per run', async () => {
    const quiet = REENGAGEMENT.quietDays + 2;
    for (let n = 0; n < 3; n++) await someone({ reengagementOptIn: true }, { lastInboundDaysAgo: quiet });
    expect(await reengageQuietPeople(app.services.db, fivePmUnknownZone(), { batch: 1, perRun: 2 })).toBe(2);
  });

  it("writes at 17:00 on the person's own clock, and passes over a zone it cannot read", async () => {
    const db = app.services.db;
    const quiet = { lastInboundDaysAgo: REENGAGEMENT.quietDays + 2 };
    const lisbon = await someone({ reengagementOptIn: true, timeZone: 'Europe/Lisbon' }, quiet);
    const kolkata = await someone({ reengagementOptIn: true, timeZone: 'Asia/Kolkata' }, quiet);
    const nowhere = await someone({ reengagementOptIn: true, timeZone: 'Mars/Olympus_Mons' }, quiet);

    // 17:00 in Lisbon is night in Kolkata and on Mars' missing clock: Lisbon alone.
    const lisbonEvening = lastFivePm('Europe/Lisbon');
    await reengageQuietPeople(db, lisbonEvening);
    expect(await sentTo(lisbon.id)).toHaveLength(1);
    expect(await sentTo(kolkata.id)).toEqual([]);
    // Kolkata's clock is half an hour off UTC's: its 17:30 is the run at the top of the UTC hour.
    const kolkataEvening = new Date(lastFivePm('Asia/Kolkata').getTime() + 30 * 60_000);
    await reengageQuietPeople(db, kolkataEvening);
    expect(await sentTo(kolkata.id)).toHaveLength(1);
    // Every hour of the next day: neither again (once a week), and the zone nobody can read never
    // fails a run.
    for (let hour = 0; hour < 24; hour++) {
      await reengageQuietPeople(db, new Date(lisbonEvening.getTime() + hour * 3_600_000));
    }
    expect(await sentTo(lisbon.id)).toHaveLength(1);
    expect(await sentTo(kolkata.id)).toHaveLength(1);
    expect(await sentTo(nowhere.id)).toEqual([]);
  });

  it("takes the zones at 17:xx at the run's scheduled tick, though the run starts later", async () => {
    const db = app.services.db;
    const quiet = { lastInboundDaysAgo: REENGAGEMENT.quietDays + 2 };
    const lima = await someone({ reengagementOptIn: true, timeZone: 'America/Lima' }, quiet);
    // The tick of Lima's 17:00; the queue was busy, so the job runs an hour and a quarter on.
    const tick = lastFivePm('America/Lima');
    app.clock.advance(tick.getTime() + 75 * 60_000 - app.clock.now().getTime());
    await enqueue(db, reengagePeopleTask, { _cron: { ts: tick.toISOString() } });
    await runDueJobs(app, ['reengage-people']);
    expect(await sentTo(lima.id)).toHaveLength(1);
  });

  it('is turned on and off by the person', async () => {
    const me = await app.signIn();
    const SET = `mutation S($on: Boolean!) { setReengagementOptIn(input: { optIn: $on }) { reengagementOptIn } }`;
    expect((await app.gql(SET, { on: true }, { token: me.token })).data).toEqual({
      setReengagementOptIn: { reengagementOptIn: true },
    });
    expect((await app.gql('{ viewer { reengagementOptIn } }', {}, { token: me.token })).data).toEqual({
      viewer: { reengagementOptIn: true },
    });
    await app.gql(SET, { on: false }, { token: me.token });
    const user = await app.services.db.user.findUniqueOrThrow({ where: { id: me.userId } });
    expect(user.reengagementOptIn).toBe(false);
    // Nobody else can: an anonymous caller is refused.
    const anonymous = await app.gql(SET, { on: true });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
