/**
 * What public A2A does with a message: it reads a structured request, a DataPart naming a skill
 * (`{ "skill": "book_table", "venue_id": …, … }`; a text part holding that JSON is read the same
 * way), and runs the skill's published tool through the one tool runner as the API key, so input
 * checks, the key's scope, the tier's quota, the timeout and the audit row (channel A2A) are MCP's
 * and chat's own. No language model reads anything here.
 *
 * Every message starts a task. A search or an availability check completes at once, its answer
 * the task's artifact. A booking is a task that follows the booking: submitted, working while the
 * venue's agent answers (we wait for it a few seconds, as a blocking `message/send` should),
 * input-required while the venue's staff decide, then completed (CONFIRMED), rejected (DECLINED),
 * failed (the request lapsed) or canceled. Free text, an unknown skill or input a tool refuses
 * fails the task with words and an `error` DataPart saying what to send instead; a rule that says
 * no (a read-only key, the table taken) rejects it.
 */
import { type Message, type Task, TaskState } from '@a2a-js/sdk';
import {
  AgentEvent,
  type AgentExecutor,
  type ExecutionEventBus,
  type RequestContext,
} from '@a2a-js/sdk/server';
import type { ToolCaller } from '../../domain/tools/contract.ts';
import type { PublishedTool } from '../../domain/tools/network.ts';
import type { ToolQuota } from '../../domain/tools/quota.ts';
import { runTool, type ToolResult } from '../../domain/tools/run.ts';
import type { Db } from '../../platform/db.ts';
import { SKILLS, type SkillId } from './card.ts';
import {
  agentMessage,
  bookingArtifact,
  bookingState,
  dataPart,
  failedOnOurSide,
  type KeyUser,
  keyUserOf,
  type PublicTaskStore,
} from './task-store.ts';

/** How long a blocking `message/send` waits for the venue's agent before answering "working". */
export const ANSWER_WAIT_MS = 8_000;
const POLL_MS = 200;

export interface PublicExecutorDeps {
  db: Db;
  store: PublicTaskStore;
  tools: readonly PublishedTool[];
  timeoutMs: number;
  quota?: ToolQuota;
  now: () => Date;
  /** For tests: how long to wait for the venue's agent. */
  answerWaitMs?: number;
}

type Request = { skill: string } & Record<string, unknown>;

const SKILL_SHAPES = Object.fromEntries(
  Object.entries(SKILLS).map(([id, skill]) => [id, skill.examples[0]]),
) as Record<SkillId, string>;

