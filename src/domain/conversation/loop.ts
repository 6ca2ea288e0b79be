/**
 * The tool-use loop: ask the model, run the tools it calls (those of one turn at once), feed the
 * results back, and repeat until it answers in words, at most `maxRounds` times. A loop that runs
 * out of rounds ends with a graceful answer, and every tool call it made gets a result, so the
 * history stays valid for the next turn.
 *
 * The loop keeps the turn's taint (tools.ts): a conversation whose history holds an untrusted
 * tool's result starts tainted, and a round that read one taints the rest of the turn. Calls made
 * in the same round as that read were asked for before its text was seen, so they are not.
 */

import type { Db } from '../../platform/db.ts';
import type {
  ChatMessage,
  LlmGateway,
  LlmResponse,
  SystemPart,
  ToolResultBlock,
  ToolUseBlock,
} from './messages.ts';
import { textOf } from './messages.ts';
import {
  readUntrusted,
  runToolCall,
  type Tool,
  type ToolContext,
  type ToolOutcome,
  toolSpecs,
} from './tools.ts';

export const MAX_ROUNDS = 8;

export interface LoopInput {
  gateway: LlmGateway;
  db: Db;
  system: SystemPart[];
  /** The conversation so far, ending with the person's new message. */
  messages: ChatMessage[];
  tools: readonly Tool[];
  context: ToolContext;
  toolTimeoutMs: number;
  organizationId?: string | null;
  maxRounds?: number;
  /** The answer when the rounds run out (in the person's language, ideally). */
  outOfRounds?: string;
}

export interface LoopResult {
  /** What to send the person. */
  reply: string;
  /** The messages this turn added after the person's (assistant turns and tool results). */
  added: ChatMessage[];
  rounds: number;
  toolCalls: ToolOutcome[];
  /** Which provider answered last (for logs and metrics). */
  provider: LlmResponse['provider'] | null;
  /** Set when the model failed after tools had changed something: the turn was cut short. */
  interrupted?: unknown;
}

const OUT_OF_ROUNDS =
  'Sorry, that took more steps than I can take at once. Could you tell me a bit more precisely what you would like?';

/** Tool calls run per model turn; more in one answer get an error result each. */
export const MAX_TOOL_CALLS_PER_ROUND = 5;

export async function runToolLoop(input: LoopInput): Promise<LoopResult> {
  const maxRounds = input.maxRounds ?? MAX_ROUNDS;
  const tools = new Map(input.tools.map((tool) => [tool.name, tool as Tool]));
  const specs = toolSpecs(input.tools);
  const messages = [...input.messages];
  const added: ChatMessage[] = [];
  const toolCalls: ToolOutcome[] = [];
  let provider: LlmResponse['provider'] | null = null;
  if (readUntrusted(input.messages, tools)) input.context.tainted = true;
  const finish = (reply: string, rounds: number): LoopResult => {
    added.push({ role: 'assistant', content: [{ type: 'text', text: reply }] });
    return { reply, added, rounds, toolCalls, provider };
  };

  for (let round = 1; round <= maxRounds; round++) {
    let response: LlmResponse;
    try {
      response = await input.gateway.complete({
        purpose: 'conversation',
        system: input.system,
        messages,
        tools: specs,
        userId: input.context.userId,
        organizationId: input.organizationId ?? null,
        // Checked before the first call: a turn under way finishes rather than stopping between
        // a tool's effect and its report.
        budgetChecked: round > 1,
      });
    } catch (error) {
      // Nothing changed yet: the caller may retry the whole turn.
      if (!toolCalls.some(changedSomething)) throw error;
      // Something did: the person hears what, and the turn ends here, as it is, so a retry never
      // does it twice.
      return { ...finish(interruptedReply(toolCalls), round), interrupted: error };
    }
    provider = response.provider;
    const assistant: ChatMessage = { role: 'assistant', content: response.content };
    const uses = response.content.filter((block): block is ToolUseBlock => block.type === 'tool_use');
    if (uses.length === 0 || response.stopReason !== 'tool_use') {
      // A final answer. An empty one (it happens) still gets words.
      return finish(textOf(response.content) || OUT_OF_ROUNDS, round);
    }
    messages.push(assistant);
    added.push(assistant);

    const refuse = (use: ToolUseBlock, why: string): ToolOutcome => ({
      toolUseId: use.id,
      name: use.name,
      sideEffect: tools.get(use.name)?.sideEffect ?? 'READ',
      outcome: 'REFUSED',
      content: JSON.stringify({ error: why }),
      isError: true,
    });
    const outcomes = await Promise.all(
      uses.map((use, index) =>
        round === maxRounds
          ? refuse(use, 'Not run: the turn ran out of steps')
          : index >= MAX_TOOL_CALLS_PER_ROUND
            ? refuse(use, `Not run: at most ${MAX_TOOL_CALLS_PER_ROUND} tool calls at once`)
            : runToolCall({ db: input.db, timeoutMs: input.toolTimeoutMs, tools }, use, input.context),
      ),
    );
    if (round < maxRounds) toolCalls.push(...outcomes.slice(0, MAX_TOOL_CALLS_PER_ROUND));
    if (outcomes.some((o) => o.outcome === 'OK' && tools.get(o.name)?.untrustedResult))
      input.context.tainted = true;
    const results: ChatMessage = {
      role: 'user',
      content: outcomes.map(
        (o): ToolResultBlock => ({
          type: 'tool_result',
          toolUseId: o.toolUseId,
          content: o.content,
          isError: o.isError,
        }),
      ),
    };
    messages.push(results);
    added.push(results);
  }

  return finish(input.outOfRounds ?? OUT_OF_ROUNDS, maxRounds);
}

const changedSomething = (call: ToolOutcome) => call.sideEffect !== 'READ' && call.outcome !== 'INVALID';

/** What a turn cut short had done, for the person (its results, as the tools gave them). */
function interruptedReply(calls: readonly ToolOutcome[]): string {
  const done = calls
    .filter(changedSomething)
    .map(
      (call) => `• ${call.name}${call.isError ? ' (failed or unsure)' : ''}: ${call.content.slice(0, 300)}`,
    );
  return [
    'Sorry, I lost my connection partway through. Before that, this is what I did:',
    ...done,
    'Tell me how you would like to go on.',
  ].join('\n');
}
