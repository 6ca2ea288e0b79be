/**
 * A scan's outcome for the owner: three scores from 0 to 100 (how complete a listing the site
 * gives, how easy the business is to reach, how good its structured data is), each with concrete
 * suggestions; and the onboarding draft, the venue fields found, each with where it came from.
 */
import type { WeeklyInterval } from '../venues/hours.ts';
import type { BusinessFacts } from './business.ts';

export type ScoreKind = 'completeness' | 'contactability' | 'structuredData';

export interface Score {
  kind: ScoreKind;
  score: number;
  suggestions: string[];
}

/** The venue fields a draft can hold, named as the venue's own fields. */
export const DRAFT_FIELDS = [
  'name',
  'description',
  'category',
  'cuisines',
  'priceLevel',
  'addressLine1',
  'city',
  'region',
  'postalCode',
  'countryCode',
  'location',
  'phone',
  'email',
  'website',
  'socialHandles',
  'openingHours',
] as const;
export type DraftFieldName = (typeof DRAFT_FIELDS)[number];

export type DraftSource = 'json-ld' | 'microdata' | 'page' | 'classification';

export interface DraftField {
  field: DraftFieldName;
  /** The value as the venue functions take it (text, list, number, `{latitude, longitude}`, hours). */
  value: unknown;
  /** The value for a person to review. */
  display: string;
  source: DraftSource;
}

/** What the classifier said (validated); used only for fields the structure left empty. */
export interface Classification {
  category: string;
  cuisines: string[];
  priceLevel: number | null;
  description: string;
}

export interface ScanReport {
  scores: Score[];
  pages: { url: string; note: string }[];
  structuredData: string | null;
  businessTypes: string[];
  menuLinks: string[];
  phones: string[];
  emails: string[];
  profiles: string[];
  reservationsUrl: string | null;
}

const CATEGORY_OF_TYPE: Record<string, string> = {
  Restaurant: 'RESTAURANT',
  FastFoodRestaurant: 'RESTAURANT',
  FoodEstablishment: 'RESTAURANT',
  CafeOrCoffeeShop: 'CAFE',
  IceCreamShop: 'CAFE',
  BarOrPub: 'BAR',
  Brewery: 'BAR',
  Winery: 'BAR',
  Distillery: 'BAR',
  Bakery: 'BAKERY',
  NightClub: 'CLUB',
};

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** "$$" → 2, "€€€" → 3; a price range in figures ("€10–20") says no level. */
export function priceLevelOf(range: string | null): number | null {
  if (!range) return null;
  const symbols = [...range.trim()].filter((c) => '$€£¥₩₹'.includes(c)).length;
  return symbols >= 1 && symbols <= 4 && symbols === range.trim().length ? symbols : null;
}

/** An international number (+351 21 234 5678 → +351212345678), or null when it is not one. */
export function internationalPhone(raw: string | null): string | null {
  if (!raw) return null;
  const digits = raw.replace(/[\s().-]/g, '');
  return /^\+[1-9]\d{6,14}$/.test(digits) ? digits : null;
}

const NETWORKS: [string, RegExp][] = [
  ['instagram', /(?:^|\.)instagram\.com$/],
  ['facebook', /(?:^|\.)facebook\.com$/],
  ['tiktok', /(?:^|\.)tiktok\.com$/],
  ['x', /(?:^|\.)(?:x|twitter)\.com$/],
  ['threads', /(?:^|\.)threads\.net$/],
];

/** `{ network, handle }` for each profile link of a network venues list, first of each network. */
export function socialHandles(links: readonly string[]): { network: string; handle: string }[] {
  const found = new Map<string, string>();
  for (const link of links) {
    let url: URL;
    try {
      url = new URL(link);
    } catch {
      continue;
    }
    const network = NETWORKS.find(([, host]) => host.test(url.hostname))?.[0];
    const first = url.pathname.split('/').filter(Boolean)[0]?.replace(/^@/, '');
    if (!network || !first || found.has(network) || !/^[\w.]{1,60}$/.test(first)) continue;
    found.set(network, `@${first}`);
  }
  return [...found].map(([network, handle]) => ({ network, handle }));
}

