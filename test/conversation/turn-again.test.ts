/**
 * A turn run again: a worker that dies after a turn's tools ran and before its message was marked
 * handled leaves the message PENDING, and the next drain runs the whole turn again (its reply is
 * keyed by the message, so it is sent once). What the tools did outside the conversation must be
 * done once too: the reminder is set once, and the question goes to the venue once, however often
 * the model asks for them again in that turn's second run, and whichever of a step's calls
 * finishes first. A new message is a new turn.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OUTBOXES, sweepOutboxes } from '../../src/domain/operations/outboxes.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { agentEnv, startAppWithWorker, stopAll, telegramEnv } from '../factories/apps.ts';
import { telegramChats } from '../factories/chats.ts';
import { call, lastTurn, type ModelRequestBody, say, use } from '../factories/model.ts';
import { createVenue } from '../factories/venues.ts';
import { anthropicMessage, startFakeAnthropic } from '../fakes/anthropic.ts';
import { type FakeBotApi, startFakeBotApi } from '../fakes/telegram.ts';
import type { TestApp } from '../helpers/app.ts';
import { type WorkerApp, waitFor } from '../helpers/jobs.ts';

const VENUE_MAIL = `casa-${randomBytes(3).toString('hex')}@venue.test`;
const OTHER_MAIL = `tasca-${randomBytes(3).toString('hex')}@venue.test`;

let telegram: FakeBotApi;
let model: Awaited<ReturnType<typeof startFakeAnthropic>>;
let app: TestApp;
let worker: WorkerApp;
let venueId: string;
let otherId: string;

beforeAll(async () => {
  telegram = await startFakeBotApi();
  model = await startFakeAnthropic();
  ({ app, worker } = await startAppWithWorker({ ...telegramEnv(telegram), ...agentEnv(model) }));
  /** A listed venue in Lisbon that takes questions by email. */
  const mailed = async (name: string, email: string) =>
    (
      await createVenue(app.services.db, {
        name,
        slug: `${name.toLowerCase().replace(/\s+/g, '-')}-${randomBytes(3).toString('hex')}`,
        status: 'LISTED',
        city: 'Lisbon',
        timeZone: 'Europe/Lisbon',
        email,
      })
    ).id;
  venueId = await mailed('Casa Simples', VENUE_MAIL);
  otherId = await mailed('Tasca Velha', OTHER_MAIL);
});
afterAll(() => stopAll(worker, app, telegram, model));

const { write, nthReply, userOf } = telegramChats(() => ({ app, telegram }));

it('sets the reminder and asks the venue once when a turn is run again after a crash; a new turn acts anew', async () => {
  const db = app.services.db;
  const chatId = Math.floor(Math.random() * 1_000_000_000);
  // The model sets a reminder, asks the venue, then answers: every time the turn runs.
  let runs = 0;
  model.respond((body: ModelRequestBody) => {
    const { results } = lastTurn(body);
    if (results.length === 0) {
      runs += 1;
      return call('set_reminder', { when: 'in 2 hours', text: 'Call Ana' });
    }
    // Both venues at once: calls of one step run side by side, and finish in either order.
    if ('reminderId' in results[0]!.value) {
      return {
        body: anthropicMessage({
          toolUses: [
            use('ask_venue', { venue_id: venueId, question: 'Do you have a high chair?' }),
            use('ask_venue', { venue_id: otherId, question: 'Do you have a high chair?' }),
          ],
        }),
      };
    }
    return say('Reminder set, and Casa Simples is asked.');
  });
  // A venue that answers by email needs the person's address: they gave one earlier.
  await write(chatId, '/start');
  await nthReply(chatId, 1);
  const userId = await userOf(chatId);
  await db.user.update({ where: { id: userId }, data: { email: `ana-${chatId}@example.test` } });
  await write(chatId, 'Remind me in 2 hours to call Ana, and ask Casa Simples about a high chair');
  expect((await nthReply(chatId, 2)).text).toBe('Reminder set, and Casa Simples is asked.');
  const event = await db.inboundEvent.findFirstOrThrow({
    where: { externalChatId: String(chatId) },
    orderBy: { receivedAt: 'desc' },
  });

  // The worker died before the mark: the message is PENDING again, and the sweep has it drained.
  await db.inboundEvent.update({ where: { id: event.id }, data: { status: 'PENDING', processedAt: null } });
  const outboxes = OUTBOXES.filter((o) => o.name === 'inbound');
  await sweepOutboxes(db, { olderThanMs: 0, outboxes, logger: createLogger('silent') });
  await waitFor(
    async () => (await db.inboundEvent.findUniqueOrThrow({ where: { id: event.id } })).status === 'PROCESSED',
    'the message handled again',
  );
  expect(runs).toBe(2);

  expect(await db.reminder.findMany({ where: { userId }, select: { text: true } })).toEqual([
    { text: 'Call Ana' },
  ]);
  const questions = () =>
    db.outboundMessage.findMany({ where: { userId, kind: 'venue.question' }, select: { emailTo: true } });
  expect((await questions()).map((q) => q.emailTo).sort()).toEqual([VENUE_MAIL, OTHER_MAIL].sort());
  for (const to of [VENUE_MAIL, OTHER_MAIL]) {
    expect((await app.smtp.nextMessageTo(to)).text).toContain('Do you have a high chair?');
  }
  // One reply to the person, however often the turn ran (beside the one to /start).
  expect(
    telegram.calls.filter((c) => c.method === 'sendMessage' && String(c.params.chat_id) === String(chatId)),
  ).toHaveLength(2);

  // A new message is a new turn: it sets its own reminder and asks again.
  await write(chatId, 'And again for tomorrow, please');
  await nthReply(chatId, 3);
  expect(runs).toBe(3);
  expect(await db.reminder.count({ where: { userId } })).toBe(2);
  expect(await questions()).toHaveLength(4);
});
