/**
 * `set_reminder`: the person asks their agent to remind them of something at a time.
 *
 * For people only, in their own chat: the reminder is sent to the person's own chat, and an API
 * key (acting as the member who created it) writing messages into that member's chat would be a
 * way to speak to them as their own agent.
 */
import { z } from 'zod';
import type { Db } from '../../platform/db.ts';
import { REMINDER_LIMITS, setReminder } from '../reminders/reminders.ts';
import { type ChatCaller, defineTool, text } from './contract.ts';

export function setReminderTool(deps: { db: Db }) {
  const { db } = deps;
  return defineTool({
    name: 'set_reminder',
    description: `Remind the person of something at a time they ask for (up to a year ahead, at most ${REMINDER_LIMITS.maxPending} waiting). The reminder arrives in their own chat (this one, unless it is a group), or by email; refused, with the reason to tell them, when nothing could deliver it (on WhatsApp and Instagram, past 23 hours without an email address).`,
    sideEffect: 'WRITE',
    callers: { person: true },
    input: z.object({
      when: text(64)
        .min(1)
        .describe(
          'An ISO 8601 date and time (2026-12-05T18:00 in the person’s time zone, or with an offset), or a span from now: "in 2 hours", "30 minutes", "3 days"',
        ),
      text: text(REMINDER_LIMITS.textMaxChars).min(1).describe('What to remind them of, in their words'),
    }),
    output: z.object({
      reminderId: z.uuid(),
      text: z.string(),
      dueAt: z.iso
        .datetime({ offset: true })
        .describe("When it will be sent, written in the person's time zone (its offset) when it is known"),
      timeZone: z.string().nullable().describe("The person's time zone dueAt is written in; null: UTC"),
    }),
    async describe(input) {
      return `Set a reminder (${input.when}): "${input.text}".`;
    },
    async run(input, context: ChatCaller) {
      const reminder = await setReminder(
        db,
        {
          userId: context.userId,
          chatId: context.chatId,
          text: input.text,
          when: input.when,
          timeZone: context.timeZone ?? null,
          key: context.callKey ?? null,
        },
        context.now(),
      );
      // The person's own clock, so the time they are told back is theirs (as a booking's is the venue's).
      const zone = context.timeZone ?? null;
      const local = zone ? onClockOf(reminder.dueAt, zone) : null;
      return {
        reminderId: reminder.id,
        text: reminder.text,
        dueAt: local ?? reminder.dueAt.toISOString(),
        timeZone: local ? zone : null,
      };
    },
  });
}

/** `instant` with `zone`'s offset (2026-12-05T18:00:00+08:00), or null for a zone not known here. */
function onClockOf(instant: Date, zone: string): string | null {
  try {
    return Temporal.Instant.fromEpochMilliseconds(instant.getTime())
      .toZonedDateTimeISO(zone)
      .toString({ smallestUnit: 'second', timeZoneName: 'never' });
  } catch {
    return null;
  }
}