function showHours(hours: readonly WeeklyInterval[]): string {
  return hours.map((h) => `${DAY_NAMES[h.weekday]} ${h.opensAt}–${h.closesAt}`).join(', ');
}

/** The draft: each venue field the scan can fill, from the structure first, then the page, then the model. */
export function buildDraft(
  facts: BusinessFacts,
  website: string,
  classification: Classification | null,
): DraftField[] {
  const structured: DraftSource = facts.structuredSource ?? 'page';
  const draft: DraftField[] = [];
  const add = (field: DraftFieldName, value: unknown, display: string, source: DraftSource) => {
    draft.push({ field, value, display, source });
  };
  const fromStructure = (value: unknown) => (facts.structuredSource && value ? structured : 'page');

  if (facts.name)
    add('name', facts.name.slice(0, 120), facts.name.slice(0, 120), fromStructure(facts.types.length));
  const category = facts.types.map((t) => CATEGORY_OF_TYPE[t]).find(Boolean);
  if (category) add('category', category, category.toLowerCase(), structured);
  else if (classification)
    add('category', classification.category, classification.category.toLowerCase(), 'classification');
  if (facts.description)
    add(
      'description',
      facts.description.slice(0, 2000),
      facts.description.slice(0, 200),
      fromStructure(facts.types.length),
    );
  else if (classification?.description)
    add('description', classification.description, classification.description, 'classification');
  const cuisines = facts.cuisines
    .map((c) => c.toLowerCase())
    .filter((c) => c.length >= 2 && c.length <= 40)
    .slice(0, 12);
  if (cuisines.length) add('cuisines', cuisines, cuisines.join(', '), structured);
  else if (classification?.cuisines.length)
    add('cuisines', classification.cuisines, classification.cuisines.join(', '), 'classification');
  const level = priceLevelOf(facts.priceRange);
  if (level) add('priceLevel', level, facts.priceRange ?? String(level), structured);
  else if (classification?.priceLevel)
    add('priceLevel', classification.priceLevel, '$'.repeat(classification.priceLevel), 'classification');
  const a = facts.address;
  if (a?.street) add('addressLine1', a.street.slice(0, 200), a.street, structured);
  if (a?.locality) add('city', a.locality.slice(0, 100), a.locality, structured);
  if (a?.region) add('region', a.region.slice(0, 100), a.region, structured);
  if (a?.postalCode) add('postalCode', a.postalCode.slice(0, 20), a.postalCode, structured);
  if (a?.country && /^[A-Za-z]{2}$/.test(a.country))
    add('countryCode', a.country.toUpperCase(), a.country.toUpperCase(), structured);
  if (facts.geo) add('location', facts.geo, `${facts.geo.latitude}, ${facts.geo.longitude}`, structured);
  const structuredPhone = internationalPhone(facts.telephone);
  const phone = structuredPhone ?? facts.phones.map(internationalPhone).find(Boolean) ?? null;
  if (phone) add('phone', phone, phone, structuredPhone ? structured : 'page');
  const email = facts.email ?? facts.emails[0] ?? null;
  if (email) add('email', email, email, facts.email ? structured : 'page');
  add('website', website, website, 'page');
  const handles = socialHandles([...facts.sameAs, ...facts.socialLinks]);
  if (handles.length)
    add(
      'socialHandles',
      handles,
      handles.map((h) => `${h.network} ${h.handle}`).join(', '),
      facts.sameAs.length ? structured : 'page',
    );
  if (facts.hours.length) add('openingHours', facts.hours, showHours(facts.hours), structured);
  return draft;
}

function score(kind: ScoreKind, parts: [points: number, present: boolean, suggestion: string][]): Score {
  const total = parts.reduce((sum, [points]) => sum + points, 0);
  const got = parts.reduce((sum, [points, present]) => sum + (present ? points : 0), 0);
  return {
    kind,
    score: Math.round((got / total) * 100),
    suggestions: parts.filter(([, present]) => !present).map(([, , suggestion]) => suggestion),
  };
}

