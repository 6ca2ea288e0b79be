/**
 * Which tools a turn offers: the ones its agent's DNA lists, brought up to date. An agent made
 * before leave_feedback, set_reminder and suggest_venues existed, whose list nobody edited, is
 * offered them; a list its person edited is offered as they wrote it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_TOOLS } from '../../src/domain/agents/dna.ts';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import { agentEnv, startAppWithWorker, stopAll, telegramEnv } from '../factories/apps.ts';
import { telegramChats } from '../factories/chats.ts';
import { anthropicMessage, startFakeAnthropic } from '../fakes/anthropic.ts';
import { type FakeBotApi, startFakeBotApi } from '../fakes/telegram.ts';
import { FIRST_CONSUMER_DEFAULT } from '../fixtures/agent-tools.ts';
import type { TestApp } from '../helpers/app.ts';
import type { WorkerApp } from '../helpers/jobs.ts';

let telegram: FakeBotApi;
let model: Awaited<ReturnType<typeof startFakeAnthropic>>;
let app: TestApp;
let worker: WorkerApp;
let nextChat = Math.floor(Math.random() * 1_000_000_000);

type Body = { tools?: { name: string }[]; messages: { content: unknown }[] };
/** The tool names offered in each model request, by the text of the person's message. */
const offered = new Map<string, string[]>();

beforeAll(async () => {
  telegram = await startFakeBotApi();
  model = await startFakeAnthropic();
  ({ app, worker } = await startAppWithWorker({ ...telegramEnv(telegram), ...agentEnv(model) }));
  model.respond((body: Body) => {
    const last = body.messages.at(-1)?.content;
    const text = typeof last === 'string' ? last : JSON.stringify(last);
    const marker = /dna-[0-9a-f-]+/.exec(text)?.[0];
    if (marker)
      offered.set(
        marker,
        (body.tools ?? []).map((t) => t.name),
      );
    return { body: anthropicMessage({ text: 'Noted.' }) };
  });
});
afterAll(() => stopAll(worker, app, telegram, model));

const { write, nthReply, userOf } = telegramChats(() => ({ app, telegram }));

/** A person whose agent is stored with `dna` changed as given; the tools their next turn offers. */
async function toolsOfferedWith(change: (dna: Record<string, unknown>) => Record<string, unknown>) {
  const chatId = nextChat++;
  await write(chatId, 'hello');
  await nthReply(chatId, 1);
  const db = app.services.db;
  const agent = await db.agent.findUniqueOrThrow({ where: { userId: await userOf(chatId) } });
  await db.agent.update({
    where: { id: agent.id },
    data: { dna: change(agent.dna as Record<string, unknown>) as Prisma.InputJsonObject },
  });
  const marker = `dna-${chatId}`;
  await write(chatId, `what can you do? ${marker}`);
  await nthReply(chatId, 2);
  return offered.get(marker);
}

/** DNA as code before tool versions wrote it: no toolsVersion. */
const unversioned = (dna: Record<string, unknown>, tools: string[]) => {
  const { toolsVersion: _, ...rest } = dna;
  return { ...rest, tools };
};

describe("a turn's tools", () => {
  it('offers an agent stored with an earlier default list every tool of today, leave_feedback included', async () => {
    const tools = await toolsOfferedWith((dna) => unversioned(dna, FIRST_CONSUMER_DEFAULT));
    expect(tools).toEqual([...CONSUMER_TOOLS]);
    expect(tools).toEqual(expect.arrayContaining(['leave_feedback', 'set_reminder', 'suggest_venues']));
  });

  it('offers an edited list as its person wrote it', async () => {
    expect(await toolsOfferedWith((dna) => unversioned(dna, ['search_venues', 'recall']))).toEqual([
      'search_venues',
      'recall',
    ]);
    // Written with today's catalogue version, an earlier default's tools are a choice too.
    expect(
      await toolsOfferedWith((dna) => ({ ...dna, tools: FIRST_CONSUMER_DEFAULT, toolsVersion: 1 })),
    ).toEqual(FIRST_CONSUMER_DEFAULT);
  });
});
