/**
 * Public A2A as an outside agent sees it, against the real server on a loopback port with
 * organisation API keys: the A2A SDK's own client discovering the agent card and booking through
 * JSON-RPC, tasks that follow the booking (a venue's agent answering, its staff deciding, its
 * owner confirming), A2A 0.3's `message/send` and `tasks/get` spoken by hand, and the AGP
 * envelope endpoint at /a2a/v1.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { type Message, Role, type SendMessageRequest, type Task, TaskState } from '@a2a-js/sdk';
import {
  type Client,
  ClientFactory,
  ClientFactoryOptions,
  DefaultAgentCardResolver,
  JsonRpcTransportFactory,
} from '@a2a-js/sdk/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVenueAgent, ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import type { AgentDna } from '../../src/domain/agents/dna.ts';
import { registerAgent } from '../../src/domain/agents/registration.ts';
import { systemTransition, transitionBooking } from '../../src/domain/bookings/bookings.ts';
import { envelopeDeps } from '../../src/domain/envelopes/deps.ts';
import { handleEnvelope } from '../../src/domain/envelopes/handle.ts';
import { drainInbox } from '../../src/domain/envelopes/receive.ts';
import { sendEnvelope } from '../../src/domain/envelopes/send.ts';
import { acceptBookingRequest } from '../../src/domain/network/staff-inbox.ts';
import { venueAgentHandlers } from '../../src/domain/network/venue-agent.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { PUBLIC_STATUSES } from '../../src/domain/venues/venues.ts';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import { consumerAgentId, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { tag } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { apiKey, type Key, type Person, person } from '../helpers/authz.ts';
import { waitFor } from '../helpers/jobs.ts';

let app: TestApp;
let developer: Person;
let venueOwner: Person;
let writeKey: Key;
let readKey: Key;
let strangerKey: Key;
let word: string;
let venueId: string;
const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 7 }).toString();

/** A port nobody listens on now, so the card can name the server's own address (PUBLIC_URL). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  const port = await freePort();
  app = await startTestApp({ env: { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` } });
  const db = app.services.db;
  const developers = await db.organization.create({
    data: { name: `Developers ${tag()}`, developerTier: 'PRO' },
  });
  developer = await person(app, developers.id, 'OWNER');
  writeKey = await apiKey(app, developers.id, developer.userId, ['read', 'write']);
  readKey = await apiKey(app, developers.id, developer.userId, ['read']);
  const strangers = await db.organization.create({ data: { name: `Strangers ${tag()}` } });
  const stranger = await person(app, strangers.id, 'OWNER');
  strangerKey = await apiKey(app, strangers.id, stranger.userId, ['read', 'write']);
  const venues = await db.organization.create({ data: { name: `Venues ${tag()}` } });
  venueOwner = await person(app, venues.id, 'OWNER');
  word = `atwoword${tag()
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')}`;
  venueId = (
    await createBookableVenue(db, { name: `Tasca ${word}`, city: 'Lisboa', organizationId: venues.id })
  ).id;
  // The developer's own agent signs the requests their bookings send to venues' agents.
  const consumer = await ensureConsumerAgent(db, app.services.keyring, developer.userId);
  await registerAgent({ db, clawpulse: app.services.network.clawpulse }, consumer.id);
}, 60_000);

afterAll(async () => {
  await app?.close();
});

/** The SDK's client for the card at the server's address, sending `key` as a bearer token. */
async function a2aClient(key: string | null): Promise<Client> {
  const fetchImpl: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    if (key) headers.set('authorization', `Bearer ${key}`);
    return fetch(input, { ...init, headers });
  };
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      transports: [new JsonRpcTransportFactory({ fetchImpl })],
      cardResolver: new DefaultAgentCardResolver({ fetchImpl }),
    }),
  );
  return factory.createFromUrl(app.url);
}

function ask(
  data: Record<string, unknown>,
  options: { returnImmediately?: boolean } = {},
): SendMessageRequest {
  return {
    tenant: '',
    message: {
      messageId: randomUUID(),
      contextId: '',
      taskId: '',
      role: Role.ROLE_USER,
      parts: [
        {
          content: { $case: 'data', value: data },
          mediaType: 'application/json',
          filename: '',
          metadata: undefined,
        },
      ],
      metadata: undefined,
      extensions: [],
      referenceTaskIds: [],
    },
    configuration: options.returnImmediately
      ? { acceptedOutputModes: [], taskPushNotificationConfig: undefined, returnImmediately: true }
      : undefined,
    metadata: undefined,
  };
}

