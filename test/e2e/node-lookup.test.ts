/**
 * `node(id)` and `nodes(ids)` tell a caller nothing about ids they may not see: another
 * organisation's venue, booking, agent or API key answers exactly like an id that names nothing
 * (null, no error, no `__typename`), a malformed id answers null too, and none of these writes a
 * log line above debug: guessed ids are not incidents.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, createActors } from '../helpers/authz.ts';
import { capturingLogger } from '../helpers/logs.ts';

const NodeLookup = `query NodeLookup($id: ID!) { node(id: $id) { __typename id } }`;
const NodesLookup = `query NodesLookup($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`;

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

/** Every log line the app writes, parsed, at every level. */
let lines: { level: number; msg: string }[] = [];
let app: TestApp;
let fx: Actors;
/** Global ids of the organisation's things that the other organisation's owner must not see. */
let theirs: Record<'venue' | 'booking' | 'agent' | 'apiKey', string>;

beforeAll(async () => {
  const captured = capturingLogger('debug');
  lines = captured.lines;
  app = await startTestApp({ logger: captured.logger });
  fx = await createActors(app);
  const db = app.services.db;
  const venue = await db.venue.create({
    data: {
      name: 'Private Kitchen',
      slug: `private-kitchen-${randomUUID()}`,
      timeZone: 'Europe/Lisbon',
      organizationId: fx.organizationId,
    },
  });
  const agent = await db.agent.create({
    data: { kind: 'VENUE', name: 'Private concierge', venueId: venue.id, organizationId: fx.organizationId },
  });
  const startsAt = new Date(Date.now() + 86_400_000);
  const booking = await db.booking.create({
    data: {
      venueId: venue.id,
      guestId: fx.staff.userId,
      partySize: 2,
      startsAt,
      endsAt: new Date(startsAt.getTime() + 5_400_000),
      source: 'DASHBOARD',
    },
  });
  theirs = {
    venue: gid('Venue', venue.id),
    booking: gid('Booking', booking.id),
    agent: gid('Agent', agent.id),
    apiKey: gid('ApiKey', fx.keyRead.id),
  };
});
afterAll(() => app?.close());

/** Runs `call` and returns the log lines it produced at warn (40) or above. */
async function loudLines(call: () => Promise<void>) {
  const before = lines.length;
  await call();
  // Lines are written as the response is built; give the stream a turn to deliver them.
  await new Promise((resolve) => setImmediate(resolve));
  return lines.slice(before).filter((line) => line.level >= 40);
}

describe('node(id) of another organisation’s things', () => {
  it('answers null, exactly as for an id that names nothing, with no __typename and no error', async () => {
    const loud = await loudLines(async () => {
      for (const [kind, id] of Object.entries(theirs)) {
        const asOutsider = await app.gql(NodeLookup, { id }, { token: fx.otherOwner.token });
        expect(asOutsider.body, kind).toEqual({ data: { node: null } });
        const anonymous = await app.gql(NodeLookup, { id });
        expect(anonymous.body, kind).toEqual({ data: { node: null } });
        const typeOnly = await app.gql(
          'query ($id: ID!) { node(id: $id) { __typename } }',
          { id },
          {
            token: fx.otherOwner.token,
          },
        );
        expect(typeOnly.body, kind).toEqual({ data: { node: null } });
      }
    });
    expect(loud).toEqual([]);
  });

  it('answers them to the organisation itself, so the ids above were real', async () => {
    for (const [kind, id] of Object.entries(theirs)) {
      const own = await app.gql(NodeLookup, { id }, { token: fx.owner.token });
      expect(own.body, kind).toEqual({ data: { node: { __typename: expect.any(String), id } } });
    }
  });

  it('answers nodes(ids) item by item: null where the caller may not see', async () => {
    const ids = [theirs.venue, gid('Organization', fx.otherOrganizationId), theirs.apiKey];
    const response = await app.gql(NodesLookup, { ids }, { token: fx.otherOwner.token });
    expect(response.body).toEqual({
      data: { nodes: [null, { __typename: 'Organization', id: ids[1] }, null] },
    });
  });

  it('refuses more than 100 ids at once with a validation error, and answers 100', async () => {
    const ids = Array.from({ length: 101 }, () => gid('Venue', randomUUID()));
    const response = await app.gql(NodesLookup, { ids }, { token: fx.owner.token });
    const body = response.body as { data: unknown; errors: unknown[] };
    expect(body.data).toBeNull();
    expect(body.errors).toEqual([
      expect.objectContaining({
        message: 'Ask for at most 100 ids at a time',
        extensions: { code: 'BAD_USER_INPUT', field: 'ids' },
      }),
    ]);
    const hundred = await app.gql(NodesLookup, { ids: ids.slice(0, 100) }, { token: fx.owner.token });
    expect(hundred.body).toEqual({ data: { nodes: Array(100).fill(null) } });
  });
});

describe('node(id) of an id that names nothing', () => {
  const nothing: [string, string][] = [
    ['an unknown venue', gid('Venue', randomUUID())],
    ['an unknown booking', gid('Booking', randomUUID())],
    ['an id that is not a UUID', gid('Venue', 'not-a-uuid')],
    ['an unknown type', gid('Nope', randomUUID())],
    ['a type that is not a node', gid('Address', randomUUID())],
    ['an unknown job', gid('Job', '999999999')],
    ['no type at all', Buffer.from(randomUUID()).toString('base64')],
    ['not base64', 'garbage!!'],
    ['empty', ''],
  ];

  it.each(nothing)('answers null for %s, logging nothing above debug', async (_label, id) => {
    const loud = await loudLines(async () => {
      for (const token of [fx.owner.token, fx.platformAdmin.token, undefined]) {
        const response = await app.gql(NodeLookup, { id }, { token });
        expect(response.body).toEqual({ data: { node: null } });
      }
    });
    expect(loud).toEqual([]);
  });
});
