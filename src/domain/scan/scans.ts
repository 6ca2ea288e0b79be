/**
 * Business scans: an owner or admin names their website, the `business-scan` job reads it (safely,
 * src/integrations/web/fetcher.ts), and the scan ends DONE with a report and an onboarding draft,
 * or FAILED with the reason a person can act on. Three lanes, each with its own state:
 *
 * - website: the home page, then up to SCAN_MAX_PAGES - 1 same-site pages it links to (menu,
 *   contact, about); a refusal of the home page fails the scan, of a later page is noted;
 * - structuredData: schema.org JSON-LD or microdata, with the page's own links and meta as
 *   fallback (extract.ts, business.ts);
 * - classification: the cheap model, only when the pages carry no structured business data; its
 *   answer is validated, and an invalid or missing answer fails the lane, not the scan.
 *
 * Each change of state is published on `scanTopic(scanId)` for the `scanProgress` subscription,
 * with the step itself (`ScanProgressPayload`), so a late delivery still shows that step.
 * The job is safe to run twice: a scan already DONE or FAILED is left as it is, and one found
 * RUNNING (a worker died) is read again from the start.
 */
import { z } from 'zod';
import { type BusinessScan, Prisma } from '../../generated/prisma/client.ts';
import {
  createWebFetcher,
  FetchRefusedError,
  type WebFetcherOptions,
} from '../../integrations/web/fetcher.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';
import { defineTask, enqueue, noJobComing } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import type { LlmGateway } from '../conversation/messages.ts';
import { type Access, MANAGERS } from '../organizations/access.ts';
import { businessFacts } from './business.ts';
import { classifyBusiness } from './classify.ts';
import { extractPage, type PageFacts } from './extract.ts';
import { buildDraft, type Classification, type ScanReport, scoreScan } from './report.ts';

export const LANES = ['website', 'structuredData', 'classification'] as const;
export type LaneName = (typeof LANES)[number];
export type LaneState = 'PENDING' | 'RUNNING' | 'DONE' | 'SKIPPED' | 'FAILED';
export type Lanes = Record<LaneName, { state: LaneState; detail: string | null }>;

export const businessScanTask = defineTask({
  name: 'business-scan',
  schema: z.object({ scanId: z.uuid() }),
  maxAttempts: 3,
});

/** The topic a scan's progress is published on; the `scanProgress` subscription listens to it. */
export const scanTopic = (scanId: string) => `business-scan:${scanId}`;

/**
 * One step of a scan, published once its row is saved: the columns the job writes as it goes, as
 * they stood at that step. A subscriber is answered from this snapshot rather than from the row as
 * it is when the event reaches it: a busy process delivers late, and by then the row may already
 * be DONE, which would hide every step before it.
 */
export interface ScanProgressPayload {
  scanId: string;
  status: BusinessScan['status'];
  lanes: Lanes;
  startedAt: string | null;
  finishedAt: string | null;
  failureCode: string | null;
  failureReason: string | null;
  /** When it was published. */
  at: string;
}

/** The step `scan` (just saved) is at, to publish. */
export function progressOf(scan: BusinessScan, at: Date): ScanProgressPayload {
  return {
    scanId: scan.id,
    status: scan.status,
    lanes: lanesOf(scan),
    startedAt: scan.startedAt?.toISOString() ?? null,
    finishedAt: scan.finishedAt?.toISOString() ?? null,
    failureCode: scan.failureCode,
    failureReason: scan.failureReason,
    at: at.toISOString(),
  };
}

/**
 * The scan as it stood at `step`: the row read when the event is delivered, for what a scan never
 * changes (its address, organisation, creation), with the step's progress laid over it. The report
 * and the draft are written once, with DONE, and never change after: a step before DONE had
 * neither, a DONE step has the row's.
 *
 * A payload with no lanes was published by a process of an earlier version (during a deploy): it
 * carries no step, and the row answers as it is.
 */
