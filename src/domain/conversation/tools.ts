/**
 * How the consumer agent's tools are defined and run.
 *
 * A tool is a zod input schema (which is also the JSON schema the model sees), a side-effect class
 * and a function. Running one always ends in a result the model can read, never an exception:
 * every string in the input loses its control characters before the schema (with its length
 * limits) checks it, a slow tool is cut off after the timeout, and invalid input, refusals and
 * failures come back as error results the model can recover from. Each call leaves an audit row.
 *
 * Taint. Some read tools return text written outside our control (a venue's own description):
 * `untrustedResult`. Once the model has read such text in a conversation (this turn or one still in
 * its history), it may be obeying it, so its writes no longer speak for the person. A write in a
 * tainted turn is then not carried out: it is held as a single-use confirmation (the same mechanism
 * as a delivery quote's, src/domain/confirmations) showing the person, in words the code writes,
 * exactly what would happen, with a Confirm button and a code the model never sees. Only the
 * person's own press or typed code carries it out, exactly as held. A tool that guards itself
 * (`whenTainted: 'self'`) decides on its own: `remember` keeps only what the person's own message
 * says, `confirm_delivery` already needs the person's confirmation.
 */
import { z } from 'zod';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { ToolCallOutcome, ToolSideEffect } from '../../generated/prisma/enums.ts';
import type { Db } from '../../platform/db.ts';
import { DomainError, ValidationError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { OutboundContent } from '../channels/outbound.ts';
import { ACTION_BUTTON_PREFIX, mintConfirmation } from '../confirmations/confirmations.ts';
import { stripInvisible } from '../memory/text.ts';
import { type Access, createAccess } from '../organizations/access.ts';
import { inputPath } from '../validation.ts';
import type { ChatMessage, ToolSpec, ToolUseBlock } from './messages.ts';

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
  /** The text of the person's own message this turn: what `whenTainted: 'self'` tools may trust. */
  personText?: string;
  /** The model has read untrusted text in this conversation: writes need the person's press. */
  tainted?: boolean;
  /** Carrying out a held action the person confirmed themselves: the taint rule is satisfied. */
  confirmed?: boolean;
}

/** How long a held action waits for the person's press. */
export const HELD_ACTION_MINUTES = 30;

export interface Tool<I = unknown> {
  name: string;
  description: string;
  sideEffect: ToolSideEffect;
  /** Longer than the usual timeout, for a tool whose outside call may take longer (an order). */
  timeoutMs?: number;
  /** A read whose result carries text from outside our control: reading it taints the turn. */
  untrustedResult?: boolean;
  /**
   * A write in a tainted turn: 'confirm' (the default) holds it for the person's press; 'self'
   * runs it, the tool itself applying a rule of its own (see the top of this file).
   */
  whenTainted?: 'confirm' | 'self';
  /** The held call in plain words for the person (by code, from the input). */
  describe?(input: I, context: ToolContext): Promise<string>;
  input: z.ZodType<I>;
  run(input: I, context: ToolContext, signal: AbortSignal): Promise<unknown>;
}

export function defineTool<S extends z.ZodType>(
  tool: Omit<Tool<z.output<S>>, 'input'> & { input: S },
): Tool<z.output<S>> {
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
        if (mustHold(tool, context)) {
          await Promise.race([hold(deps.db, tool, call.name, parsed.data, context), timeout]);
          throw new ToolRefusal('NEEDS_CONFIRMATION', HELD);
        }
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

const HELD =
  'Not done yet. This conversation has included text from outside (a venue’s own description, say), so the person confirms this themselves: what it would do, a Confirm button and a code were added to your reply by the system. Tell them briefly what you propose; it is done when they press Confirm. Do not call it again.';

function mustHold(tool: Tool, context: ToolContext): boolean {
  return (
    context.tainted === true &&
    !context.confirmed &&
    tool.sideEffect !== 'READ' &&
    (tool.whenTainted ?? 'confirm') === 'confirm'
  );
}

/**
 * Holds a write for the person's confirmation: mints it, and puts what it would do, its button and
 * its code on the reply. The model is told only that it is held; it never sees the token or code.
 */
async function hold(db: Db, tool: Tool, name: string, input: unknown, context: ToolContext): Promise<void> {
  const summary = tool.describe
    ? await tool.describe(input, context)
    : `${name}: ${JSON.stringify(input).slice(0, 500)}`;
  const now = context.now();
  const minted = await mintConfirmation(db, {
    userId: context.userId,
    subject: { action: { tool: name, input, summary } },
    expiresAt: new Date(now.getTime() + HELD_ACTION_MINUTES * 60_000),
    now,
  });
  context.replyButtons.push({ id: `${ACTION_BUTTON_PREFIX}${minted.token}`, title: 'Confirm' });
  context.replyNotes.push(
    `${summary}\nTo do this, press Confirm or send: CONFIRM ${minted.code} (within ${HELD_ACTION_MINUTES} min).`,
  );
}

/** Whether a conversation has had an untrusted tool's result in it (by the calls that produced one). */
export function readUntrusted(messages: readonly ChatMessage[], tools: ReadonlyMap<string, Tool>): boolean {
  return messages.some((message) =>
    message.content.some((block) => block.type === 'tool_use' && tools.get(block.name)?.untrustedResult),
  );
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
