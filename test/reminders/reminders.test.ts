/**
 * Reminders: `set_reminder`'s limits (not in the past, within a year, 20 waiting per person), and
 * `deliver-reminders` sending each due reminder exactly once, to the chat it was set in, even with
 * two runs side by side; cancelled ones and not-yet-due ones stay unsent.
 */
import { describe, expect, it } from 'vitest';
import { restoreAccount } from '../../src/domain/identity/account-deletion.ts';
import {
  cancelReminder,
  deliverDueReminders,
  parseWhen,
  pendingReminders,
  REMINDER_LIMITS,
  setReminder,
} from '../../src/domain/reminders/reminders.ts';
import type { Db } from '../../src/platform/db.ts';
import { NotFoundError, ValidationError } from '../../src/platform/errors.ts';
import { useTestDatabase } from '../factories/database.ts';
import { createPerson, tag } from '../factories/people.ts';

const db = useTestDatabase();
const HOUR = 3_600_000;
const NOW = new Date('2026-12-04T10:00:00Z');

async function personWithChat(database: Db, timeZone: string | null = null) {
  const person = await createPerson(database, { timeZone });
  const chat = await database.chat.create({
    data: {
      platform: 'TELEGRAM',
      account: 'agnt_bot',
      externalChatId: tag(8),
      userId: person.id,
      lastInboundAt: NOW,
    },
  });
  return { person, chat };
}

describe('when a reminder is due', () => {
  it('reads ISO instants, local times in the person’s zone and spans from now', () => {
    expect(parseWhen('2026-12-05T18:00:00+08:00', NOW, null)).toEqual(new Date('2026-12-05T10:00:00Z'));
    expect(parseWhen('2026-12-05T18:00', NOW, 'Asia/Makassar')).toEqual(new Date('2026-12-05T10:00:00Z'));
    expect(parseWhen('2026-12-05T18:00', NOW, null)).toEqual(new Date('2026-12-05T18:00:00Z'));
    expect(parseWhen('in 2 hours', NOW, null)).toEqual(new Date(NOW.getTime() + 2 * HOUR));
    expect(parseWhen('30m', NOW, null)).toEqual(new Date(NOW.getTime() + 30 * 60_000));
    expect(() => parseWhen('next tuesday-ish', NOW, null)).toThrow(ValidationError);
    expect(() => parseWhen('in 3 fortnights', NOW, null)).toThrow(/Unknown unit/);
  });

  it('counts days and weeks on the person’s calendar, across a change of the clocks', () => {
    // Lisbon moves its clocks forward on 2026-03-29: 18:00 the next day is 23 hours on.
    const evening = new Date('2026-03-28T18:00:00Z');
    expect(parseWhen('in 1 day', evening, 'Europe/Lisbon')).toEqual(new Date('2026-03-29T17:00:00Z'));
    expect(parseWhen('1 week', evening, 'Europe/Lisbon')).toEqual(new Date('2026-04-04T17:00:00Z'));
    expect(parseWhen('in 2 hours', evening, 'Europe/Lisbon')).toEqual(new Date('2026-03-28T20:00:00Z'));
    expect(parseWhen('in 1 day', evening, null)).toEqual(new Date('2026-03-29T18:00:00Z'));
  });
});