export function scoreScan(facts: BusinessFacts, brokenJsonLd: number): Score[] {
  const menu = Boolean(facts.menuUrl || facts.menuLinks.length);
  const phone = Boolean(facts.telephone || facts.phones.length);
  const email = Boolean(facts.email || facts.emails.length);
  const profiles = facts.sameAs.length + facts.socialLinks.length > 0;
  const booking = Boolean(facts.reservationsUrl || facts.acceptsReservations);
  const completeness = score('completeness', [
    [15, Boolean(facts.name), 'Show your business name clearly in the page title or header'],
    [
      15,
      Boolean(facts.address?.street || facts.address?.locality),
      'Publish your street address so guests can find you',
    ],
    [10, phone, 'List a phone number guests can call'],
    [15, facts.hours.length > 0, 'Publish your opening hours so guests and agents see when you are open'],
    [10, facts.cuisines.length > 0, 'Say what cuisine you serve (for example "Portuguese, seafood")'],
    [5, Boolean(facts.priceRange), 'Give a price range (such as €€) so guests know what to expect'],
    [10, menu, 'Put your menu online, as a page or a PDF linked from your home page'],
    [
      10,
      Boolean(facts.description),
      'Add a short description of your place (a meta description or an introduction)',
    ],
    [5, Boolean(facts.geo), 'Add your map coordinates (geo) so agents can tell how far you are'],
    [5, Boolean(facts.image), 'Add a photo of your place (an og:image or schema.org image)'],
  ]);
  const contactability = score('contactability', [
    [30, phone, 'Add a phone number, as a tap-to-call (tel:) link'],
    [20, email, 'Add an email address (a mailto: link) for questions and group bookings'],
    [25, booking, 'Take reservations online and link the booking page (schema.org acceptsReservations)'],
    [15, profiles, 'Link your Instagram or Facebook profile (schema.org sameAs)'],
    [
      10,
      facts.phones.length > 0,
      'Make your phone number a tap-to-call link (tel:) so mobile guests can call in one tap',
    ],
  ]);
  let structured: Score;
  if (!facts.structuredSource) {
    structured = {
      kind: 'structuredData',
      score: 0,
      suggestions: [
        'Add schema.org Restaurant data as JSON-LD (name, address, telephone, openingHoursSpecification, servesCuisine, priceRange, menu) so search engines and agents read your details reliably',
      ],
    };
  } else {
    const spec = facts.hoursSource === 'specification';
    const specific = facts.types.some((t) => t !== 'LocalBusiness' && t !== 'FoodEstablishment');
    structured = score('structuredData', [
      [30, true, ''],
      [
        10,
        facts.structuredSource === 'json-ld',
        'Publish your structured data as JSON-LD rather than microdata: it is easier to keep right',
      ],
      [
        10,
        specific,
        'Use a specific schema.org type such as Restaurant, CafeOrCoffeeShop or BarOrPub instead of LocalBusiness',
      ],
      [5, Boolean(facts.name), 'Add your name to your structured data'],
      [
        10,
        Boolean(facts.address?.street && facts.address.locality),
        'Add a full PostalAddress (streetAddress, addressLocality, postalCode) to your structured data',
      ],
      [5, Boolean(facts.geo), 'Add geo coordinates (GeoCoordinates) to your structured data'],
      [5, Boolean(facts.telephone), 'Add your telephone to your structured data'],
      [
        15,
        spec,
        facts.hoursSource === 'text'
          ? 'Give your opening hours as openingHoursSpecification rather than openingHours text, so every day is unambiguous'
          : 'Add opening hours to your JSON-LD (openingHoursSpecification) so guests and agents see when you are open',
      ],
      [5, facts.cuisines.length > 0, 'Add servesCuisine to your structured data'],
      [5, Boolean(facts.priceRange), 'Add priceRange (such as €€) to your structured data'],
    ]);
    // Half marks for hours given only as text.
    if (facts.hoursSource === 'text') structured.score = Math.min(100, structured.score + 8);
  }
  if (brokenJsonLd > 0) {
    structured.score = Math.max(0, structured.score - 10);
    structured.suggestions.unshift(
      `Fix the JSON-LD on your site: ${brokenJsonLd === 1 ? '1 block is not valid JSON and is' : `${brokenJsonLd} blocks are not valid JSON and are`} ignored`,
    );
  }
  return [completeness, contactability, structured];
}
