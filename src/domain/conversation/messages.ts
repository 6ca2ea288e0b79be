/**
 * The conversation's own message shapes, independent of any provider. Anthropic's Messages API is
 * the model for them (content blocks, tool_use / tool_result pairs); the Ollama client translates.
 * Sessions store these, the tool loop produces them, the gateway sends them.
 */

export type TextBlock = { type: 'text'; text: string };
/** An image the person sent, base64-encoded (only in the turn it arrived; sessions keep a note). */
export type ImageBlock = { type: 'image'; mediaType: string; data: string };
export type ToolUseBlock = { type: 'tool_use'; id: string; name: string; input: unknown };
export type ToolResultBlock = { type: 'tool_result'; toolUseId: string; content: string; isError?: boolean };

export type ContentBlock = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock;

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: ContentBlock[];
}

/** A tool as the model sees it: name, description and the JSON schema of its input. */
export interface ToolSpec {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/**
 * One part of the system prompt. Parts marked `cache` form the stable prefix (persona, rules,
 * tool guidance) that the provider may cache between calls; the rest changes per turn.
 */
export interface SystemPart {
  text: string;
  cache?: boolean;
}

/** What a call is for: picks the model (conversation: the strong one; cheap: summaries and such). */
export type LlmPurpose = 'conversation' | 'cheap';

export interface LlmRequest {
  purpose: LlmPurpose;
  system: SystemPart[];
  messages: ChatMessage[];
  tools?: ToolSpec[];
  maxTokens?: number;
  /** Who the call is for: budgets are checked and usage recorded against them. */
  userId?: string | null;
  organizationId?: string | null;
  /**
   * The budget was already checked for this turn (a later round of the tool loop): the turn may
   * finish, at most MAX_ROUNDS calls, rather than stop between a tool's effect and its report.
   */
  budgetChecked?: boolean;
}

export type StopReason = 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence' | 'refusal' | 'other';

export interface LlmUsageFigures {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export interface LlmResponse {
  /** Text and tool_use blocks only. */
  content: (TextBlock | ToolUseBlock)[];
  stopReason: StopReason;
  usage: LlmUsageFigures;
  provider: 'anthropic' | 'ollama';
  model: string;
}

/** Sends one request to the best available provider, within budget; see gateway.ts. */
export interface LlmGateway {
  complete(request: LlmRequest): Promise<LlmResponse>;
}

/** No provider could answer (none configured, all failing or open). Nothing was charged. */
export class LlmUnavailableError extends Error {
  constructor(message = 'No language model is available right now') {
    super(message);
    this.name = 'LlmUnavailableError';
  }
}

/**
 * Which budget refused a call: the person's day (`new_account` while their allowance is still
 * growing), the organisation's month, or the whole platform's day.
 */
export type BudgetScope = 'user' | 'new_account' | 'organization' | 'platform';

const BUDGET_MESSAGES: Record<BudgetScope, string> = {
  user: 'Daily token budget used up',
  new_account: "Today's token allowance of a new account used up",
  organization: 'Monthly token budget of the organisation used up',
  platform: "The platform's daily model budget is used up",
};

/** A budget of the call is used up; no model call was made. */
export class BudgetExceededError extends Error {
  readonly scope: BudgetScope;
  constructor(scope: BudgetScope) {
    super(BUDGET_MESSAGES[scope]);
    this.name = 'BudgetExceededError';
    this.scope = scope;
  }
}

/** The text of a message's text blocks, joined. */
export function textOf(content: readonly ContentBlock[]): string {
  return content
    .filter((block): block is TextBlock => block.type === 'text')
    .map((block) => block.text)
    .join('\n')
    .trim();
}
