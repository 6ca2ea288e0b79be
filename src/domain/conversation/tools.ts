/**
 * The consumer agent's tools, adapted from the one tool contract (src/domain/tools, where every
 * tool is defined): the list the model sees, and a tool call the model asked for run through the
 * shared runner and turned into the result block it reads.
 *
 * Taint. Some read tools return text written outside our control (a venue's own description):
 * `untrustedResult`. Once the model has read such text in a conversation (this turn or one still in
 * its history), it may be obeying it, so its writes no longer speak for the person. A write in a
 * tainted turn is then not carried out (the rule is the runner's, src/domain/tools/run.ts): it is
 * held here as a single-use confirmation (the same mechanism as a delivery quote's,
 * src/domain/confirmations) showing the person, in words the code writes, exactly what would
 * happen, with a Confirm button and a code the model never sees. Only the person's own press or
 * typed code carries it out, exactly as held. A tool that guards itself (`whenTainted: 'self'`)
 * decides on its own: `remember` keeps only what the person's own message says,
 * `confirm_delivery` already needs the person's confirmation.
 */
import type { ToolCallOutcome, ToolSideEffect } from '../../generated/prisma/enums.ts';
import type { Db } from '../../platform/db.ts';
import {
  ACTION_BUTTON_PREFIX,
  HELD_SUMMARY_MAX_CHARS,
  mintConfirmation,
} from '../confirmations/confirmations.ts';
import {
  type AnyTool,
  type ChatCaller,
  jsonSchema,
  MAX_REPLY_BUTTONS,
  onReply,
  requireReplyRoom,
  ToolRefusal,
  turnCallKey,
} from '../tools/contract.ts';

export { MAX_REPLY_BUTTONS };

import { runTool } from '../tools/run.ts';
import type { ChatMessage, ToolSpec, ToolUseBlock } from './messages.ts';

/** What running tools in one turn share: who asks, and what the reply should carry besides text. */
export type ToolContext = ChatCaller;

/** How long a held action waits for the person's press. */
export const HELD_ACTION_MINUTES = 30;

/** A tool as chat runs it: any of the contract's, seeing the chat's context (most need less of it). */
export type Tool = AnyTool<ToolContext>;

/** The tools as the model sees them. */
export function toolSpecs(tools: readonly AnyTool<ToolContext>[]): ToolSpec[] {
  return tools.map((tool) => ({
    name: tool.name,
    description: tool.description,
    inputSchema: jsonSchema(tool.input, 'input'),
  }));
}

export interface ToolOutcome {
  toolUseId: string;
  name: string;
  sideEffect: ToolSideEffect;
  outcome: ToolCallOutcome;
  /** What the model reads (JSON). */
  content: string;
  isError: boolean;
}

const MAX_RESULT_CHARS = 12_000;

/**
 * Runs one tool call the model asked for (through the shared runner, which records it). Never
 * throws for anything the tool or the input did; the model gets an error result it can act on.
 */
export async function runToolCall(
  deps: { db: Db; timeoutMs: number; tools: ReadonlyMap<string, AnyTool<ToolContext>> },
  call: ToolUseBlock,
  context: ToolContext,
): Promise<ToolOutcome> {
  const tool = deps.tools.get(call.name);
  const result = await runTool(
    {
      db: deps.db,
      timeoutMs: deps.timeoutMs,
      hold: (held, input, caller) => hold(deps.db, held, input, caller),
    },
    call.name,
    tool,
    call.input,
    // The key is taken now, before anything is awaited: calls of one step keep the model's order.
    { ...context, channel: 'chat' as const, callKey: turnCallKey(context, call.name, call.input) },
  );
  const content = clip(JSON.stringify(result.outcome === 'OK' ? result.value : { error: result.error }));
  return {
    toolUseId: call.id,
    name: call.name,
    sideEffect: result.sideEffect,
    outcome: result.outcome,
    content,
    isError: result.outcome !== 'OK',
  };
}