export function scanAtStep<Row extends BusinessScan>(row: Row, step: ScanProgressPayload): Row {
  if (!step.lanes) return row;
  return {
    ...row,
    status: step.status,
    lanes: step.lanes as unknown as Prisma.JsonValue,
    startedAt: step.startedAt === null ? null : new Date(step.startedAt),
    finishedAt: step.finishedAt === null ? null : new Date(step.finishedAt),
    failureCode: step.failureCode,
    failureReason: step.failureReason,
    ...(step.status === 'DONE' ? {} : { report: null, draft: null }),
  };
}

const initialLanes: Lanes = {
  website: { state: 'PENDING', detail: null },
  structuredData: { state: 'PENDING', detail: null },
  classification: { state: 'PENDING', detail: null },
};

/** The lanes of a stored scan, every lane present. */
export function lanesOf(scan: Pick<BusinessScan, 'lanes'>): Lanes {
  return { ...initialLanes, ...((scan.lanes ?? {}) as Partial<Lanes>) };
}

/** The URL a scan starts from: http(s), without credentials; a bare host gets https://. */
export function parseScanUrl(raw: string): string {
  const trimmed = raw.trim();
  if (trimmed.length > 2000) throw new ValidationError('A web address is at most 2,000 characters', 'url');
  const withScheme = /^[a-z][a-z0-9+.-]*:/i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ValidationError('Enter your website’s address, such as https://example.com', 'url');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ValidationError('Only http and https websites can be scanned', 'url');
  }
  if (url.username || url.password) {
    throw new ValidationError('A web address cannot carry a user name or password', 'url');
  }
  url.hash = '';
  return url.href;
}

/** Starts a scan of an organisation's website. Owners and admins (and platform admins). */
export async function scanBusiness(
  db: Db,
  access: Access,
  input: { url: string; organizationId: string },
): Promise<BusinessScan> {
  if (!z.uuid().safeParse(input.organizationId).success) throw new NotFoundError('No such organisation');
  await access.require(input.organizationId, MANAGERS);
  const url = parseScanUrl(input.url);
  const requestedById = access.requireUserId();
  return db.$transaction(async (tx) => {
    const scan = await tx.businessScan.create({
      data: {
        organizationId: input.organizationId,
        requestedById,
        url,
        lanes: initialLanes as unknown as Prisma.InputJsonValue,
      },
    });
    // In the same transaction: a scan row never waits for a job that was not added.
    await enqueue(tx, businessScanTask, { scanId: scan.id }, { jobKey: `business-scan:${scan.id}` });
    return scan;
  });
}

export async function organizationOfScan(db: DbOrTx, scanId: string): Promise<string | null> {
  if (!z.uuid().safeParse(scanId).success) return null;
  const scan = await db.businessScan.findUnique({ where: { id: scanId }, select: { organizationId: true } });
  return scan?.organizationId ?? null;
}

/** A scan the caller's organisation owns (owners and admins), or NotFoundError. */
export async function requireScan(db: DbOrTx, access: Access, scanId: string): Promise<BusinessScan> {
  const scan = z.uuid().safeParse(scanId).success
    ? await db.businessScan.findUnique({ where: { id: scanId } })
    : null;
  if (!scan || !(await access.has(scan.organizationId, MANAGERS))) throw new NotFoundError('No such scan');
  return scan;
}

export interface ScanRunDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  /** The fetcher's guards (SCAN_*), and how much one scan reads. */
  web: WebFetcherOptions;
  maxPages: number;
  totalTimeoutMs: number;
  /** The model gateway, or undefined when no model is configured (classification is skipped). */
  llm: LlmGateway | undefined;
  publish: (topic: string, payload: ScanProgressPayload) => Promise<void>;
}

