/**
 * The business scan end to end: an owner starts a scan over GraphQL, the real `business-scan`
 * task reads a fixture website on loopback (each its own origin, built as real sites are), and
 * the Scan node carries the report and draft, or the refusal; the draft is applied to a venue.
 *
 * The fixture servers are on 127.0.0.1, which a scan refuses like any private address: these
 * tests allow exactly that host (SCAN_ALLOW_HOSTS), so the redirect to 169.254.169.254 stays
 * refused, and one test shows 127.0.0.1 refused without the allowance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileVenueWiki } from '../../src/domain/network/venue-wiki.ts';
import {
  ABANDONED_SCAN_AFTER_MS,
  businessScanTask,
  failAbandonedScans,
  failScan,
  type ScanProgressPayload,
  scanTopic,
} from '../../src/domain/scan/scans.ts';
import { createWebFetcher, FetchRefusedError } from '../../src/integrations/web/fetcher.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { createVenue } from '../factories/venues.ts';
import {
  anthropicError,
  anthropicMessage,
  type ScriptedFake,
  startFakeAnthropic,
} from '../fakes/anthropic.ts';
import {
  type FixturePage,
  type FixtureSite,
  hugePage,
  jsonLdRestaurant,
  microdataCafe,
  plainTextBar,
  redirectsToPrivate,
  robotsForbid,
  startFixtureSite,
} from '../fakes/websites.ts';
import { member, rawId, startTestApp, type TestApp } from '../helpers/app.ts';
import { type Person, person, unique } from '../helpers/authz.ts';
import { runDueJobs, waitFor } from '../helpers/jobs.ts';
import { openSse, parseSseEvent } from '../helpers/sse.ts';

let app: TestApp;
let anthropic: ScriptedFake;
const sites: FixtureSite[] = [];

beforeAll(async () => {
  anthropic = await startFakeAnthropic();
  app = await startTestApp({
    env: {
      SCAN_ALLOW_HOSTS: '127.0.0.1',
      ANTHROPIC_API_KEY: 'sk-ant-test-key',
      ANTHROPIC_BASE_URL: anthropic.url,
    },
  });
});
afterAll(async () => {
  await Promise.all(sites.map((s) => s.close().catch(() => {})));
  await anthropic?.close();
  await app?.close();
});

async function site(pages: Record<string, FixturePage>): Promise<FixtureSite> {
  const started = await startFixtureSite(pages);
  sites.push(started);
  return started;
}

/** A fetcher with the default limits, allowing `hosts` (none: loopback is refused like any private address). */
function fetcher(options: { hosts: string[]; pageTimeoutMs: number }) {
  return createWebFetcher({
    allowed: { hosts: options.hosts, cidrs: [] },
    userAgent: 'AGNTBot',
    maxPageBytes: 2_000_000,
    maxRedirects: 5,
    pageTimeoutMs: options.pageTimeoutMs,
  });
}

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

interface World {
  organizationId: string;
  owner: Person;
}

async function world(): Promise<World> {
  const organization = await app.services.db.organization.create({ data: { name: unique('Scan Org') } });
  return { organizationId: organization.id, owner: await person(app, organization.id, 'OWNER') };
}

interface ScanView {
  id: string;
  url: string;
  status: string;
  failureCode: string | null;
  failureReason: string | null;
  lanes: { lane: string; state: string; detail: string | null }[];
  report: {
    structuredData: string | null;
    businessTypes: string[];
    menuLinks: string[];
    phones: string[];
    emails: string[];
    profiles: string[];
    reservationsUrl: string | null;
    pages: { url: string; note: string }[];
    scores: { kind: string; score: number; suggestions: string[] }[];
  } | null;
  draft: { field: string; value: string; display: string; source: string }[] | null;
}

const SCAN_FIELDS = `id url status failureCode failureReason
  lanes { lane state detail }
  report { structuredData businessTypes menuLinks phones emails profiles reservationsUrl
    pages { url note } scores { kind score suggestions } }
  draft { field value display source }`;

async function startScan(w: World, url: string, token = w.owner.token) {
  return app.gql<
    {
      scanBusiness:
        | { __typename: 'ScanBusinessPayload'; scan: ScanView }
        | { __typename: 'ValidationError'; message: string };
    },
    unknown
  >(
    `mutation($input: ScanBusinessInput!) {
      scanBusiness(input: $input) { __typename ... on ScanBusinessPayload { scan { ${SCAN_FIELDS} } } ... on Error { message } }
    }`,
    { input: { organizationId: gid('Organization', w.organizationId), url } },
    { token },
  );
}

async function readScan(w: World, id: string): Promise<ScanView> {
  const res = await app.gql<{ node: ScanView | null }, unknown>(
    `query($id: ID!) { node(id: $id) { ... on Scan { ${SCAN_FIELDS} } } }`,
    { id },
    { token: w.owner.token },
  );
  expect(res.data?.node, JSON.stringify(res.body)).toBeTruthy();
  return res.data!.node!;
}

/** Starts a scan as the owner, runs the job as a worker would, and reads the scan. */
async function scanned(w: World, url: string): Promise<ScanView> {
  const res = await startScan(w, url);
  const payload = member(res.data?.scanBusiness, 'ScanBusinessPayload', res);
  expect(payload.scan.status).toBe('QUEUED');
  await runDueJobs(app, ['business-scan']);
  return readScan(w, payload.scan.id);
}

