/**
 * The consumer agent's own cost: Telegram messages in, through the webhook, the chat's drain, the
 * dispatcher (turn lease, session, system prompt, tool loop, audit, ledger) and two tool calls,
 * to the reply queued in the send queue, with the model answering at once.
 *
 * **The server.** One AGNT process in the `all` role, as `npm start` runs it (NODE_ENV=production,
 * its own database and Redis prefix), with one bot, the consumer agent on, and Anthropic pointed
 * at a loopback fake in the bench process that answers every call immediately: the first call of a
 * turn asks for `search_venues`, the second (seeing its result) for `check_availability` at the
 * venue found, the third answers in words. So each message costs three model calls and two tool
 * calls, and the figures are the pipeline's, not a model's. Replies go to a loopback Telegram.
 *
 * **The messages.** Each from a person of its own (a new chat: a user, an identity and a consumer
 * agent are made on first contact, as for anyone writing for the first time).
 *
 * **Loads.**
 * 1. Burst: `BURST` messages posted at once (50 at a time); messages per second from the first
 *    post to the last reply queued: what one process drains.
 * 2. Paced: for `--duration` seconds, messages evenly at half the burst's rate; the time from the
 *    webhook storing each message to its reply being queued (both timestamps from PostgreSQL's
 *    clock: `inbound_events.received_at` and `outbound_messages.created_at`), p50 and p99.
 *
 * Per message, the SQL statements the server sent (`db_queries_total`) in each load.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { TELEGRAM_PATH } from '../../src/webhooks/telegram.ts';
import { anthropicMessage, startFakeAnthropic } from '../../test/fakes/anthropic.ts';
import { startFakeBotApi, textUpdate } from '../../test/fakes/telegram.ts';
import { AGNT_METRICS_PATH, type AgntParams, prepareAgnt, serveAgnt } from '../lib/agnt.ts';
import { counterValue, METRICS_HEADERS, SQL_STATEMENTS_METRIC } from '../lib/metrics.ts';
import { defineCustomScenario } from '../lib/scenario.ts';
import { fmt, summarize } from '../lib/stats.ts';

const BOT = 'bench';
const BURST = 300;
const BURST_CONCURRENCY = 50;
const WAIT_LIMIT_MS = 180_000;

export default defineCustomScenario<AgntParams>(import.meta.url, {
  name: 'agent-turn',
  description:
    'Telegram message to reply queued through the consumer agent, two tool calls, the model answering at once',
  serve: serveAgnt,
  async measure(run) {
    const model = await startFakeAnthropic();
    const telegram = await startFakeBotApi();
    const agnt = await prepareAgnt();
    const bot = {
      name: BOT,
      token: `${randomInt(100_000_000, 999_999_999)}:${randomBytes(27).toString('base64url')}`,
      secret: randomBytes(32).toString('base64url'),
    };
    const client = new pg.Client({ connectionString: agnt.params.env.DATABASE_URL });
    let server: Awaited<ReturnType<typeof run.start>> | undefined;
    try {
      await client.connect();
      const venue = await seedVenue(agnt.database.prisma);
      const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 1 }).toString();
      model.respond((body: { messages: { content: unknown }[] }) => {
        const last = body.messages.at(-1)!.content;
        const results = Array.isArray(last)
          ? (last as { type: string; content: string }[]).filter((b) => b.type === 'tool_result')
          : [];
        if (results.length === 0) {
          return {
            body: anthropicMessage({ toolUses: [{ name: 'search_venues', input: { query: 'bench' } }] }),
          };
        }
        if (results[0]!.content.includes('"venues"')) {
          return {
            body: anthropicMessage({
              toolUses: [{ name: 'check_availability', input: { venue_id: venue, date, party_size: 2 } }],
            }),
          };
        }
        return { body: anthropicMessage({ text: 'There is a table at 20:00. Shall I book it?' }) };
      });
      const params: AgntParams = {
        env: {
          ...agnt.params.env,
          ROLE: 'all',
          CONSUMER_AGENT: 'true',
          TELEGRAM_BOTS: JSON.stringify([bot]),
          TELEGRAM_API_URL: telegram.url,
          ANTHROPIC_API_KEY: 'sk-ant-bench',
          ANTHROPIC_BASE_URL: model.url,
          WEATHER_API_URL: 'http://127.0.0.1:9',
          DIRECTIONS_API_URL: 'http://127.0.0.1:9',
        },
        role: 'all',
      };
      run.progress('starting the server');
      server = await run.start(params);
      const origin = server.origin;
      let nextChat = 800_000_000 + randomInt(0, 1_000_000);
      const post = async () => {
        const chatId = nextChat++;
        const update = textUpdate({ chatId, text: 'A table for 2 tomorrow, somewhere nice?' });
        const response = await fetch(`${origin}${TELEGRAM_PATH}${BOT}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': bot.secret },
          body: JSON.stringify(update),
        });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
      };
      const statements = async () =>
        counterValue(
          await (await fetch(`${origin}${AGNT_METRICS_PATH}`, { headers: METRICS_HEADERS })).text(),
          SQL_STATEMENTS_METRIC,
        );
      const replies = async () =>
        Number(
          (await client.query(`SELECT count(*) AS n FROM outbound_messages WHERE kind = 'reply'`)).rows[0].n,
        );
      const waitForReplies = async (count: number) => {
        const deadline = Date.now() + WAIT_LIMIT_MS;
        while ((await replies()) < count) {
          if (Date.now() > deadline || run.signal.aborted)
            throw new Error(`only ${await replies()} of ${count} replies`);
          await sleep(50);
        }
      };

      // Warm-up: a few turns, so the first-call costs (connections, JIT) are not measured.
      run.progress('warming up');
      for (let i = 0; i < 10; i++) await post();
      await waitForReplies(10);

      run.progress(`burst of ${BURST} messages`);
      let done = await replies();
      const burstStatements0 = await statements();
      const burstStart = performance.now();
      let sent = 0;
      await Promise.all(
        Array.from({ length: BURST_CONCURRENCY }, async () => {
          while (sent < BURST) {
            sent += 1;
            await post();
          }
        }),
      );
      await waitForReplies(done + BURST);
      const burstSeconds = (performance.now() - burstStart) / 1000;
      const burstRate = BURST / burstSeconds;
      const burstStatements = ((await statements()) - burstStatements0) / BURST;

      // The burst's replies leave at Telegram's 30 a second per bot; their send jobs share the
      // worker with the turns, so the paced load starts once they are out.
      run.progress('waiting for the burst’s replies to be sent');
      const deadline = Date.now() + WAIT_LIMIT_MS;
      while (
        Number(
          (await client.query(`SELECT count(*) AS n FROM outbound_messages WHERE status = 'PENDING'`)).rows[0]
            .n,
        ) > 0
      ) {
        if (Date.now() > deadline || run.signal.aborted) throw new Error('the burst’s replies were not sent');
        await sleep(100);
      }

      const rate = Math.max(1, Math.floor(burstRate / 2));
      const count = Math.max(10, Math.round(rate * run.options.durationSeconds));
      run.progress(`paced: ${count} messages at ${rate}/s`);
      done = await replies();
      const pacedFrom = new Date();
      const pacedStatements0 = await statements();
      const start = performance.now();
      const inFlight: Promise<void>[] = [];
      for (let i = 0; i < count && !run.signal.aborted; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        inFlight.push(post());
      }
      await Promise.all(inFlight);
      await waitForReplies(done + count);
      const pacedStatements = ((await statements()) - pacedStatements0) / count;
      const { rows } = await client.query<{ ms: number }>(
        `SELECT extract(epoch FROM (o.created_at - e.received_at)) * 1000 AS ms
           FROM outbound_messages o
           JOIN inbound_events e ON o.dedupe_key = 'reply:' || e.id
          WHERE e.received_at >= $1`,
        [pacedFrom],
      );
      const latency = summarize(rows.map((r) => Number(r.ms)));
      // Where the time goes, on average: to the first model answer (the job picked up, the person
      // made on first contact, lease, session, prompt facts, one model call), then to the reply.
      const stages = (
        await client.query<{ first: number; reply: number }>(
          `SELECT avg(extract(epoch FROM (u.first - e.received_at)) * 1000) AS first,
                  avg(extract(epoch FROM (o.created_at - u.first)) * 1000) AS reply
             FROM inbound_events e
             JOIN outbound_messages o ON o.dedupe_key = 'reply:' || e.id
             JOIN LATERAL (SELECT min(created_at) AS first FROM llm_usage WHERE user_id = o.user_id) u ON true
            WHERE e.received_at >= $1`,
          [pacedFrom],
        )
      ).rows[0]!;
      const toolCalls = Number((await client.query(`SELECT count(*) AS n FROM tool_calls`)).rows[0].n);
      const modelCalls = Number((await client.query(`SELECT count(*) AS n FROM llm_usage`)).rows[0].n);
      const allReplies = await replies();
      return {
        header: ['load', 'messages', 'messages/s', 'p50 ms', 'p99 ms', 'max ms', 'SQL / message'],
        rows: [
          ['burst', String(BURST), fmt(burstRate), '–', '–', '–', fmt(burstStatements, 0)],
          [
            `paced ${rate}/s`,
            String(latency.count),
            fmt(count / run.options.durationSeconds),
            fmt(latency.p50),
            fmt(latency.p99),
            fmt(latency.max),
            fmt(pacedStatements, 0),
          ],
        ],
        notes: [
          'Webhook stored → reply queued, timed by PostgreSQL; one process in the `all` role (API and worker), worker concurrency at its default.',
          `Paced, on average: ${fmt(Number(stages.first))} ms from the webhook storing the message to the first model answer (job picked up, the person made on first contact, lease, session, prompt facts, one model call), then ${fmt(Number(stages.reply))} ms to the reply queued (two more model calls, two tool calls, session saved).`,
          `Per message: ${fmt(modelCalls / allReplies, 1)} model calls and ${fmt(toolCalls / allReplies, 1)} tool calls on average (expected 3 and 2).`,
        ],
        failures: latency.count === count ? 0 : count - latency.count,
        data: {
          burst: { messages: BURST, seconds: burstSeconds, rate: burstRate, statements: burstStatements },
          paced: { rate, count, latency, statements: pacedStatements },
          modelCalls,
          toolCalls,
        },
      };
    } finally {
      await server?.stop().catch(() => {});
      await client.end().catch(() => {});
      await agnt.cleanup();
      await model.close();
      await telegram.close();
    }
  },
});

async function seedVenue(db: Awaited<ReturnType<typeof prepareAgnt>>['database']['prisma']): Promise<string> {
  const venue = await db.venue.create({
    data: {
      name: 'Bench Bistro',
      slug: `bench-bistro-${randomBytes(3).toString('hex')}`,
      cuisines: ['bench'],
      description: 'A bench venue.',
      timeZone: 'Europe/Lisbon',
      status: 'LISTED',
      bookingRulesConfirmedAt: new Date(),
      hours: {
        create: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: '12:00', closesAt: '23:00' })),
      },
      tables: {
        create: [
          { name: 'T1', seats: 4 },
          { name: 'T2', seats: 2 },
        ],
      },
    },
  });
  return venue.id;
}
