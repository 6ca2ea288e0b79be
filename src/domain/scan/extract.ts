/**
 * What one HTML page says about a business, read with cheerio (an HTML parser; never regular
 * expressions over markup): schema.org JSON-LD (top-level nodes, arrays and `@graph`) and
 * microdata (itemscope / itemtype / itemprop) for Restaurant, LocalBusiness, FoodEstablishment
 * and their kin; OpenGraph and the meta description as fallback; tel:, mailto:, menu and social
 * links; same-site links worth reading next; and the page's visible text for the classifier.
 */
import * as cheerio from 'cheerio';
import type { AnyNode, Element } from 'domhandler';
import { storable, storableText } from '../../platform/storable.ts';

/** schema.org types we read as the business itself (FoodEstablishment's family and LocalBusiness). */
export const BUSINESS_TYPES = new Set([
  'LocalBusiness',
  'FoodEstablishment',
  'Restaurant',
  'FastFoodRestaurant',
  'CafeOrCoffeeShop',
  'BarOrPub',
  'Bakery',
  'Brewery',
  'Winery',
  'Distillery',
  'IceCreamShop',
  'NightClub',
]);

/** A schema.org node as JSON-LD gives it, or as microdata is turned into (same shape). */
export type SchemaNode = Record<string, unknown>;

export interface PageFacts {
  url: string;
  /** The business node found, and where: JSON-LD wins over microdata when a page has both. */
  business: { source: 'json-ld' | 'microdata'; node: SchemaNode } | null;
  /** JSON-LD blocks that did not parse. */
  brokenJsonLd: number;
  title: string | null;
  metaDescription: string | null;
  openGraph: {
    title: string | null;
    description: string | null;
    siteName: string | null;
    image: string | null;
  };
  phones: string[];
  emails: string[];
  menuLinks: string[];
  socialLinks: string[];
  /** Same-site pages worth reading next (menu, contact, about, hours, reservations). */
  nextPages: string[];
  /** The visible text, whitespace collapsed, at most 6,000 characters. */
  text: string;
}

const SOCIAL_HOSTS = ['instagram.com', 'facebook.com', 'tiktok.com', 'x.com', 'twitter.com', 'threads.net'];
const MENU_WORDS = /\b(menu|menus|carta|speisekarte|carte|food|drinks)\b/i;
const NEXT_WORDS = /(menu|carta|contact|about|hours|opening|reserv|book|visit|find-us|location)/i;