const lane = (scan: ScanView, name: string) => scan.lanes.find((l) => l.lane === name)!;
const score = (scan: ScanView, kind: string) => scan.report!.scores.find((s) => s.kind === kind)!;
const draftValue = (scan: ScanView, field: string) => {
  const entry = scan.draft!.find((d) => d.field === field);
  return entry ? JSON.parse(entry.value) : undefined;
};

describe('reports', () => {
  it('reads a restaurant’s JSON-LD (@graph), its menu and contact pages, and drafts the venue', async () => {
    const w = await world();
    const s = await site(jsonLdRestaurant());
    const scan = await scanned(w, `${s.url}/`);
    expect(scan.status, JSON.stringify(scan)).toBe('DONE');
    expect(lane(scan, 'WEBSITE')).toEqual({ lane: 'WEBSITE', state: 'DONE', detail: '3 pages read' });
    expect(lane(scan, 'STRUCTURED_DATA').state).toBe('DONE');
    expect(lane(scan, 'CLASSIFICATION')).toMatchObject({ state: 'SKIPPED' });
    // robots.txt was read first and its Disallow: /admin kept us out of /admin.
    expect(s.requests[0]).toBe('/robots.txt');
    expect(s.requests).toEqual(expect.arrayContaining(['/', '/menu', '/contact']));
    expect(s.requests).not.toContain('/admin');

    const report = scan.report!;
    expect(report.structuredData).toBe('json-ld');
    expect(report.businessTypes).toEqual(['Restaurant']);
    expect(report.menuLinks).toEqual(
      expect.arrayContaining(['https://tascadoporto.example/menu', `${s.url}/files/carta.pdf`]),
    );
    expect(report.emails).toEqual(['mesa@tascadoporto.example']);
    expect(report.reservationsUrl).toBe('https://tascadoporto.example/reservar');
    expect(score(scan, 'STRUCTURED_DATA').score).toBe(100);
    expect(score(scan, 'COMPLETENESS').score).toBe(100);
    expect(score(scan, 'CONTACTABILITY').score).toBe(100);

    expect(draftValue(scan, 'NAME')).toBe('Tasca do Porto');
    expect(draftValue(scan, 'CATEGORY')).toBe('RESTAURANT');
    expect(draftValue(scan, 'CUISINES')).toEqual(['portuguese', 'seafood']);
    expect(draftValue(scan, 'PRICE_LEVEL')).toBe(2);
    expect(draftValue(scan, 'ADDRESS_LINE1')).toBe('Rua da Ribeira 12');
    expect(draftValue(scan, 'CITY')).toBe('Porto');
    expect(draftValue(scan, 'POSTAL_CODE')).toBe('4050-513');
    expect(draftValue(scan, 'COUNTRY_CODE')).toBe('PT');
    expect(draftValue(scan, 'LOCATION')).toEqual({ latitude: 41.1406, longitude: -8.6131 });
    expect(draftValue(scan, 'PHONE')).toBe('+351221234567');
    expect(draftValue(scan, 'EMAIL')).toBe('mesa@tascadoporto.example');
    expect(draftValue(scan, 'SOCIAL_HANDLES')).toEqual([
      { network: 'instagram', handle: '@tascadoporto' },
      { network: 'facebook', handle: '@tascadoporto' },
    ]);
    expect(draftValue(scan, 'OPENING_HOURS')).toEqual([
      { weekday: 2, opensAt: '12:00', closesAt: '15:00' },
      { weekday: 3, opensAt: '12:00', closesAt: '15:00' },
      { weekday: 4, opensAt: '12:00', closesAt: '15:00' },
      { weekday: 5, opensAt: '12:00', closesAt: '15:00' },
      { weekday: 5, opensAt: '19:00', closesAt: '23:30' },
      { weekday: 6, opensAt: '19:00', closesAt: '23:30' },
    ]);
    expect(scan.draft!.find((d) => d.field === 'NAME')!.source).toBe('json-ld');
  });

  it('keeps what a site writes that PostgreSQL cannot store (NUL in its JSON-LD and a mailto: link)', async () => {
    const w = await world();
    const data = { '@context': 'https://schema.org', '@type': 'Restaurant', name: 'Casa\u0000 Nula' };
    const s = await site({
      '/': {
        body: `<!doctype html><html><head><title>Casa Nula</title>
          <script type="application/ld+json">${JSON.stringify(data)}</script></head>
          <body><a href="mailto:mesa%00@casanula.example">Mail</a></body></html>`,
      },
    });
    const scan = await scanned(w, `${s.url}/`);
    expect(scan.status, JSON.stringify(scan)).toBe('DONE');
    expect(draftValue(scan, 'NAME')).toBe('Casa\ufffd Nula');
    expect(scan.report!.emails).toEqual(['mesa\ufffd@casanula.example']);
  });

  it('reads a café’s microdata, hours given as openingHours text', async () => {
    const w = await world();
    const s = await site(microdataCafe());
    const scan = await scanned(w, `${s.url}/`);
    expect(scan.status, JSON.stringify(scan)).toBe('DONE');
    expect(scan.report!.structuredData).toBe('microdata');
    expect(scan.report!.businessTypes).toEqual(['CafeOrCoffeeShop']);
    expect(draftValue(scan, 'NAME')).toBe('Kaffee Klatsch');
    expect(draftValue(scan, 'CATEGORY')).toBe('CAFE');
    expect(draftValue(scan, 'ADDRESS_LINE1')).toBe('Oranienstraße 5');
    expect(draftValue(scan, 'CITY')).toBe('Berlin');
    expect(draftValue(scan, 'COUNTRY_CODE')).toBe('DE');
    expect(draftValue(scan, 'PHONE')).toBe('+49301234567');
    expect(draftValue(scan, 'PRICE_LEVEL')).toBe(1);
    expect(draftValue(scan, 'OPENING_HOURS')).toEqual([
      { weekday: 0, opensAt: '09:00', closesAt: '17:00' },
      { weekday: 1, opensAt: '08:00', closesAt: '18:00' },
      { weekday: 2, opensAt: '08:00', closesAt: '18:00' },
      { weekday: 3, opensAt: '08:00', closesAt: '18:00' },
      { weekday: 4, opensAt: '08:00', closesAt: '18:00' },
      { weekday: 5, opensAt: '08:00', closesAt: '18:00' },
      { weekday: 6, opensAt: '09:00', closesAt: '17:00' },
    ]);
    expect(scan.draft!.find((d) => d.field === 'NAME')!.source).toBe('microdata');
    const structured = score(scan, 'STRUCTURED_DATA');
    expect(structured.score).toBeLessThan(100);
    expect(structured.suggestions).toContain(
      'Publish your structured data as JSON-LD rather than microdata: it is easier to keep right',
    );
    expect(structured.suggestions).toContain(
      'Give your opening hours as openingHoursSpecification rather than openingHours text, so every day is unambiguous',
    );
    // No email or booking link on the site.
    expect(score(scan, 'CONTACTABILITY').suggestions).toContain(
      'Add an email address (a mailto: link) for questions and group bookings',
    );
  });

  it('classifies a page with nothing but text and a PDF menu with the cheap model', async () => {
    const w = await world();
    const s = await site(plainTextBar());
    const before = anthropic.requests.length;
    anthropic.enqueue({
      body: anthropicMessage({
        text: '{"category":"PUB","cuisines":["british"],"priceLevel":2,"description":"A harbour pub with craft beer and Sunday roasts."}',
      }),
    });
    const scan = await scanned(w, `${s.url}/`);
    expect(scan.status, JSON.stringify(scan)).toBe('DONE');
    // A script's text that looks like microdata is not markup: there is no structured data.
    expect(scan.report!.structuredData).toBeNull();
    expect(lane(scan, 'CLASSIFICATION')).toMatchObject({ state: 'DONE', detail: 'Classified as pub' });
    expect(anthropic.requests.length).toBe(before + 1);
    expect(JSON.stringify(anthropic.requests.at(-1)!.body.messages)).toContain('Sunday roasts');
    expect(scan.report!.menuLinks).toEqual([`${s.url}/files/anchor-food.pdf`]);
    expect(scan.report!.phones).toEqual(['+442079460018']);
    expect(draftValue(scan, 'NAME')).toBe('The Anchor');
    expect(scan.draft!.find((d) => d.field === 'CATEGORY')).toMatchObject({
      value: '"PUB"',
      source: 'classification',
    });
    expect(draftValue(scan, 'CUISINES')).toEqual(['british']);
    expect(draftValue(scan, 'PHONE')).toBe('+442079460018');
    expect(score(scan, 'STRUCTURED_DATA')).toEqual({
      kind: 'STRUCTURED_DATA',
      score: 0,
      suggestions: [expect.stringContaining('Add schema.org Restaurant data as JSON-LD')],
    });
    expect(score(scan, 'COMPLETENESS').suggestions).toContain(
      'Publish your opening hours so guests and agents see when you are open',
    );
  });

  it('completes without a classification when the model’s answer is not valid', async () => {
    const w = await world();
    const s = await site(plainTextBar());
    anthropic.enqueue({
      body: anthropicMessage({ text: '{"category":"SPACESHIP","cuisines":[],"priceLevel":9}' }),
    });
    const scan = await scanned(w, `${s.url}/`);
    expect(scan.status).toBe('DONE');
    expect(lane(scan, 'CLASSIFICATION').state).toBe('FAILED');
    expect(lane(scan, 'CLASSIFICATION').detail).toMatch(/^The model’s answer was not valid/);
    expect(scan.draft!.some((d) => d.source === 'classification')).toBe(false);
    expect(draftValue(scan, 'NAME')).toBe('The Anchor');
  });

  it('completes without a classification when the provider refuses our request, without its words', async () => {
    const w = await world();
    const s = await site(plainTextBar());
    anthropic.enqueue(anthropicError(400, 'messages.0.content: prompt is too long (internal detail)'));
    const scan = await scanned(w, `${s.url}/`);
    expect(scan.status).toBe('DONE');
    expect(lane(scan, 'CLASSIFICATION')).toMatchObject({
      state: 'FAILED',
      detail: 'The model could not be asked: an error of ours',
    });
    expect(draftValue(scan, 'NAME')).toBe('The Anchor');
  });
});

