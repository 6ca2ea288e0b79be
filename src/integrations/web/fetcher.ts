/**
 * Reading a public website on someone's say-so (a business scan): a typed client for "the web"
 * like the others in src/integrations, with the guards a server fetching URLs it was handed needs.
 *
 * - Only http and https, on the web's standard ports or the port of the first address read (the
 *   site's own): links and redirects to other ports are refused, so a page cannot have us knock
 *   on every port of another host.
 * - Every address the host resolves to must be public (src/platform/address-policy.ts), unless
 *   the allow-list names it; the socket connects to the address that was checked, so DNS
 *   rebinding cannot slip an internal address in between.
 * - Redirects are followed by hand, each hop checked again (scheme, addresses, robots.txt), at
 *   most `maxRedirects` of them.
 * - robots.txt is honoured under our user agent, once per origin (a 4xx robots.txt allows all,
 *   a 5xx or unreachable one forbids all, as the big crawlers do).
 * - A page is read as a stream and abandoned as soon as it passes `maxPageBytes`, so a 50 MB
 *   answer costs us `maxPageBytes`, not 50 MB; a Content-Length above the limit is refused
 *   before reading at all.
 * - Each request has a deadline, and the caller's signal (the scan's total deadline) stops
 *   everything.
 *
 * Every refusal is a FetchRefusedError with a `code` and a message a person can act on.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import robotsParserModule from 'robots-parser';
import {
  type AddressAllowList,
  AddressRefusedError,
  checkedLookup,
  resolveAllowed,
} from '../../platform/address-policy.ts';

export type FetchRefusalCode =
  | 'not_http'
  | 'private_address'
  | 'unresolved'
  | 'robots'
  | 'too_large'
  | 'timeout'
  | 'too_many_redirects'
  | 'not_html'
  | 'http_error'
  | 'network';

export class FetchRefusedError extends Error {
  override name = 'FetchRefusedError';
  readonly code: FetchRefusalCode;
  readonly url: string;
  constructor(code: FetchRefusalCode, url: string, message: string) {
    super(message);
    this.code = code;
    this.url = url;
  }
}

export interface WebFetcherOptions {
  allowed: AddressAllowList;
  /** Sent as `User-Agent` and matched against robots.txt groups. */
  userAgent: string;
  maxPageBytes: number;
  maxRedirects: number;
  pageTimeoutMs: number;
}

export interface FetchedPage {
  /** Where the page was found, after redirects. */
  url: string;
  status: number;
  contentType: string;
  body: string;
  bytes: number;
}

export interface WebFetcher {
  /**
   * Fetches an HTML page (or, with `accept: 'any'`, any text), following redirects, honouring
   * robots.txt. Throws FetchRefusedError.
   */
  fetchPage(url: string, options?: { signal?: AbortSignal; accept?: 'html' | 'any' }): Promise<FetchedPage>;
}

/** robots-parser is CommonJS whose typings declare the module oddly: its export is this function. */
const robotsParser = robotsParserModule as unknown as (
  url: string,
  contents: string,
) => { isAllowed(url: string, userAgent?: string): boolean | undefined };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const HTML_TYPES = ['text/html', 'application/xhtml+xml'];

interface RawAnswer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export function createWebFetcher(options: WebFetcherOptions): WebFetcher {
  /** Per origin: why robots.txt keeps our user agent from a page (null: it may read it). Kept for the fetcher's life (one scan). */
  const robotsByOrigin = new Map<string, Promise<(url: URL) => string | null>>();
  /** The port of the first address read (the site's own, when it names one); '' is the default. */
  let sitePort: string | null = null;

  function parseUrl(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new FetchRefusedError('not_http', raw, `${raw} is not a web address`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new FetchRefusedError(
        'not_http',
        raw,
        `Only http and https addresses can be read, not ${url.protocol}`,
      );
    }
    if (url.username || url.password) {
      throw new FetchRefusedError(
        'not_http',
        raw,
        'A web address with a user name or password cannot be read',
      );
    }
    // url.port is '' for the scheme's default port.
    sitePort ??= url.port;
    if (url.port !== '' && url.port !== sitePort) {
      throw new FetchRefusedError(
        'not_http',
        raw,
        `${url.host} is on port ${url.port}: only the site's own port and the web's standard ports are read`,
      );
    }
    url.hash = '';
    return url;
  }

  /** One request, no redirects followed; the body read up to the limit. */
  async function once(url: URL, signal: AbortSignal | undefined, maxBytes: number): Promise<RawAnswer> {
    // The scan's whole time may be spent already; an aborted signal fires no more events.
    if (signal?.aborted) throw timedOut(url);
    try {
      // An address literal never reaches the socket's lookup, so every host is checked here first.
      await resolveAllowed(url, options.allowed);
    } catch (error) {
      if (!(error instanceof AddressRefusedError)) throw error;
      throw error.reason === 'unresolved'
        ? new FetchRefusedError('unresolved', url.href, `${error.host} does not resolve to an address`)
        : new FetchRefusedError(
            'private_address',
            url.href,
            `${error.host} is not on the public internet (${error.message}), so it cannot be read`,
          );
    }
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<RawAnswer>((resolve, reject) => {
      let settled = false;
      const fail = (error: FetchRefusedError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        req.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(timedOut(url)), options.pageTimeoutMs);
      const onAbort = () => fail(timedOut(url));
      signal?.addEventListener('abort', onAbort, { once: true });
      const req = request(
        url,
        {
          method: 'GET',
          lookup: checkedLookup(url, options.allowed),
          headers: {
            'user-agent': `${options.userAgent}/1.0 (+business scan)`,
            accept: 'text/html,application/xhtml+xml,text/plain;q=0.8,*/*;q=0.5',
            'accept-encoding': 'identity',
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const declared = Number(res.headers['content-length']);
          if (!REDIRECTS.has(status) && Number.isFinite(declared) && declared > maxBytes) {
            fail(tooLarge(url, maxBytes));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            // Stop reading at the limit: the rest of a huge answer is never read.
            if (size > maxBytes) fail(tooLarge(url, maxBytes));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            resolve({ status, headers: res.headers, body: Buffer.concat(chunks) });
          });
          res.on('error', (error) => fail(networkError(url, error)));
        },
      );
      req.on('error', (error) => {
        if ((error as NodeJS.ErrnoException).code === 'EREFUSED') {
          fail(
            new FetchRefusedError('private_address', url.href, `${url.host} is not on the public internet`),
          );
        } else fail(networkError(url, error));
      });
      req.end();
    });
  }

