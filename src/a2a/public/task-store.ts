/**
 * Where public A2A keeps its tasks: the `a2a_tasks` table, one row a task, the task as last saved
 * in A2A's JSON form. A task is the person's whose key started it: another person's key, in their
 * organisation or another, is told there is no such task. A task that books names its booking, and whenever it is read its state and artifact
 * are the booking's as they are now (bookingState), so `tasks/get` follows the venue's answer
 * (and survives restarts) without anything having to write to the task when the booking moves.
 */
import { type Artifact, type Message, Role, Task, TaskState } from '@a2a-js/sdk';
import { UnsupportedOperationError } from '@a2a-js/sdk/errors';
import type { ServerCallContext, TaskStore, User } from '@a2a-js/sdk/server';
import type { KeyActor } from '../../api/admit-key.ts';
import { type AnswerFrom, whoAnswers } from '../../domain/network/booking-progress.ts';
import { bookingSummary } from '../../domain/tools/bookings.ts';
import type { BookingStatus } from '../../generated/prisma/enums.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import { storable, storableKey } from '../../platform/storable.ts';
import { isUuid } from '../../platform/uuid.ts';

/** What a caller is told of a failure of ours (the database, a bug): that much, and the request. */
export function failedOnOurSide(requestId: string | undefined): string {
  return `The request failed on our side and may work if tried again (request ${requestId ?? 'unknown'})`;
}

/**
 * How the SDK words a task it failed itself, after a failure of ours (the executor's, or saving
 * the task's events), followed by that failure's own message.
 */
const SDK_FAILURES = ['Agent execution error:', 'Event processing loop failed:'];

/**
 * `task` with each message the SDK wrote of a failure of ours saying only that, and the request's
 * id; the words it had are logged (they may name our queries).
 */
function withoutFailureWords(task: Task, user: KeyUser): Task {
  const plain = (message: Message | undefined): Message | undefined => {
    if (!message) return message;
    let changed = false;
    const parts = message.parts.map((part) => {
      const content = part.content;
      if (content?.$case !== 'text' || !SDK_FAILURES.some((prefix) => content.value.startsWith(prefix))) {
        return part;
      }
      changed = true;
      user.logger.error({ 'a2a.task': task.id, 'a2a.failure': content.value }, 'public A2A task failed');
      return { ...part, content: { $case: 'text' as const, value: failedOnOurSide(user.requestId) } };
    });
    return changed ? { ...message, parts } : message;
  };
  return {
    ...task,
    status: task.status && { ...task.status, message: plain(task.status.message) },
    history: task.history.map((message) => plain(message) ?? message),
  };
}

/** The caller as the A2A SDK carries it: the API key a request was authenticated with. */
export class KeyUser implements User {
  readonly actor: KeyActor;
  readonly logger: Logger;
  /** The HTTP request's id (x-request-id), which a failure of ours is answered with. */
  readonly requestId: string | undefined;
  constructor(actor: KeyActor, logger: Logger, requestId?: string) {
    this.actor = actor;
    this.logger = logger;
    this.requestId = requestId;
  }
  get isAuthenticated(): boolean {
    return true;
  }
  get userName(): string {
    return this.actor.apiKeyId;
  }
}

export function keyUserOf(context: ServerCallContext | undefined): KeyUser {
  const user = context?.user;
  // The HTTP route authenticates every request before the SDK sees it; this is unreachable.
  if (!(user instanceof KeyUser)) throw new Error('A public A2A call without an API key');
  return user;
}

export const BOOKING_ARTIFACT = 'booking';

