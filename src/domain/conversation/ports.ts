/**
 * What the consumer agent's turn (turn.ts) needs from the areas around it (sessions, memory,
 * confirmations, the prompt's facts), as small interfaces. assembly.ts wires the real ones; the
 * turn stays readable and the areas stay independent of it.
 */
import type { HeldOutcome, HeldUse, Released } from '../confirmations/confirmations.ts';
import type { ChatMessage } from './messages.ts';
import type { TurnFacts } from './prompt.ts';
import type { ChatRef, Session as SessionData } from './sessions.ts';

export type { ChatRef, Session as SessionData } from './sessions.ts';

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
  /** Keeps the chat's new history summary for dreaming; `continued`: it folds in a previous one. */
  keepSummary(input: {
    userId: string;
    chatId: string;
    summary: string;
    continued: boolean;
    now: Date;
  }): Promise<void>;
}

export interface ConfirmationPort {
  /**
   * Releases the confirmation (a delivery quote's or a held action's) the person's own message
   * carries, if any; the same message (`eventId`) handled again releases it again.
   */
  release(
    userId: string,
    message: { buttonPayload: string | null; text: string | null; receivedAt: Date; eventId: string },
  ): Promise<Released | null>;
  /**
   * Uses a released held action, once: `run` when this turn may carry it out; the same message
   * (`eventId`) handled again learns what came of it, or runs it again if that was never recorded.
   */
  useHeldAction(userId: string, actionId: string, eventId: string | null): Promise<HeldUse>;
  /** Keeps what carrying out a held action came to, with it. */
  recordHeldOutcome(userId: string, actionId: string, outcome: HeldOutcome): Promise<void>;
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
  confirmations?: ConfirmationPort;
  /** The facts of the turn's system prompt (profile, memories, habits, time, weather, transport). */
  facts(userId: string, text: string, now: Date): Promise<TurnFacts>;
}