function asTask(result: Message | Task): Task {
  expect('status' in result, JSON.stringify(result)).toBe(true);
  return result as Task;
}

function artifactData<T = Record<string, unknown>>(task: Task, artifactId?: string): T {
  const artifact = artifactId ? task.artifacts.find((a) => a.artifactId === artifactId) : task.artifacts[0];
  const content = artifact?.parts[0]?.content;
  expect(content?.$case, JSON.stringify(task)).toBe('data');
  return (content as { value: T }).value;
}

function statusData(task: Task): { error?: { code: string; message: string } } {
  const part = task.status?.message?.parts.find((p) => p.content?.$case === 'data');
  return (part?.content as { value: { error?: { code: string; message: string } } } | undefined)?.value ?? {};
}

/** A venue of the venue owner's organisation with an active business agent, registered with the gateway. */
async function venueWithAgent(policy: Partial<NonNullable<AgentDna['bookingPolicy']>> = {}) {
  const db = app.services.db;
  const org = (await db.membership.findFirstOrThrow({ where: { userId: venueOwner.userId } })).organizationId;
  // A long table too: an escalated party of eight must fit somewhere.
  const place = await createBookableVenue(db, {
    organizationId: org,
    tables: [
      { name: 'T1', seats: 4 },
      { name: 'Long', seats: 10 },
    ],
  });
  const { agent } = await db.$transaction((tx) => createVenueAgent(tx, app.services.keyring, place));
  const dna = agent.dna as unknown as AgentDna;
  await db.agent.update({
    where: { id: agent.id },
    data: {
      dna: {
        ...dna,
        bookingPolicy: { ...dna.bookingPolicy!, ...policy },
      } as unknown as Prisma.InputJsonValue,
    },
  });
  await registerAgent({ db, clawpulse: app.services.network.clawpulse }, agent.id);
  return place;
}

/**
 * What the worker does for a request to a venue's agent: sends the developer's `booking.request`
 * through the embedded gateway, and the venue's agent reads it from its inbox and answers.
 */
async function venueAgentAnswers(venue: { id: string }): Promise<string> {
  const { services } = app;
  const db = services.db;
  const request = await waitFor(
    () =>
      db.a2aEnvelope.findFirst({
        where: {
          direction: 'OUTBOUND',
          intent: 'booking.request',
          toAgent: venueAgentId(venue.id),
          state: 'PENDING',
        },
      }),
    'the booking request to the venue’s agent',
  );
  expect(request.fromAgent).toBe(consumerAgentId(developer.userId));
  const deps = envelopeDeps({
    db,
    keyring: services.keyring,
    clawpulse: services.network.clawpulse,
    breakers: services.network.breakers,
    logger: services.logger,
    now: services.now,
    network: services.config.network,
  });
  expect((await sendEnvelope(deps, request.id)).result).toBe('sent');
  await drainInbox(deps, venueAgentId(venue.id));
  const inbound = await db.a2aEnvelope.findFirstOrThrow({
    where: { direction: 'INBOUND', envelopeId: request.envelopeId },
  });
  const handlers = venueAgentHandlers({
    now: services.now,
    effects: services.bookings.effects,
    requestMinutes: services.bookings.requestMinutes,
    logger: services.logger,
    publish: (topic, payload) => services.pubsub.publish(topic, payload),
  });
  const outcome = await handleEnvelope(
    { db, logger: services.logger, now: services.now },
    inbound.id,
    handlers,
  );
  return String(outcome.note ?? '');
}

