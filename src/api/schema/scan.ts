import { MANAGERS } from '../../domain/organizations/access.ts';
import type { DraftField, ScanReport, Score } from '../../domain/scan/report.ts';
import { LANES, lanesOf, type ScanProgressPayload, scanAtStep, scanTopic } from '../../domain/scan/scans.ts';
import { NotAllowedError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import { idCursors } from '../cursors.ts';
import { allowedInRole, REVOKED, stillInRole, whileAllowed } from './booking.ts';
import { describedEnum } from './enums.ts';
import { mutation } from './mutation.ts';
import { Organization } from './organization.ts';
import { Venue } from './venue.ts';

const managers = (organizationId: string) => ({ orgRole: { organizationId, roles: MANAGERS } });
/** An unknown scan has no organisation: only platform admins pass, and they then get NotFound. */
const managersOf = (organizationId: string | null) =>
  organizationId ? managers(organizationId) : { platformAdmin: true as const };

const ScanStatus = describedEnum('ScanStatus', {
  QUEUED: 'Waiting for a worker.',
  RUNNING: 'Reading the website.',
  DONE: 'Finished: the report and the draft are ready.',
  FAILED: 'Stopped: `failureReason` says why.',
});

const ScanLaneName = describedEnum('ScanLaneName', {
  WEBSITE: 'Fetching the home page and a few same-site pages (menu, contact, about).',
  STRUCTURED_DATA:
    'Reading schema.org JSON-LD and microdata, with the page’s own links and meta as fallback.',
  CLASSIFICATION: 'Asking the cheap model what kind of place it is, only when structured data is missing.',
});

const ScanLaneState = describedEnum('ScanLaneState', {
  PENDING: 'Not started.',
  RUNNING: 'Under way.',
  DONE: 'Finished.',
  SKIPPED: 'Not needed, or not possible (`detail` says why).',
  FAILED: 'Failed (`detail` says why); other lanes go on where they can.',
});

const LANE_ENUM = {
  website: 'WEBSITE',
  structuredData: 'STRUCTURED_DATA',
  classification: 'CLASSIFICATION',
} as const;

const ScanLane = builder.simpleObject('ScanLane', {
  fields: (t) => ({
    lane: t.field({ type: ScanLaneName }),
    state: t.field({ type: ScanLaneState }),
    detail: t.string({ nullable: true }),
  }),
});

const ScanScoreKind = describedEnum('ScanScoreKind', {
  COMPLETENESS: 'How complete a listing the website gives (name, address, hours, menu, …).',
  CONTACTABILITY: 'How easily guests can reach and book the business.',
  STRUCTURED_DATA: 'How well the website describes itself in schema.org structured data.',
});
const SCORE_ENUM = {
  completeness: 'COMPLETENESS',
  contactability: 'CONTACTABILITY',
  structuredData: 'STRUCTURED_DATA',
} as const;

const ScanScore = builder.objectRef<Score>('ScanScore').implement({
  fields: (t) => ({
    kind: t.field({ type: ScanScoreKind, resolve: (s) => SCORE_ENUM[s.kind] }),
    score: t.exposeInt('score', { description: '0 to 100.' }),
    suggestions: t.exposeStringList('suggestions', {
      description: 'What would raise the score, most useful first.',
    }),
  }),
});

const ScanPage = builder.objectRef<ScanReport['pages'][number]>('ScanPage').implement({
  fields: (t) => ({ url: t.exposeString('url'), note: t.exposeString('note') }),
});

const ScanReportType = builder.objectRef<ScanReport>('ScanReport').implement({
  description: 'What the scan found and how the website scores.',
  fields: (t) => ({
    scores: t.field({ type: [ScanScore], resolve: (r) => r.scores }),
    pages: t.field({ type: [ScanPage], description: 'The pages read or skipped.', resolve: (r) => r.pages }),
    structuredData: t.string({
      nullable: true,
      description:
        '`json-ld` or `microdata` when the website describes the business in schema.org; null otherwise.',
      resolve: (r) => r.structuredData,
    }),
    businessTypes: t.exposeStringList('businessTypes', {
      description: 'schema.org types (Restaurant, BarOrPub, …).',
    }),
    menuLinks: t.exposeStringList('menuLinks', {
      description: 'Menu pages and PDFs linked from the website.',
    }),
    phones: t.exposeStringList('phones', { description: 'Numbers of tel: links.' }),
    emails: t.exposeStringList('emails', { description: 'Addresses of mailto: links.' }),
    profiles: t.exposeStringList('profiles', { description: 'Social profiles (sameAs and links).' }),
    reservationsUrl: t.string({ nullable: true, resolve: (r) => r.reservationsUrl }),
  }),
});

const ScanDraftFieldName = describedEnum('ScanDraftFieldName', {
  NAME: 'The venue’s name.',
  DESCRIPTION: 'Its description.',
  CATEGORY: 'Restaurant, bar, café, …',
  CUISINES: 'Cuisines served.',
  PRICE_LEVEL: '1 (inexpensive) to 4.',
  ADDRESS_LINE1: 'Street address.',
  CITY: 'City.',
  REGION: 'Region or state.',
  POSTAL_CODE: 'Postal code.',
  COUNTRY_CODE: 'Two-letter country code.',
  LOCATION: 'Latitude and longitude.',
  PHONE: 'International phone number.',
  EMAIL: 'Email address.',
  WEBSITE: 'The website scanned (where it ended up).',
  SOCIAL_HANDLES: 'Instagram, Facebook, TikTok, X, Threads handles.',
  OPENING_HOURS: 'The weekly opening hours.',
});

const FROM_ENUM = {
  NAME: 'name',
  DESCRIPTION: 'description',
  CATEGORY: 'category',
  CUISINES: 'cuisines',
  PRICE_LEVEL: 'priceLevel',
  ADDRESS_LINE1: 'addressLine1',
  CITY: 'city',
  REGION: 'region',
  POSTAL_CODE: 'postalCode',
  COUNTRY_CODE: 'countryCode',
  LOCATION: 'location',
  PHONE: 'phone',
  EMAIL: 'email',
  WEBSITE: 'website',
  SOCIAL_HANDLES: 'socialHandles',
  OPENING_HOURS: 'openingHours',
} as const;
const TO_ENUM = Object.fromEntries(Object.entries(FROM_ENUM).map(([name, field]) => [field, name])) as Record<
  string,
  keyof typeof FROM_ENUM
>;
const toEnum = (field: string) => TO_ENUM[field]!;

const ScanDraftField = builder.objectRef<DraftField>('ScanDraftField').implement({
  description: 'One venue field the scan found, to review before applying.',
  fields: (t) => ({
    field: t.field({ type: ScanDraftFieldName, resolve: (d) => toEnum(d.field) }),
    display: t.exposeString('display', { description: 'The value, for a person to read.' }),
    value: t.string({
      description: 'The value as JSON, in the shape the venue mutations take.',
      resolve: (d) => JSON.stringify(d.value),
    }),
    source: t.exposeString('source', { description: '`json-ld`, `microdata`, `page` or `classification`.' }),
  }),
});

export const Scan = builder.prismaNode('BusinessScan', {
  variant: 'Scan',
  id: { field: 'id' },
  description: "A scan of a business's website: progress by lane, then a report and an onboarding draft.",
  select: { id: true, organizationId: true },
  authScopes: (scan) => managers(scan.organizationId),
  fields: (t) => ({
    url: t.exposeString('url', { description: 'The address the scan starts from.' }),
    status: t.field({ type: ScanStatus, select: { status: true }, resolve: (s) => s.status }),
    lanes: t.field({
      type: [ScanLane],
      select: { lanes: true },
      resolve: (s) => {
        const lanes = lanesOf(s);
        return LANES.map((lane) => ({ lane: LANE_ENUM[lane], ...lanes[lane] }));
      },
    }),
    failureReason: t.exposeString('failureReason', {
      nullable: true,
      description: 'Why the scan failed, for a person.',
    }),
    failureCode: t.exposeString('failureCode', {
      nullable: true,
      description:
        'The refusal: not_http, private_address, unresolved, robots, too_large, timeout, too_many_redirects, not_html, http_error, network, internal.',
    }),
    report: t.field({
      type: ScanReportType,
      nullable: true,
      select: { report: true },
      resolve: (s) => (s.report as ScanReport | null) ?? null,
    }),
    draft: t.field({
      type: [ScanDraftField],
      nullable: true,
      select: { draft: true },
      resolve: (s) => (s.draft as DraftField[] | null) ?? null,
    }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    organization: t.relation('organization'),
  }),
});

builder.prismaObjectField(Organization, 'scans', (t) =>
  t.relatedConnection('businessScans', {
    type: Scan,
    description: 'Website scans, newest first. Owners and admins.',
    authScopes: (org) => managers(org.id),
    cursor: 'id',
    query: (args) => idCursors(args, { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] }),
    totalCount: true,
  }),
);

const ScanPayload = builder.simpleObject('ScanBusinessPayload', {
  fields: (t) => ({ scan: t.field({ type: Scan }) }),
});

mutation('scanBusiness', {
  description:
    "Starts a scan of the organisation's website (the `business-scan` job); follow it with `scanProgress` or by reading the Scan. Owners and admins.",
  input: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    url: t.string({ description: 'The website, such as https://example.com.' }),
  }),
  payload: ScanPayload,
  authScopes: (input) => managers(input.organizationId.id),
  resolve: async (input, ctx) => {
    const scan = await ctx.domain.scan.scanBusiness(ctx.access, {
      organizationId: input.organizationId.id,
      url: input.url,
    });
    return { scan: await ctx.domain.scan.findScanOrThrow(scan.id) };
  },
});

