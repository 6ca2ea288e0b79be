/**
 * From what the pages say to what a venue is: the schema.org business node read into plain
 * fields (address, geo, hours, cuisine, price range, menu, reservations, profiles), with the
 * page's fallbacks (OpenGraph, meta, tel: and mailto: links) where the node is silent.
 */
import type { WeeklyInterval } from '../venues/hours.ts';
import { type PageFacts, type SchemaNode, typeName, typesOf } from './extract.ts';

export interface BusinessFacts {
  /** Where the business data came from: the structured data's kind, or the page alone. */
  structuredSource: 'json-ld' | 'microdata' | null;
  types: string[];
  name: string | null;
  description: string | null;
  address: {
    street: string | null;
    locality: string | null;
    region: string | null;
    postalCode: string | null;
    country: string | null;
  } | null;
  geo: { latitude: number; longitude: number } | null;
  telephone: string | null;
  email: string | null;
  hours: WeeklyInterval[];
  /** How the hours were given: `specification` (openingHoursSpecification) or `text` (openingHours). */
  hoursSource: 'specification' | 'text' | null;
  cuisines: string[];
  priceRange: string | null;
  menuUrl: string | null;
  acceptsReservations: boolean | null;
  reservationsUrl: string | null;
  sameAs: string[];
  image: string | null;
  /** Links found on the pages. */
  menuLinks: string[];
  phones: string[];
  emails: string[];
  socialLinks: string[];
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const SHORT_DAYS = ['Su', 'Mo', 'Tu', 'We', 'Th', 'Fr', 'Sa'];

function text(value: unknown): string | null {
  if (Array.isArray(value)) return text(value[0]);
  if (typeof value === 'string') return value.trim() || null;
  if (typeof value === 'number') return String(value);
  if (value && typeof value === 'object') {
    const node = value as SchemaNode;
    return text(node['@value'] ?? node.name ?? node.url ?? node['@id']);
  }
  return null;
}

function texts(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  return list.map(text).filter((v): v is string => v !== null);
}

function objects(value: unknown): SchemaNode[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is SchemaNode => v !== null && typeof v === 'object' && !Array.isArray(v));
}

function number(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  // Number(null) and Number('') are 0: absent is not the equator.
  const raw = text(value);
  const n = raw === null ? Number.NaN : Number(raw);
  return Number.isFinite(n) ? n : null;
}

/** "09:00:00", "9:00", "09:00+01:00" → "09:00"; null when it is no time. */
function hhmm(value: unknown): string | null {
  const raw = text(value);
  const match = raw ? /^(\d{1,2}):(\d{2})/.exec(raw) : null;
  if (!match) return null;
  const hour = Number(match[1]);
  if (hour > 24 || Number(match[2]) > 59) return null;
  return `${String(hour === 24 ? 0 : hour).padStart(2, '0')}:${match[2]}`;
}

function dayIndex(value: string): number | null {
  const name = typeName(value);
  const full = DAYS.findIndex((d) => d.toLowerCase() === name.toLowerCase());
  if (full >= 0) return full;
  const short = SHORT_DAYS.findIndex((d) => d.toLowerCase() === name.slice(0, 2).toLowerCase());
  return short >= 0 ? short : null;
}

/** openingHoursSpecification: one interval per day named, in the venue's terms. */
export function hoursFromSpecification(value: unknown): WeeklyInterval[] {
  const out: WeeklyInterval[] = [];
  for (const spec of objects(value)) {
    const opensAt = hhmm(spec.opens);
    const closesAt = hhmm(spec.closes);
    if (!opensAt || !closesAt || opensAt === closesAt) continue;
    for (const day of texts(spec.dayOfWeek)) {
      const weekday = dayIndex(day);
      if (weekday !== null) out.push({ weekday, opensAt, closesAt });
    }
  }
  return dedupe(out);
}

/** The longest openingHours line read ("Mo,Tu,We,Th,Fr,Sa,Su 10:00-23:30" is 33 characters). */
const MAX_HOURS_LINE = 120;

