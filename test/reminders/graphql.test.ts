/**
 * A person's reminders over GraphQL: `viewer.reminders` lists their own pending ones, soonest
 * first; `cancelReminder` cancels one of theirs, and someone else's is NotFoundError, unchanged.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { setReminder } from '../../src/domain/reminders/reminders.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const LIST = '{ viewer { reminders { id text dueAt } } }';
const CANCEL = `mutation C($id: ID!) {
  cancelReminder(input: { reminderId: $id }) {
    __typename
    ... on CancelReminderPayload { cancelledReminderId }
    ... on Error { message }
  }
}`;

it('lists and cancels the person’s own reminders only', async () => {
  const db = app.services.db;
  const [me, other] = [await app.signIn(), await app.signIn()];
  const now = app.clock.now();
  await setReminder(db, { userId: me.userId, chatId: null, text: 'Later', when: 'in 2 days' }, now);
  await setReminder(db, { userId: me.userId, chatId: null, text: 'Soon', when: 'in 1 hour' }, now);
  const listed = await app.gql<{ viewer: { reminders: { id: string; text: string }[] } }, unknown>(
    LIST,
    {},
    { token: me.token },
  );
  expect(listed.data?.viewer.reminders.map((r) => r.text)).toEqual(['Soon', 'Later']);
  const soon = listed.data!.viewer.reminders[0]!.id;

  const refused = await app.gql(CANCEL, { id: soon }, { token: other.token });
  expect(refused.data).toMatchObject({ cancelReminder: { __typename: 'NotFoundError' } });
  const cancelled = await app.gql(CANCEL, { id: soon }, { token: me.token });
  expect(cancelled.data).toEqual({
    cancelReminder: { __typename: 'CancelReminderPayload', cancelledReminderId: soon },
  });
  const after = await app.gql<{ viewer: { reminders: { text: string }[] } }, unknown>(
    LIST,
    {},
    { token: me.token },
  );
  expect(after.data?.viewer.reminders.map((r) => r.text)).toEqual(['Later']);
  // Nobody else reads them.
  const theirs = await app.gql<{ viewer: { reminders: unknown[] } }, unknown>(
    LIST,
    {},
    { token: other.token },
  );
  expect(theirs.data?.viewer.reminders).toEqual([]);
});
