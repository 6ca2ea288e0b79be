/**
 * The provider-neutral shapes of a language-model call. Anthropic's Messages API is the model for
 * them (content blocks, tool_use / tool_result pairs); the Ollama client translates. Sessions store
 * these, the tool loop produces them, the router sends them to whichever provider answers.
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

export type StopReason = 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence' | 'refusal' | 'other';

export interface LlmUsageFigures {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export type ProviderName = 'anthropic' | 'ollama';

export interface LlmResponse {
  /** Text and tool_use blocks only. */
  content: (TextBlock | ToolUseBlock)[];
  stopReason: StopReason;
  usage: LlmUsageFigures;
  provider: ProviderName;
  model: string;
}

/** Why a provider call failed, as the provider clients report it. */
export type ProviderFailure =
  | 'timeout'
  | 'network'
  | 'rate_limited'
  | 'overloaded'
  | 'server_error'
  | 'misconfigured'
  | 'rejected';

/** What the router needs of each provider's client. */
export interface ProviderClient {
  complete(call: ProviderCall): Promise<LlmResponse>;
}

/** One call as a provider client takes it: the request with the model and limits decided. */
export interface ProviderCall {
  model: string;
  system: SystemPart[];
  messages: ChatMessage[];
  tools?: ToolSpec[];
  maxTokens: number;
  /** Cache the conversation up to its last message (a tool loop sends it again next round). */
  cacheConversation?: boolean;
}