export function publicExecutor(deps: PublicExecutorDeps): AgentExecutor {
  const tools = new Map(deps.tools.map((published) => [published.name, published.tool]));
  const waitMs = deps.answerWaitMs ?? ANSWER_WAIT_MS;

  const runTask = async (request: RequestContext, bus: ExecutionEventBus, user: KeyUser) => {
    const { taskId, contextId } = request;
    const stamp = () => deps.now().toISOString();

    if (request.task) {
      // A message to a booking still waiting: the venue decides, nothing the sender adds changes it.
      const current = (await deps.store.load(taskId, request.context)) ?? request.task;
      bus.publish(AgentEvent.task(current));
      return;
    }

    const ask = readRequest(request.userMessage);
    const task: Task = {
      id: taskId,
      contextId,
      status: { state: TaskState.TASK_STATE_SUBMITTED, message: undefined, timestamp: stamp() },
      artifacts: [],
      history: [request.userMessage],
      metadata: ask && typeof ask.skill === 'string' ? { skill: ask.skill.slice(0, 60) } : {},
    };
    bus.publish(AgentEvent.task(task));
    const status = (state: TaskState, text: string, data?: unknown) =>
      bus.publish(
        AgentEvent.statusUpdate({
          taskId,
          contextId,
          status: { state, message: agentMessage(task, text, data), timestamp: stamp() },
          metadata: undefined,
        }),
      );
    const failed = (code: string, text: string) =>
      status(TaskState.TASK_STATE_FAILED, text, { error: { code, message: text }, skills: SKILL_SHAPES });

    if (!ask) {
      failed(
        'NEEDS_STRUCTURED_REQUEST',
        `I take structured requests, not free text: send a DataPart naming a skill (${Object.keys(SKILLS).join(', ')}), for example ${SKILL_SHAPES.search_venues}. The agent card describes each skill's fields.`,
      );
      return;
    }
    if (!Object.hasOwn(SKILLS, ask.skill)) {
      failed(
        'UNKNOWN_SKILL',
        `There is no skill called ${JSON.stringify(ask.skill.slice(0, 60))}: one of ${Object.keys(SKILLS).join(', ')}.`,
      );
      return;
    }
    const skill = ask.skill as SkillId;
    const name = SKILLS[skill].tool;
    const { skill: _, ...input } = ask;
    status(TaskState.TASK_STATE_WORKING, `Working on ${SKILLS[skill].name.toLowerCase()}.`);

    const caller: ToolCaller = {
      userId: user.actor.userId,
      actor: user.actor,
      channel: 'a2a',
      agentId: null,
      now: deps.now,
      logger: user.logger.child({ 'a2a.task': taskId, 'a2a.skill': skill }),
    };
    const result = await runTool(
      { db: deps.db, timeoutMs: deps.timeoutMs, quota: deps.quota },
      name,
      tools.get(name),
      input,
      caller,
    );
    if (result.outcome !== 'OK') {
      const { state, code } = failureOf(result);
      status(state, result.error ?? 'Failed', { error: { code, message: result.error ?? 'Failed' } });
      return;
    }

    if (skill !== 'book_table') {
      bus.publish(
        AgentEvent.artifactUpdate({
          taskId,
          contextId,
          artifact: {
            artifactId: skill,
            name: SKILLS[skill].name,
            description: `The answer to ${skill}`,
            parts: [dataPart(result.value)],
            metadata: undefined,
            extensions: [],
          },
          append: false,
          lastChunk: true,
          metadata: undefined,
        }),
      );
      status(TaskState.TASK_STATE_COMPLETED, `Done: ${SKILLS[skill].name.toLowerCase()}.`);
      return;
    }

    const bookingId = (result.value as { bookingId: string }).bookingId;
    await deps.store.attachBooking(task, bookingId, request.context);
    let now = await bookingState(deps.db, bookingId);
    const deadline = Date.now() + waitMs;
    while (now?.answerFrom === 'venue-agent' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      now = await bookingState(deps.db, bookingId);
    }
    if (!now) {
      failed('BOOKING_GONE', 'The booking is gone');
      return;
    }
    bus.publish(
      AgentEvent.artifactUpdate({
        taskId,
        contextId,
        artifact: bookingArtifact(now.booking),
        append: false,
        lastChunk: true,
        metadata: undefined,
      }),
    );
    status(now.state, now.text);
  };

  return {
    async execute(request: RequestContext, bus: ExecutionEventBus) {
      const user = keyUserOf(request.context);
      try {
        await runTask(request, bus, user);
      } catch (error) {
        // A failure of ours (the database, a bug): the SDK would fail the task with the error's own
        // words, which may name our queries. The caller is told it failed, and the request's id.
        user.logger.error({ err: error, 'a2a.task': request.taskId }, 'public A2A task failed');
        const text = failedOnOurSide(user.requestId);
        const task = { id: request.taskId, contextId: request.contextId };
        bus.publish(
          AgentEvent.statusUpdate({
            taskId: task.id,
            contextId: task.contextId,
            status: {
              state: TaskState.TASK_STATE_FAILED,
              message: agentMessage(task, text, { error: { code: 'INTERNAL_ERROR', message: text } }),
              timestamp: deps.now().toISOString(),
            },
            metadata: undefined,
          }),
        );
      }
    },

    async cancelTask() {
      // Tasks are not cancelled through the SDK's bus: see PublicRequestHandler.cancelTask.
    },
  };
}

/** The structured request a message carries: its first DataPart object, or a text part of JSON. */
export function readRequest(message: Message): Request | null {
  for (const part of message.parts) {
    const content = part.content;
    let value: unknown;
    if (content?.$case === 'data') value = content.value;
    else if (content?.$case === 'text' && content.value.trim().startsWith('{')) {
      try {
        value = JSON.parse(content.value);
      } catch {
        continue;
      }
    } else continue;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const skill = (value as { skill?: unknown }).skill;
      if (typeof skill === 'string') return value as Request;
    }
  }
  return null;
}

function failureOf(result: ToolResult): { state: TaskState; code: string } {
  if (result.outcome === 'REFUSED') {
    const code = /^([A-Z][A-Z_]+): /.exec(result.error ?? '')?.[1] ?? 'REFUSED';
    return { state: TaskState.TASK_STATE_REJECTED, code };
  }
  if (result.outcome === 'INVALID') return { state: TaskState.TASK_STATE_FAILED, code: 'INVALID_INPUT' };
  if (result.outcome === 'TIMEOUT') return { state: TaskState.TASK_STATE_FAILED, code: 'TIMEOUT' };
  return { state: TaskState.TASK_STATE_FAILED, code: 'FAILED' };
}
