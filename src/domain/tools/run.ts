/**
 * Running one tool call, for every adapter. Running one always ends in a result the caller can
 * read, never an exception: every string in the input loses its control characters before the
 * schema (with its length limits) checks it; the caller must be one the tool serves (a person in
 * chat, an API key with the scope its side-effect class needs, within its tier's quota); a slow
 * tool is cut off after the timeout; a write in a tainted conversation is held for the person's
 * own press; what it returns is checked against its output schema; and invalid input, refusals
 * and failures come back as error results. Each call leaves an audit row (`tool_calls`),
 * whichever way it came in.
 */
import type { Prisma } from '../../generated/prisma/client.ts';
import type { ToolCallOutcome, ToolSideEffect } from '../../generated/prisma/enums.ts';
import type { Db } from '../../platform/db.ts';
import { DomainError, RateLimitedError, ValidationError } from '../../platform/errors.ts';
import { storable, storableText } from '../../platform/storable.ts';
import { inputPath } from '../validation.ts';
import { type AnyTool, sanitize, type ToolCaller, ToolRefusal } from './contract.ts';
import { type ToolQuota, unmeteredQuota } from './quota.ts';

export interface ToolRunDeps<C extends ToolCaller = ToolCaller> {
  db: Db;
  /** The usual timeout (LLM_TOOL_TIMEOUT_MS); a tool may ask for longer. */
  timeoutMs: number;
  /** The tier's quota for API keys (quota.ts); unmetered when absent. */
  quota?: ToolQuota;
  /**
   * Holds a write for the person's own confirmation (chat: a Confirm button and a code on the
   * reply). A tainted call with no way to hold it is refused.
   */
  hold?: (tool: AnyTool<C>, input: unknown, caller: C) => Promise<void>;
}

export interface ToolResult {
  outcome: ToolCallOutcome;
  sideEffect: ToolSideEffect;
  /** What the tool returned, when `outcome` is OK. */
  value: unknown;
  /** What went wrong, in words for the caller, when it is not. */
  error: string | null;
  /** Of a refusal for a rate limit (`RATE_LIMITED: …`): when to try again. */
  retryAfterSeconds?: number;
}

/** Said when a write is held for the person: the model relays it. */
export const HELD_MESSAGE =
  'Not done yet. This conversation has included text from outside (a venue’s own description, say), so the person confirms this themselves: what it would do, a Confirm button and a code were added to your reply by the system. Tell them briefly what you propose; it is done when they press Confirm. Do not call it again.';

/**
 * Runs `tool` (undefined: the caller named a tool there is none of) with `rawInput` as `caller`,
 * and records the call. Never throws for anything the tool or the input did.
 */
export async function runTool<C extends ToolCaller>(
  deps: ToolRunDeps<C>,
  name: string,
  tool: AnyTool<C> | undefined,
  rawInput: unknown,
  caller: C,
): Promise<ToolResult> {
  const started = performance.now();
  const input = sanitize(rawInput ?? {});
  let outcome: ToolCallOutcome;
  let value: unknown = null;
  let error: string | null = null;
  let retryAfterSeconds: number | undefined;

  if (!tool) {
    outcome = 'INVALID';
    error = `There is no tool called ${JSON.stringify(name.slice(0, 80))}`;
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
      // The deadline may pass before anything races it (a refusal, a slow quota check): its
      // rejection is then nobody's, and an unhandled rejection would stop the process.
      timeout.catch(() => undefined);
      try {
        requireCaller(tool, caller);
        await (deps.quota ?? unmeteredQuota)(tool, caller);
        // Out of time already: the tool is not started (a write would go on after we gave up).
        if (controller.signal.aborted) throw new ToolTimeout();
        if (mustHold(tool, caller)) {
          if (!deps.hold)
            throw new ToolRefusal('NEEDS_CONFIRMATION', 'The person must confirm this themselves');
          await Promise.race([deps.hold(tool, parsed.data, caller), timeout]);
          throw new ToolRefusal('NEEDS_CONFIRMATION', HELD_MESSAGE);
        }
        value = await Promise.race([tool.run(parsed.data, caller, controller.signal), timeout]);
        // What a tool promises is what callers (MCP clients check it) get: a broken promise is our bug.
        const checked = tool.output?.safeParse(value);
        if (checked && !checked.success) throw new BrokenOutput(checked.error.message);
        outcome = 'OK';
      } catch (failure) {
        ({ outcome, error, retryAfterSeconds } = describeFailure(
          failure,
          timeoutMs,
          tool.sideEffect,
          caller,
        ));
        if (outcome === 'ERROR') caller.logger.error({ err: failure, 'tool.name': name }, 'tool failed');
      } finally {
        clearTimeout(timer);
      }
    }
  }

  const sideEffect = tool?.sideEffect ?? 'READ';
  await record(deps.db, { name, sideEffect, input, outcome, value, error, caller, started });
  return {
    outcome,
    sideEffect,
    value: outcome === 'OK' ? (value ?? { ok: true }) : null,
    error,
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  };
}