/** The `business-scan` job's work (see the top of this file). */
export async function runScan(deps: ScanRunDeps, scanId: string): Promise<BusinessScan | null> {
  const { db } = deps;
  const found = await db.businessScan.findUnique({ where: { id: scanId } });
  if (!found || found.status === 'DONE' || found.status === 'FAILED') return found;
  const lanes: Lanes = structuredClone(initialLanes);

  const save = async (data: Prisma.BusinessScanUpdateInput) => {
    const scan = await db.businessScan.update({
      where: { id: scanId },
      data: { ...data, lanes: lanes as unknown as Prisma.InputJsonValue },
    });
    // A lost announcement must not fail the scan: the scan itself is saved.
    await deps
      .publish(scanTopic(scanId), progressOf(scan, deps.now()))
      .catch((error) =>
        deps.logger.warn({ err: error, 'scan.id': scanId }, 'could not publish scan progress'),
      );
    return scan;
  };

  lanes.website = { state: 'RUNNING', detail: null };
  await save({ status: 'RUNNING', startedAt: deps.now(), failureReason: null, failureCode: null });

  // --- website ---
  const fetcher = createWebFetcher(deps.web);
  const signal = AbortSignal.timeout(deps.totalTimeoutMs);
  const pages: PageFacts[] = [];
  const notes: ScanReport['pages'] = [];
  let home: PageFacts;
  try {
    const page = await fetcher.fetchPage(found.url, { signal });
    home = extractPage(page.body, page.url);
    pages.push(home);
    notes.push({ url: page.url, note: `read (${page.bytes.toLocaleString('en')} bytes)` });
  } catch (error) {
    if (!(error instanceof FetchRefusedError)) throw error;
    lanes.website = { state: 'FAILED', detail: error.message };
    lanes.structuredData = { state: 'SKIPPED', detail: 'The website could not be read' };
    lanes.classification = { state: 'SKIPPED', detail: 'The website could not be read' };
    deps.logger.info({ 'scan.id': scanId, 'scan.refusal': error.code }, 'scan refused');
    return save({
      status: 'FAILED',
      failureReason: error.message,
      failureCode: error.code,
      finishedAt: deps.now(),
    });
  }
  const queue = [...home.nextPages];
  const seen = new Set([found.url, home.url]);
  // Pages that cannot be read count too: a home page of a thousand dead links is tried a few times,
  // not a thousand (each a request from us, and a line of the report).
  let tried = 0;
  while (pages.length < deps.maxPages && tried < deps.maxPages * 2 && queue.length > 0 && !signal.aborted) {
    const next = queue.shift()!;
    if (seen.has(next)) continue;
    seen.add(next);
    tried += 1;
    try {
      const page = await fetcher.fetchPage(next, { signal });
      pages.push(extractPage(page.body, page.url));
      notes.push({ url: page.url, note: `read (${page.bytes.toLocaleString('en')} bytes)` });
    } catch (error) {
      if (!(error instanceof FetchRefusedError)) throw error;
      notes.push({ url: next, note: `skipped: ${error.message}` });
    }
  }
  lanes.website = { state: 'DONE', detail: `${pages.length} page${pages.length === 1 ? '' : 's'} read` };
  lanes.structuredData = { state: 'RUNNING', detail: null };
  await save({});

  // --- structured data ---
  const facts = businessFacts(pages);
  const broken = pages.reduce((sum, p) => sum + p.brokenJsonLd, 0);
  lanes.structuredData = {
    state: 'DONE',
    detail: facts.structuredSource
      ? `${facts.types.join(', ')} found as ${facts.structuredSource === 'json-ld' ? 'JSON-LD' : 'microdata'}`
      : 'No schema.org business data: read from the page itself',
  };

  // --- classification ---
  let classification: Classification | null = null;
  if (facts.structuredSource) {
    lanes.classification = { state: 'SKIPPED', detail: 'The structured data was enough' };
  } else if (!deps.llm) {
    lanes.classification = { state: 'SKIPPED', detail: 'No language model is configured' };
  } else {
    lanes.classification = { state: 'RUNNING', detail: null };
    await save({});
    const outcome = await classifyBusiness(deps.llm, {
      organizationId: found.organizationId,
      url: home.url,
      title: home.title,
      description: home.metaDescription ?? home.openGraph.description,
      text: pages
        .map((p) => p.text)
        .join('\n')
        .slice(0, 6000),
    });
    if (outcome.ok) {
      classification = outcome.classification;
      lanes.classification = {
        state: 'DONE',
        detail: `Classified as ${classification.category.toLowerCase()}`,
      };
    } else {
      lanes.classification = { state: 'FAILED', detail: outcome.reason };
      deps.logger.warn(
        {
          'scan.id': scanId,
          'scan.classification': outcome.reason,
          ...(outcome.cause ? { err: outcome.cause } : {}),
        },
        'scan classification failed',
      );
    }
  }

  const report: ScanReport = {
    scores: scoreScan(facts, broken),
    pages: notes,
    structuredData: facts.structuredSource,
    businessTypes: facts.types,
    menuLinks: [...new Set([...(facts.menuUrl ? [facts.menuUrl] : []), ...facts.menuLinks])],
    phones: facts.phones,
    emails: facts.emails,
    profiles: [...new Set([...facts.sameAs, ...facts.socialLinks])],
    reservationsUrl: facts.reservationsUrl,
  };
  const draft = buildDraft(facts, home.url, classification);
  return save({
    status: 'DONE',
    report: report as unknown as Prisma.InputJsonValue,
    draft: draft as unknown as Prisma.InputJsonValue,
    finishedAt: deps.now(),
  });
}

