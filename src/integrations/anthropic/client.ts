/**
 * Anthropic's Messages API through `@anthropic-ai/sdk`: our provider-neutral request in, our
 * response out. Prompt caching is marked here, because only this provider has it: the stable
 * prefix (tools, then the system parts marked `cache`) gets breakpoints, and a conversation call
 * also asks the API to cache up to its last message, so each round of a tool loop reads the
 * rounds before it from the cache at a tenth of the price.
 *
 * The SDK retries nothing (`maxRetries: 0`). Its retries cover timeouts and 5xx as well as 429, so
 * a turn could wait three timeouts before the router hears of trouble; the router has a
 * fallback and a breaker and is the one place that decides what a failure means.
 */
import Anthropic, {
  AnthropicError,
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  type ClientOptions,
} from '@anthropic-ai/sdk';
import type {
  StopReason as AnthropicStopReason,
  ContentBlockParam,
  Message,
  MessageCreateParamsNonStreaming,
  MessageParam,
  TextBlockParam,
  Tool,
} from '@anthropic-ai/sdk/resources/messages';
import type { Logger } from '../../platform/logger.ts';
import type {
  ChatMessage,
  ContentBlock,
  LlmResponse,
  ProviderCall,
  ProviderClient,
  ProviderFailure,
  StopReason,
  SystemPart,
  ToolSpec,
} from '../llm/messages.ts';
import { ProviderCallError } from '../provider-call-error.ts';

export type AnthropicClient = ProviderClient;

export function createAnthropicClient(options: {
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
  logger?: Logger;
}): AnthropicClient {
  const sdk = new Anthropic({
    apiKey: options.apiKey,
    // Only the key from our config: never a token or profile the SDK might find in the environment.
    authToken: null,
    baseURL: options.baseUrl,
    timeout: options.timeoutMs,
    maxRetries: 0,
    ...(options.logger ? { logger: sdkLogger(options.logger) } : {}),
  });
  return {
    async complete(call) {
      let message: Message;
      try {
        message = await sdk.messages.create(toAnthropicRequest(call));
      } catch (error) {
        throw asCallError(error);
      }
      return fromAnthropicMessage(message);
    },
  };
}

const EPHEMERAL = { type: 'ephemeral' } as const;

/** Our request in the Messages API's shape (exported for tests of the translation). */
export function toAnthropicRequest(call: ProviderCall): MessageCreateParamsNonStreaming {
  const tools = call.tools?.map(toTool) ?? [];
  const last = tools.at(-1);
  // The tools come first in the cached prefix; their own breakpoint keeps them cached when the
  // system prompt has no stable part.
  if (last) last.cache_control = EPHEMERAL;
  return {
    model: call.model,
    max_tokens: call.maxTokens,
    system: toSystem(call.system),
    messages: call.messages.map(toMessageParam),
    ...(tools.length ? { tools } : {}),
    // Automatic caching: a breakpoint on the last block of the conversation.
    ...(call.cacheConversation ? { cache_control: EPHEMERAL } : {}),
  };
}

/**
 * The system prompt as text blocks, with a breakpoint on the last part of the stable prefix: the
 * leading run of parts marked `cache`. A cached part after one that changes would never be read
 * back (the cache matches prefixes), so it gets no breakpoint.
 */
function toSystem(parts: SystemPart[]): TextBlockParam[] {
  const blocks: TextBlockParam[] = parts.map((part) => ({ type: 'text', text: part.text }));
  let stable = 0;
  while (stable < parts.length && parts[stable]!.cache) stable++;
  const end = blocks[stable - 1];
  if (end) end.cache_control = EPHEMERAL;
  return blocks;
}

function toTool(spec: ToolSpec): Tool {
  return {
    name: spec.name,
    description: spec.description,
    input_schema: spec.inputSchema as Tool.InputSchema,
  };
}

function toMessageParam(message: ChatMessage): MessageParam {
  const content = message.content.flatMap(toContentBlockParam);
  // The API refuses a message without content; one can only come from an empty model answer.
  if (content.length === 0) content.push({ type: 'text', text: '…' });
  return { role: message.role, content };
}

