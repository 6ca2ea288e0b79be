/**
 * No person left behind: whatever strands a chat's pending messages (a drain job cancelled by
 * hand, one lost to a bug), the outbox sweep schedules the chat's job again once they have
 * waited a minute with no runnable job, for inbound messages and the send queue alike; and what
 * waits is visible in `/metrics` and `/readyz`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatKey, type InboundRecord, recordInbound } from '../../src/domain/channels/inbound.ts';
import { queueMessage, sendKey } from '../../src/domain/channels/outbound.ts';
import { cancelJob } from '../../src/domain/operations/job-queue.ts';
import { outboxBacklog, sweepOutboxes } from '../../src/domain/operations/outboxes.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { stopAll } from '../factories/apps.ts';
import { inboundText } from '../factories/inbound.ts';
import { type FakeBotApi, startFakeBotApi } from '../fakes/telegram.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FAST_WORKER_ENV, metric, startWorkerApp, type WorkerApp, waitFor } from '../helpers/jobs.ts';

const BOT = 'sweep';
const SECRET = 'a-webhook-secret-of-some-length';
const TOKEN = '123456789:AAH-fake-token-for-the-sweep-bot';
const logger = createLogger('silent');

let telegram: FakeBotApi;
let app: TestApp;
let worker: WorkerApp | undefined;

beforeAll(async () => {
  telegram = await startFakeBotApi();
  app = await startTestApp({
    env: {
      ...FAST_WORKER_ENV,
      TELEGRAM_BOTS: JSON.stringify([{ name: BOT, token: TOKEN, secret: SECRET }]),
      TELEGRAM_API_URL: telegram.url,
    },
  });
});
afterAll(() => stopAll(worker, app, telegram));

let nextChat = Math.floor(Math.random() * 1_000_000_000);

function message(chat: string, n: number): InboundRecord {
  return inboundText({ account: BOT, chat, id: `${chat}-${n}`, text: `message ${n}` });
}

const sql = (text: string, values: unknown[] = []) => app.database.pool.query(text, values);

/** A chat with `count` messages received `agoMs` ago; its drain job as recordInbound left it. */
async function chatWithMessages(count: number, agoMs: number) {
  const chat = String(nextChat++);
  for (let n = 0; n < count; n += 1) await recordInbound(app.database, message(chat, n));
  await sql(
    `UPDATE inbound_events SET received_at = now() - make_interval(secs => $2::float8 / 1000)
     WHERE account = $1 AND external_chat_id = $3`,
    [BOT, agoMs, chat],
  );
  const key = chatKey('TELEGRAM', BOT, chat);
  const { rows } = await sql('SELECT id::text FROM graphile_worker.jobs WHERE key = $1', [key]);
  return { chat, key, jobId: rows[0]?.id as string };
}

/** Jobs that will still run, by key. */
async function runnable(key: string): Promise<number> {
  const { rows } = await sql(
    `SELECT count(*)::int AS n FROM graphile_worker.jobs
     WHERE key = $1 AND (locked_at IS NOT NULL OR attempts < max_attempts)`,
    [key],
  );
  return rows[0].n;
}

const pending = async (chat: string) =>
  (
    await sql(
      `SELECT count(*)::int AS n FROM inbound_events WHERE external_chat_id = $1 AND status = 'PENDING'`,
      [chat],
    )
  ).rows[0].n as number;

