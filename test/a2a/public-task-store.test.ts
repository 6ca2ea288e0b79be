/**
 * Public A2A's task store (src/a2a/public/task-store.ts): a task that books follows its booking,
 * whichever comes first of the SDK saving the task and the executor tying it to the booking
 * (the SDK saves a task's events while the executor goes on), and a task is its organisation's.
 */
import { randomUUID } from 'node:crypto';
import { type Message, Role, type Task, TaskState } from '@a2a-js/sdk';
import { ServerCallContext } from '@a2a-js/sdk/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentMessage,
  KeyUser,
  MAX_TASK_BYTES,
  MAX_TASK_HISTORY,
  PublicTaskStore,
} from '../../src/a2a/public/task-store.ts';
import type { KeyActor } from '../../src/api/admit-key.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createBooking } from '../factories/bookings.ts';
import { createOrganization, createPerson } from '../factories/people.ts';
import { createVenue } from '../factories/venues.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;
let store: PublicTaskStore;
beforeAll(async () => {
  database = await createTestDatabase();
  store = new PublicTaskStore(database.prisma);
});
afterAll(() => database.drop());

/** A key of a new organisation, as the SDK hands it over (`requestId`: the HTTP request's). */
async function keyOf(requestId?: string): Promise<ServerCallContext> {
  const [person, organization] = await Promise.all([
    createPerson(database.prisma),
    createOrganization(database.prisma),
  ]);
  const actor: KeyActor = {
    kind: 'apiKey',
    apiKeyId: randomUUID(),
    organizationId: organization.id,
    userId: person.id,
    scopes: ['write'],
    role: 'ADMIN',
  };
  return new ServerCallContext({ user: new KeyUser(actor, createLogger('silent'), requestId) });
}

function taskIn(state: TaskState, id: string = randomUUID()): Task {
  return {
    id,
    contextId: randomUUID(),
    status: { state, message: undefined, timestamp: new Date().toISOString() },
    artifacts: [],
    history: [],
    metadata: {},
  };
}

async function aBooking() {
  const [guest, venue] = await Promise.all([createPerson(database.prisma), createVenue(database.prisma)]);
  return createBooking(database.prisma, {
    guestId: guest.id,
    venueId: venue.id,
    startsAt: new Date(Date.now() + 86_400_000),
    source: 'A2A',
  });
}

describe('the public A2A task store', () => {
  it('keeps a task tied to its booking when the booking is tied before the SDK first saves the task', async () => {
    const context = await keyOf();
    const booking = await aBooking();
    const submitted = taskIn(TaskState.TASK_STATE_SUBMITTED);
    await store.attachBooking(submitted, booking.id, context);
    // The SDK's saves of the task's events, arriving after.
    await store.save(submitted, context);
    await store.save(
      { ...submitted, status: { ...submitted.status!, state: TaskState.TASK_STATE_WORKING } },
      context,
    );

    await database.prisma.booking.update({
      where: { id: booking.id },
      data: { status: 'CANCELLED_BY_GUEST' },
    });
    expect((await store.load(submitted.id, context))?.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
  });

  it('keeps the booking of a task saved first, and its later saves', async () => {
    const context = await keyOf();
    const booking = await aBooking();
    const task = taskIn(TaskState.TASK_STATE_SUBMITTED);
    await store.save(task, context);
    await store.attachBooking(task, booking.id, context);
    await store.save(
      { ...task, status: { ...task.status!, state: TaskState.TASK_STATE_INPUT_REQUIRED } },
      context,
    );
    const row = await database.prisma.a2aTask.findUniqueOrThrow({ where: { id: task.id } });
    expect(row.bookingId).toBe(booking.id);
    expect((row.task as { status: { state: string } }).status.state).toBe('TASK_STATE_INPUT_REQUIRED');
  });

  it('keeps the latest of a task’s history, within a size in bytes, however many messages are sent to it', async () => {
    const context = await keyOf();
    const task = taskIn(TaskState.TASK_STATE_INPUT_REQUIRED);
    // Three bytes a character: twenty of these are 300 kB in 100,000 characters.
    const messages = Array.from({ length: 200 }, (_, i) => ({
      ...agentMessage(task, `message ${i} ${'€'.repeat(5_000)}`),
      role: Role.ROLE_USER,
    }));
    await store.save({ ...task, history: messages }, context);
    const row = await database.prisma.a2aTask.findUniqueOrThrow({ where: { id: task.id } });
    expect(Buffer.byteLength(JSON.stringify(row.task))).toBeLessThanOrEqual(MAX_TASK_BYTES);
    const loaded = (await store.load(task.id, context))!;
    expect(loaded.history.length).toBeLessThanOrEqual(MAX_TASK_HISTORY);
    expect(loaded.history.length).toBeGreaterThan(0);
    expect(loaded.history.at(-1)?.parts[0]).toMatchObject({
      content: { $case: 'text', value: expect.stringMatching(/^message 199 /) },
    });
  });

  it('keeps only that a failure of ours happened, and the request, where the SDK wrote its words into the task', async () => {
    const context = await keyOf('req-7');
    const said = (text: string): Message => ({
      messageId: randomUUID(),
      contextId: 'c',
      taskId: 't',
      role: Role.ROLE_AGENT,
      parts: [
        { content: { $case: 'text', value: text }, mediaType: 'text/plain', filename: '', metadata: {} },
      ],
      metadata: {},
      extensions: [],
      referenceTaskIds: [],
    });
    const task = taskIn(TaskState.TASK_STATE_FAILED);
    await store.save(
      {
        ...task,
        status: {
          ...task.status!,
          message: said('Agent execution error: Invalid `prisma.$queryRaw()` invocation'),
        },
        history: [said('Book a table'), said('Event processing loop failed: relation "a2a_tasks" is locked')],
      },
      context,
    );
    const kept = (await store.load(task.id, context))!;
    const texts = [kept.status!.message!, ...kept.history].map((m) =>
      m.parts.map((p) => (p.content?.$case === 'text' ? p.content.value : null)),
    );
    const ours = 'The request failed on our side and may work if tried again (request req-7)';
    expect(texts).toEqual([[ours], ['Book a table'], [ours]]);
  });

  it('refuses to write a task id another organisation holds, and leaves that task as it was', async () => {
    const [ours, theirs] = await Promise.all([keyOf(), keyOf()]);
    const task = taskIn(TaskState.TASK_STATE_COMPLETED);
    await store.save(task, ours);
    const before = await database.prisma.a2aTask.findUniqueOrThrow({ where: { id: task.id } });
    await expect(store.save(taskIn(TaskState.TASK_STATE_FAILED, task.id), theirs)).rejects.toThrow(
      /another organisation/,
    );
    await expect(store.attachBooking(task, (await aBooking()).id, theirs)).rejects.toThrow(
      /another organisation/,
    );
    expect(await database.prisma.a2aTask.findUniqueOrThrow({ where: { id: task.id } })).toEqual(before);
    expect(await store.load(task.id, theirs)).toBeUndefined();
  });
});
