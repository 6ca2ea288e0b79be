/**
 * The signed-in person's own account: deleting it, whether they want an occasional check-in
 * message, and the reminders they asked their agent for. Only the person, signed in as themselves
 * (`person` scope): not API keys, not colleagues, not platform admins.
 */
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import {
  ACCOUNT_PURGE_AFTER_DAYS,
  DELETE_CONFIRMATION,
  SoleOwnerError,
} from '../../domain/identity/account-deletion.ts';
import type { ReminderRecord } from '../../domain/reminders/reminders.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';
import { isUuid } from '../../platform/uuid.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { errorType } from './errors.ts';
import { mutation } from './mutation.ts';
import { User } from './user.ts';

const isThemselves = (userId: string, ctx: Context) =>
  ctx.actor.kind === 'user' && ctx.actor.userId === userId;

errorType(
  SoleOwnerError,
  'SoleOwnerError',
  'You are the only owner of an organisation someone must be left to run (it has a venue, another member, an invitation out, a claim waiting, a subscription billing it or credits): make someone else an owner before deleting your account. An organisation you are alone in with none of these does not stop you; the purge deletes it unless its billing or usage records name it.',
);

const AccountDeletion = builder.simpleObject('AccountDeletion', {
  fields: (t) => ({
    deletedAt: t.field({ type: 'DateTime' }),
    purgeAfter: t.field({
      type: 'DateTime',
      description: `From then on (${ACCOUNT_PURGE_AFTER_DAYS} days later) your personal data is erased. Signing in again before then restores the account.`,
    }),
  }),
});

mutation('deleteAccount', {
  description: `Deletes your account: every session ends at once and, ${ACCOUNT_PURGE_AFTER_DAYS} days later, everything personal is erased or anonymised (bookings stay with the venues, without your name or contact). Signing in again before then restores it. Type ${DELETE_CONFIRMATION} in \`confirm\`.`,
  input: (t) => ({ confirm: t.string({ description: `Exactly ${DELETE_CONFIRMATION}.` }) }),
  payload: builder.simpleObject('DeleteAccountPayload', {
    fields: (t) => ({ deletion: t.field({ type: AccountDeletion }) }),
  }),
  errors: [ValidationError, SoleOwnerError],
  authScopes: { person: true },
  resolve: async (input, ctx) => ({
    deletion: await ctx.domain.identity.requestAccountDeletion(ctx.access.requirePerson(), input),
  }),
});

builder.prismaObjectField(User, 'reengagementOptIn', (t) =>
  t.boolean({
    description:
      'Whether you want an occasional friendly message when you have been quiet a while (at most one a week). Only you.',
    authScopes: (user, _args, ctx) => isThemselves(user.id, ctx),
    select: { reengagementOptIn: true },
    resolve: (user) => user.reengagementOptIn,
  }),
);

mutation('setReengagementOptIn', {
  description: 'Turns the occasional check-in message on or off for you.',
  input: (t) => ({ optIn: t.boolean() }),
  payload: builder.simpleObject('SetReengagementOptInPayload', {
    fields: (t) => ({ reengagementOptIn: t.boolean() }),
  }),
  errors: null,
  authScopes: { person: true },
  resolve: async (input, ctx) => ({
    reengagementOptIn: await ctx.domain.identity.setReengagementOptIn(
      ctx.access.requirePerson(),
      input.optIn,
    ),
  }),
});

const Reminder = builder.objectRef<ReminderRecord>('Reminder').implement({
  description: 'Something you asked your agent to remind you of. Only you can read it.',
  fields: (t) => ({
    id: t.id({ resolve: (r) => encodeGlobalID('Reminder', r.id) }),
    text: t.exposeString('text'),
    dueAt: t.expose('dueAt', { type: 'DateTime' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.prismaObjectField(User, 'reminders', (t) =>
  t.field({
    type: [Reminder],
    description:
      'Your reminders still to be sent, soonest first (at most 20). Only you, signed in as yourself.',
    authScopes: (user, _args, ctx) => isThemselves(user.id, ctx),
    resolve: (user, _args, ctx) => ctx.domain.reminders.pendingReminders(user.id),
  }),
);

mutation('cancelReminder', {
  description: 'Cancels one of your reminders before it is sent.',
  input: (t) => ({ reminderId: t.id({ description: 'The Reminder id.' }) }),
  payload: builder.simpleObject('CancelReminderPayload', {
    fields: (t) => ({ cancelledReminderId: t.id() }),
  }),
  errors: [ValidationError, NotFoundError],
  authScopes: { person: true },
  resolve: async (input, ctx) => {
    const id = reminderUuid(String(input.reminderId));
    const reminder = await ctx.domain.reminders.cancelReminder(ctx.access.requirePerson(), id);
    return { cancelledReminderId: encodeGlobalID('Reminder', reminder.id) };
  },
});

/** The reminder's uuid from its global id; a malformed one is a ValidationError on `reminderId`. */
function reminderUuid(globalId: string): string {
  let decoded: { typename: string; id: string } | null = null;
  try {
    decoded = decodeGlobalID(globalId);
  } catch {}
  if (decoded?.typename !== 'Reminder' || !isUuid(decoded.id)) {
    throw new ValidationError('Not a reminder id', 'reminderId');
  }
  return decoded.id;
}
