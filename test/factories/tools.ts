/** What a consumer tool runs with when a test calls it directly, outside a chat. */
import type { ToolContext } from '../../src/domain/conversation/tools.ts';
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