describe('the job', () => {
  it('is safe to run twice: a finished scan is left as it is', async () => {
    const w = await world();
    const s = await site(microdataCafe());
    const scan = await scanned(w, `${s.url}/`);
    const id = rawId(scan.id);
    const before = await app.services.db.businessScan.findUniqueOrThrow({ where: { id } });
    const requests = s.requests.length;
    await enqueue(app.services.db, businessScanTask, { scanId: id });
    await runDueJobs(app, ['business-scan']);
    expect(await app.services.db.businessScan.findUniqueOrThrow({ where: { id } })).toEqual(before);
    expect(s.requests.length).toBe(requests);
  });
});

describe('refusals', () => {
  it('refuses a redirect to a private address (the cloud metadata service)', async () => {
    const w = await world();
    const s = await site(redirectsToPrivate());
    const scan = await scanned(w, `${s.url}/`);
    expect(scan).toMatchObject({
      status: 'FAILED',
      failureCode: 'private_address',
      report: null,
      draft: null,
    });
    expect(scan.failureReason).toContain('169.254.169.254 is a linkLocal address');
    expect(lane(scan, 'WEBSITE').state).toBe('FAILED');
  });

  it('tries a bounded number of linked pages, and follows none to another port', async () => {
    const w = await world();
    // A home page linking to 40 menu pages, each redirecting to a port of another host.
    const links = Array.from({ length: 40 }, (_, i) => `<a href="/menu/${i}">Menu ${i}</a>`).join('');
    const pages: Record<string, FixturePage> = {
      '/robots.txt': { type: 'text/plain', body: 'User-agent: *\nAllow: /\n' },
      '/': { body: `<html><body><h1>Casa</h1>${links}</body></html>` },
    };
    for (let i = 0; i < 40; i++) {
      pages[`/menu/${i}`] = { status: 302, headers: { location: `http://127.0.0.1:${1000 + i}/` } };
    }
    const s = await site(pages);
    const scan = await scanned(w, `${s.url}/`);
    expect(scan.status).toBe('DONE');
    const skipped = scan.report!.pages.filter((p) => p.note.startsWith('skipped'));
    // SCAN_MAX_PAGES (5) twice at most, each refused at the redirect without a request to it.
    expect(skipped).toHaveLength(10);
    expect(s.requests.filter((path) => path.startsWith('/menu/'))).toHaveLength(10);
    expect(skipped[0]!.note).toBe(
      "skipped: 127.0.0.1:1000 is on port 1000: only the site's own port and the web's standard ports are read",
    );
  });

  it('refuses a redirect to no address at all as such, not as an error of ours', async () => {
    const w = await world();
    const s = await site({
      '/robots.txt': { type: 'text/plain', body: 'User-agent: *\nAllow: /\n' },
      '/': { status: 302, headers: { location: 'http://[::1' } },
    });
    const scan = await scanned(w, `${s.url}/`);
    expect(scan).toMatchObject({ status: 'FAILED', failureCode: 'not_http' });
    expect(scan.failureReason).toContain('http://[::1 is not a web address');
    // A robots.txt that redirects so is one that cannot be read.
    const robots = await site({ '/robots.txt': { status: 302, headers: { location: 'http://[::1' } } });
    const refused = await scanned(w, `${robots.url}/`);
    expect(refused).toMatchObject({ status: 'FAILED', failureCode: 'robots' });
    expect(refused.failureReason).toContain(
      'robots.txt could not be read (http://[::1 is not a web address)',
    );
  });

  it('refuses a 50 MB page after reading at most the limit, not the whole of it', async () => {
    const w = await world();
    const s = await site(hugePage());
    const scan = await scanned(w, `${s.url}/`);
    expect(scan).toMatchObject({ status: 'FAILED', failureCode: 'too_large' });
    expect(scan.failureReason).toContain('larger than 2,000 kB');
    // The server stopped well short of 50 MB (what is in flight in socket buffers aside).
    expect(s.bytesSent()).toBeLessThan(10 * 1024 * 1024);
  });

  it('honours a robots.txt that forbids our crawler, without fetching the page', async () => {
    const w = await world();
    const s = await site(robotsForbid());
    const scan = await scanned(w, `${s.url}/`);
    expect(scan).toMatchObject({ status: 'FAILED', failureCode: 'robots' });
    expect(scan.failureReason).toBe(`${new URL(s.url).host}'s robots.txt asks AGNTBot not to read /`);
    expect(s.requests).toEqual(['/robots.txt']);
  });

  it('refuses loopback itself when the allow-list does not name it, before any request', async () => {
    const s = await site(jsonLdRestaurant());
    const web = fetcher({ hosts: [], pageTimeoutMs: 5_000 });
    const error = await web.fetchPage(`${s.url}/`).catch((e) => e);
    expect(error).toBeInstanceOf(FetchRefusedError);
    expect(error.code).toBe('private_address');
    expect(s.requests).toEqual([]);
    const notHttp = await web.fetchPage('file:///etc/passwd').catch((e) => e);
    expect(notHttp.code).toBe('not_http');
  });

  it('refuses a page that is not HTML, and too many redirects', async () => {
    const s = await site({
      '/robots.txt': { type: 'text/plain', body: '' },
      '/menu.pdf': { type: 'application/pdf', body: '%PDF-1.4' },
      ...Object.fromEntries(
        Array.from({ length: 8 }, (_, i) => [`/r${i}`, { status: 301, headers: { location: `/r${i + 1}` } }]),
      ),
    });
    const web = fetcher({ hosts: ['127.0.0.1'], pageTimeoutMs: 5_000 });
    expect((await web.fetchPage(`${s.url}/menu.pdf`).catch((e) => e)).code).toBe('not_html');
    expect((await web.fetchPage(`${s.url}/nowhere`).catch((e) => e)).code).toBe('http_error');
    expect((await web.fetchPage(`${s.url}/r0`).catch((e) => e)).code).toBe('too_many_redirects');
  });
});

