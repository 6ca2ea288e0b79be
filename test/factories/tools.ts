/** What a consumer tool runs with when a test calls it directly, outside a chat. */
import { expect } from 'vitest';
import { type ConsumerAgentServices, consumerTools } from '../../src/domain/conversation/assembly.ts';
import { runToolCall, type Tool, type ToolContext } from '../../src/domain/conversation/tools.ts';
import { createLogger } from '../../src/platform/logger.ts';

/** The person's context: no agent, no chat, the real time, no buttons or notes yet. */
export function toolContext(userId: string): ToolContext {
  return {
    userId,
    agentId: null,
    chatId: null,
    now: () => new Date(),
    logger: createLogger('silent'),
    replyButtons: [],
    replyNotes: [],
  };
}

/**
 * The consumer's tools called as the model would call them, in `context`: each answer must be OK,
 * and is returned as the JSON it is.
 */
export function toolCaller(services: ConsumerAgentServices, context: ToolContext) {
  const byName = new Map<string, Tool>(consumerTools(services).map((tool) => [tool.name, tool]));
  return async <T = Record<string, unknown>>(name: string, input: Record<string, unknown>): Promise<T> => {
    const outcome = await runToolCall(
      { db: services.database.prisma, timeoutMs: 10_000, tools: byName },
      { type: 'tool_use', id: `t-${name}`, name, input },
      context,
    );
    expect(outcome, `${name}: ${outcome.content}`).toMatchObject({ outcome: 'OK' });
    return JSON.parse(outcome.content) as T;
  };
}