describe('the agent card', () => {
  it('is open to anyone: A2A 1.0 for 1.0 clients, 0.3 (with the 1.0 interfaces) for the rest', async () => {
    const v1 = await fetch(new URL('/.well-known/agent-card.json', app.url), {
      headers: { 'a2a-version': '1.0' },
    });
    expect(v1.status).toBe(200);
    const card = (await v1.json()) as Record<string, unknown>;
    expect(card).toMatchObject({
      name: 'AGNT',
      version: '1.0.0',
      supportedInterfaces: [
        { url: `${app.url}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
        { url: `${app.url}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '0.3' },
      ],
      securitySchemes: { apiKey: { httpAuthSecurityScheme: { scheme: 'Bearer' } } },
    });
    const skills = card.skills as { id: string; description: string; examples: string[] }[];
    expect(skills.map((s) => s.id)).toEqual(['search_venues', 'check_availability', 'book_table']);
    for (const skill of skills) {
      expect(skill.description).toContain(`"skill": "${skill.id}"`);
      expect(JSON.parse(skill.examples[0]!)).toMatchObject({ skill: skill.id });
    }

    const legacy = (await (await fetch(new URL('/.well-known/agent-card.json', app.url))).json()) as Record<
      string,
      unknown
    >;
    expect(legacy).toMatchObject({
      protocolVersion: '0.3.0',
      url: `${app.url}/a2a/jsonrpc`,
      preferredTransport: 'JSONRPC',
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      security: [{ apiKey: [] }],
    });
  });
});