export class PublicTaskStore implements TaskStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  /**
   * Writes the task as the SDK last saw it, never its booking. One statement that inserts or
   * updates, so a save and `attachBooking` may arrive in either order: the SDK saves the task's
   * events while the executor goes on, and its first save can come after the booking is made.
   */
  async save(task: Task, context: ServerCallContext): Promise<void> {
    const user = keyUserOf(context);
    await this.write(withoutFailureWords(task, user), user.actor, null);
  }

  async load(taskId: string, context: ServerCallContext): Promise<Task | undefined> {
    if (!isUuid(taskId)) return undefined;
    const { actor } = keyUserOf(context);
    const row = await this.db.a2aTask.findFirst({
      where: { id: taskId, organizationId: actor.organizationId },
    });
    if (!row || !(await this.startedBySamePerson(row.apiKeyId, actor))) return undefined;
    const task = Task.fromJSON(row.task);
    if (!row.bookingId) return task;
    const now = await bookingState(this.db, row.bookingId);
    if (!now) return task;
    return {
      ...task,
      status: { state: now.state, message: agentMessage(task, now.text), timestamp: now.at.toISOString() },
      artifacts: [
        ...task.artifacts.filter((a) => a.artifactId !== BOOKING_ARTIFACT),
        bookingArtifact(now.booking),
      ],
    };
  }

  /**
   * Whether the key that started a task is `actor`'s or another key of the same person: a task
   * shows the booking made for that person, which their colleagues' keys may not read.
   */
  private async startedBySamePerson(apiKeyId: string | null, actor: KeyActor): Promise<boolean> {
    if (apiKeyId === actor.apiKeyId) return true;
    if (!apiKeyId) return false;
    const key = await this.db.apiKey.findUnique({ where: { id: apiKeyId }, select: { createdById: true } });
    return key?.createdById === actor.userId;
  }

  /**
   * Ties the task to the booking it made: its state is the booking's from now on. Writes the task
   * too when the SDK has not saved it yet, so the link cannot be lost to that race.
   */
  async attachBooking(task: Task, bookingId: string, context: ServerCallContext): Promise<void> {
    const { actor } = keyUserOf(context);
    await this.write(task, actor, bookingId);
  }

  /**
   * Inserts the task's row, or updates it (its JSON, or with a booking its booking alone): only
   * its own organisation's, so a task id another organisation holds is refused, not overwritten.
   */
  private async write(task: Task, actor: KeyActor, bookingId: string | null): Promise<void> {
    const json = storedTask(task);
    const written = await this.db.$queryRaw<{ id: string }[]>`
      INSERT INTO a2a_tasks AS t (id, organization_id, api_key_id, context_id, booking_id, task, updated_at)
      VALUES (${task.id}::uuid, ${actor.organizationId}::uuid, ${actor.apiKeyId}::uuid, ${storableKey(task.contextId)},
              ${bookingId}::uuid, ${json}::jsonb, now())
      ON CONFLICT (id) DO UPDATE
        SET task = CASE WHEN EXCLUDED.booking_id IS NULL THEN EXCLUDED.task ELSE t.task END,
            booking_id = COALESCE(EXCLUDED.booking_id, t.booking_id),
            updated_at = now()
        WHERE t.organization_id = EXCLUDED.organization_id
      RETURNING id::text AS id`;
    if (!written.length) throw new Error(`Task ${task.id} belongs to another organisation`);
  }

  async list(): Promise<never> {
    throw new UnsupportedOperationError('Listing tasks is not offered: keep the ids message/send returns');
  }
}

/** The messages of a task's history kept with it: the latest. */
export const MAX_TASK_HISTORY = 20;
/** The most of a task's JSON kept, in bytes of UTF-8: older messages go first to keep under it. */
export const MAX_TASK_BYTES = 256_000;

/**
 * A task's JSON as it is stored: each message sent to a task waiting for input is appended to its
 * history by the SDK and the whole task written again, so the history is cut to its latest
 * messages, and to a size, or one task could grow without end (its calls are not all counted).
 */
