/**
 * Chat commands, handled without the model: /start, /help, /reset, /language, /forget, /checkins
 * and /deleteaccount (/restore, which undoes it, is answered before a deleted account's gate: turn.ts).
 * A command is a message that starts with "/" and a known word (Telegram may add "@botname").
 */

import { ValidationError } from '../../platform/errors.ts';
import { ACCOUNT_PURGE_AFTER_DAYS, DELETE_CONFIRMATION } from '../identity/account-deletion.ts';
import { languageTag } from '../identity/language.ts';

export const COMMANDS = [
  'start',
  'help',
  'reset',
  'language',
  'forget',
  'checkins',
  'deleteaccount',
  'restore',
] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface ParsedCommand {
  name: CommandName;
  /** What follows the command, trimmed ('' when nothing). */
  argument: string;
}

export function parseCommand(text: string | null): ParsedCommand | null {
  const match = text?.trim().match(/^\/([a-z]+)(?:@[\w]+)?(?:\s+([\s\S]*))?$/i);
  if (!match) return null;
  const name = match[1]!.toLowerCase();
  if (!(COMMANDS as readonly string[]).includes(name)) return null;
  return { name: name as CommandName, argument: (match[2] ?? '').trim() };
}

/** What commands need from the rest of the system. */
export interface CommandDeps {
  agentName: string;
  /** Forgets this chat's conversation history. */
  resetSession(): Promise<void>;
  currentLanguage(): Promise<string | null>;
  setLanguage(language: string): Promise<void>;
  /** Forgets every memory ('' argument with "all") or those matching words; returns what was forgotten. */
  forgetAll(): Promise<number>;
  forgetMatching(words: string): Promise<string[]>;
  /** What is remembered, for "/forget" with nothing after it. */
  listMemories(): Promise<string[]>;
  /** Whether the person gets check-ins (src/domain/reengagement), and turning them on or off. */
  checkIns(): Promise<boolean>;
  setCheckIns(on: boolean): Promise<boolean>;
  /** Whether a check-in could reach them after two weeks of quiet (reengagement.ts). */
  checkInsCanReach(): Promise<boolean>;
  /**
   * Whether the chat is the person's own (not a group): an account is deleted, and what is
   * remembered shown, only there.
   */
  privateChat: boolean;
  /** Deletes the person's account (identity/account-deletion.ts): when it will be erased, or why not. */
  deleteAccount(): Promise<{ purgeOn: Date } | { refused: string }>;
}

/** A day as the chat's replies write it. */
export function dayInWords(date: Date): string {
  return date.toLocaleDateString('en-GB', {
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    timeZone: 'UTC',
  });
}