const ApplyScanDraftPayload = builder.simpleObject('ApplyScanDraftPayload', {
  fields: (t) => ({
    venue: t.field({ type: Venue }),
    applied: t.field({ type: [ScanDraftFieldName] }),
    agentSigningSecret: t.string({
      nullable: true,
      description:
        "A new venue's agent signing secret, shown this once; null when an existing venue was filled.",
    }),
  }),
});

mutation('applyScanDraft', {
  description:
    "Applies the chosen fields of a finished scan's draft to a new venue (without `venueId`) or to one of the organisation's venues. A field that would change a value the venue already has must also be listed in `replace`. Owners and admins.",
  input: (t) => ({
    scanId: t.globalID({ for: Scan }),
    venueId: t.globalID({ for: Venue, required: false }),
    fields: t.field({ type: [ScanDraftFieldName] }),
    replace: t.field({ type: [ScanDraftFieldName], required: false }),
    timeZone: t.string({
      required: false,
      description: 'The new venue’s IANA time zone; required without venueId.',
    }),
  }),
  payload: ApplyScanDraftPayload,
  authScopes: async (input, ctx) => managersOf(await ctx.domain.scan.organizationOfScan(input.scanId.id)),
  resolve: async (input, ctx) => {
    const result = await ctx.domain.scan.applyScanDraft(ctx.access, {
      scanId: input.scanId.id,
      venueId: input.venueId?.id ?? null,
      fields: input.fields.map((f) => FROM_ENUM[f]),
      replace: input.replace?.map((f) => FROM_ENUM[f]) ?? null,
      timeZone: input.timeZone ?? null,
    });
    return { ...result, applied: result.applied.map(toEnum) };
  },
});

builder.subscriptionField('scanProgress', (t) =>
  t.prismaField({
    type: Scan,
    description:
      'The scan each time its status or a lane changes, in order, each event showing the scan as it stood at that step (even when it arrives after later steps). Owners and admins.',
    args: { scanId: t.arg.globalID({ for: Scan, required: true }) },
    authScopes: async (_root, args, ctx) =>
      managersOf(await ctx.domain.scan.organizationOfScan(args.scanId.id)),
    subscribe: (_root, args, ctx) =>
      whileAllowed(
        ctx.services.pubsub.subscribe(scanTopic(args.scanId.id)),
        allowedInRole(
          ctx,
          `scan:${args.scanId.id}`,
          () => ctx.domain.scan.organizationOfScan(args.scanId.id),
          async () => stillInRole(ctx, await ctx.domain.scan.organizationOfScan(args.scanId.id), MANAGERS),
        ),
      ),
    resolve: async (query, payload, _args, ctx) => {
      if (payload === REVOKED) throw new NotAllowedError();
      const step = payload as ScanProgressPayload;
      // The step the event announces, not the row as it is now: later steps may be saved already.
      return scanAtStep(await ctx.domain.scan.findScanOrThrow(step.scanId, query), step);
    },
  }),
);