function storedTask(task: Task): string {
  // What a caller wrote is kept as PostgreSQL can hold it (a NUL or a lone surrogate as U+FFFD).
  const json = (history: Message[]) => JSON.stringify(storable(Task.toJSON({ ...task, history })));
  let history = task.history.slice(-MAX_TASK_HISTORY);
  let stored = json(history);
  while (Buffer.byteLength(stored) > MAX_TASK_BYTES && history.length > 0) {
    history = history.slice(1);
    stored = json(history);
  }
  return stored;
}

/** A booking's task state, and what it means in words, as the booking stands now. */
export interface BookingState {
  state: TaskState;
  text: string;
  answerFrom: AnswerFrom | null;
  at: Date;
  booking: ReturnType<typeof bookingSummary>;
}

const FINAL: Partial<Record<BookingStatus, TaskState>> = {
  CONFIRMED: TaskState.TASK_STATE_COMPLETED,
  SEATED: TaskState.TASK_STATE_COMPLETED,
  COMPLETED: TaskState.TASK_STATE_COMPLETED,
  NO_SHOW: TaskState.TASK_STATE_COMPLETED,
  DECLINED: TaskState.TASK_STATE_REJECTED,
  EXPIRED: TaskState.TASK_STATE_FAILED,
  CANCELLED_BY_GUEST: TaskState.TASK_STATE_CANCELED,
  CANCELLED_BY_VENUE: TaskState.TASK_STATE_CANCELED,
};

export async function bookingState(db: Db, bookingId: string): Promise<BookingState | null> {
  const booking = await db.booking.findUnique({ where: { id: bookingId }, include: { venue: true } });
  if (!booking) return null;
  const summary = bookingSummary(booking, booking.venue);
  const at = booking.updatedAt;
  const where = `${summary.venue} on ${summary.date} at ${summary.time} for ${summary.partySize}`;
  const final = FINAL[booking.status];
  if (final !== undefined) {
    const text =
      final === TaskState.TASK_STATE_COMPLETED
        ? `Booked: ${where} (${booking.status}).`
        : final === TaskState.TASK_STATE_REJECTED
          ? `${summary.venue} declined the request for ${where}.`
          : final === TaskState.TASK_STATE_FAILED
            ? `${summary.venue} did not answer in time: the request for ${where} lapsed.`
            : `The booking at ${where} was cancelled (${booking.status}).`;
    return { state: final, text, answerFrom: null, at, booking: summary };
  }
  const answerFrom = await whoAnswers(db, booking.id);
  return answerFrom === 'venue-agent'
    ? {
        state: TaskState.TASK_STATE_WORKING,
        text: `${summary.venue}'s agent is answering the request for ${where}, usually within seconds.`,
        answerFrom,
        at,
        booking: summary,
      }
    : {
        state: TaskState.TASK_STATE_INPUT_REQUIRED,
        text: `${summary.venue}'s staff decide the request for ${where}. Nothing is needed from you: read this task again (tasks/get) for their answer.`,
        answerFrom,
        at,
        booking: summary,
      };
}

export function bookingArtifact(booking: BookingState['booking']): Artifact {
  return {
    artifactId: BOOKING_ARTIFACT,
    name: 'Booking',
    description: 'The booking as it stands now',
    parts: [dataPart(booking)],
    metadata: undefined,
    extensions: [],
  };
}

export function dataPart(value: unknown) {
  return {
    content: { $case: 'data' as const, value },
    mediaType: 'application/json',
    filename: '',
    metadata: undefined,
  };
}

export function textPart(value: string) {
  return {
    content: { $case: 'text' as const, value },
    mediaType: 'text/plain',
    filename: '',
    metadata: undefined,
  };
}

/** A message from the agent about the task, in words (and data, when given). */
export function agentMessage(task: Pick<Task, 'id' | 'contextId'>, text: string, data?: unknown): Message {
  return {
    messageId: crypto.randomUUID(),
    contextId: task.contextId,
    taskId: task.id,
    role: Role.ROLE_AGENT,
    parts: data === undefined ? [textPart(text)] : [textPart(text), dataPart(data)],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}