describe('setting a reminder', () => {
  it('refuses the past, more than a year ahead and a 21st waiting one, storing nothing', async () => {
    const { person, chat } = await personWithChat(db());
    const set = (when: string, text = 'Call Ana') =>
      setReminder(db(), { userId: person.id, chatId: chat.id, text, when }, NOW);
    await expect(set('2026-12-04T09:59:00Z')).rejects.toMatchObject({
      name: 'ValidationError',
      field: 'when',
    });
    await expect(set('in 366 days')).rejects.toMatchObject({ field: 'when' });
    await expect(set('in 1 hour', '   ')).rejects.toMatchObject({ field: 'text' });
    expect(await pendingReminders(db(), person.id)).toEqual([]);

    // Set side by side, the limit still holds: the person's row is locked while counting.
    const results = await Promise.allSettled(
      Array.from({ length: REMINDER_LIMITS.maxPending + 3 }, (_, n) =>
        set(`in ${n + 1} hours`, `Thing ${n}`),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(REMINDER_LIMITS.maxPending);
    expect(await pendingReminders(db(), person.id)).toHaveLength(REMINDER_LIMITS.maxPending);
    // Cancelling one makes room.
    const [first] = await pendingReminders(db(), person.id);
    await cancelReminder(db(), person.id, first!.id, NOW);
    await expect(set('in 30 days', 'One more')).resolves.toMatchObject({ text: 'One more' });
  });

  it('refuses one nothing could deliver: past the WhatsApp window with no email, or set in a group alone', async () => {
    const chatOn = async (userId: string, platform: 'WHATSAPP' | 'TELEGRAM', shared = false) =>
      db().chat.create({
        data: { platform, account: 'agnt', externalChatId: tag(8), userId, lastInboundAt: NOW, shared },
      });
    const set = (userId: string, chatId: string, when: string) =>
      setReminder(db(), { userId, chatId, text: 'Call Ana', when }, NOW);
    // On WhatsApp, with no email: within the window after this message, yes; three days on, no.
    const wa = await db().user.create({ data: {} });
    const waChat = await chatOn(wa.id, 'WHATSAPP');
    await expect(set(wa.id, waChat.id, 'in 3 days')).rejects.toMatchObject({
      field: 'when',
      message: expect.stringContaining('within 24 hours'),
    });
    expect(await set(wa.id, waChat.id, 'in 20 hours')).toMatchObject({ text: 'Call Ana' });
    // With an email, or a private Telegram chat too, three days on is fine.
    const withEmail = await db().user.create({ data: { email: `${tag(8)}@example.com` } });
    expect(await set(withEmail.id, (await chatOn(withEmail.id, 'WHATSAPP')).id, 'in 3 days')).toBeTruthy();
    const both = await db().user.create({ data: {} });
    await chatOn(both.id, 'TELEGRAM');
    expect(await set(both.id, (await chatOn(both.id, 'WHATSAPP')).id, 'in 3 days')).toBeTruthy();
    // Set in a Telegram group, their only chat: nowhere of their own to send it.
    const grouped = await db().user.create({ data: {} });
    await expect(
      set(grouped.id, (await chatOn(grouped.id, 'TELEGRAM', true)).id, 'in 1 hour'),
    ).rejects.toMatchObject({
      message: expect.stringContaining('group'),
    });
    expect(await pendingReminders(db(), grouped.id)).toEqual([]);
  });

  it('cancels only the person’s own pending reminder', async () => {
    const a = await personWithChat(db());
    const b = await personWithChat(db());
    const reminder = await setReminder(
      db(),
      { userId: a.person.id, chatId: null, text: 'x', when: 'in 1h' },
      NOW,
    );
    await expect(cancelReminder(db(), b.person.id, reminder.id, NOW)).rejects.toThrow(NotFoundError);
    await cancelReminder(db(), a.person.id, reminder.id, NOW);
    await expect(cancelReminder(db(), a.person.id, reminder.id, NOW)).rejects.toThrow(NotFoundError);
  });
});

describe('deliver-reminders', () => {
  it('sends each due reminder once, to its chat, even with two runs at once', async () => {
    const { person, chat } = await personWithChat(db(), 'Asia/Makassar');
    const due = [];
    for (let n = 0; n < 7; n++) {
      due.push(
        await setReminder(
          db(),
          { userId: person.id, chatId: chat.id, text: `Due ${n}`, when: `in ${n + 1} minutes` },
          NOW,
        ),
      );
    }
    const later = await setReminder(
      db(),
      { userId: person.id, chatId: chat.id, text: 'Later', when: 'in 2 days' },
      NOW,
    );
    const cancelled = await setReminder(
      db(),
      { userId: person.id, chatId: chat.id, text: 'Off', when: 'in 2m' },
      NOW,
    );
    await cancelReminder(db(), person.id, cancelled.id, NOW);

    // The next run after the last is due (runs are 5 minutes apart): none of them late.
    const at = new Date(NOW.getTime() + 10 * 60_000);
    // Small batches, so the two runs interleave their claims.
    const [x, y] = await Promise.all([
      deliverDueReminders(db(), at, { batch: 2, batches: 10 }),
      deliverDueReminders(db(), at, { batch: 2, batches: 10 }),
    ]);
    expect(x + y).toBeGreaterThanOrEqual(7);

    const messages = await db().outboundMessage.findMany({ where: { userId: person.id, kind: 'reminder' } });
    expect(messages.map((m) => m.body).sort()).toEqual(due.map((_, n) => `⏰ Reminder: Due ${n}`).sort());
    expect(messages.every((m) => m.chatId === chat.id && m.status === 'PENDING')).toBe(true);
    expect((await pendingReminders(db(), person.id)).map((r) => r.id)).toEqual([later.id]);

    // A second run sends nothing more.
    expect(await deliverDueReminders(db(), at)).toBe(0);
    expect(await db().outboundMessage.count({ where: { userId: person.id, kind: 'reminder' } })).toBe(7);
  });

  it('says when a reminder was for when it goes late: one due while the account was being deleted goes once it is restored', async () => {
    const { person, chat } = await personWithChat(db(), 'Asia/Makassar');
    await setReminder(db(), { userId: person.id, chatId: chat.id, text: 'Call Ana', when: 'in 1 hour' }, NOW);
    await db().user.update({ where: { id: person.id }, data: { deletedAt: NOW } });
    const told = () => db().outboundMessage.findMany({ where: { userId: person.id, kind: 'reminder' } });
    await deliverDueReminders(db(), new Date(NOW.getTime() + 2 * HOUR));
    expect(await told()).toEqual([]);
    expect(await restoreAccount(db(), person.id)).toBe(true);
    await deliverDueReminders(db(), new Date(NOW.getTime() + 30 * HOUR));
    // Due at 11:00 UTC, 19:00 in Makassar.
    expect(await told()).toMatchObject([
      {
        chatId: chat.id,
        body: '⏰ Reminder, late (it was for Fri 4 Dec, 19:00): Call Ana',
      },
    ]);
  });

  it('sends none to a person whose account is being deleted', async () => {
    const { person, chat } = await personWithChat(db());
    await setReminder(db(), { userId: person.id, chatId: chat.id, text: 'Quiet', when: 'in 1m' }, NOW);
    await db().user.update({ where: { id: person.id }, data: { deletedAt: NOW } });
    await deliverDueReminders(db(), new Date(NOW.getTime() + HOUR));
    expect(await db().outboundMessage.count({ where: { userId: person.id } })).toBe(0);
  });
});
