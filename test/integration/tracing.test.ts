/**
 * Tracing end to end: with tracing on (an in-memory exporter instead of a collector), one booking
 * made over HTTP yields the span tree an operator reads — the request, the GraphQL operation in
 * it, the SQL statements in that — and the job the booking enqueued runs in a span of its own,
 * linked to the request. Log lines written inside carry the trace id, and outside calls (here
 * Stripe's, on fetch) made inside a span are its children.
 */
import { trace as otel } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryJob } from '../../src/domain/operations/job-queue.ts';
import { createStripeClient } from '../../src/integrations/stripe/client.ts';
import { createTelegramClient } from '../../src/integrations/telegram/client.ts';
import { startTracing, traceLogFields } from '../../src/platform/tracing.ts';
import { TELEGRAM_BOT } from '../factories/apps.ts';
import { createOrganization } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { STRIPE_SECRET_KEY, startFakeStripe } from '../fakes/stripe.ts';
import { startFakeBotApi } from '../fakes/telegram.ts';
import { graphql } from '../generated/gql.ts';
import { member, rawId, startTestApp, type TestApp } from '../helpers/app.ts';
import { runDueJobs, waitFor } from '../helpers/jobs.ts';
import { capturingLogger } from '../helpers/logs.ts';

const exporter = new InMemorySpanExporter();
const tracing = await startTracing({ endpoint: undefined, serviceName: 'agnt-test', exporter });

const BookForTrace = graphql(`
  mutation BookForTrace($input: CreateBookingInput!) {
    createBooking(input: $input) {
      __typename
      ... on BookingPayload { booking { id } }
      ... on Error { message }
    }
  }
`);

let app: TestApp;
let venueGid: string;
const logs = capturingLogger('info', { mixin: traceLogFields });
const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 9 });
const at = (time: string) =>
  new Date(
    date.toZonedDateTime({ timeZone: 'Europe/Lisbon', plainTime: time }).epochMilliseconds,
  ).toISOString();

beforeAll(async () => {
  // Every operation and job counts as slow, so each is logged with its breakdown.
  app = await startTestApp({ env: { SLOW_OPERATION_MS: '1' }, logger: logs.logger });
  const owner = await app.signIn();
  const org = await createOrganization(app.services.db, {
    name: 'Traced House',
    members: [{ userId: owner.userId, role: 'OWNER' }],
  });
  const venue = await createBookableVenue(app.services.db, {
    name: 'Traced Table',
    slug: `traced-table-${Date.now()}`,
    organizationId: org.id,
    tables: [{ name: 'Four', seats: 4 }],
  });
  venueGid = Buffer.from(`Venue:${venue.id}`).toString('base64');
});
afterAll(async () => {
  await app?.close();
  await tracing?.shutdown();
});

const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** The spans under `root` in its trace, depth first, each with its depth. */
function descendants(root: ReadableSpan, spans: readonly ReadableSpan[]): ReadableSpan[] {
  const children = spans.filter((span) => parentOf(span) === idOf(root));
  return children.flatMap((child) => [child, ...descendants(child, spans)]);
}

function sqlOf(span: ReadableSpan): string {
  return String(span.attributes['db.query.text'] ?? span.attributes['db.statement'] ?? '');
}

