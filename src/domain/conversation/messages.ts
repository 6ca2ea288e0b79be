/**
 * What the conversation asks of a language model, and how a call can be refused. The message
 * shapes themselves are the model clients' (src/integrations/llm/messages.ts), provider-neutral;
 * they are named here too so the conversation's files have one place to import them from.
 */
import type {
  ChatMessage,
  ContentBlock,
  LlmPurpose,
  LlmResponse,
  SystemPart,
  TextBlock,
  ToolSpec,
} from '../../integrations/llm/messages.ts';

export type {
  ChatMessage,
  ContentBlock,
  LlmResponse,
  LlmUsageFigures,
  SystemPart,
  ToolResultBlock,
  ToolSpec,
  ToolUseBlock,
} from '../../integrations/llm/messages.ts';

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

/** Sends one request to the best available provider, within budget; see gateway.ts. */
export interface LlmGateway {
  complete(request: LlmRequest): Promise<LlmResponse>;
}

/** No provider could answer (none configured, all failing or open). Nothing was charged. */
export class LlmUnavailableError extends Error {
  constructor(message = 'No language model is available right now', options?: { cause?: unknown }) {
    super(message, options);
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