/** The last segment of a schema.org type (`https://schema.org/Restaurant` → `Restaurant`). */
export function typeName(value: string): string {
  return value.replace(/\/$/, '').split(/[/#]/).pop() ?? value;
}

export function typesOf(node: SchemaNode): string[] {
  const raw = node['@type'];
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list.filter((t): t is string => typeof t === 'string').map(typeName);
}

const isBusiness = (node: SchemaNode) => typesOf(node).some((t) => BUSINESS_TYPES.has(t));

/** Every object reachable in a JSON-LD document (arrays, `@graph`, nested values). */
function walk(value: unknown, out: SchemaNode[], depth = 0): void {
  if (depth > 8 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) walk(item, out, depth + 1);
    return;
  }
  const node = value as SchemaNode;
  out.push(node);
  for (const [key, child] of Object.entries(node)) {
    if (key === '@context') continue;
    walk(child, out, depth + 1);
  }
}

function jsonLdBusiness($: cheerio.CheerioAPI): { node: SchemaNode | null; broken: number } {
  const nodes: SchemaNode[] = [];
  let broken = 0;
  $('script[type="application/ld+json"]').each((_, el) => {
    try {
      // As we can keep it: a `\u0000` in the data (JSON.parse makes it a NUL) failed the report's write.
      walk(storable(JSON.parse($(el).text())), nodes);
    } catch {
      broken++;
    }
  });
  // The most specific business first: a Restaurant over the LocalBusiness that publishes it.
  const businesses = nodes.filter(isBusiness);
  businesses.sort((a, b) => specificity(b) - specificity(a));
  return { node: businesses[0] ?? null, broken };
}

function specificity(node: SchemaNode): number {
  const types = typesOf(node);
  if (types.includes('LocalBusiness') && types.length === 1) return 0;
  if (types.includes('FoodEstablishment') && types.length === 1) return 1;
  return 2;
}

/** The value of one microdata property element (the HTML microdata rules, in short). */
function itemValue($: cheerio.CheerioAPI, el: Element): unknown {
  const $el = $(el);
  if ($el.is('[itemscope]')) return microdataItem($, el);
  const content = $el.attr('content');
  if (content !== undefined) return content;
  if ($el.is('a, link, area')) return $el.attr('href') ?? '';
  if ($el.is('img, audio, video, source, iframe, embed')) return $el.attr('src') ?? '';
  if ($el.is('time')) return $el.attr('datetime') ?? $el.text().trim();
  if ($el.is('meta')) return $el.attr('content') ?? '';
  return $el.text().replace(/\s+/g, ' ').trim();
}

/** An itemscope element as a schema node: its own properties, not those of nested items. */
function microdataItem($: cheerio.CheerioAPI, scope: Element): SchemaNode {
  const node: SchemaNode = {};
  const type = $(scope).attr('itemtype');
  if (type) node['@type'] = type.split(/\s+/).filter(Boolean);
  const visit = (parent: AnyNode) => {
    for (const child of $(parent).children().toArray()) {
      const props = $(child).attr('itemprop');
      if (props) {
        const value = itemValue($, child);
        for (const prop of props.split(/\s+/).filter(Boolean)) {
          const existing = node[prop];
          node[prop] =
            existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
        }
      }
      // A nested item's properties are its own.
      if (!$(child).is('[itemscope]')) visit(child);
    }
  };
  visit(scope);
  return node;
}

function microdataBusiness($: cheerio.CheerioAPI): SchemaNode | null {
  const found = $('[itemscope][itemtype]')
    .toArray()
    .map((el) => microdataItem($, el))
    .filter(isBusiness);
  found.sort((a, b) => specificity(b) - specificity(a));
  return found[0] ?? null;
}

function absolute(href: string | undefined, base: string): string | null {
  if (!href) return null;
  try {
    const url = new URL(href.trim(), base);
    url.hash = '';
    return url.href;
  } catch {
    return null;
  }
}

function unique(values: Iterable<string>): string[] {
  return [...new Set(values)];
}

/** Reads one page. `url` is where it was found (after redirects), for resolving its links. */
export function extractPage(html: string, url: string): PageFacts {
  const $ = cheerio.load(html);
  const jsonLd = jsonLdBusiness($);
  const microdata = jsonLd.node ? null : microdataBusiness($);
  const meta = (selector: string) => $(selector).first().attr('content')?.trim() || null;

  const phones: string[] = [];
  const emails: string[] = [];
  const menuLinks: string[] = [];
  const socialLinks: string[] = [];
  const nextPages: string[] = [];
  const origin = new URL(url).origin;
  $('a[href]').each((_, el) => {
    const href = ($(el).attr('href') ?? '').trim();
    const text = $(el).text().replace(/\s+/g, ' ').trim();
    const lower = href.toLowerCase();
    if (lower.startsWith('tel:')) {
      phones.push(decoded(href.slice(4)).replace(/[^\d+]/g, ''));
      return;
    }
    if (lower.startsWith('mailto:')) {
      const address = decoded(href.slice(7).split('?')[0] ?? '').trim();
      if (address) emails.push(address.toLowerCase());
      return;
    }
    const link = absolute(href, url);
    if (!link || !/^https?:/.test(link)) return;
    const target = new URL(link);
    const host = target.hostname.replace(/^www\./, '');
    if (SOCIAL_HOSTS.some((s) => host === s || host.endsWith(`.${s}`))) {
      socialLinks.push(link);
      return;
    }
    const isPdf = target.pathname.toLowerCase().endsWith('.pdf');
    if (MENU_WORDS.test(text) || MENU_WORDS.test(target.pathname.replace(/[-_/.]/g, ' ')))
      menuLinks.push(link);
    else if (isPdf && /menu|carta|food|drink/i.test(`${text} ${target.pathname}`)) menuLinks.push(link);
    if (target.origin === origin && !isPdf && link !== url && NEXT_WORDS.test(target.pathname))
      nextPages.push(link);
  });

  // Visible text for the classifier: scripts, styles and templates are not text.
  const body = $('body').clone();
  body.find('script, style, noscript, template, svg').remove();
  const text = body.text().replace(/\s+/g, ' ').trim().slice(0, 6000);

  return {
    url,
    business: jsonLd.node
      ? { source: 'json-ld', node: jsonLd.node }
      : microdata
        ? { source: 'microdata', node: microdata }
        : null,
    brokenJsonLd: jsonLd.broken,
    title: $('title').first().text().trim() || null,
    metaDescription: meta('meta[name="description"]'),
    openGraph: {
      title: meta('meta[property="og:title"]'),
      description: meta('meta[property="og:description"]'),
      siteName: meta('meta[property="og:site_name"]'),
      image: meta('meta[property="og:image"]'),
    },
    phones: unique(phones.filter((p) => p.replace(/\D/g, '').length >= 6)),
    emails: unique(emails),
    menuLinks: unique(menuLinks),
    socialLinks: unique(socialLinks),
    nextPages: unique(nextPages),
    text,
  };
}

/**
 * A link's percent-escapes decoded. Escapes that are not UTF-8 (`%E9` on an older site) are read
 * as Latin-1, which is what such a site meant; a stray `%` stays as written.
 */
function decoded(text: string): string {
  // `%00` decodes to a NUL, which PostgreSQL cannot keep: U+FFFD, as storableText makes it.
  try {
    return storableText(decodeURIComponent(text));
  } catch {
    return storableText(
      text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
        try {
          return decodeURIComponent(run);
        } catch {
          return run.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
            String.fromCharCode(Number.parseInt(hex, 16)),
          );
        }
      }),
    );
  }
}
