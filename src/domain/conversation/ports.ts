/**
 * What the dispatcher needs from the areas around it (sessions, memory, delivery, the prompt's
 * facts), as small interfaces. services.ts wires the real ones; the dispatcher stays readable and
 * the areas stay independent of it.
 */
import type { ChatMessage } from './messages.ts';
import type { TurnFacts } from './prompt.ts';

export interface SessionData {
  messages: ChatMessage[];
  summary: string | null;
  updatedAt: string;
}

export interface ChatRef {
  platform: string;
  account: string;
  externalChatId: string;
}

export interface SessionPort {
  load(chat: ChatRef): Promise<SessionData>;
  save(chat: ChatRef, session: SessionData): Promise<void>;
  clear(chat: ChatRef): Promise<void>;
  compact(
    session: SessionData,
    options: {
      historyTokens: number;
      summarize: (messages: ChatMessage[], previousSummary: string | null) => Promise<string>;
    },
  ): Promise<SessionData>;
  forStorage(messages: ChatMessage[]): ChatMessage[];
}

export interface MemoryPort {
  list(userId: string): Promise<string[]>;
  forgetAll(userId: string): Promise<number>;
  forgetMatching(userId: string, words: string): Promise<string[]>;
}

export interface DeliveryPort {
  /** Releases the confirmation the person's own message carries, if any. */
  release(
    userId: string,
    message: { buttonPayload: string | null; text: string | null; receivedAt: Date },
  ): Promise<{ quoteId: string } | null>;
}

export interface UserLease {
  extend(): Promise<boolean>;
  release(): Promise<void>;
}

export interface UserLocks {
  tryAcquire(name: string): Promise<UserLease | null>;
}

export interface ConversationPorts {
  sessions: SessionPort;
  memory: MemoryPort;
  delivery?: DeliveryPort;
  /** The facts of the turn's system prompt (profile, memories, habits, time, weather, transport). */
  facts(userId: string, text: string, now: Date): Promise<TurnFacts>;
}