/** Marks a scan FAILED after its job gave up on an error of ours (the database, a bug). */
export async function failScan(
  deps: Pick<ScanRunDeps, 'db' | 'publish' | 'now'>,
  scanId: string,
): Promise<void> {
  const [scan] = await deps.db.businessScan.updateManyAndReturn({
    where: { id: scanId, status: { in: ['QUEUED', 'RUNNING'] } },
    data: {
      status: 'FAILED',
      failureCode: 'internal',
      failureReason: 'The scan stopped on an error of ours; please try again later',
      finishedAt: deps.now(),
    },
  });
  if (scan) await deps.publish(scanTopic(scanId), progressOf(scan, deps.now()));
}

/** How long past its whole deadline a scan with no job coming waits before it is failed. */
export const ABANDONED_SCAN_AFTER_MS = 10 * 60_000;

/**
 * Fails the scans that will never finish: QUEUED or RUNNING past their whole deadline (and a
 * margin) with no job coming for them, because the worker running their last attempt died (its
 * job is then FAILED by the recovery, and the handler's own `failScan` never ran) or the job was
 * removed by hand. Their owners are told, as for any failed scan. Run every minute by the outbox
 * sweep's task; at most 100 a run. Returns their ids.
 */
export async function failAbandonedScans(
  deps: Pick<ScanRunDeps, 'db' | 'publish' | 'now' | 'totalTimeoutMs'>,
): Promise<string[]> {
  const before = new Date(deps.now().getTime() - deps.totalTimeoutMs - ABANDONED_SCAN_AFTER_MS);
  const abandoned = await deps.db.$queryRaw<{ id: string }[]>`
    SELECT s.id::text FROM business_scans AS s
    WHERE s.status IN ('QUEUED', 'RUNNING') AND coalesce(s.started_at, s.created_at) < ${before}
      AND ${noJobComing(Prisma.sql`'business-scan:' || s.id::text`)}
    LIMIT 100`;
  for (const { id } of abandoned) await failScan(deps, id);
  return abandoned.map((scan) => scan.id);
}

/** A scan as GraphQL loads it (the caller already allowed to read it), or throws. */
export function findScanOrThrow(db: DbOrTx, scanId: string, query: Prisma.BusinessScanDefaultArgs = {}) {
  return db.businessScan.findUniqueOrThrow({ ...query, where: { id: scanId } });
}