/** openingHours strings: "Mo-Fr 09:00-17:00", "Sa,Su 10:00-14:00", "Mo-Su" alone is all day. */
export function hoursFromText(value: unknown): WeeklyInterval[] {
  const out: WeeklyInterval[] = [];
  for (const line of texts(value).flatMap((t) => t.split(/[;\n]/))) {
    // A line of hours is short; a long one (a hostile page) is not read at all, so the pattern
    // below never backtracks over it.
    if (line.length > MAX_HOURS_LINE) continue;
    const match = /^\s*([A-Za-z,\s-]+?)\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$/.exec(line);
    if (!match) continue;
    const opensAt = hhmm(match[2]);
    const closesAt = hhmm(match[3]);
    if (!opensAt || !closesAt || opensAt === closesAt) continue;
    for (const part of match[1]!.split(',')) {
      const [from, to] = part.split('-').map((d) => dayIndex(d.trim()));
      if (from === null || from === undefined) continue;
      const last = to ?? from;
      for (let d = from, n = 0; n < 7; d = (d + 1) % 7, n++) {
        out.push({ weekday: d, opensAt, closesAt });
        if (d === last) break;
      }
    }
  }
  return dedupe(out);
}

function dedupe(hours: WeeklyInterval[]): WeeklyInterval[] {
  const seen = new Set<string>();
  return hours
    .filter((h) => {
      const key = `${h.weekday} ${h.opensAt} ${h.closesAt}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.weekday - b.weekday || a.opensAt.localeCompare(b.opensAt));
}

function address(value: unknown): BusinessFacts['address'] {
  if (typeof value === 'string' && value.trim())
    return { street: value.trim(), locality: null, region: null, postalCode: null, country: null };
  const node = objects(value)[0];
  if (!node) return null;
  const country = node.addressCountry;
  const result = {
    street: text(node.streetAddress),
    locality: text(node.addressLocality),
    region: text(node.addressRegion),
    postalCode: text(node.postalCode),
    country: country && typeof country === 'object' ? text((country as SchemaNode).name) : text(country),
  };
  return Object.values(result).some(Boolean) ? result : null;
}

function geo(node: SchemaNode): BusinessFacts['geo'] {
  const g = objects(node.geo)[0];
  const latitude = number(g?.latitude ?? node.latitude);
  const longitude = number(g?.longitude ?? node.longitude);
  if (latitude === null || longitude === null) return null;
  if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return null;
  return { latitude, longitude };
}

function reservations(node: SchemaNode): { accepts: boolean | null; url: string | null } {
  const raw = node.acceptsReservations;
  const value = text(raw);
  let url: string | null = null;
  let accepts: boolean | null = null;
  if (typeof raw === 'boolean') accepts = raw;
  else if (value && /^https?:\/\//i.test(value)) {
    accepts = true;
    url = value;
  } else if (value) accepts = /^(true|yes)$/i.test(value) || value.toLowerCase().endsWith('/true');
  // A ReserveAction's target is the booking page.
  for (const action of objects(node.potentialAction)) {
    if (!typesOf(action).includes('ReserveAction')) continue;
    const target = objects(action.target)[0];
    url ??= text(target?.urlTemplate ?? action.target);
    accepts ??= true;
  }
  return { accepts, url };
}

/** Everything the pages say, the home page first; the structured node of the first page that has one. */
export function businessFacts(pages: readonly PageFacts[]): BusinessFacts {
  const withNode = pages.find((p) => p.business);
  const node = withNode?.business?.node ?? {};
  const home = pages[0];
  const fromSpec = hoursFromSpecification(node.openingHoursSpecification);
  const fromText = fromSpec.length ? [] : hoursFromText(node.openingHours);
  const booking = reservations(node);
  const menu = node.hasMenu ?? node.menu;
  const all = <T>(pick: (p: PageFacts) => T[]) => [...new Set(pages.flatMap(pick))];
  const mailto = text(node.email)?.replace(/^mailto:/i, '') ?? null;
  return {
    structuredSource: withNode?.business?.source ?? null,
    types: typesOf(node),
    name: text(node.name) ?? home?.openGraph.siteName ?? home?.openGraph.title ?? home?.title ?? null,
    description: text(node.description) ?? home?.openGraph.description ?? home?.metaDescription ?? null,
    address: address(node.address),
    geo: geo(node),
    telephone: text(node.telephone)?.replace(/^tel:/i, '') ?? null,
    email: mailto,
    hours: fromSpec.length ? fromSpec : fromText,
    hoursSource: fromSpec.length ? 'specification' : fromText.length ? 'text' : null,
    cuisines: texts(node.servesCuisine)
      .flatMap((c) => c.split(','))
      .map((c) => c.trim())
      .filter(Boolean),
    priceRange: text(node.priceRange),
    menuUrl: text(menu),
    acceptsReservations: booking.accepts,
    reservationsUrl: booking.url,
    sameAs: texts(node.sameAs),
    image: text(node.image) ?? home?.openGraph.image ?? null,
    menuLinks: all((p) => p.menuLinks),
    phones: all((p) => p.phones),
    emails: all((p) => p.emails),
    socialLinks: all((p) => p.socialLinks),
  };
}
