/**
 * What a tool is, whoever calls it: the consumer agent's model in a chat, a developer's agent over
 * MCP, and an outside agent over public A2A. One definition holds its name, a one-sentence
 * description, its described zod input and output, its side-effect class, who may call it and the
 * function over the domain that does the work. The adapters (src/domain/conversation for the
 * model's tool list, src/mcp for MCP, src/a2a/public for public A2A) only translate; the rules
 * every call obeys (input cleaned and checked, who may call, the tier's quota, the timeout, a held
 * write in a tainted conversation, the audit row) live once, in run.ts.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ToolSideEffect } from '../../generated/prisma/enums.ts';
import type { OutboundContent } from '../../integrations/channel-sender.ts';
import { escapeMarkdownV2 } from '../../integrations/telegram/client.ts';
import type { Db } from '../../platform/db.ts';
import { DomainError } from '../../platform/errors.ts';
import { canonicalJson } from '../../platform/ids.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Actor } from '../identity/actor.ts';
import { stripInvisible } from '../memory/text.ts';
import { type Access, createAccess } from '../organizations/access.ts';

/** The ways in: which adapter a call came through (kept on its audit row). */
export type ToolChannel = 'chat' | 'mcp' | 'a2a';

/**
 * Who is calling and how, as every tool sees it. In chat the caller is the person the turn is for
 * (ChatCaller adds the chat's own fields); over MCP it is an API key, acting as the
 * member who created it, within its organisation and scopes.
 */
export interface ToolCaller {
  /** The person the call acts as: the chat's person, or the key's creator. */
  userId: string;
  /** The verified identity; absent means the person `userId` themselves (a chat turn). */
  actor?: Actor;
  /** Absent means chat. */
  channel?: ToolChannel;
  /** The person's own consumer agent, in chat (for the audit row). */
  agentId: string | null;
  now: () => Date;
  logger: Logger;
  /** The model has read untrusted text in this conversation: writes need the person's press. */
  tainted?: boolean;
  /** Carrying out a held action the person confirmed themselves: the taint rule is satisfied. */
  confirmed?: boolean;
  /**
   * This call's key in its chat turn (`turnCallKey`), the same when the turn is run again: a tool
   * that acts beyond the conversation does it once per key. Absent outside a chat turn.
   */
  callKey?: string;
}

/**
 * A person in a chat, as the tools that only make sense there see them: what the reply should carry
 * besides the model's text, and the person's own words. The chat adapter (conversation/tools.ts)
 * calls every tool with one; a tool that needs it (a delivery quote's Confirm button, `remember`
 * checking the person's words) is for people only (`callers.apiKey` unset).
 */
export interface ChatCaller extends ToolCaller {
  /** The chat the turn came from (replies and confirmations go there). */
  chatId: string | null;
  /** Buttons the reply must show (a delivery confirmation, say), added by tools, not by the model. */
  replyButtons: NonNullable<OutboundContent['buttons']>;
  /** Lines the code itself appends to the reply (a confirmation code), never left to the model. */
  replyNotes: string[];
  /** The text of the person's own message this turn: what `whenTainted: 'self'` tools may trust. */
  personText?: string;
  /**
   * The zone the turn's prompt gave the person's local time in (their own, else the place they
   * last shared): a local time they ask for is read in it.
   */
  timeZone?: string;
  /** The turn this call belongs to, for `turnCallKey`. */
  turn?: ChatTurn;
}

/** A chat turn: the inbound event it answers, and how many times each call was asked in it. */
export interface ChatTurn {
  eventId: string;
  calls: Map<string, number>;
}