describe('tracing', () => {
  it('traces a booking request: HTTP, the GraphQL operation, its SQL, and the job it enqueued linked to it', async () => {
    const guest = await app.signIn();
    exporter.reset();
    const created = await app.gql(
      BookForTrace,
      { input: { venueId: venueGid, partySize: 2, startsAt: at('19:00') } as never },
      { token: guest.token },
    );
    const booking = member(created.data?.createBooking, 'BookingPayload', created).booking;

    // The server span ends when the response closes, a moment after the client has it.
    const request = await waitFor(
      async () =>
        exporter
          .getFinishedSpans()
          .find(
            (span) => span.name === 'POST /graphql' && span.attributes['http.response.status_code'] === 200,
          ),
      'the request span',
    );
    expect(request.parentSpanContext).toBeUndefined();
    expect(request.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/graphql' });
    const trace = exporter
      .getFinishedSpans()
      .filter((span) => span.spanContext().traceId === request.spanContext().traceId);

    // HTTP → GraphQL operation → SQL statements (Prisma's, and pg's beneath them).
    const operation = trace.find((span) => span.name === 'mutation.BookForTrace');
    expect(operation, trace.map((s) => s.name).join(', ')).toBeDefined();
    if (!operation) return;
    expect(parentOf(operation)).toBe(idOf(request));
    expect(operation.attributes['graphql.execute.operationName']).toBe('BookForTrace');
    const inOperation = descendants(operation, trace);
    const statements = inOperation.filter((span) => span.name.startsWith('pg.query'));
    // The booking and its first transition are written by one statement.
    const insert = statements.find((span) => /INSERT INTO bookings\b/.test(sqlOf(span)));
    // pg's span sits in Prisma's statement span, in Prisma's operation span.
    const prismaStatement = trace.find((span) => idOf(span) === (insert && parentOf(insert)));
    expect(prismaStatement?.name).toBe('prisma:client:db_query');
    const prismaOperation = trace.find(
      (span) => idOf(span) === (prismaStatement && parentOf(prismaStatement)),
    );
    expect(prismaOperation).toMatchObject({
      name: 'prisma:client:operation',
      attributes: { name: 'executeRaw' },
    });
    expect(statements.some((span) => /graphile_worker\.add_job/.test(sqlOf(span)))).toBe(true);
    // Redis too: the booking's event published for live updates.
    expect(inOperation.some((span) => span.name === 'publish')).toBe(true);
    // Every span of the request belongs to its tree: nothing started a trace of its own.
    expect(descendants(request, trace).length).toBe(trace.length - 1);

    // The slow-operation line was written inside the request, so it carries the trace id.
    const slow = logs.lines.find(
      (line) => line.msg === 'slow GraphQL operation' && line['graphql.operation'] === 'BookForTrace',
    );
    expect(slow).toMatchObject({
      trace_id: request.spanContext().traceId,
      'graphql.type': 'mutation',
      // The log's count is the trace's: one per statement Prisma sent.
      'sql.statements': inOperation.filter((span) => span.name === 'prisma:client:db_query').length,
    });

    // The booking's expiry job, run now, has a trace of its own linked to the request's.
    const [job] = await app.services.db.$queryRaw<{ id: string }[]>`
      SELECT id::text AS id FROM graphile_worker.jobs WHERE key = ${`booking:${rawId(booking.id)}:expire`}`;
    expect(job).toBeDefined();
    if (!job) return;
    await retryJob(app.services.db, { jobId: job.id });
    exporter.reset();
    await runDueJobs(app, ['booking-expire']);
    const jobSpan = exporter.getFinishedSpans().find((span) => span.name === 'job booking-expire');
    expect(jobSpan).toBeDefined();
    if (!jobSpan) return;
    expect(jobSpan.parentSpanContext).toBeUndefined();
    expect(jobSpan.spanContext().traceId).not.toBe(request.spanContext().traceId);
    expect(jobSpan.attributes).toMatchObject({ 'job.task': 'booking-expire', 'job.id': job.id });
    expect(jobSpan.links).toHaveLength(1);
    const link = jobSpan.links[0]?.context;
    expect(link?.traceId).toBe(request.spanContext().traceId);
    expect(trace.map(idOf)).toContain(link?.spanId);
    // The job's statements are in its trace.
    const jobStatements = descendants(jobSpan, exporter.getFinishedSpans());
    expect(jobStatements.some((span) => span.name.startsWith('pg.query'))).toBe(true);
  });

  it('keeps no secret and no query of an address: a Telegram call without its bot token, a request without its query', async () => {
    const telegram = await startFakeBotApi();
    try {
      const client = createTelegramClient({ apiUrl: telegram.url, token: TELEGRAM_BOT.token });
      exporter.reset();
      const parent = await otel.getTracer('test').startActiveSpan('caller', async (span) => {
        await client.call('sendMessage', { chat_id: 42, text: 'hello' });
        span.end();
        return span.spanContext().spanId;
      });
      const call = exporter.getFinishedSpans().find((span) => parentOf(span) === parent);
      expect(call?.attributes).toMatchObject({
        'url.full': `${telegram.url}/bot<token>/sendMessage`,
        'url.path': '/bot<token>/sendMessage',
      });
      expect(JSON.stringify(call?.attributes)).not.toContain(TELEGRAM_BOT.token.split(':')[1]);
    } finally {
      await telegram.close();
    }

    // A query string is never kept (Meta's webhook handshake carries its verify token in one).
    exporter.reset();
    const secret = 'verify-token-not-for-traces';
    await fetch(`${app.url}/graphql?query=%7B__typename%7D&hub.verify_token=${secret}`);
    const request = await waitFor(
      async () => exporter.getFinishedSpans().find((span) => span.name === 'GET /graphql'),
      'the request span',
    );
    expect(request.attributes['url.path']).toBe('/graphql');
    expect(JSON.stringify(request.attributes)).not.toContain(secret);
  });

  it('traces an outside call made inside a span: a Stripe write is a client span with its address', async () => {
    const fake = await startFakeStripe();
    try {
      const stripe = createStripeClient({
        secretKey: STRIPE_SECRET_KEY,
        webhookSecrets: [],
        apiBase: fake.url,
        timeoutMs: 5000,
      });
      exporter.reset();
      const parent = await otel.getTracer('test').startActiveSpan('caller', async (span) => {
        await stripe.customers.create(
          { email: 'traced@example.test' },
          { idempotencyKey: 'traced-customer-1' },
        );
        span.end();
        return span.spanContext().spanId;
      });
      const call = exporter.getFinishedSpans().find((span) => parentOf(span) === parent);
      expect(call?.attributes).toMatchObject({
        'http.request.method': 'POST',
        'url.full': `${fake.url}/v1/customers`,
        'http.response.status_code': 200,
      });
    } finally {
      await fake.close();
    }
  });
});
