/**
 * A held action the person confirmed is not lost when the turn that carries it out stops midway
 * (a crash between marking it used and running it): the same message handled again carries it
 * out, and once what came of it is recorded, is told that instead of doing it again. Another
 * message (a second press) never does it again.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import {
  ACTION_BUTTON_PREFIX,
  mintConfirmation,
  recordHeldOutcome,
  releaseConfirmation,
  useHeldAction,
} from '../../src/domain/confirmations/confirmations.ts';
import { useTestDatabase } from '../factories/database.ts';
import { createPerson } from '../factories/people.ts';

const db = useTestDatabase();

it('the same message handled again carries out a confirmed action, once, and learns what came of it', async () => {
  const person = await createPerson(db());
  const minted = new Date(Date.now() - 60_000);
  const action = {
    tool: 'cancel_booking',
    input: { booking_id: randomUUID() },
    summary: 'Cancel your booking.',
  };
  const { token, expiresAt } = await mintConfirmation(db(), {
    userId: person.id,
    subject: { action },
    expiresAt: new Date(Date.now() + 30 * 60_000),
    now: minted,
  });
  const press = { buttonPayload: `${ACTION_BUTTON_PREFIX}${token}`, text: null, receivedAt: new Date() };
  const event = randomUUID();
  const released = await releaseConfirmation(db(), person.id, { ...press, eventId: event }, new Date());
  expect(released).toMatchObject({ action });
  const actionId = (released as { actionId: string }).actionId;

  expect(await useHeldAction(db(), person.id, actionId, new Date(), event)).toEqual({ run: true });
  // The turn stopped before the tool ran or its outcome was kept. The same message, handled again,
  // releases the action again and may carry it out (the tools do once what one message asks).
  expect(await releaseConfirmation(db(), person.id, { ...press, eventId: event }, new Date())).toMatchObject({
    actionId,
  });
  expect(await useHeldAction(db(), person.id, actionId, new Date(), event)).toEqual({ run: true });
  // A second press, another message, does nothing.
  const again = { ...press, eventId: randomUUID() };
  expect(await releaseConfirmation(db(), person.id, again, new Date())).toBeNull();
  expect(await useHeldAction(db(), person.id, actionId, new Date(), again.eventId)).toEqual({
    run: false,
    outcome: null,
  });

  // Once what came of it is kept, the same message handled again (even after the confirmation's
  // time) is told that, and nothing runs again.
  const outcome = { isError: false, content: '{"status":"CANCELLED_BY_GUEST"}' };
  await recordHeldOutcome(db(), person.id, actionId, outcome);
  const later = new Date(expiresAt.getTime() + 60_000);
  expect(await releaseConfirmation(db(), person.id, { ...press, eventId: event }, later)).toMatchObject({
    actionId,
  });
  expect(await useHeldAction(db(), person.id, actionId, later, event)).toEqual({ run: false, outcome });
});

it('two messages confirming one action at once: only the one that released it last runs it', async () => {
  const person = await createPerson(db());
  const action = {
    tool: 'cancel_booking',
    input: { booking_id: randomUUID() },
    summary: 'Cancel your booking.',
  };
  const { token } = await mintConfirmation(db(), {
    userId: person.id,
    subject: { action },
    expiresAt: new Date(Date.now() + 30 * 60_000),
    now: new Date(Date.now() - 60_000),
  });
  const press = { buttonPayload: `${ACTION_BUTTON_PREFIX}${token}`, text: null, receivedAt: new Date() };
  // A press on WhatsApp and the typed code on Telegram, each handled on a turn of its own: both
  // release it before either uses it.
  const [a, b] = [randomUUID(), randomUUID()];
  const first = await releaseConfirmation(db(), person.id, { ...press, eventId: a }, new Date());
  const actionId = (first as { actionId: string }).actionId;
  expect(await releaseConfirmation(db(), person.id, { ...press, eventId: b }, new Date())).toMatchObject({
    actionId,
  });
  expect(await useHeldAction(db(), person.id, actionId, new Date(), a)).toEqual({
    run: false,
    outcome: null,
  });
  expect(await useHeldAction(db(), person.id, actionId, new Date(), b)).toEqual({ run: true });
  expect(await useHeldAction(db(), person.id, actionId, new Date(), a)).toEqual({
    run: false,
    outcome: null,
  });
});

it('a press made in time and handled after the action lapsed still releases and runs it, once; one made late does not', async () => {
  const person = await createPerson(db());
  const action = {
    tool: 'cancel_booking',
    input: { booking_id: randomUUID() },
    summary: 'Cancel your booking.',
  };
  const expiresAt = new Date(Date.now() + 60_000);
  const { token } = await mintConfirmation(db(), {
    userId: person.id,
    subject: { action },
    expiresAt,
    now: new Date(Date.now() - 60_000),
  });
  const button = `${ACTION_BUTTON_PREFIX}${token}`;
  const handledAt = new Date(expiresAt.getTime() + 90_000);
  // Pressed after the action lapsed: nothing.
  const late = {
    buttonPayload: button,
    text: null,
    receivedAt: new Date(expiresAt.getTime() + 1000),
    eventId: randomUUID(),
  };
  expect(await releaseConfirmation(db(), person.id, late, handledAt)).toBeNull();
  // Pressed ten seconds before, waiting behind a slow turn: released, and run once.
  const inTime = {
    buttonPayload: button,
    text: null,
    receivedAt: new Date(expiresAt.getTime() - 10_000),
    eventId: randomUUID(),
  };
  const released = await releaseConfirmation(db(), person.id, inTime, handledAt);
  expect(released).toMatchObject({ action });
  const actionId = (released as { actionId: string }).actionId;
  expect(await useHeldAction(db(), person.id, actionId, handledAt, inTime.eventId)).toEqual({ run: true });
  expect(await useHeldAction(db(), person.id, actionId, handledAt, late.eventId)).toEqual({
    run: false,
    outcome: null,
  });
});