describe('time limits', () => {
  it('gives up on a page that does not answer in time', async () => {
    const s = await site({
      '/robots.txt': { type: 'text/plain', body: '' },
      '/': { body: '<html></html>', delayMs: 3_000 },
    });
    const web = fetcher({ hosts: ['127.0.0.1'], pageTimeoutMs: 200 });
    const started = Date.now();
    const error = await web.fetchPage(`${s.url}/`).catch((e) => e);
    expect(error).toMatchObject({
      code: 'timeout',
      message: `${new URL(s.url).host} did not answer in time`,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('robots.txt that cannot be read', () => {
  it('does not read a site whose robots.txt answers 5xx, and says why', async () => {
    const s = await site({
      '/robots.txt': { status: 503, type: 'text/plain', body: 'busy' },
      '/': { body: '<html><body>Hi</body></html>' },
    });
    const web = fetcher({ hosts: ['127.0.0.1'], pageTimeoutMs: 5_000 });
    const error = await web.fetchPage(`${s.url}/`).catch((e) => e);
    expect(error).toMatchObject({
      code: 'robots',
      message: `${new URL(s.url).host}'s robots.txt answered 503, so the site is not read until it answers`,
    });
    expect(s.requests).toEqual(['/robots.txt']);
  });
});

describe('who may scan', () => {
  it('refuses staff and people of other organisations, and hides scans from them', async () => {
    const w = await world();
    const staff = await person(app, w.organizationId, 'STAFF');
    const refused = await startScan(w, 'https://example.com/', staff.token);
    expect(refused.data?.scanBusiness ?? null).toBeNull();
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await app.services.db.businessScan.count({ where: { organizationId: w.organizationId } })).toBe(0);

    const s = await site(microdataCafe());
    const scan = await scanned(w, `${s.url}/`);
    const other = await world();
    const res = await app.gql<{ node: unknown }, unknown>(
      'query($id: ID!) { node(id: $id) { ... on Scan { id status } } }',
      { id: scan.id },
      { token: other.owner.token },
    );
    expect(res.data?.node ?? null).toBeNull();
    const list = await app.gql<
      { node: { scans: { totalCount: number; edges: { node: { id: string } }[] } } },
      unknown
    >(
      'query($id: ID!) { node(id: $id) { ... on Organization { scans { totalCount edges { node { id } } } } } }',
      { id: gid('Organization', w.organizationId) },
      { token: w.owner.token },
    );
    expect(list.data?.node.scans.totalCount).toBe(1);
    expect(list.data?.node.scans.edges[0]?.node.id).toBe(scan.id);
  });
});

describe('applying the draft', () => {
  const APPLY = `mutation($input: ApplyScanDraftInput!) {
    applyScanDraft(input: $input) {
      __typename
      ... on ApplyScanDraftPayload { applied agentSigningSecret venue { id name } }
      ... on ValidationError { message field }
      ... on Error { message }
    }
  }`;
  type Applied = {
    applyScanDraft:
      | {
          __typename: 'ApplyScanDraftPayload';
          applied: string[];
          agentSigningSecret: string | null;
          venue: { id: string; name: string };
        }
      | { __typename: 'ValidationError'; message: string; field: string | null };
  };

  it('creates a correct venue from the chosen fields, and overwrites nothing silently', async () => {
    const w = await world();
    const s = await site(jsonLdRestaurant());
    const scan = await scanned(w, `${s.url}/`);
    const fields = scan.draft!.map((d) => d.field).filter((f) => f !== 'DESCRIPTION');
    const res = await app.gql<Applied, unknown>(
      APPLY,
      { input: { scanId: scan.id, fields, timeZone: 'Europe/Lisbon' } },
      { token: w.owner.token },
    );
    const payload = member(res.data?.applyScanDraft, 'ApplyScanDraftPayload', res);
    expect(payload.applied).toEqual(fields);
    expect(payload.agentSigningSecret).toEqual(expect.any(String));
    const venueId = rawId(payload.venue.id);
    const venue = await app.services.db.venue.findUniqueOrThrow({
      where: { id: venueId },
      include: { hours: { orderBy: [{ weekday: 'asc' }, { opensAt: 'asc' }] } },
    });
    expect(venue).toMatchObject({
      organizationId: w.organizationId,
      status: 'DRAFT',
      name: 'Tasca do Porto',
      description: '',
      category: 'RESTAURANT',
      cuisines: ['portuguese', 'seafood'],
      priceLevel: 2,
      addressLine1: 'Rua da Ribeira 12',
      city: 'Porto',
      region: 'Porto',
      postalCode: '4050-513',
      countryCode: 'PT',
      latitude: 41.1406,
      longitude: -8.6131,
      phone: '+351221234567',
      email: 'mesa@tascadoporto.example',
      website: `${s.url}/`,
      timeZone: 'Europe/Lisbon',
      socialHandles: { instagram: '@tascadoporto', facebook: '@tascadoporto' },
    });
    expect(venue.hours.map((h) => [h.weekday, h.opensAt, h.closesAt])).toEqual([
      [2, '12:00', '15:00'],
      [3, '12:00', '15:00'],
      [4, '12:00', '15:00'],
      [5, '12:00', '15:00'],
      [5, '19:00', '23:30'],
      [6, '19:00', '23:30'],
    ]);

    // The owner renamed the venue since: the draft's name is not taken without being chosen twice.
    await app.services.db.venue.update({
      where: { id: venueId },
      data: { name: 'Tasca Nova', description: 'Ours' },
    });
    const refused = await app.gql<Applied, unknown>(
      APPLY,
      { input: { scanId: scan.id, venueId: payload.venue.id, fields: ['PHONE', 'NAME', 'DESCRIPTION'] } },
      { token: w.owner.token },
    );
    expect(refused.data?.applyScanDraft).toEqual({
      __typename: 'ValidationError',
      message: 'The venue already has a name: list it in replace to overwrite it',
      field: 'fields.1',
    });
    expect(await app.services.db.venue.findUniqueOrThrow({ where: { id: venueId } })).toMatchObject({
      name: 'Tasca Nova',
      description: 'Ours',
    });

    const replaced = await app.gql<Applied, unknown>(
      APPLY,
      {
        input: { scanId: scan.id, venueId: payload.venue.id, fields: ['PHONE', 'NAME'], replace: ['NAME'] },
      },
      { token: w.owner.token },
    );
    expect(member(replaced.data?.applyScanDraft, 'ApplyScanDraftPayload', replaced)).toMatchObject({
      applied: ['PHONE', 'NAME'],
      agentSigningSecret: null,
      venue: { name: 'Tasca do Porto' },
    });
    expect((await app.services.db.venue.findUniqueOrThrow({ where: { id: venueId } })).description).toBe(
      'Ours',
    );
  });
});

describe('the venue wiki', () => {
  const APPLY = `mutation($input: ApplyScanDraftInput!) {
    applyScanDraft(input: $input) { __typename ... on ApplyScanDraftPayload { applied } ... on Error { message } }
  }`;
  const apply = async (w: World, input: Record<string, unknown>) => {
    const res = await app.gql<
      { applyScanDraft: { __typename: 'ApplyScanDraftPayload'; applied: string[] } },
      unknown
    >(APPLY, { input }, { token: w.owner.token });
    member(res.data?.applyScanDraft, 'ApplyScanDraftPayload', res);
  };
  const factsBy = async (venueId: string, source: 'SCAN' | 'OWNER_EDIT') =>
    Object.fromEntries(
      (await app.services.db.venueFact.findMany({ where: { venueId, source } })).map((f) => [f.key, f.text]),
    );
  const openConflicts = async (venueId: string) =>
    (
      await app.services.db.venueFactConflict.findMany({
        where: { venueId, status: 'OPEN' },
        orderBy: { key: 'asc' },
      })
    ).map((c) => c.key);

  it('records what the website says as SCAN facts: a field not taken that differs is a conflict for staff', async () => {
    const w = await world();
    const venue = await createVenue(app.services.db, {
      organizationId: w.organizationId,
      name: 'Tasca do Porto',
      phone: '+351 22 999 0000',
      addressLine1: 'Rua Velha 1',
      city: 'Porto',
    });
    const s = await site(jsonLdRestaurant());
    const scan = await scanned(w, `${s.url}/`);
    // Everything but the phone: the owner keeps the number the venue has.
    const taken = [
      'CUISINES',
      'PRICE_LEVEL',
      'ADDRESS_LINE1',
      'CITY',
      'REGION',
      'POSTAL_CODE',
      'OPENING_HOURS',
      'EMAIL',
      'WEBSITE',
    ];
    await apply(w, {
      scanId: scan.id,
      venueId: gid('Venue', venue.id),
      fields: taken,
      replace: ['ADDRESS_LINE1'],
    });

    expect(await factsBy(venue.id, 'SCAN')).toEqual({
      hours:
        'Mon closed; Tue 12:00–15:00; Wed 12:00–15:00; Thu 12:00–15:00; Fri 12:00–15:00, 19:00–23:30; Sat 19:00–23:30; Sun closed',
      address: 'Rua da Ribeira 12, 4050-513 Porto, Porto',
      phone: '+351221234567',
      email: 'mesa@tascadoporto.example',
      website: `${s.url}/`,
      price: '$$',
      cuisine: 'portuguese, seafood',
    });
    const scanFact = await app.services.db.venueFact.findFirstOrThrow({
      where: { venueId: venue.id, source: 'SCAN' },
    });
    expect(scanFact.sourceRef).toBe(`${s.url}/`);

    // The record's facts are brought up to date with the scan's, so what was taken agrees at once.
    expect(await openConflicts(venue.id)).toEqual(['phone']);

    await compileVenueWiki(app.services.db, new Date());
    // What the owner took reads the same in the record; only the phone left out disagrees.
    const record = await factsBy(venue.id, 'OWNER_EDIT');
    expect(record).toEqual({ ...(await factsBy(venue.id, 'SCAN')), phone: '+351 22 999 0000' });
    expect(await openConflicts(venue.id)).toEqual(['phone']);

    // A later scan (the site moved on) replaces what the earlier one said; the owner takes its phone.
    const later = await site(microdataCafe());
    const second = await scanned(w, `${later.url}/`);
    await apply(w, {
      scanId: second.id,
      venueId: gid('Venue', venue.id),
      fields: ['PHONE'],
      replace: ['PHONE'],
    });
    expect(await factsBy(venue.id, 'SCAN')).toEqual({
      hours:
        'Mon 08:00–18:00; Tue 08:00–18:00; Wed 08:00–18:00; Thu 08:00–18:00; Fri 08:00–18:00; Sat 09:00–17:00; Sun 09:00–17:00',
      address: 'Oranienstraße 5, 10997 Berlin',
      phone: '+49301234567',
      website: `${later.url}/`,
      price: '$',
      cuisine: 'coffee',
    });
    await compileVenueWiki(app.services.db, new Date());
    // The phone now agrees; the email the new site does not give is no longer the scan's to say.
    expect(await openConflicts(venue.id)).toEqual(['address', 'cuisine', 'hours', 'price', 'website']);
  });
});

describe('progress', () => {
  const PROGRESS = `subscription($scanId: ID!) { scanProgress(scanId: $scanId) { id status lanes { lane state } } }`;
  type Event = {
    data?: { scanProgress: { id: string; status: string; lanes: { lane: string; state: string }[] } | null };
    errors?: { extensions?: { code?: string } }[];
  };

  /** Every event of the stream until it ends or `until` says stop; `stop()` hangs up. */
  async function listen<E = Event>(scanId: string, token: string, document = PROGRESS) {
    const abort = new AbortController();
    const response = await openSse(app, document, { scanId }, token, abort.signal);
    const events: E[] = [];
    const done = (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of response.body!) {
          buffer += decoder.decode(chunk, { stream: true });
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const event = parseSseEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (event.event === 'next') events.push(JSON.parse(event.data) as E);
          }
        }
      } catch {
        // hung up
      }
    })();
    return { events, stop: () => abort.abort(), done };
  }

  /** Waits until this process's Redis subscriber listens on the scan's topic. */
  async function listening(scanId: string) {
    const client = app.services.redis.client;
    if (!client) return;
    const channel = `${app.services.redis.keyPrefix}ps:${scanTopic(scanId)}`;
    await waitFor(
      async () => Number(((await client.pubsub('NUMSUB', channel)) as [string, number])[1]) > 0,
      'the scan subscription',
    );
  }

  it('publishes each step of the scan to its owners, and refuses staff', async () => {
    const w = await world();
    const s = await site(microdataCafe());
    const res = await startScan(w, `${s.url}/`);
    const started = member(res.data?.scanBusiness, 'ScanBusinessPayload', res);
    const scanId = started.scan.id;

    const staff = await person(app, w.organizationId, 'STAFF');
    const refused = await listen(scanId, staff.token);
    await refused.done;
    expect(refused.events[0]?.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const feed = await listen(scanId, w.owner.token);
    await listening(rawId(scanId));
    await runDueJobs(app, ['business-scan']);
    const last = await waitFor(
      async () => feed.events.find((e) => e.data?.scanProgress?.status === 'DONE'),
      'the DONE event',
    );
    feed.stop();
    const statuses = feed.events.map((e) => e.data?.scanProgress?.status);
    expect(statuses[0]).toBe('RUNNING');
    expect(statuses.at(-1)).toBe('DONE');
    expect(last.data?.scanProgress).toEqual({
      id: scanId,
      status: 'DONE',
      lanes: [
        { lane: 'WEBSITE', state: 'DONE' },
        { lane: 'STRUCTURED_DATA', state: 'DONE' },
        { lane: 'CLASSIFICATION', state: 'SKIPPED' },
      ],
    });
  });

  // Everything a step shows, and what only a finished scan has: a step delivered late must show
  // itself, not the scan as it is by the time it arrives.
  const STEP = `subscription($scanId: ID!) {
    scanProgress(scanId: $scanId) {
      id status startedAt finishedAt failureCode failureReason
      lanes { lane state detail } report { structuredData } draft { field }
    }
  }`;
  type Step = {
    id: string;
    status: string;
    startedAt: string | null;
    finishedAt: string | null;
    failureCode: string | null;
    failureReason: string | null;
    lanes: { lane: string; state: string; detail: string | null }[];
    report: { structuredData: string | null } | null;
    draft: { field: string }[] | null;
  };
  type StepEvent = { data?: { scanProgress: Step | null }; errors?: unknown[] };
  const states = (step: Step) => [step.status, ...step.lanes.map((l) => `${l.lane}:${l.state}`)];

  /** The app's services with a pub/sub that holds what is published until `release()` sends it, in order. */
  function heldPublishing() {
    const { pubsub } = app.services;
    const held: [string, ScanProgressPayload][] = [];
    return {
      held,
      services: {
        ...app.services,
        pubsub: {
          ...pubsub,
          publish: async (topic: string, payload: unknown) =>
            void held.push([topic, payload as ScanProgressPayload]),
        },
      },
      async release() {
        for (const [topic, payload] of held.splice(0)) await pubsub.publish(topic, payload);
      },
    };
  }

  it('delivers each step as it stood, even once the scan has finished before any is delivered', async () => {
    const w = await world();
    const s = await site(plainTextBar());
    anthropic.enqueue({
      body: anthropicMessage({
        text: '{"category":"PUB","cuisines":["british"],"priceLevel":2,"description":"A harbour pub."}',
      }),
    });
    const res = await startScan(w, `${s.url}/`);
    const scanId = member(res.data?.scanBusiness, 'ScanBusinessPayload', res).scan.id;
    const feed = await listen<StepEvent>(scanId, w.owner.token, STEP);
    await listening(rawId(scanId));

    // The whole scan runs, and is DONE in the database, before the subscriber hears of any step.
    const publishing = heldPublishing();
    await runDueJobs(app, ['business-scan'], publishing.services);
    const row = await app.services.db.businessScan.findUniqueOrThrow({ where: { id: rawId(scanId) } });
    expect(row.status).toBe('DONE');
    expect(publishing.held.map(([topic]) => topic)).toEqual(Array(4).fill(scanTopic(rawId(scanId))));
    expect(feed.events).toEqual([]);

    await publishing.release();
    await waitFor(
      async () => feed.events.find((e) => e.data?.scanProgress?.status === 'DONE'),
      'the DONE event',
    );
    feed.stop();
    expect(
      feed.events.every((e) => !e.errors),
      JSON.stringify(feed.events),
    ).toBe(true);
    const steps = feed.events.map((e) => e.data!.scanProgress!);
    expect(steps.map(states)).toEqual([
      ['RUNNING', 'WEBSITE:RUNNING', 'STRUCTURED_DATA:PENDING', 'CLASSIFICATION:PENDING'],
      ['RUNNING', 'WEBSITE:DONE', 'STRUCTURED_DATA:RUNNING', 'CLASSIFICATION:PENDING'],
      ['RUNNING', 'WEBSITE:DONE', 'STRUCTURED_DATA:DONE', 'CLASSIFICATION:RUNNING'],
      ['DONE', 'WEBSITE:DONE', 'STRUCTURED_DATA:DONE', 'CLASSIFICATION:DONE'],
    ]);
    // A step under way had no report, draft or end yet, though the row has them by now.
    const startedAt = row.startedAt!.toISOString();
    for (const step of steps.slice(0, 3)) {
      expect(step).toMatchObject({
        id: scanId,
        startedAt,
        finishedAt: null,
        failureCode: null,
        failureReason: null,
        report: null,
        draft: null,
      });
    }
    expect(steps[1]!.lanes[0]!.detail).toBe('1 page read');
    expect(steps[3]).toMatchObject({
      id: scanId,
      startedAt,
      finishedAt: row.finishedAt!.toISOString(),
      report: { structuredData: null },
      lanes: expect.arrayContaining([{ lane: 'CLASSIFICATION', state: 'DONE', detail: 'Classified as pub' }]),
    });
    expect(steps[3]!.draft).toEqual(expect.arrayContaining([{ field: 'CATEGORY' }]));
  });

  it('announces once a scan failed by its job, as it stood when it failed', async () => {
    const w = await world();
    const res = await startScan(w, 'https://example.com/');
    const scanId = member(res.data?.scanBusiness, 'ScanBusinessPayload', res).scan.id;
    const feed = await listen<StepEvent>(scanId, w.owner.token, STEP);
    await listening(rawId(scanId));

    // The job's last attempt gave up on an error of ours (twice over: the second finds it FAILED).
    const publishing = heldPublishing();
    const deps = { db: app.services.db, now: app.services.now, publish: publishing.services.pubsub.publish };
    await failScan(deps, rawId(scanId));
    await failScan(deps, rawId(scanId));
    expect(publishing.held).toHaveLength(1);
    await publishing.release();
    const failed = await waitFor(
      async () => feed.events.find((e) => e.data?.scanProgress?.status === 'FAILED'),
      'the FAILED event',
    );
    feed.stop();
    expect(failed.data!.scanProgress).toMatchObject({
      status: 'FAILED',
      failureCode: 'internal',
      failureReason: 'The scan stopped on an error of ours; please try again later',
      report: null,
      draft: null,
    });
    expect(states(failed.data!.scanProgress!)).toEqual([
      'FAILED',
      'WEBSITE:PENDING',
      'STRUCTURED_DATA:PENDING',
      'CLASSIFICATION:PENDING',
    ]);
  });

  it('fails a scan left RUNNING with no job coming (its last attempt’s worker died), and no other', async () => {
    const w = await world();
    const db = app.services.db;
    const started = async () => {
      const res = await startScan(w, 'https://example.com/');
      const id = rawId(member(res.data?.scanBusiness, 'ScanBusinessPayload', res).scan.id);
      const longAgo = new Date(
        Date.now() - app.services.config.scan.totalTimeoutMs - ABANDONED_SCAN_AFTER_MS - 60_000,
      );
      await db.businessScan.update({ where: { id }, data: { status: 'RUNNING', startedAt: longAgo } });
      return id;
    };
    // Its job failed for good: the recovery found its worker dead on the last attempt.
    const dead = await started();
    await db.$executeRaw`
      UPDATE graphile_worker._private_jobs SET attempts = max_attempts WHERE key = ${`business-scan:${dead}`}`;
    // Another still has its job coming (the queue is only busy).
    const waiting = await started();
    const deps = {
      db,
      now: app.services.now,
      totalTimeoutMs: app.services.config.scan.totalTimeoutMs,
      publish: app.services.pubsub.publish,
    };
    expect(await failAbandonedScans(deps)).toEqual([dead]);
    expect(await db.businessScan.findUniqueOrThrow({ where: { id: dead } })).toMatchObject({
      status: 'FAILED',
      failureCode: 'internal',
    });
    expect((await db.businessScan.findUniqueOrThrow({ where: { id: waiting } })).status).toBe('RUNNING');
    // Run again: nothing more.
    expect(await failAbandonedScans(deps)).toEqual([]);
  });
});