/**
 * The key of a call of `tool` with `input` in the chat turn (`<event>:<tool>:<input's hash>:<n>`,
 * the nth such call there), given to the call as `callKey` when it is dispatched, in the order the
 * model asked for the calls (not the order they finish: calls of one step run at once). A turn is
 * run again whole when its worker dies before the message is marked handled: a tool that acts
 * beyond the conversation (a reminder set, a question sent to a venue) keys what it does by its
 * `callKey`, and does once what the turn asked of it, however often the turn runs. What is asked
 * is in the key, so a run that asks for something else (the model chose otherwise this time) does
 * that, and is not answered with what the first run did. Undefined outside a chat turn.
 */
export function turnCallKey(context: ChatCaller, tool: string, input: unknown): string | undefined {
  const turn = context.turn;
  if (!turn) return undefined;
  const asked = `${tool}:${createHash('sha256').update(canonicalJson(input)).digest('hex').slice(0, 16)}`;
  const n = (turn.calls.get(asked) ?? 0) + 1;
  turn.calls.set(asked, n);
  return `${turn.eventId}:${asked}:${n}`;
}

/** Who may call a tool, beyond what its side-effect class already says. */
export interface ToolCallers {
  /** The person in a chat (the consumer agent's model). Default true. */
  person?: boolean;
  /**
   * An organisation's API key (MCP, public A2A). Default false: a tool is offered beyond chat on
   * purpose, with an output schema. A key without the `write` scope only ever runs READ tools.
   */
  apiKey?: boolean;
}

export interface Tool<I = unknown, O = unknown, C extends ToolCaller = ToolCaller> {
  /** The name in chat (`[a-z_]`, what model APIs accept); adapters may publish it under another. */
  name: string;
  /** One or two sentences: what it does and when to use it. */
  description: string;
  sideEffect: ToolSideEffect;
  /** Who it serves: every definition says so, and why, where it is not obvious. */
  callers: ToolCallers;
  /** Longer than the usual timeout, for a tool whose outside call may take longer (an order). */
  timeoutMs?: number;
  /** A read whose result carries text from outside our control: reading it taints the turn. */
  untrustedResult?: boolean;
  /** A write that undoes what the person has (a cancellation): clients ask before they run it. */
  destructive?: boolean;
  /**
   * A write in a tainted turn: 'confirm' (the default) holds it for the person's press; 'self'
   * runs it, the tool itself applying a rule of its own (see conversation/tools.ts).
   */
  whenTainted?: 'confirm' | 'self';
  /** The held call in plain words for the person (by code, from the input). */
  describe?(input: I, caller: C): Promise<string>;
  input: z.ZodType<I>;
  /**
   * What a successful call returns, for every tool: the runner checks each answer against it (an
   * answer that breaks it is an error, never passed on), MCP publishes it and returns results as
   * structured content. Plain JSON values only (an instant as an ISO string), so the schema is
   * also what the caller reads.
   */
  output: z.ZodType<O>;
  run(input: I, caller: C, signal: AbortSignal): Promise<O>;
}

/** Any tool, for lists and maps: the input and output types are the definition's own business. */
// biome-ignore lint/suspicious/noExplicitAny: a heterogenous list of tools; each checks its own input.
export type AnyTool<C extends ToolCaller = ToolCaller> = Tool<any, any, C>;

/**
 * A tool, with its input and output types taken from its schemas: `run` must return what `output`
 * describes. `C` is who it sees calling: ToolCaller for a tool any adapter may run, ChatCaller for
 * one that needs the person's chat.
 */
export function defineTool<S extends z.ZodType, R extends z.ZodType, C extends ToolCaller = ToolCaller>(
  tool: Omit<Tool<z.output<S>, z.input<R>, C>, 'input' | 'output'> & { input: S; output: R },
): Tool<z.output<S>, z.input<R>, C> {
  return tool as Tool<z.output<S>, z.input<R>, C>;
}

/** The caller as the domain's authorisation sees them: a tool acts as them, never more. */
export function callerAccess(db: Db, caller: ToolCaller): Access {
  return createAccess(db, caller.actor ?? { kind: 'user', userId: caller.userId, isPlatformAdmin: false });
}

