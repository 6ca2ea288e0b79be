/**
 * The network end to end, on real PostgreSQL and Redis: a Telegram message "table for 2 tomorrow
 * at 8pm at <venue>" → the consumer agent (a scripted model) → create_booking → `booking.request`
 * through the gateway → the venue's agent decides → the booking CONFIRMED → the person is told on
 * Telegram. Once through the embedded gateway (in-process, PostgreSQL inboxes) and once through an
 * outside gateway (the loopback fake that follows CLAWPULSE.md). And an escalation: a party above
 * the venue's staff threshold waits for staff, who accept through GraphQL, and the guest is told.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVenueAgent } from '../../src/domain/agents/agents.ts';
import { agentEnv, startAppWithWorker, stopAll, TELEGRAM_BOT, telegramEnv } from '../factories/apps.ts';
import { telegramChats } from '../factories/chats.ts';
import { createPerson } from '../factories/people.ts';
import { createVenue } from '../factories/venues.ts';
import { anthropicMessage, type FakeReply, startFakeAnthropic } from '../fakes/anthropic.ts';
import { type FakeClawPulse, startFakeClawPulse } from '../fakes/clawpulse.ts';
import { type FakeBotApi, postUpdate, startFakeBotApi, textUpdate } from '../fakes/telegram.ts';
import type { TestApp } from '../helpers/app.ts';
import { accessToken } from '../helpers/authz.ts';
import { type WorkerApp, waitFor } from '../helpers/jobs.ts';

const ZONE = 'Europe/Lisbon';
const tomorrow = () => Temporal.Now.plainDateISO(ZONE).add({ days: 1 }).toString();

type Body = { messages: { role: string; content: string | Record<string, unknown>[] }[] };

const use = (name: string, input: unknown) => ({
  name,
  input,
  id: `toolu_${randomBytes(6).toString('hex')}`,
});
const say = (text: string): FakeReply => ({ body: anthropicMessage({ text }) });
const call = (...toolUses: ReturnType<typeof use>[]): FakeReply => ({ body: anthropicMessage({ toolUses }) });

function lastToolResult(body: Body): Record<string, unknown> | null {
  const last = body.messages.at(-1)!;
  if (typeof last.content === 'string') return null;
  const result = last.content.find((b) => b.type === 'tool_result');
  return result ? (JSON.parse(String(result.content)) as Record<string, unknown>) : null;
}

interface World {
  app: TestApp;
  worker: WorkerApp;
  telegram: FakeBotApi;
  model: Awaited<ReturnType<typeof startFakeAnthropic>>;
  gateway?: FakeClawPulse;
  venueId: string;
  ownerId: string;
}

async function startWorld(outside: boolean): Promise<World> {
  const telegram = await startFakeBotApi();
  const model = await startFakeAnthropic();
  const gateway = outside ? await startFakeClawPulse() : undefined;
  const { app, worker } = await startAppWithWorker({
    ...telegramEnv(telegram),
    ...agentEnv(model),
    ...(gateway ? { CLAWPULSE_GATEWAY: gateway.url, CLAWPULSE_API_KEY: gateway.apiKey } : {}),
  });
  const db = app.services.db;
  const owner = await createPerson(db);
  const organization = await db.organization.create({
    data: {
      name: 'Casa do Mar Lda',
      trustedAt: new Date(),
      memberships: { create: { userId: owner.id, role: 'OWNER' } },
    },
  });
  const venue = await createVenue(db, {
    name: 'Casa do Mar',
    slug: 'casa-do-mar',
    organizationId: organization.id,
    cuisines: ['seafood'],
    timeZone: ZONE,
    status: 'CLAIMED',
    slotMinutes: 30,
    turnMinutes: 90,
    leadTimeMinutes: 60,
    partySizeMax: 12,
    bookingRulesConfirmedAt: new Date(),
    open: ['12:00', '23:30'],
    tables: [1, 2, 3, 4, 5].map((n) => ({ name: `T${n}`, seats: 4, combinable: true })),
  });
  // The venue's business agent, with the default DNA: accept within the rules, staff above 8.
  await db.$transaction((tx) => createVenueAgent(tx, app.services.keyring, venue));
  return { app, worker, telegram, model, gateway, venueId: venue.id, ownerId: owner.id };
}

/** Scripts the model: search, check, book `party` at 20:00 tomorrow, then say what the tool said. */
function scriptBooking(world: World, party: number) {
  const date = tomorrow();
  world.model.respond((body: Body) => {
    const result = lastToolResult(body);
    if (!result) return call(use('search_venues', { query: 'casa do mar' }));
    if ('venues' in result) {
      const [venue] = result.venues as { venueId: string }[];
      return call(use('check_availability', { venue_id: venue!.venueId, date, party_size: party }));
    }
    if ('slots' in result) {
      expect(result.slots).toContainEqual({ date, time: '20:00' });
      return call(use('create_booking', { venue_id: world.venueId, date, time: '20:00', party_size: party }));
    }
    return say(`Asked: ${String(result.status)}`);
  });
}

