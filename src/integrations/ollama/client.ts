/**
 * Ollama's chat API (`POST /api/chat`, one JSON answer with `stream: false`): our
 * provider-neutral request in, our response out.
 *
 * The translation differs from Anthropic's in three places. The system prompt is one `system`
 * message. A tool result is a message of its own with role `tool`, naming the tool it answers
 * (`tool_name`); Ollama pairs calls and results by order and name, not by id. And Ollama gives
 * tool calls no ids (or ones of its own making, depending on the version), while our sessions pair
 * every tool_use with its tool_result by id and may later send that history to Anthropic: so each
 * call gets an id minted here, in Anthropic's `toolu_` form, which then stays with it in the
 * session.
 */
import { randomBytes } from 'node:crypto';
import type {
  ChatMessage,
  LlmResponse,
  ProviderCall,
  ProviderClient,
  ProviderFailure,
  SystemPart,
  ToolSpec,
} from '../llm/messages.ts';
import { ProviderCallError } from '../provider-call-error.ts';

export type OllamaClient = ProviderClient;

/** A message on Ollama's wire. */
export interface OllamaMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** Base64 images, without a data: prefix. */
  images?: string[];
  tool_calls?: { id?: string; function: { name: string; arguments: unknown } }[];
  /** On a `tool` message: which tool's output this is. */
  tool_name?: string;
}

export interface OllamaChatRequest {
  model: string;
  messages: OllamaMessage[];
  tools?: { type: 'function'; function: { name: string; description: string; parameters: unknown } }[];
  stream: false;
  options: { num_predict: number };
}

interface OllamaChatResponse {
  model?: string;
  message?: OllamaMessage;
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
}

export function createOllamaClient(options: { url: string; timeoutMs: number }): OllamaClient {
  return {
    async complete(call) {
      const request = JSON.stringify(toOllamaRequest(call));
      let response: Response;
      try {
        response = await fetch(`${options.url}/api/chat`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: request,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (error) {
        if ((error as Error).name === 'TimeoutError')
          throw new ProviderCallError('Ollama', 'timeout', null, 'Ollama did not answer in time', {
            cause: error,
          });
        throw new ProviderCallError(
          'Ollama',
          'network',
          null,
          `Ollama unreachable: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      let body: OllamaChatResponse & { error?: string };
      try {
        body = (await response.json()) as typeof body;
      } catch (error) {
        // The body timed out, or was not JSON (a proxy's error page, say).
        const reason = (error as Error).name === 'TimeoutError' ? 'timeout' : 'server_error';
        throw new ProviderCallError(
          'Ollama',
          reason,
          response.status,
          `Ollama ${response.status}: unreadable answer`,
          {
            cause: error,
          },
        );
      }
      if (!response.ok) throw failure(response.status, body.error ?? response.statusText);
      return fromOllamaResponse(body, call.model);
    },
  };
}

/** Ollama answers 404 for a model it has not pulled, 503 when its queue is full, 400 for a request it cannot take. */
function failure(status: number, message: string): ProviderCallError {
  return new ProviderCallError('Ollama', reasonFor(status, message), status, `Ollama ${status}: ${message}`);
}

function reasonFor(status: number, message: string): ProviderFailure {
  // "registry.ollama.ai/library/gemma:2b does not support tools": the wrong model is configured.
  // Ollama has no error codes, so its words are all there is to go by.
  if (status === 400 && /does not support/i.test(message)) return 'misconfigured';
  if (status === 429) return 'rate_limited';
  if (status === 503) return 'overloaded';
  if (status >= 500) return 'server_error';
  if (status === 401 || status === 403 || status === 404) return 'misconfigured';
  return 'rejected';
}

/** Our request on Ollama's wire (exported for tests of the translation). */
export function toOllamaRequest(call: ProviderCall): OllamaChatRequest {
  return {
    model: call.model,
    messages: [...toSystem(call.system), ...toOllamaMessages(call.messages)],
    ...(call.tools?.length ? { tools: call.tools.map(toTool) } : {}),
    stream: false,
    options: { num_predict: call.maxTokens },
  };
}

function toSystem(parts: SystemPart[]): OllamaMessage[] {
  const text = parts.map((part) => part.text).join('\n\n');
  return text ? [{ role: 'system', content: text }] : [];
}

function toTool(spec: ToolSpec): NonNullable<OllamaChatRequest['tools']>[number] {
  return {
    type: 'function',
    function: { name: spec.name, description: spec.description, parameters: spec.inputSchema },
  };
}

export function toOllamaMessages(messages: ChatMessage[]): OllamaMessage[] {
  // Tool results name their tool; ours carry only the id of the call, so remember the calls.
  const toolNames = new Map<string, string>();
  const out: OllamaMessage[] = [];
  for (const message of messages) {
    const texts: string[] = [];
    const images: string[] = [];
    const calls: NonNullable<OllamaMessage['tool_calls']> = [];
    for (const block of message.content) {
      if (block.type === 'text') texts.push(block.text);
      else if (block.type === 'image') images.push(block.data);
      else if (block.type === 'tool_use') {
        toolNames.set(block.id, block.name);
        calls.push({ function: { name: block.name, arguments: block.input ?? {} } });
      } else {
        // Results come first, right after the assistant message that asked for them.
        out.push({
          role: 'tool',
          content: block.isError ? `Error: ${block.content}` : block.content,
          tool_name: toolNames.get(block.toolUseId) ?? 'unknown',
        });
      }
    }
    const content = texts.join('\n');
    if (message.role === 'assistant') {
      if (content || calls.length)
        out.push({ role: 'assistant', content, ...(calls.length ? { tool_calls: calls } : {}) });
    } else if (content || images.length) {
      out.push({ role: 'user', content, ...(images.length ? { images } : {}) });
    }
  }
  return out;
}

/** The answer in our shapes; `model` is what we asked for, if Ollama does not say. */
export function fromOllamaResponse(body: OllamaChatResponse, model: string): LlmResponse {
  const content: LlmResponse['content'] = [];
  const text = withoutThinking(body.message?.content ?? '');
  if (text) content.push({ type: 'text', text });
  const calls = body.message?.tool_calls ?? [];
  for (const call of calls) {
    content.push({
      type: 'tool_use',
      id: mintToolUseId(),
      name: call.function.name,
      input: parseArguments(call.function.arguments),
    });
  }
  return {
    content,
    // Ollama says "stop" after tool calls too; the tool loop needs to hear `tool_use`.
    stopReason: calls.length ? 'tool_use' : body.done_reason === 'length' ? 'max_tokens' : 'end_turn',
    usage: {
      inputTokens: body.prompt_eval_count ?? 0,
      outputTokens: body.eval_count ?? 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    },
    provider: 'ollama',
    model: body.model ?? model,
  };
}

/** A unique id in Anthropic's form (`^[a-zA-Z0-9_-]+$`), so the history stays valid there. */
function mintToolUseId(): string {
  return `toolu_ollama_${randomBytes(12).toString('hex')}`;
}

/** Arguments are an object on the wire; some models and versions send a JSON string instead. */
function parseArguments(args: unknown): unknown {
  if (typeof args !== 'string') return args ?? {};
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

/**
 * Reasoning models (qwen3, deepseek-r1) may put their thinking in the content between think tags
 * when the server does not separate it; the person must not get it.
 */
function withoutThinking(text: string): string {
  return text.replace(/<think>[\s\S]*?<\/think>/g, '').trim();
}