/** Where the caller's person is (a location they shared, or their profile's), or null; never for an API key. */
export async function callerLocation(
  db: Db,
  caller: ToolCaller,
): Promise<{ latitude: number; longitude: number } | null> {
  // A key acts for its creator but does not carry where they are: whoever holds the key would
  // otherwise read the place its creator last shared in chat off the distances it is given.
  if (caller.actor?.kind === 'apiKey') return null;
  const me = await db.user.findUnique({
    where: { id: caller.userId },
    select: { latitude: true, longitude: true },
  });
  return me?.latitude != null && me.longitude != null
    ? { latitude: me.latitude, longitude: me.longitude }
    : null;
}

/** A short free-text field: trimmed, at most `max` characters. */
export const text = (max: number) => z.string().trim().max(max, `At most ${max} characters`);

/** A tool refused on purpose (a rule said no); the message is for the caller to relay. */
export class ToolRefusal extends DomainError {
  override name = 'ToolRefusal';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Most Confirm buttons one reply carries (what every channel shows): held actions and quotes alike. */
export const MAX_REPLY_BUTTONS = 3;

/**
 * Most of what a reply's notes (what each Confirm does) may take, as Telegram counts it after its
 * MarkdownV2 escapes (see `escapedSize`). Telegram shows a reply's notes whole under its buttons,
 * cutting the model's text instead, as long as they fit its 4,096 characters; this leaves room for
 * the rest. WhatsApp and Instagram, which carry far less with buttons, split the reply.
 */
export const REPLY_NOTES_MAX = 3000;

/** `text`'s size once escaped for Telegram's markup (its client's own escape), the strictest way a note is shown. */
export function escapedSize(text: string): number {
  return escapeMarkdownV2(text).length;
}

/** Each reply's pending work on its buttons (onReply), one after another. */
const replyQueues = new WeakMap<object, Promise<unknown>>();

/**
 * Runs `work` on the reply alone: a model step's tool calls run at once, and two holds (or a hold
 * and a quote) that each found room before either added its button would together overfill it.
 * What checks for room and adds a button goes through here, in the order the calls came.
 */
export function onReply<T>(caller: Pick<ChatCaller, 'replyButtons'>, work: () => Promise<T>): Promise<T> {
  const before = replyQueues.get(caller.replyButtons) ?? Promise.resolve();
  const run = before.then(work, work);
  replyQueues.set(
    caller.replyButtons,
    run.catch(() => {}),
  );
  return run;
}

/**
 * Refuses (NEEDS_CONFIRMATION) one more Confirm on this reply, whose note will be `note`, when the
 * reply carries as many buttons as a channel shows or its notes would no longer be shown whole: a
 * button is never sent without all of what it does. (Any held action's first note fits unless its
 * text is mostly what Telegram escapes.)
 */
export function requireReplyRoom(
  caller: Pick<ChatCaller, 'replyButtons' | 'replyNotes'>,
  note: string,
): void {
  if (caller.replyButtons.length >= MAX_REPLY_BUTTONS) {
    throw new ToolRefusal(
      'NEEDS_CONFIRMATION',
      'This reply already carries as many Confirm buttons as it can: let the person confirm those first',
    );
  }
  const noted = caller.replyNotes.reduce((total, line) => total + escapedSize(line) + 1, 0);
  if (noted === 0 && escapedSize(note) > REPLY_NOTES_MAX) {
    throw new ToolRefusal(
      'NEEDS_CONFIRMATION',
      'This is too long to show the person whole for their confirmation: ask them for a shorter version',
    );
  }
  if (noted + escapedSize(note) > REPLY_NOTES_MAX) {
    throw new ToolRefusal(
      'NEEDS_CONFIRMATION',
      'This reply already shows as much as the person can read and confirm in one message: let them confirm those first',
    );
  }
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

/** A schema as JSON Schema, without the `$schema` line (model APIs and MCP both take it so). */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io }) as Record<string, unknown>;
  return rest;
}