export async function runCommand(command: ParsedCommand, deps: CommandDeps): Promise<string> {
  switch (command.name) {
    case 'start':
      return `Hi! I'm ${deps.agentName}. Tell me what you're in the mood for and when — "a table for 2 tomorrow at 8pm, somewhere Italian" — and I'll find a place and book it. I can also arrange a delivery. Type /help to see what else I can do.`;
    case 'help':
      return [
        'Just write to me as you would to a friend. I can:',
        '• find restaurants, bars and cafés, and check free tables',
        '• book, change or cancel your bookings',
        '• tell you the weather and how to get there',
        '• arrange a delivery (you confirm the price first)',
        '',
        'Commands:',
        '/reset — start our conversation afresh',
        '/language <code> — talk in another language (e.g. /language pt)',
        '/forget — see what I remember; /forget <words> or /forget all to delete it',
        '/checkins on — a friendly word from me when you have gone quiet for a while (/checkins off to stop)',
        '/deleteaccount — delete your account and what I know about you',
      ].join('\n');
    case 'reset':
      await deps.resetSession();
      return 'Done — I have cleared our conversation. What can I do for you?';
    case 'language': {
      const wanted = command.argument;
      if (!wanted) {
        const current = await deps.currentLanguage();
        return current
          ? `I'm talking to you in "${current}". Send /language <code> to change it, e.g. /language en.`
          : 'Send /language <code> to choose a language, e.g. /language en or /language pt-BR.';
      }
      const tag = languageTag(wanted);
      if (!tag)
        return `"${wanted.slice(0, 20)}" is not a language code I know. Try e.g. /language en or /language pt-BR.`;
      await deps.setLanguage(tag);
      return `OK — I'll talk to you in "${tag}" from now on.`;
    }
    case 'checkins': {
      const wanted = command.argument.toLowerCase();
      if (wanted === 'on' || wanted === 'off') {
        const on = await deps.setCheckIns(wanted === 'on');
        if (!on) return "OK — no check-ins: I'll only write when you do, or about your bookings.";
        // On WhatsApp or Instagram alone, with no email, two weeks of quiet close the door.
        if (!(await deps.checkInsCanReach())) {
          return "OK — check-ins are on, but I can't reach you with them: this app lets me write first only within a day of your last message, and you have no other way I can write to. Send /checkins off to turn them off.";
        }
        return "OK — if we haven't talked for two weeks, I'll check in with a friendly message (at most once a week). Send /checkins off to stop.";
      }
      const on = await deps.checkIns();
      return on
        ? 'Check-ins are on: a friendly message if we have not talked for two weeks. Send /checkins off to stop them.'
        : 'Check-ins are off. Send /checkins on and I will write if we have not talked for two weeks (at most once a week).';
    }
    case 'deleteaccount': {
      if (!deps.privateChat) return 'Send /deleteaccount to me in a private chat, not in a group.';
      if (command.argument !== DELETE_CONFIRMATION) {
        return `This deletes your account: I stop acting on or keeping anything you tell me, and after ${ACCOUNT_PURGE_AFTER_DAYS} days everything personal is erased (venues keep your past bookings, without your name or contact). To go ahead, send /deleteaccount ${DELETE_CONFIRMATION}`;
      }
      const outcome = await deps.deleteAccount();
      if ('refused' in outcome) return outcome.refused;
      return `Done — your account is deleted and will be erased on ${dayInWords(outcome.purgeOn)}. Changed your mind? Send /restore before then.`;
    }
    case 'restore':
      // A deleted account's /restore is answered before it gets here (turn.ts).
      return 'Your account is not being deleted: there is nothing to restore.';
    case 'forget': {
      // What is remembered (listed, or named as it is forgotten) is for the person alone.
      if (!deps.privateChat && command.argument.toLowerCase() !== 'all') {
        return 'Send /forget to me in a private chat: the group would read what I remember about you.';
      }
      if (!command.argument) {
        const memories = await deps.listMemories();
        if (memories.length === 0) return "I don't remember anything about you yet.";
        return [
          'This is what I remember about you:',
          ...memories.map((m) => `• ${m}`),
          '',
          'Send /forget <words> to delete matching ones, or /forget all.',
        ].join('\n');
      }
      if (command.argument.toLowerCase() === 'all') {
        const count = await deps.forgetAll();
        // The profile is not among the memories and stays: said, so nobody thinks it went.
        const profile =
          'Your profile (your name, area, diet and usual party) stays until you ask me to change it.';
        return count === 0
          ? `There was nothing to forget. ${profile}`
          : `Forgotten: everything I remembered about you (${count}). ${profile}`;
      }
      const forgotten = await deps.forgetMatching(command.argument.slice(0, 200)).catch((error: unknown) => {
        // Nothing to search by (only symbols or emoji): said, not failed.
        if (error instanceof ValidationError) return null;
        throw error;
      });
      if (forgotten === null)
        return 'Send /forget followed by words from what I remember (e.g. /forget peanuts), or /forget all.';
      return forgotten.length === 0
        ? `I don't remember anything matching "${command.argument.slice(0, 60)}".`
        : ['Forgotten:', ...forgotten.map((m) => `• ${m}`)].join('\n');
    }
  }
}
