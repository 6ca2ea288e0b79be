/**
 * Instagram images: the webhook's attachment URL is the reference (a signed Meta CDN link, such as
 * `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=…&signature=…`), fetched as it is, with
 * no token. Meta's CDN answers 403 or 404 once a link's signature has expired or the story is
 * gone, so both mean the image is gone. Only https links are fetched (plain http too outside
 * production, for loopback fakes), and only from Meta's CDN hosts (configured), redirects
 * included: the URL comes from a webhook body, and we fetch nothing anywhere else it may point.
 */

import { downloadImage, type MediaLimits } from '../media-download.ts';
import { type ChannelMediaLoader, MediaGoneError, MediaUnavailableError } from '../media-loader.ts';

export function instagramMediaLoader(
  options: MediaLimits & {
    /** The configured account names (the inbound account). */
    accounts: readonly string[];
    allowHttp: boolean;
    /** Hosts images may come from (`*.domain`: its subdomains), as in INSTAGRAM_MEDIA_HOSTS. */
    hosts: readonly string[];
  },
): ChannelMediaLoader {
  const accounts = new Set(options.accounts);
  const checkUrl = (url: URL) => {
    if (!mediaHostAllowed(url.hostname, options.hosts))
      throw new MediaGoneError(`Instagram: the image is not on Meta's CDN (${url.hostname})`);
  };
  return async (account, url) => {
    if (!accounts.has(account))
      throw new MediaUnavailableError(`no Instagram account named ${account} is configured`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new MediaGoneError('Instagram: the attachment has no usable URL');
    }
    const schemes = options.allowHttp ? ['https:', 'http:'] : ['https:'];
    if (!schemes.includes(parsed.protocol) || parsed.username || parsed.password)
      throw new MediaGoneError('Instagram: the attachment URL is not an https link');
    return downloadImage(parsed.href, {
      ...options,
      platform: 'Instagram',
      goneStatuses: [403, 404, 410],
      checkUrl,
    });
  };
}

/** Whether `hostname` is one of `hosts`, or a subdomain of a `*.domain` entry (never the domain). */
export function mediaHostAllowed(hostname: string, hosts: readonly string[]): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return hosts.some((pattern) =>
    pattern.startsWith('*.')
      ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1
      : host === pattern,
  );
}
