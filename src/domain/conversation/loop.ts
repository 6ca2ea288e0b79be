/**
 * The tool-use loop: ask the model, run the tools it calls (those of one turn at once), feed the
 * results back, and repeat until it answers in words, at most `maxRounds` times. A loop that runs
 * out of rounds ends with a graceful answer, and every tool call it made gets a result, so the
 * history stays valid for the next turn.
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
import { runToolCall, type Tool, type ToolContext, type ToolOutcome, toolSpecs } from './tools.ts';

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
}

const OUT_OF_ROUNDS =
  'Sorry, that took more steps than I can take at once. Could you tell me a bit more precisely what you would like?';

export async function runToolLoop(input: LoopInput): Promise<LoopResult> {
  const maxRounds = input.maxRounds ?? MAX_ROUNDS;
  const tools = new Map(input.tools.map((tool) => [tool.name, tool as Tool]));
  const specs = toolSpecs(input.tools);
  const messages = [...input.messages];
  const added: ChatMessage[] = [];
  const toolCalls: ToolOutcome[] = [];
  let provider: LlmResponse['provider'] | null = null;

  for (let round = 1; round <= maxRounds; round++) {
    const response = await input.gateway.complete({
      purpose: 'conversation',
      system: input.system,
      messages,
      tools: specs,
      userId: input.context.userId,
      organizationId: input.organizationId ?? null,
    });
    provider = response.provider;
    const assistant: ChatMessage = { role: 'assistant', content: response.content };
    const uses = response.content.filter((block): block is ToolUseBlock => block.type === 'tool_use');
    if (uses.length === 0 || response.stopReason !== 'tool_use') {
      // A final answer. An empty one (it happens) still gets words.
      const reply = textOf(response.content) || OUT_OF_ROUNDS;
      const final: ChatMessage = { role: 'assistant', content: [{ type: 'text', text: reply }] };
      added.push(final);
      return { reply, added, rounds: round, toolCalls, provider };
    }
    messages.push(assistant);
    added.push(assistant);

    const outcomes =
      round < maxRounds
        ? await Promise.all(
            uses.map((use) =>
              runToolCall({ db: input.db, timeoutMs: input.toolTimeoutMs, tools }, use, input.context),
            ),
          )
        : uses.map(
            (use): ToolOutcome => ({
              toolUseId: use.id,
              outcome: 'REFUSED',
              content: JSON.stringify({ error: 'Not run: the turn ran out of steps' }),
              isError: true,
            }),
          );
    if (round < maxRounds) toolCalls.push(...outcomes);
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

  const reply = input.outOfRounds ?? OUT_OF_ROUNDS;
  added.push({ role: 'assistant', content: [{ type: 'text', text: reply }] });
  return { reply, added, rounds: maxRounds, toolCalls, provider };
}