async function book(world: World, party: number, text: string) {
  scriptBooking(world, party);
  const chatId = Math.floor(Math.random() * 1_000_000_000);
  const update = textUpdate({ chatId, text, firstName: 'Ana' });
  expect((await postUpdate(world.app.url, TELEGRAM_BOT.name, TELEGRAM_BOT.secret, update)).status).toBe(200);
  return chatId;
}

for (const outside of [false, true]) {
  describe(`a table booked by chat through ${outside ? 'an outside' : 'the embedded'} gateway`, () => {
    let world: World;
    beforeAll(async () => {
      world = await startWorld(outside);
    });
    afterAll(() => stopAll(world.worker, world.app, world.telegram, world.model, world.gateway));

    const chats = () => telegramChats(() => ({ app: world.app, telegram: world.telegram }));

    it('is confirmed by the venue’s agent in seconds, and the person is told on Telegram', async () => {
      const { nthReply, userOf } = chats();
      const chatId = await book(world, 2, 'table for 2 tomorrow at 8pm at Casa do Mar');
      expect((await nthReply(chatId, 1)).text).toBe('Asked: REQUESTED');
      const told = await nthReply(chatId, 2, 20_000);
      // In the language Ana's Telegram is set to (Portuguese).
      expect(told.text).toContain('está confirmada');
      expect(told.text).toContain('Casa do Mar');

      const db = world.app.services.db;
      const guestId = await userOf(chatId);
      const booking = await db.booking.findFirstOrThrow({ where: { guestId } });
      expect(booking.status).toBe('CONFIRMED');
      const history = await db.bookingTransition.findMany({
        where: { bookingId: booking.id },
        orderBy: { createdAt: 'asc' },
      });
      expect(history.map((t) => [t.fromStatus, t.toStatus, t.actorKind])).toEqual([
        [null, 'REQUESTED', 'guest'],
        ['REQUESTED', 'CONFIRMED', 'venue'],
      ]);
      // The request and its answer, both ways, signed and verified, each once.
      const envelopes = await db.a2aEnvelope.findMany({
        where: { bookingId: booking.id },
        orderBy: { createdAt: 'asc' },
      });
      expect(envelopes.map((e) => [e.direction, e.intent, e.state])).toEqual(
        expect.arrayContaining([
          ['OUTBOUND', 'booking.request', 'ANSWERED'],
          ['INBOUND', 'booking.request', 'DELIVERED'],
          ['OUTBOUND', 'booking.accepted', expect.stringMatching(/SENT|DELIVERED/)],
          ['INBOUND', 'booking.accepted', 'DELIVERED'],
        ]),
      );
      expect(envelopes.every((e) => e.state !== 'REJECTED' && e.state !== 'FAILED')).toBe(true);
      // Operators see the traffic: envelopes by intent, how long inboxes waited, decision times.
      const metrics = await world.worker.metrics();
      expect(metrics).toMatch(
        /a2a_envelopes_total\{intent="booking.request",direction="inbound",outcome="accepted"\} [1-9]/,
      );
      expect(metrics).toMatch(/a2a_inbox_lag_seconds_count\{kind="venue"\} [1-9]/);
      expect(metrics).toMatch(/a2a_decision_seconds_count\{outcome="accept"\} [1-9]/);
      if (world.gateway) {
        // It really went through the outside gateway: a request to the venue, an answer back.
        const messages = world.gateway.messages.filter((m) => m.to === `venue-${world.venueId}`);
        expect(messages).toHaveLength(1);
        expect(world.gateway.messages.some((m) => m.to === `consumer-${guestId}`)).toBe(true);
      }
    });

    it('waits for staff above the threshold; staff accept through GraphQL and the guest is told', async () => {
      const { nthReply, userOf } = chats();
      const chatId = await book(world, 10, 'table for 10 tomorrow at 8pm at Casa do Mar');
      expect((await nthReply(chatId, 1)).text).toBe('Asked: REQUESTED');
      const waiting = await nthReply(chatId, 2, 20_000);
      expect(waiting.text).toMatch(/^A equipe de Casa do Mar está analisando/);

      const db = world.app.services.db;
      const guestId = await userOf(chatId);
      const booking = await db.booking.findFirstOrThrow({ where: { guestId } });
      expect(booking.status).toBe('REQUESTED');
      const item = await waitFor(
        () => db.venueInboxItem.findFirst({ where: { bookingId: booking.id, status: 'OPEN' } }),
        'the staff inbox item',
      );
      expect(item.kind).toBe('BOOKING_REQUEST');

      const token = await accessToken(world.app, world.ownerId);
      const accepted = await world.app.gql(
        `mutation Accept($id: ID!) {
          acceptBookingRequest(input: { itemId: $id }) {
            __typename
            ... on Error { message }
          }
        }`,
        { id: Buffer.from(`VenueInboxItem:${item.id}`).toString('base64') },
        { token },
      );
      expect(accepted.errors, JSON.stringify(accepted.body)).toBeUndefined();
      const told = await nthReply(chatId, 3, 20_000);
      expect(told.text).toContain('está confirmada');
      expect((await db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe('CONFIRMED');
    });
  });
}