/**
 * Who may call: a person only the tools that serve people (all of chat's), an API key only those
 * offered to keys, and a key without the `write` scope only reads. The domain checks the scope
 * again when it writes; refusing here means a read-only key's write never starts.
 */
function requireCaller(tool: AnyTool, caller: ToolCaller): void {
  const actor = caller.actor;
  if (actor?.kind === 'apiKey') {
    if (!tool.callers?.apiKey) throw new ToolRefusal('NOT_ALLOWED', 'This tool is not offered to API keys');
    if (tool.sideEffect !== 'READ' && !actor.scopes.includes('write')) {
      throw new ToolRefusal('READ_ONLY_KEY', 'This API key may only read: use a key with the write scope');
    }
    return;
  }
  if (tool.callers?.person === false) throw new ToolRefusal('NOT_ALLOWED', 'This tool is for API keys');
}

function mustHold(tool: AnyTool, caller: ToolCaller): boolean {
  return (
    caller.tainted === true &&
    !caller.confirmed &&
    tool.sideEffect !== 'READ' &&
    (tool.whenTainted ?? 'confirm') === 'confirm'
  );
}

const MAX_AUDIT_CHARS = 12_000;

async function record(
  db: Db,
  call: {
    name: string;
    sideEffect: ToolSideEffect;
    input: unknown;
    outcome: ToolCallOutcome;
    value: unknown;
    error: string | null;
    caller: ToolCaller;
    started: number;
  },
): Promise<void> {
  const { caller } = call;
  const result = call.outcome === 'OK' ? auditable(call.value ?? { ok: true }) : undefined;
  await db.toolCall
    .create({
      data: {
        userId: caller.userId,
        agentId: caller.agentId,
        channel: caller.channel === 'mcp' ? 'MCP' : caller.channel === 'a2a' ? 'A2A' : 'CHAT',
        apiKeyId: caller.actor?.kind === 'apiKey' ? caller.actor.apiKeyId : null,
        // A name the model or a caller made up is kept as PostgreSQL can hold it (a NUL lost the row).
        tool: storableText(call.name.slice(0, 80)),
        sideEffect: call.sideEffect,
        // Bounded as the result is: an invalid call's input is whatever was sent.
        input: auditable(call.input ?? {}),
        outcome: call.outcome,
        result,
        error: call.error === null ? null : storableText(call.error),
        durationMs: Math.round(performance.now() - call.started),
      },
    })
    .catch((failure) => caller.logger.error({ err: failure }, 'could not record a tool call'));
}

/** A result as the audit keeps it: whole when small, else a valid JSON stand-in for the start. */
function auditable(value: unknown): Prisma.InputJsonValue {
  const json = JSON.stringify(value);
  if (json.length <= MAX_AUDIT_CHARS) return storable(JSON.parse(json)) as Prisma.InputJsonValue;
  // A cut can split a character in two; the half left is made U+FFFD, as jsonb cannot hold it.
  return { truncated: true, partial: storableText(json.slice(0, MAX_AUDIT_CHARS - 100)) };
}

class BrokenOutput extends Error {
  override name = 'BrokenOutput';
}

class ToolTimeout extends Error {
  override name = 'ToolTimeout';
}

function describeFailure(
  failure: unknown,
  timeoutMs: number,
  sideEffect: ToolSideEffect,
  caller: ToolCaller,
): { outcome: ToolCallOutcome; error: string; retryAfterSeconds?: number } {
  if (failure instanceof ToolTimeout && sideEffect !== 'READ') {
    // It may still have happened. In chat the model can look (its own tools list bookings and
    // deliveries); a key's writes are the booking tools, whose same request is the same booking.
    return {
      outcome: 'TIMEOUT',
      error:
        caller.actor?.kind === 'apiKey'
          ? `No answer within ${timeoutMs / 1000} s, so it is unknown whether it went through: send the same request again (the same table answers with the same booking, made once; a cancellation cancels once)`
          : `No answer within ${timeoutMs / 1000} s, so it is unknown whether it went through: do not repeat it; check its status (list_my_bookings, get_delivery_status) first`,
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
  if (failure instanceof RateLimitedError) {
    // Named as such (the daily quota by its own code), with when to try again.
    const code = (failure as { code?: unknown }).code;
    return {
      outcome: 'REFUSED',
      error: `${typeof code === 'string' ? code : 'RATE_LIMITED'}: ${failure.message}`,
      retryAfterSeconds: failure.retryAfterSeconds,
    };
  }
  if (failure instanceof ValidationError) {
    return {
      outcome: 'INVALID',
      error: failure.field ? `${failure.field}: ${failure.message}` : failure.message,
    };
  }
  if (failure instanceof DomainError) {
    // Refusals that carry a code (a delivery's NOT_CONFIRMED, say) keep it for the caller and the audit.
    const code = (failure as { code?: unknown }).code;
    return {
      outcome: 'REFUSED',
      error: typeof code === 'string' ? `${code}: ${failure.message}` : failure.message,
    };
  }
  return { outcome: 'ERROR', error: 'The tool failed unexpectedly; it may work if tried again later' };
}