function toContentBlockParam(block: ContentBlock): ContentBlockParam[] {
  switch (block.type) {
    case 'text':
      // The API refuses text blocks with nothing but white space.
      return block.text.trim() ? [{ type: 'text', text: block.text }] : [];
    case 'image':
      return [
        {
          type: 'image',
          source: {
            type: 'base64',
            media_type: block.mediaType as 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp',
            data: block.data,
          },
        },
      ];
    case 'tool_use':
      return [{ type: 'tool_use', id: block.id, name: block.name, input: block.input }];
    case 'tool_result':
      return [
        {
          type: 'tool_result',
          tool_use_id: block.toolUseId,
          content: block.content,
          ...(block.isError ? { is_error: true } : {}),
        },
      ];
  }
}

/** The answer in our shapes: text and tool_use blocks (anything else, such as thinking, is dropped). */
export function fromAnthropicMessage(message: Message): LlmResponse {
  const content: LlmResponse['content'] = [];
  for (const block of message.content) {
    if (block.type === 'text') content.push({ type: 'text', text: block.text });
    else if (block.type === 'tool_use')
      content.push({ type: 'tool_use', id: block.id, name: block.name, input: block.input });
  }
  return {
    content,
    stopReason: toStopReason(message.stop_reason),
    usage: {
      inputTokens: message.usage.input_tokens,
      outputTokens: message.usage.output_tokens,
      cacheReadTokens: message.usage.cache_read_input_tokens ?? 0,
      cacheWriteTokens: message.usage.cache_creation_input_tokens ?? 0,
    },
    provider: 'anthropic',
    model: message.model,
  };
}

function toStopReason(reason: AnthropicStopReason | null): StopReason {
  switch (reason) {
    case 'end_turn':
    case 'tool_use':
    case 'max_tokens':
    case 'stop_sequence':
    case 'refusal':
      return reason;
    // The answer was cut off either way.
    case 'model_context_window_exceeded':
      return 'max_tokens';
    default:
      return 'other';
  }
}

/**
 * What a failure means. 401, 402, 403 and 404 (a key, bill, permission or model name that is
 * wrong) are `misconfigured`: retrying will not help, another provider might. Other 4xx say our
 * request is wrong, and are `rejected`. Errors that are not the SDK's (our own bugs) pass through.
 * (APIUserAbortError cannot happen: no call here is given an abort signal.)
 */
function asCallError(error: unknown): unknown {
  if (error instanceof APIConnectionTimeoutError)
    return new ProviderCallError('Anthropic', 'timeout', null, 'Anthropic did not answer in time', {
      cause: error,
    });
  if (error instanceof APIConnectionError)
    return new ProviderCallError('Anthropic', 'network', null, `Anthropic unreachable: ${error.message}`, {
      cause: error,
    });
  // The SDK refused to send (it found no usable credentials, say): a setup problem.
  if (error instanceof AnthropicError && !(error instanceof APIError))
    return new ProviderCallError('Anthropic', 'misconfigured', null, `Anthropic client: ${error.message}`, {
      cause: error,
    });
  if (!(error instanceof APIError) || error.status === undefined) return error;
  return new ProviderCallError(
    'Anthropic',
    reasonFor(error.status),
    error.status,
    `Anthropic ${error.status}: ${error.apiMessage ?? error.message}`,
    { cause: error },
  );
}

function reasonFor(status: number): ProviderFailure {
  if (status === 429) return 'rate_limited';
  if (status === 529) return 'overloaded';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'server_error';
  if ([401, 402, 403, 404].includes(status)) return 'misconfigured';
  return 'rejected';
}

/** The SDK's own warnings (a deprecated model, say) go to our logs, not to the console. */
function sdkLogger(logger: Logger): NonNullable<ClientOptions['logger']> {
  const child = logger.child({ 'llm.provider': 'anthropic' });
  return {
    error: (message, ...rest) => child.error({ details: rest }, message),
    warn: (message, ...rest) => child.warn({ details: rest }, message),
    info: (message, ...rest) => child.info({ details: rest }, message),
    debug: (message, ...rest) => child.debug({ details: rest }, message),
  };
}
