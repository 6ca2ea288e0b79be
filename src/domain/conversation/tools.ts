/**
 * How the consumer agent's tools are defined and run.
 *
 * A tool is a zod input schema (which is also the JSON schema the model sees), a side-effect class
 * and a function. Running one always ends in a result the model can read, never an exception:
 * every string in the input loses its control characters before the schema (with its length
 * limits) checks it, a slow tool is cut off after the timeout, and invalid input, refusals and
 * failures come back as error results the model can recover from. Each call leaves an audit row.
 */
import { z } from 'zod';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { ToolCallOutcome, ToolSideEffect } from '../../generated/prisma/enums.ts';
import type { Db } from '../../platform/db.ts';
import { DomainError, ValidationError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { OutboundContent } from '../channels/outbound.ts';
import { stripInvisible } from '../memory/text.ts';
import { type Access, createAccess } from '../organizations/access.ts';
import { inputPath } from '../validation.ts';
import type { ToolSpec, ToolUseBlock } from './messages.ts';

/** What running tools in one turn share: who asks, and what the reply should carry besides text. */
export interface ToolContext {
  userId: string;
  agentId: string | null;
  /** The chat the turn came from (replies and confirmations go there). */
  chatId: string | null;
  now: () => Date;
  logger: Logger;
  /** Buttons the reply must show (a delivery confirmation, say), added by tools, not by the model. */
  replyButtons: NonNullable<OutboundContent['buttons']>;
  /** Lines the code itself appends to the reply (a confirmation code), never left to the model. */
  replyNotes: string[];
}

export interface Tool<I = unknown> {
  name: string;
  description: string;
  sideEffect: ToolSideEffect;
  /** Longer than the usual timeout, for a tool whose outside call may take longer (an order). */
  timeoutMs?: number;
  input: z.ZodType<I>;
  run(input: I, context: ToolContext, signal: AbortSignal): Promise<unknown>;
}

export function defineTool<S extends z.ZodType>(tool: {
  name: string;
  description: string;
  sideEffect: ToolSideEffect;
  timeoutMs?: number;
  input: S;
  run(input: z.output<S>, context: ToolContext, signal: AbortSignal): Promise<unknown>;
}): Tool<z.output<S>> {
  return tool as Tool<z.output<S>>;
}

/** The person the turn is for, as the domain's authorisation sees them: tools act as them, never more. */
export function personAccess(db: Db, context: ToolContext): Access {
  return createAccess(db, { kind: 'user', userId: context.userId, isPlatformAdmin: false });
}

/** Where the person is (a location they shared, or their profile's), or null. */
export async function personLocation(
  db: Db,
  context: ToolContext,
): Promise<{ latitude: number; longitude: number } | null> {
  const me = await db.user.findUnique({
    where: { id: context.userId },
    select: { latitude: true, longitude: true },
  });
  return me?.latitude != null && me.longitude != null
    ? { latitude: me.latitude, longitude: me.longitude }
    : null;
}

/** A short free-text field: trimmed, at most `max` characters. */
export const text = (max: number) => z.string().trim().max(max, `At most ${max} characters`);

/** The tools as the model sees them. */
export function toolSpecs(tools: readonly Tool[]): ToolSpec[] {
  return tools.map((tool) => {
    const { $schema: _, ...schema } = z.toJSONSchema(tool.input, { io: 'input' }) as Record<string, unknown>;
    return { name: tool.name, description: tool.description, inputSchema: schema };
  });
}

/** Control characters (but line breaks and tabs) and direction overrides go: see stripInvisible. */
export function stripControl(value: string): string {
  return stripInvisible(value);
}

/** Every string in a value, at any depth, without control characters. Depth and size are capped. */
export function sanitize(value: unknown, depth = 0): unknown {
  if (depth > 6) return null;
  if (typeof value === 'string') return stripControl(value);
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => sanitize(v, depth + 1));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .slice(0, 50)
        .map(([k, v]) => [stripControl(k), sanitize(v, depth + 1)]),
    );
  }
  return value;
}