describe('the outbox sweep', () => {
  it('schedules a drain again for every chat stranded over a minute, and only for those; then the chats are served', async () => {
    // Its drain cancelled by an operator two minutes ago.
    const cancelled = await chatWithMessages(2, 120_000);
    await cancelJob(app.services.db, { jobId: cancelled.jobId });
    // Its drain lost (a bug, a wiped queue).
    const lost = await chatWithMessages(1, 120_000);
    await sql('SELECT graphile_worker.complete_jobs(ARRAY[$1::bigint])', [lost.jobId]);
    // Waiting two minutes, but its drain is still coming.
    const waiting = await chatWithMessages(1, 120_000);
    // Lost too, but only ten seconds ago: not yet the sweep's business.
    const recent = await chatWithMessages(1, 10_000);
    await sql('SELECT graphile_worker.complete_jobs(ARRAY[$1::bigint])', [recent.jobId]);
    // A reply in the send queue whose send job was lost two minutes ago.
    const user = await app.services.db.user.create({ data: { displayName: 'Ana' } });
    const replyChat = await app.services.db.chat.create({
      data: {
        platform: 'TELEGRAM',
        account: BOT,
        externalChatId: String(nextChat++),
        userId: user.id,
        lastInboundAt: new Date(),
      },
    });
    await queueMessage(app.services.db, {
      userId: user.id,
      chatId: replyChat.id,
      kind: 'test',
      body: 'Your table is confirmed.',
      dedupeKey: `sweep-test-${replyChat.id}`,
    });
    await sql(`UPDATE outbound_messages SET created_at = now() - interval '2 minutes' WHERE chat_id = $1`, [
      replyChat.id,
    ]);
    await sql('DELETE FROM graphile_worker._private_jobs WHERE key = $1', [sendKey(replyChat.id)]);

    // What waits is visible before anything is done about it.
    const backlog = await outboxBacklog(app.services.db);
    const inboundTelegram = backlog.find((l) => l.outbox === 'inbound' && l.channel === 'telegram')!;
    expect(inboundTelegram.pending).toBe(5);
    expect(inboundTelegram.oldestAgeSeconds).toBeGreaterThanOrEqual(119);
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(metric(text, 'outbox_pending{outbox="inbound",channel="telegram"}')).toBe(5);
    expect(
      metric(text, 'outbox_oldest_pending_seconds{outbox="inbound",channel="telegram"}'),
    ).toBeGreaterThanOrEqual(119);
    expect(metric(text, 'outbox_pending{outbox="send",channel="telegram"}')).toBe(1);
    expect(metric(text, 'outbox_pending{outbox="inbound",channel="whatsapp"}')).toBe(0);
    const ready = (await (await fetch(`${app.url}/readyz`)).json()) as {
      ready: boolean;
      checks: Record<string, { ok: boolean; detail?: string }>;
    };
    expect(ready.ready).toBe(true);
    expect(ready.checks.backlog).toEqual({
      ok: true,
      detail: expect.stringMatching(
        /^inbound: telegram 5 pending, oldest 1[2-9]\d s; send: telegram 1 pending, oldest 1[2-9]\d s; a2a: nothing pending; a2a-inbound: nothing pending; webhooks: nothing pending$/,
      ),
    });

    const swept = await sweepOutboxes(app.services.db, { logger });
    expect(swept.map((s) => ({ ...s, scheduled: s.scheduled.sort() }))).toEqual([
      { outbox: 'inbound', scheduled: [cancelled.key, lost.key].sort() },
      { outbox: 'send', scheduled: [sendKey(replyChat.id)] },
      { outbox: 'a2a', scheduled: [] },
      { outbox: 'a2a-inbound', scheduled: [] },
      { outbox: 'webhooks', scheduled: [] },
    ]);
    for (const { key } of [cancelled, lost, waiting]) expect(await runnable(key), key).toBe(1);
    expect(await runnable(sendKey(replyChat.id))).toBe(1);
    expect(await runnable(recent.key)).toBe(0);
    // Nothing twice: a second sweep finds every old chat with its job coming.
    expect(await sweepOutboxes(app.services.db, { logger })).toEqual([
      { outbox: 'inbound', scheduled: [] },
      { outbox: 'send', scheduled: [] },
      { outbox: 'a2a', scheduled: [] },
      { outbox: 'a2a-inbound', scheduled: [] },
      { outbox: 'webhooks', scheduled: [] },
    ]);

    // And the people are served.
    worker = await startWorkerApp(app);
    await waitFor(
      async () =>
        (await pending(cancelled.chat)) + (await pending(lost.chat)) + (await pending(waiting.chat)) === 0,
      'the stranded chats to be drained',
    );
    await waitFor(
      async () =>
        telegram.calls.find(
          (c) => c.method === 'sendMessage' && c.params.chat_id === replyChat.externalChatId,
        ),
      'the stranded reply to be sent',
    );
    expect(await pending(recent.chat)).toBe(1);
  });
});

describe('messages that could not be handled', () => {
  it('are counted for operators, by channel, over the last day', async () => {
    const failedNow = async () =>
      metric(await (await fetch(`${app.url}/metrics`)).text(), 'inbound_failed_last_day{channel="whatsapp"}');
    const before = await failedNow();
    const failed = (receivedAt: string) =>
      sql(
        `INSERT INTO inbound_events (id, platform, account, external_id, external_chat_id, event_type, status, error, received_at)
         VALUES (gen_random_uuid(), 'WHATSAPP', 'wa-ops', $1, '351900000000', 'message', 'FAILED', 'boom', ${receivedAt})`,
        [`wamid.${nextChat++}`],
      );
    await failed('now()');
    await failed("now() - interval '2 days'");
    expect(await failedNow()).toBe(before + 1);
  });
});