describe('A2A with the SDK’s client', () => {
  it('discovers the card, searches, checks times, books, and follows the task until the owner confirms', async () => {
    const client = await a2aClient(writeKey.secret);
    const found = asTask(await client.sendMessage(ask({ skill: 'search_venues', query: word })));
    expect(found.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(artifactData<{ venues: { venueId: string }[] }>(found).venues.map((v) => v.venueId)).toEqual([
      venueId,
    ]);

    const free = asTask(
      await client.sendMessage(ask({ skill: 'check_availability', venue_id: venueId, date, party_size: 2 })),
    );
    expect(artifactData<{ slots: { date: string; time: string }[] }>(free).slots).toContainEqual({
      date,
      time: '19:00',
    });

    const booked = asTask(
      await client.sendMessage(
        ask({
          skill: 'book_table',
          venue_id: venueId,
          date,
          time: '19:00',
          party_size: 2,
          special_requests: 'window',
        }),
      ),
    );
    // A venue without an agent: its staff decide on the dashboard.
    expect(booked.status?.state, JSON.stringify(booked)).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
    const booking = artifactData<{ bookingId: string; status: string; date: string; time: string }>(
      booked,
      'booking',
    );
    expect(booking).toMatchObject({ status: 'REQUESTED', date, time: '19:00' });
    const row = await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.bookingId } });
    expect(row).toMatchObject({
      source: 'A2A',
      guestId: developer.userId,
      partySize: 2,
      specialRequests: 'window',
    });

    const waiting = await client.getTask({ tenant: '', id: booked.id });
    expect(waiting.status?.state).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);

    const owner = createAccess(app.services.db, {
      kind: 'user',
      userId: venueOwner.userId,
      isPlatformAdmin: false,
    });
    await transitionBooking(app.services.bookings, owner, { bookingId: booking.bookingId, to: 'CONFIRMED' });
    const done = await client.getTask({ tenant: '', id: booked.id });
    expect(done.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(artifactData<{ status: string }>(done, 'booking').status).toBe('CONFIRMED');

    // Every call ran through the tool runner as the key, audited on the A2A channel.
    const audit = await app.services.db.toolCall.findMany({
      where: { apiKeyId: writeKey.id, outcome: 'OK' },
    });
    expect(audit.map((a) => a.tool)).toEqual(
      expect.arrayContaining(['agnt.search_venues', 'agnt.check_availability', 'agnt.confirm_booking']),
    );
    expect(audit.every((a) => a.channel === 'A2A' && a.userId === developer.userId)).toBe(true);
  });

  it('a venue whose agent accepts: working while it answers, completed once it has', async () => {
    const venue = await venueWithAgent();
    const client = await a2aClient(writeKey.secret);
    // Not waiting for the answer: the task comes back at once and is read again.
    const submitted = asTask(
      await client.sendMessage(
        ask(
          { skill: 'book_table', venue_id: venue.id, date, time: '20:00', party_size: 2 },
          { returnImmediately: true },
        ),
      ),
    );
    await waitFor(
      async () =>
        (await client.getTask({ tenant: '', id: submitted.id })).status?.state ===
        TaskState.TASK_STATE_WORKING,
      'the task to be working while the venue’s agent is asked',
    );
    expect(await venueAgentAnswers(venue)).toMatch(/accepted|confirmed/i);
    const done = await client.getTask({ tenant: '', id: submitted.id });
    expect(done.status?.state, JSON.stringify(done)).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(artifactData<{ status: string }>(done, 'booking').status).toBe('CONFIRMED');
  });

  it('a blocking send waits for the venue’s agent: completed when it accepts in time', async () => {
    const venue = await venueWithAgent();
    const client = await a2aClient(writeKey.secret);
    const sent = client.sendMessage(
      ask({ skill: 'book_table', venue_id: venue.id, date, time: '19:30', party_size: 2 }),
    );
    expect(await venueAgentAnswers(venue)).toMatch(/accepted|confirmed/i);
    const task = asTask(await sent);
    expect(task.status?.state, JSON.stringify(task)).toBe(TaskState.TASK_STATE_COMPLETED);
  });

  it('an escalated request is input-required until the venue’s staff accept it, then completed', async () => {
    const venue = await venueWithAgent({ askStaffAbovePartySize: 6 });
    const client = await a2aClient(writeKey.secret);
    const sent = client.sendMessage(
      ask({ skill: 'book_table', venue_id: venue.id, date, time: '21:00', party_size: 8 }),
    );
    expect(await venueAgentAnswers(venue)).toBe('escalated: party_size');
    const task = asTask(await sent);
    expect(task.status?.state, JSON.stringify(task)).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
    const again = await client.getTask({ tenant: '', id: task.id });
    expect(again.status?.state).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);

    const item = await app.services.db.venueInboxItem.findFirstOrThrow({
      where: { venueId: venue.id, kind: 'BOOKING_REQUEST', status: 'OPEN' },
    });
    const staff = createAccess(app.services.db, {
      kind: 'user',
      userId: venueOwner.userId,
      isPlatformAdmin: false,
    });
    await acceptBookingRequest({ bookings: app.services.bookings, publishInbox: async () => {} }, staff, {
      itemId: item.id,
    });
    const done = await client.getTask({ tenant: '', id: task.id });
    expect(done.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(artifactData<{ status: string; partySize: number }>(done, 'booking')).toMatchObject({
      status: 'CONFIRMED',
      partySize: 8,
    });
  });

  it('cancelling a task that books cancels the booking; a search cannot be cancelled', async () => {
    const client = await a2aClient(writeKey.secret);
    const booked = asTask(
      await client.sendMessage(
        ask({ skill: 'book_table', venue_id: venueId, date, time: '20:30', party_size: 2 }),
      ),
    );
    expect(booked.status?.state).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
    const cancelled = await client.cancelTask({ tenant: '', id: booked.id, metadata: undefined });
    expect(cancelled.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    const { bookingId } = artifactData<{ bookingId: string }>(booked, 'booking');
    expect(await app.services.db.booking.findUniqueOrThrow({ where: { id: bookingId } })).toMatchObject({
      status: 'CANCELLED_BY_GUEST',
    });
    expect((await client.getTask({ tenant: '', id: booked.id })).status?.state).toBe(
      TaskState.TASK_STATE_CANCELED,
    );
    // Asked again (the first answer lost): the task as it stands, not an error.
    const twice = await client.cancelTask({ tenant: '', id: booked.id, metadata: undefined });
    expect(twice.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    expect(
      await app.services.db.bookingTransition.count({ where: { bookingId, toStatus: 'CANCELLED_BY_GUEST' } }),
    ).toBe(1);

    const search = asTask(await client.sendMessage(ask({ skill: 'search_venues', query: word })));
    await expect(client.cancelTask({ tenant: '', id: search.id, metadata: undefined })).rejects.toThrow(
      /cancel/i,
    );
  });

  it('binds tasks to the key’s organisation: another organisation’s key finds no such task', async () => {
    const mine = await a2aClient(writeKey.secret);
    const task = asTask(await mine.sendMessage(ask({ skill: 'search_venues', query: word })));
    const theirs = await a2aClient(strangerKey.secret);
    await expect(theirs.getTask({ tenant: '', id: task.id })).rejects.toThrow(/not found/i);
    expect((await mine.getTask({ tenant: '', id: task.id })).status?.state).toBe(
      TaskState.TASK_STATE_COMPLETED,
    );
  });

  it('binds a booking’s task to the person whose key made it: their other keys read it, a colleague’s key finds no such task', async () => {
    const mine = await a2aClient(writeKey.secret);
    const booked = asTask(
      await mine.sendMessage(
        ask({ skill: 'book_table', venue_id: venueId, date, time: '19:30', party_size: 2 }),
      ),
    );
    const organizationId = (await app.services.db.apiKey.findUniqueOrThrow({ where: { id: writeKey.id } }))
      .organizationId;
    const colleague = await person(app, organizationId, 'ADMIN');
    const theirKey = await apiKey(app, organizationId, colleague.userId, ['read', 'write']);
    await expect((await a2aClient(theirKey.secret)).getTask({ tenant: '', id: booked.id })).rejects.toThrow(
      /not found/i,
    );
    // The same person's read key follows their booking.
    expect((await (await a2aClient(readKey.secret)).getTask({ tenant: '', id: booked.id })).id).toBe(
      booked.id,
    );
    // Cancelled, so the person's waiting bookings stay within their caps for the tests after.
    await mine.cancelTask({ tenant: '', id: booked.id, metadata: undefined });
  });

  it('refuses a caller without a key: 401 with WWW-Authenticate: Bearer', async () => {
    const client = await a2aClient(null);
    await expect(client.sendMessage(ask({ skill: 'search_venues', query: word }))).rejects.toThrow();
    const response = await fetch(new URL('/a2a/jsonrpc', app.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { id: randomUUID() } }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('does not let a READ key book: the task is rejected and nothing is booked', async () => {
    const client = await a2aClient(readKey.secret);
    const before = await app.services.db.booking.count({ where: { venueId } });
    const task = asTask(
      await client.sendMessage(
        ask({ skill: 'book_table', venue_id: venueId, date, time: '22:00', party_size: 2 }),
      ),
    );
    expect(task.status?.state).toBe(TaskState.TASK_STATE_REJECTED);
    expect(statusData(task).error?.code).toBe('READ_ONLY_KEY');
    expect(await app.services.db.booking.count({ where: { venueId } })).toBe(before);
  });

  it('fails a task with the request id, never the words of a failure of ours', async () => {
    // The booking is made (on a day no other test books), then naming it on its task fails: the
    // database refuses, in words only we should read.
    const otherDay = Temporal.PlainDate.from(date).add({ days: 1 }).toString();
    const bookingsOfDeveloper = () =>
      app.services.db.booking.findMany({ where: { guestId: developer.userId }, select: { id: true } });
    const before = new Set((await bookingsOfDeveloper()).map((b) => b.id));
    await app.services.db.$executeRawUnsafe(`
      CREATE FUNCTION refuse_booked_task() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'a2a_tasks.booking_id refused (internal detail)'; END $$`);
    await app.services.db.$executeRawUnsafe(
      `CREATE TRIGGER refuse_booked_task BEFORE INSERT OR UPDATE ON a2a_tasks
       FOR EACH ROW WHEN (NEW.booking_id IS NOT NULL) EXECUTE FUNCTION refuse_booked_task()`,
    );
    try {
      const client = await a2aClient(writeKey.secret);
      const booked = asTask(
        await client.sendMessage(
          ask({ skill: 'book_table', venue_id: venueId, date: otherDay, time: '21:00', party_size: 2 }),
        ),
      );
      expect(booked.status?.state, JSON.stringify(booked)).toBe(TaskState.TASK_STATE_FAILED);
      expect(statusData(booked).error).toEqual({
        code: 'INTERNAL_ERROR',
        message: expect.stringMatching(
          /^The request failed on our side and may work if tried again \(request [\w-]+\)$/,
        ),
      });
      expect(JSON.stringify(booked)).not.toMatch(/booking_id|internal detail|prisma|Agent execution error/i);
      const again = await client.getTask({ tenant: '', id: booked.id });
      expect(JSON.stringify(again)).not.toMatch(/booking_id|internal detail|prisma|Agent execution error/i);
    } finally {
      await app.services.db.$executeRawUnsafe('DROP TRIGGER refuse_booked_task ON a2a_tasks');
      await app.services.db.$executeRawUnsafe('DROP FUNCTION refuse_booked_task()');
      // The booking was made: expired, so the developer's pending bookings are as other tests expect.
      for (const { id } of await bookingsOfDeveloper()) {
        if (before.has(id)) continue;
        await systemTransition(app.services.bookings, { bookingId: id, to: 'EXPIRED', reason: 'test' });
      }
    }
  });

  it('fails an unknown skill, free text and invalid input with what to send instead', async () => {
    const client = await a2aClient(writeKey.secret);
    const unknown = asTask(await client.sendMessage(ask({ skill: 'order_pizza' })));
    expect(unknown.status?.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(statusData(unknown).error?.code).toBe('UNKNOWN_SKILL');

    const text = ask({});
    text.message!.parts = [
      {
        content: { $case: 'text', value: 'a table for two tonight please' },
        mediaType: 'text/plain',
        filename: '',
        metadata: undefined,
      },
    ];
    const prose = asTask(await client.sendMessage(text));
    expect(prose.status?.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(statusData(prose).error?.code).toBe('NEEDS_STRUCTURED_REQUEST');

    const invalid = asTask(
      await client.sendMessage(
        ask({ skill: 'check_availability', venue_id: venueId, date: 'tomorrow', party_size: 0 }),
      ),
    );
    expect(invalid.status?.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(statusData(invalid).error).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/date: .*party_size: /),
    });
  });
});

describe('A2A 0.3 by hand: message/send and tasks/get', () => {
  const rpc = async (method: string, params: unknown) => {
    const response = await fetch(new URL('/a2a/jsonrpc', app.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${writeKey.secret}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params }),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as {
      result?: Record<string, unknown>;
      error?: { code: number; message: string };
    };
  };

  it('sends a DataPart, gets a completed task, and reads it again', async () => {
    const sent = await rpc('message/send', {
      message: {
        kind: 'message',
        messageId: randomUUID(),
        role: 'user',
        parts: [{ kind: 'data', data: { skill: 'search_venues', query: `  ${word.toUpperCase()} ` } }],
      },
    });
    expect(sent.result, JSON.stringify(sent)).toMatchObject({ kind: 'task', status: { state: 'completed' } });
    const task = sent.result as {
      id: string;
      artifacts: { parts: { kind: string; data: { venues: unknown[] } }[] }[];
    };
    expect(task.artifacts[0]!.parts[0]!.data.venues).toHaveLength(1);
    const read = await rpc('tasks/get', { id: task.id });
    expect(read.result).toMatchObject({ id: task.id, status: { state: 'completed' } });
    const missing = await rpc('tasks/get', { id: randomUUID() });
    expect(missing.error?.code).toBe(-32001);
  });

  it('answers a failure of ours as an internal error with the request id, never its own message', async () => {
    // A task that cannot be stored: the database refuses it, in words only we should read.
    await app.services.db.$executeRawUnsafe(`
      CREATE FUNCTION refuse_task() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'a2a_tasks is refusing writes (internal detail)'; END $$`);
    await app.services.db.$executeRawUnsafe(
      'CREATE TRIGGER refuse_task BEFORE INSERT ON a2a_tasks FOR EACH ROW EXECUTE FUNCTION refuse_task()',
    );
    try {
      const sent = await rpc('message/send', {
        message: {
          kind: 'message',
          messageId: randomUUID(),
          role: 'user',
          parts: [{ kind: 'data', data: { skill: 'search_venues', query: word } }],
        },
      });
      expect(sent.result).toBeUndefined();
      expect(sent.error?.code).toBe(-32603);
      expect(sent.error?.message).toMatch(
        /^The request failed on our side and may work if tried again \(request [\w-]+\)$/,
      );
      expect(JSON.stringify(sent)).not.toMatch(/a2a_tasks|internal detail|prisma/i);
    } finally {
      await app.services.db.$executeRawUnsafe('DROP TRIGGER refuse_task ON a2a_tasks');
      await app.services.db.$executeRawUnsafe('DROP FUNCTION refuse_task()');
    }
  });

  it('keeps a task whose message holds text PostgreSQL cannot store (NUL), and reads it back', async () => {
    const sent = await rpc('message/send', {
      message: {
        kind: 'message',
        messageId: randomUUID(),
        role: 'user',
        parts: [{ kind: 'text', text: 'a table\u0000 for two' }],
      },
    });
    expect(sent.result, JSON.stringify(sent)).toMatchObject({ kind: 'task', status: { state: 'failed' } });
    const { id } = sent.result as { id: string };
    const read = await rpc('tasks/get', { id });
    expect(read.result, JSON.stringify(read)).toMatchObject({ id, status: { state: 'failed' } });
    const [asked] = (read.result as { history: unknown[] }).history;
    expect(asked).toMatchObject({ role: 'user', parts: [{ kind: 'text', text: 'a table\ufffd for two' }] });
  });

  it('answers parameters of the wrong shape as invalid params, never a failure of ours', async () => {
    const message = (extra: Record<string, unknown> = {}) => ({
      kind: 'message',
      messageId: randomUUID(),
      role: 'user',
      parts: [{ kind: 'data', data: { skill: 'search_venues', query: word } }],
      ...extra,
    });
    for (const [method, params] of [
      ['tasks/get', { id: 5 }],
      ['message/send', { message: message(), configuration: { acceptedOutputModes: 5 } }],
      ['message/send', { message: 'hello' }],
    ] as const) {
      const answered = await rpc(method, params as Record<string, unknown>);
      expect(answered.error?.code, `${method} ${JSON.stringify(params)}`).toBe(-32602);
      expect(answered.error?.message).toMatch(/^Invalid params: /);
    }
    // A data part nested 50,000 deep (written out: serialising it here would overflow the stack).
    const nested = JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'message/send',
      params: { message: message({ parts: [{ kind: 'data', data: 'DEEP' }] }) },
    }).replace('"DEEP"', `${'{"n":'.repeat(50_000)}{}${'}'.repeat(50_000)}`);
    const response = await fetch(new URL('/a2a/jsonrpc', app.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${writeKey.secret}` },
      body: nested,
    });
    expect(((await response.json()) as { error?: { code: number } }).error?.code).toBe(-32602);
    // A context id holding a NUL is kept (as text PostgreSQL can store), and the task with it.
    const sent = await rpc('message/send', { message: message({ contextId: 'ctx\u0000one' }) });
    expect(sent.error, JSON.stringify(sent)).toBeUndefined();
  });
});

describe('another process, and request limits', () => {
  let other: TestApp;
  beforeAll(async () => {
    other = await startTestApp({ database: app.database, env: { RATE_LIMIT_PER_API_KEY: '3' } });
  });
  afterAll(async () => {
    await other?.close();
  });

  it('reads a task made by another process (the booking it follows is in the database)', async () => {
    const client = await a2aClient(writeKey.secret);
    const booked = asTask(
      await client.sendMessage(
        ask({ skill: 'book_table', venue_id: venueId, date, time: '18:00', party_size: 4 }),
      ),
    );
    const response = await fetch(new URL('/a2a/jsonrpc', other.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${writeKey.secret}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { id: booked.id } }),
    });
    expect(await response.json()).toMatchObject({
      result: { id: booked.id, status: { state: 'input-required' }, artifacts: [{ artifactId: 'booking' }] },
    });
  });

  it('counts each request against the key: 429 with Retry-After past the limit', async () => {
    const db = other.services.db;
    const organization = await db.organization.create({ data: { name: `Busy ${tag()}` } });
    const owner = await person(other, organization.id, 'OWNER');
    const key = await apiKey(other, organization.id, owner.userId, ['read']);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 4; i += 1) {
      const response = await fetch(new URL('/a2a/v1', other.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}` },
        body: JSON.stringify({
          protocol: 'agp/1',
          id: randomUUID(),
          from: 'agent:busy',
          intent: 'network.ping',
        }),
      });
      statuses.push(response.status);
      if (response.status === 429) {
        retryAfter = response.headers.get('retry-after');
        expect(await response.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
      } else await response.body?.cancel();
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });
});

describe('AGP envelopes at /a2a/v1', () => {
  const post = (body: unknown, key: string | null = writeKey.secret) =>
    fetch(new URL('/a2a/v1', app.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const envelope = (
    intent: string,
    payload: Record<string, unknown> = {},
    extra: Record<string, unknown> = {},
  ) => ({
    protocol: 'agp/1',
    id: randomUUID(),
    from: 'agent:outside-test',
    to: 'network:agnt',
    intent,
    payload,
    agent_context: { trace: 'abc' },
    ttl_ms: 15000,
    timestamp: new Date().toISOString(),
    ...extra,
  });

  it('answers network.ping with an AGP reply to the request', async () => {
    const request = envelope('network.ping');
    const response = await post(request);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      protocol: 'agp/1',
      from: 'network:agnt',
      to: 'agent:outside-test',
      intent: 'network.ping',
      in_reply_to: request.id,
      agent_context: { trace: 'abc' },
      payload: { ok: true, scopes: ['read', 'write'] },
    });
    const unauthorised = await post(request, null);
    expect(unauthorised.status).toBe(401);
    expect(await unauthorised.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
  });

  it('caches booking.search five minutes per key and normalised query', async () => {
    const db = app.services.db;
    const searchWord = `cacheword${tag()
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')}`;
    const first = await createBookableVenue(db, { name: `Adega ${searchWord}`, city: 'Lisboa' });
    const search = async (query: string, key = writeKey.secret) => {
      const response = await post(envelope('booking.search', { query }), key);
      expect(response.status).toBe(200);
      return ((await response.json()) as { payload: { venues: { venueId: string }[] } }).payload.venues.map(
        (v) => v.venueId,
      );
    };
    expect(await search(searchWord)).toEqual([first.id]);
    // A second venue matches now; the same key and query (spelt otherwise) is answered from the cache.
    const second = await createBookableVenue(db, { name: `Casa ${searchWord}`, city: 'Lisboa' });
    expect(await search(`  ${searchWord.toUpperCase()}  `)).toEqual([first.id]);
    // Another key asks afresh.
    expect((await search(searchWord, readKey.secret)).sort()).toEqual([first.id, second.id].sort());
    // Cached answers are still calls: each is audited.
    expect(
      await db.toolCall.count({
        where: {
          apiKeyId: writeKey.id,
          tool: 'agnt.search_venues',
          channel: 'A2A',
          outcome: 'OK',
          input: { path: ['query'], string_contains: searchWord.toUpperCase() },
        },
      }),
    ).toBe(1);
  });

  it('caps venue.list at 100', async () => {
    const db = app.services.db;
    const existing = await db.venue.count({ where: { status: { in: [...PUBLIC_STATUSES] } } });
    for (let i = existing; i < 101; i += 1) await createBookableVenue(db, { name: `Filler ${tag()}` });
    const response = await post(envelope('venue.list', { limit: 500 }));
    expect(response.status).toBe(200);
    const { payload } = (await response.json()) as {
      payload: { venues: unknown[]; nextOffset: number | null; totalCount: number };
    };
    expect(payload.venues).toHaveLength(100);
    expect(payload.totalCount).toBeGreaterThan(100);
    expect(payload.nextOffset).toBe(100);
  });

  it('answers an unknown intent, an unknown protocol and a broken body with typed errors, never a 500', async () => {
    const unknownIntent = envelope('booking.teleport');
    let response = await post(unknownIntent);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { code: 'UNKNOWN_INTENT' },
      in_reply_to: unknownIntent.id,
    });
    response = await post(envelope('network.ping', {}, { protocol: 'agp/99' }));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'UNSUPPORTED_PROTOCOL' } });
    response = await post('{not json');
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'INVALID_JSON' } });
    response = await post({ protocol: 'agp/1', intent: 'network.ping' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'INVALID_ENVELOPE' } });
    response = await post(envelope('booking.confirm', { venue_id: venueId, date: 'someday' }));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'INVALID_PAYLOAD' } });
    // Nested a hundred thousand deep: refused before any tool runs, not a 500 once it had.
    response = await post(
      JSON.stringify(envelope('network.ping', {}, { agent_context: 'DEEP' })).replace(
        '"DEEP"',
        `${'{"c":'.repeat(100_000)}{}${'}'.repeat(100_000)}`,
      ),
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'INVALID_ENVELOPE' } });
  });

  it('books with booking.confirm (a write key), and refuses a READ key', async () => {
    const request = envelope('booking.confirm', { venue_id: venueId, date, time: '21:30', party_size: 3 });
    const response = await post(request);
    expect(response.status).toBe(200);
    const reply = (await response.json()) as {
      in_reply_to: string;
      payload: { bookingId: string; status: string };
    };
    expect(reply.in_reply_to).toBe(request.id);
    expect(reply.payload.status).toBe('REQUESTED');
    expect(
      await app.services.db.booking.findUniqueOrThrow({ where: { id: reply.payload.bookingId } }),
    ).toMatchObject({
      source: 'A2A',
      guestId: developer.userId,
      partySize: 3,
    });
    const refused = await post(
      envelope('booking.confirm', { venue_id: venueId, date, time: '18:30', party_size: 3 }),
      readKey.secret,
    );
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: 'READ_ONLY_KEY' } });
  });
});