/** A tool refused on purpose (a rule said no); the message is for the model to relay. */
export class ToolRefusal extends DomainError {
  override name = 'ToolRefusal';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export interface ToolOutcome {
  toolUseId: string;
  name: string;
  sideEffect: ToolSideEffect;
  outcome: ToolCallOutcome;
  /** What the model reads (JSON). */
  content: string;
  isError: boolean;
}

const MAX_RESULT_CHARS = 12_000;

/**
 * Runs one tool call the model asked for and records it. Never throws for anything the tool or
 * the input did; the model gets an error result it can act on.
 */
export async function runToolCall(
  deps: { db: Db; timeoutMs: number; tools: ReadonlyMap<string, Tool> },
  call: ToolUseBlock,
  context: ToolContext,
): Promise<ToolOutcome> {
  const started = performance.now();
  const tool = deps.tools.get(call.name);
  const input = sanitize(call.input ?? {});
  let outcome: ToolCallOutcome;
  let result: unknown = null;
  let error: string | null = null;

  if (!tool) {
    outcome = 'INVALID';
    error = `There is no tool called ${JSON.stringify(call.name.slice(0, 80))}`;
  } else {
    const parsed = tool.input.safeParse(input);
    if (!parsed.success) {
      outcome = 'INVALID';
      error = parsed.error.issues
        .slice(0, 5)
        .map((issue) => `${inputPath(issue) ?? 'input'}: ${issue.message}`)
        .join('; ');
    } else {
      const controller = new AbortController();
      const timeoutMs = tool.timeoutMs ?? deps.timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          controller.abort();
          reject(new ToolTimeout());
        }, timeoutMs);
      });
      try {
        result = await Promise.race([tool.run(parsed.data, context, controller.signal), timeout]);
        outcome = 'OK';
      } catch (failure) {
        ({ outcome, error } = describeFailure(failure, timeoutMs, tool.sideEffect));
        if (outcome === 'ERROR')
          context.logger.error({ err: failure, 'tool.name': call.name }, 'tool failed');
      } finally {
        clearTimeout(timer);
      }
    }
  }

  const durationMs = Math.round(performance.now() - started);
  const content = clip(JSON.stringify(outcome === 'OK' ? (result ?? { ok: true }) : { error }));
  await deps.db.toolCall
    .create({
      data: {
        userId: context.userId,
        agentId: context.agentId,
        tool: call.name.slice(0, 80),
        sideEffect: tool?.sideEffect ?? 'READ',
        input: (input ?? {}) as Prisma.InputJsonValue,
        outcome,
        result: outcome === 'OK' ? (JSON.parse(content) as Prisma.InputJsonValue) : undefined,
        error,
        durationMs,
      },
    })
    .catch((failure) => context.logger.error({ err: failure }, 'could not record a tool call'));
  return {
    toolUseId: call.id,
    name: call.name,
    sideEffect: tool?.sideEffect ?? 'READ',
    outcome,
    content,
    isError: outcome !== 'OK',
  };
}

class ToolTimeout extends Error {
  override name = 'ToolTimeout';
}

function describeFailure(
  failure: unknown,
  timeoutMs: number,
  sideEffect: ToolSideEffect,
): { outcome: ToolCallOutcome; error: string } {
  if (failure instanceof ToolTimeout && sideEffect !== 'READ') {
    // It may still have happened: trying again could do it twice.
    return {
      outcome: 'TIMEOUT',
      error: `No answer within ${timeoutMs / 1000} s, so it is unknown whether it went through: do not repeat it; check its status (list_my_bookings, get_delivery_status) first`,
    };
  }
  if (failure instanceof ToolTimeout) {
    return {
      outcome: 'TIMEOUT',
      error: `The tool did not answer within ${timeoutMs / 1000} s; try again or go on without it`,
    };
  }
  if (failure instanceof ToolRefusal)
    return { outcome: 'REFUSED', error: `${failure.code}: ${failure.message}` };
  if (failure instanceof ValidationError) {
    return {
      outcome: 'INVALID',
      error: failure.field ? `${failure.field}: ${failure.message}` : failure.message,
    };
  }
  if (failure instanceof DomainError) {
    // Refusals that carry a code (a delivery's NOT_CONFIRMED, say) keep it for the model and the audit.
    const code = (failure as { code?: unknown }).code;
    return {
      outcome: 'REFUSED',
      error: typeof code === 'string' ? `${code}: ${failure.message}` : failure.message,
    };
  }
  return { outcome: 'ERROR', error: 'The tool failed unexpectedly; it may work if tried again later' };
}

/** Keeps a result within what is useful to the model, still valid JSON. */
function clip(json: string): string {
  if (json.length <= MAX_RESULT_CHARS) return json;
  return JSON.stringify({ truncated: true, partial: json.slice(0, MAX_RESULT_CHARS - 100) });
}