  /** Follows redirects by hand, each hop's scheme, addresses and robots.txt checked again. */
  async function follow(
    raw: string,
    signal: AbortSignal | undefined,
    maxBytes: number,
    checkRobots: boolean,
  ): Promise<RawAnswer & { url: URL }> {
    let url = parseUrl(raw);
    for (let hop = 0; ; hop++) {
      const refusal = checkRobots ? await robotsRefusal(url, signal) : null;
      if (refusal) throw new FetchRefusedError('robots', url.href, refusal);
      const answer = await once(url, signal, maxBytes);
      const location = answer.headers.location;
      if (!REDIRECTS.has(answer.status) || !location) return { ...answer, url };
      if (hop >= options.maxRedirects) {
        throw new FetchRefusedError(
          'too_many_redirects',
          url.href,
          `${url.host} redirected more than ${options.maxRedirects} times`,
        );
      }
      // A Location that is no address at all is refused like any address we cannot read.
      url = parseUrl(URL.canParse(location, url) ? new URL(location, url).href : location);
    }
  }

  /** Why robots.txt keeps us from `url`, or null when it lets us read it. */
  function robotsRefusal(url: URL, signal: AbortSignal | undefined): Promise<string | null> {
    let rules = robotsByOrigin.get(url.origin);
    if (!rules) {
      rules = loadRobots(url.origin, signal);
      robotsByOrigin.set(url.origin, rules);
    }
    return rules.then((refusal) => refusal(url));
  }

  async function loadRobots(
    origin: string,
    signal: AbortSignal | undefined,
  ): Promise<(url: URL) => string | null> {
    const robotsUrl = `${origin}/robots.txt`;
    const host = new URL(origin).host;
    let answer: RawAnswer;
    try {
      // robots.txt's own redirects are followed (without asking robots.txt about itself).
      answer = await follow(robotsUrl, signal, 500_000, false);
    } catch (error) {
      if (!(error instanceof FetchRefusedError)) throw error;
      // An address refused, or the scan's time spent, is that refusal, not robots.txt's.
      if (['private_address', 'unresolved'].includes(error.code) || signal?.aborted) throw error;
      const reason = `${host}'s robots.txt could not be read (${error.message}), so the site is not read`;
      return () => reason;
    }
    if (answer.status >= 400 && answer.status < 500) return () => null;
    if (answer.status >= 500) {
      const reason = `${host}'s robots.txt answered ${answer.status}, so the site is not read until it answers`;
      return () => reason;
    }
    const robots = robotsParser(robotsUrl, answer.body.toString('utf8'));
    return (url) =>
      robots.isAllowed(url.href, options.userAgent) === false
        ? `${host}'s robots.txt asks ${options.userAgent} not to read ${url.pathname}`
        : null;
  }

  return {
    async fetchPage(raw, fetchOptions = {}) {
      const answer = await follow(raw, fetchOptions.signal, options.maxPageBytes, true);
      const href = answer.url.href;
      if (answer.status >= 400) {
        throw new FetchRefusedError(
          'http_error',
          href,
          `${answer.url.host} answered ${answer.status} for ${answer.url.pathname}`,
        );
      }
      const contentType = String(answer.headers['content-type'] ?? '').toLowerCase();
      const mediaType = contentType.split(';')[0]!.trim();
      if ((fetchOptions.accept ?? 'html') === 'html' && !HTML_TYPES.includes(mediaType)) {
        throw new FetchRefusedError(
          'not_html',
          href,
          `${href} is not a web page (${mediaType || 'no content type'})`,
        );
      }
      return {
        url: href,
        status: answer.status,
        contentType: mediaType,
        body: decode(answer.body, contentType),
        bytes: answer.body.length,
      };
    },
  };
}

function timedOut(url: URL): FetchRefusedError {
  return new FetchRefusedError('timeout', url.href, `${url.host} did not answer in time`);
}

function tooLarge(url: URL, maxBytes: number): FetchRefusedError {
  return new FetchRefusedError(
    'too_large',
    url.href,
    `${url.href} is larger than ${Math.round(maxBytes / 1000).toLocaleString('en')} kB, the most a scan reads of one page`,
  );
}

function networkError(url: URL, _error: Error): FetchRefusedError {
  // Not why (refused, reset, no route): a page's links must not learn us which ports answer.
  return new FetchRefusedError('network', url.href, `${url.host} could not be reached`);
}

/** The body in the charset the answer names, UTF-8 when it names none or one we do not know. */
function decode(body: Buffer, contentType: string): string {
  const charset = /charset=([^;]+)/.exec(contentType)?.[1]?.trim().replace(/"/g, '');
  try {
    return new TextDecoder(charset || 'utf-8').decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}