/**
 * Holds a write for the person's confirmation: mints it, and puts what it would do, its button and
 * its code on the reply. The model is told only that it is held; it never sees the token or code.
 */
async function hold(db: Db, tool: AnyTool<ToolContext>, input: unknown, context: ToolContext): Promise<void> {
  const summary = tool.describe
    ? await tool.describe(input, context)
    : `${tool.name}: ${JSON.stringify(input).slice(0, 500)}`;
  // The person confirms what they read, so it is shown whole or not held at all: a summary cut
  // short would let input they never saw be carried out on their press. Too long to show, the
  // model is told so, and asks them for something shorter.
  if (summary.length > HELD_SUMMARY_MAX_CHARS) {
    throw new ToolRefusal(
      'NEEDS_CONFIRMATION',
      `This is too long to show the person whole for their confirmation: ask them for a version at least ${summary.length - HELD_SUMMARY_MAX_CHARS} characters shorter`,
    );
  }
  // Room on the reply for one more button and its note (its summary, number and code line), a
  // delivery's Confirm counted with the rest: a button never goes without all it does. Checked and
  // taken on the reply alone (onReply): the calls of one model step run at once.
  return onReply(context, async () => {
    requireReplyRoom(context, `${summary}${'x'.repeat(HELD_NOTE_CHARS)}`);
    await addHeld(db, tool, input, summary, context);
  });
}

/** hold's part on the reply: mints the confirmation, adds its button and note, numbers them all. */
async function addHeld(
  db: Db,
  tool: AnyTool<ToolContext>,
  input: unknown,
  summary: string,
  context: ToolContext,
): Promise<void> {
  const held = heldIn(context);
  const now = context.now();
  const minted = await mintConfirmation(db, {
    userId: context.userId,
    subject: { action: { tool: tool.name, input, summary } },
    expiresAt: new Date(now.getTime() + HELD_ACTION_MINUTES * 60_000),
    now,
  });
  held.push({
    button: context.replyButtons.push({ id: `${ACTION_BUTTON_PREFIX}${minted.token}`, title: 'Confirm' }) - 1,
    note: context.replyNotes.push('') - 1,
    summary,
    code: minted.code,
  });
  // One held action has a Confirm; several are numbered, each note naming its own button.
  held.forEach((action, index) => {
    const title = held.length === 1 ? 'Confirm' : `Confirm ${index + 1}`;
    context.replyButtons[action.button]!.title = title;
    context.replyNotes[action.note] =
      `${held.length === 1 ? '' : `${index + 1}. `}${action.summary}\nTo do this, press ${title} or send: CONFIRM ${action.code} (within ${HELD_ACTION_MINUTES} min).`;
  });
}

/** A held action's note beyond its summary: its number, and the line with its button and code. */
const HELD_NOTE_CHARS = 100;

interface HeldAction {
  /** Where its button and note are on the reply. */
  button: number;
  note: number;
  summary: string;
  code: string;
}

/** The actions held so far in this turn's reply (by the reply's own list of buttons). */
const heldByReply = new WeakMap<object, HeldAction[]>();

function heldIn(context: ToolContext): HeldAction[] {
  let held = heldByReply.get(context.replyButtons);
  if (!held) {
    held = [];
    heldByReply.set(context.replyButtons, held);
  }
  return held;
}

/** Whether a conversation has had an untrusted tool's result in it (by the calls that produced one). */
export function readUntrusted(
  messages: readonly ChatMessage[],
  tools: ReadonlyMap<string, AnyTool<ToolContext>>,
): boolean {
  return messages.some((message) =>
    message.content.some((block) => block.type === 'tool_use' && tools.get(block.name)?.untrustedResult),
  );
}

/** Keeps a result within what is useful to the model, still valid JSON. */
function clip(json: string): string {
  if (json.length <= MAX_RESULT_CHARS) return json;
  return JSON.stringify({ truncated: true, partial: json.slice(0, MAX_RESULT_CHARS - 100) });
}
