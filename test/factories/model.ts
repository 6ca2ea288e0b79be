/**
 * Scripting the Anthropic fake the way a model answers: text, tool calls, and reading back what
 * the agent sent it in the last turn.
 */
import { randomBytes } from 'node:crypto';
import { anthropicMessage, type FakeReply } from '../fakes/anthropic.ts';

export type ModelRequestBody = { messages: { role: string; content: string | Record<string, unknown>[] }[] };

/** The last user message of a request: its tool results (parsed, and as sent) and its texts. */
export function lastTurn(body: ModelRequestBody) {
  const last = body.messages.at(-1)!;
  const blocks = typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : last.content;
  return {
    results: blocks
      .filter((b) => b.type === 'tool_result')
      .map((b) => ({
        isError: b.is_error === true,
        raw: String(b.content),
        value: JSON.parse(String(b.content)) as Record<string, unknown>,
      })),
    text: blocks
      .filter((b) => b.type === 'text')
      .map((b) => String(b.text))
      .join('\n'),
  };
}

/** A tool use block with an id of its own. */
export const use = (name: string, input: unknown) => ({
  name,
  input,
  id: `toolu_${randomBytes(6).toString('hex')}`,
});
/** The model answers with text. */
export const say = (text: string): FakeReply => ({ body: anthropicMessage({ text }) });
/** The model calls one tool. */
export const call = (name: string, input: unknown): FakeReply => ({
  body: anthropicMessage({ toolUses: [use(name, input)] }),
});
