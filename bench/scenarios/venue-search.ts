/**
 * Venue search as a guest's app or agent runs it: words plus distance from a point, nearest
 * first, one page of 20, each venue with its cuisines, weekly hours and business agent. The
 * database holds a city's worth of venues (2,000 around Lisbon, with hours and agents), so the
 * search statement does real work: the box around the circle, the words over name, cuisines and
 * description, the distance, the sort and the total.
 *
 * Requests vary: four words (grill, sushi, pizza, seafood) from four points, 16 bodies that
 * every connection sends in turn (the same document with other variables, as a client sends
 * it). Each body's first answer is checked (a full page, nearest first, within 5 km, every venue
 * with hours and an agent), and every later answer must equal it.
 */
import { randomUUID } from 'node:crypto';
import { defaultVenueDna } from '../../src/domain/agents/dna.ts';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import type { VenueCategory, VenueStatus } from '../../src/generated/prisma/enums.ts';
import {
  AGNT_METRICS_PATH,
  type AgntParams,
  consumerAuthorization,
  type PreparedAgnt,
  prepareAgnt,
  serveAgnt,
} from '../lib/agnt.ts';
import { defineScenario } from '../lib/scenario.ts';

const VENUE_COUNT = 2_000;
/** Owners of the claimed and draft venues: eight venues each on average. */
const ORGANIZATION_COUNT = 250;
const PAGE_SIZE = 20;
const RADIUS_METERS = 5_000;

/** Where the city's venues are spread: Baixa, Lisbon; the river bank is south of RIVER_LATITUDE. */
const CITY_CENTRE = { latitude: 38.7139, longitude: -9.1394 };
const CITY_RADIUS_METERS = 9_000;
const RIVER_LATITUDE = 38.7;

export const WORDS = ['grill', 'sushi', 'pizza', 'seafood'];
export const POINTS = [
  { name: 'Rossio', latitude: 38.7138, longitude: -9.1394 },
  { name: 'Cais do Sodré', latitude: 38.7061, longitude: -9.144 },
  { name: 'Saldanha', latitude: 38.735, longitude: -9.145 },
  { name: 'Estrela', latitude: 38.7135, longitude: -9.159 },
];

const QUERY = `query SearchVenues($text: String!, $near: NearInput!) {
  venues(text: $text, near: $near, orderBy: DISTANCE, first: ${PAGE_SIZE}) {
    totalCount
    edges {
      distanceMeters
      node { name cuisines openingHours { weekday opensAt closesAt } agent { name } }
    }
  }
}`;

interface SearchAnswer {
  data?: {
    venues?: {
      totalCount: number;
      edges: {
        distanceMeters: number | null;
        node: { name: string; cuisines: string[]; openingHours: unknown[]; agent: { name: string } | null };
      }[];
    };
  };
  errors?: unknown[];
}

export default defineScenario<AgntParams>(import.meta.url, {
  name: 'venue-search',
  description: `AGNT, \`venues(text, near 5 km, orderBy: DISTANCE, first: ${PAGE_SIZE})\` with hours and agent, ${VENUE_COUNT} venues`,
  baseline: 'yoga-bare',
  async prepare() {
    const agnt = await prepareAgnt();
    try {
      await seedCity(agnt);
      const authorization = await consumerAuthorization(agnt);
      const bodies = WORDS.flatMap((text) =>
        POINTS.map(({ latitude, longitude }) =>
          JSON.stringify({
            query: QUERY,
            operationName: 'SearchVenues',
            variables: { text, near: { latitude, longitude, radiusMeters: RADIUS_METERS } },
          }),
        ),
      );
      return {
        params: agnt.params,
        request: {
          method: 'POST',
          path: '/graphql',
          headers: { 'content-type': 'application/json', authorization },
          bodies,
        },
        check: ({ status, body, index }) => {
          const text = WORDS[Math.floor(index / POINTS.length)];
          const point = POINTS[index % POINTS.length]?.name;
          const problem = searchProblem(status, body as SearchAnswer);
          return problem && `"${text}" near ${point}: ${problem}`;
        },
        sameBodyEveryTime: true,
        metricsPath: AGNT_METRICS_PATH,
        cleanup: () => agnt.cleanup(),
      };
    } catch (error) {
      await agnt.cleanup();
      throw error;
    }
  },
  serve: serveAgnt,
});

function searchProblem(status: number, answer: SearchAnswer): string | undefined {
  const venues = answer.data?.venues;
  if (status !== 200 || answer.errors || !venues) {
    return `expected 200 with data.venues, got ${status} ${JSON.stringify(answer).slice(0, 500)}`;
  }
  if (venues.edges.length !== PAGE_SIZE || venues.totalCount < PAGE_SIZE) {
    return `expected a full page of ${PAGE_SIZE}, got ${venues.edges.length} of ${venues.totalCount}`;
  }
  let previous = 0;
  for (const { distanceMeters, node } of venues.edges) {
    if (distanceMeters === null || distanceMeters < previous || distanceMeters > RADIUS_METERS) {
      return `expected distances ascending within ${RADIUS_METERS} m, got ${distanceMeters} after ${previous}`;
    }
    previous = distanceMeters;
    if (!node.openingHours.length || !node.agent?.name) {
      return `expected "${node.name}" with opening hours and an agent, got ${JSON.stringify(node)}`;
    }
  }
  return undefined;
}

// --- the city ---

interface Kind {
  category: VenueCategory;
  cuisines: string[];
  /** Other cuisines a venue of this kind may list too. */
  more: string[];
  names: string[];
  dishes: string[];
  price: [number, number];
  hours: keyof typeof HOURS;
  /** How common this kind is. */
  weight: number;
}

const KINDS: Kind[] = [
  {
    category: 'RESTAURANT',
    cuisines: ['portuguese'],
    more: ['seafood', 'grill', 'wine'],
    names: ['Tasca', 'Casa', 'Taberna', 'Adega', 'O Cantinho'],
    dishes: ['bacalhau à brás', 'caldo verde', 'arroz de pato', 'bifanas', 'grilled sardines', 'cozido'],
    price: [1, 3],
    hours: 'lunchAndDinner',
    weight: 6,
  },
  {
    category: 'RESTAURANT',
    cuisines: ['grill'],
    more: ['portuguese', 'brazilian', 'steak'],
    names: ['Churrasqueira', 'Grill', 'Brasa', 'Steakhouse'],
    dishes: ['piri-piri chicken', 'picanha', 'chargrilled ribs', 'grilled sea bass', 'chouriço'],
    price: [1, 3],
    hours: 'allDay',
    weight: 2,
  },
  {
    category: 'RESTAURANT',
    cuisines: ['seafood'],
    more: ['portuguese', 'grill'],
    names: ['Marisqueira', 'Cervejaria', 'Peixaria'],
    dishes: ['clams bulhão pato', 'tiger prawns', 'grilled octopus', 'dressed crab', 'seafood rice'],
    price: [2, 4],
    hours: 'lunchAndDinner',
    weight: 2,
  },
  {
    category: 'RESTAURANT',
    cuisines: ['japanese', 'sushi'],
    more: ['asian', 'ramen'],
    names: ['Sushi', 'Izakaya', 'Omakase'],
    dishes: ['sashimi', 'nigiri', 'ramen', 'yakitori', 'gyoza'],
    price: [2, 4],
    hours: 'lunchAndDinner',
    weight: 2,
  },
  {
    category: 'RESTAURANT',
    cuisines: ['italian'],
    more: ['pizza', 'pasta', 'wine'],
    names: ['Trattoria', 'Pizzeria', 'Osteria'],
    dishes: ['wood-fired pizza', 'fresh pasta', 'burrata', 'tiramisu'],
    price: [1, 3],
    hours: 'allDay',
    weight: 3,
  },
  {
    category: 'RESTAURANT',
    cuisines: ['indian'],
    more: ['vegetarian', 'nepalese'],
    names: ['Tandoori', 'Masala', 'Spice Route'],
    dishes: ['butter chicken', 'tandoori mixed grill', 'dal makhani', 'naan'],
    price: [1, 2],
    hours: 'lunchAndDinner',
    weight: 2,
  },
  {
    category: 'RESTAURANT',
    cuisines: ['brazilian'],
    more: ['grill'],
    names: ['Rodízio', 'Boteco'],
    dishes: ['feijoada', 'picanha', 'pão de queijo', 'caipirinhas'],
    price: [2, 3],
    hours: 'allDay',
    weight: 1,
  },
  {
    category: 'RESTAURANT',
    cuisines: ['vegan'],
    more: ['vegetarian', 'healthy', 'brunch'],
    names: ['Horta', 'Raiz', 'Green Kitchen'],
    dishes: ['grain bowls', 'seasonal vegetables', 'cold-pressed juice', 'lentil curry'],
    price: [1, 2],
    hours: 'allDay',
    weight: 1,
  },
  {
    category: 'RESTAURANT',
    cuisines: ['burger'],
    more: ['american', 'grill'],
    names: ['Burger Joint', 'Smash'],
    dishes: ['smash burgers', 'fries', 'milkshakes', 'chicken wings'],
    price: [1, 2],
    hours: 'allDay',
    weight: 1,
  },
  {
    category: 'RESTAURANT',
    cuisines: ['french'],
    more: ['wine', 'bistro'],
    names: ['Bistrot', 'Brasserie'],
    dishes: ['steak frites', 'onion soup', 'duck confit', 'crème brûlée'],
    price: [2, 4],
    hours: 'lunchAndDinner',
    weight: 1,
  },
  {
    category: 'RESTAURANT',
    cuisines: ['chinese'],
    more: ['asian', 'dim sum'],
    names: ['Dragão', 'Jardim de Jade'],
    dishes: ['dim sum', 'peking duck', 'dumplings', 'noodles'],
    price: [1, 2],
    hours: 'lunchAndDinner',
    weight: 1,
  },
  {
    category: 'CAFE',
    cuisines: ['breakfast'],
    more: ['pastry', 'brunch', 'coffee'],
    names: ['Café', 'Pastelaria', 'Padaria'],
    dishes: ['pastéis de nata', 'toasts', 'espresso', 'croissants'],
    price: [1, 1],
    hours: 'daytime',
    weight: 3,
  },
  {
    category: 'BAR',
    cuisines: ['tapas'],
    more: ['wine', 'cocktails'],
    names: ['Bar', 'Petiscos', 'Cocktail Bar'],
    dishes: ['cocktails', 'petiscos', 'natural wine', 'cheese boards'],
    price: [2, 3],
    hours: 'lateNight',
    weight: 3,
  },
  {
    category: 'PUB',
    cuisines: ['pub'],
    more: ['beer', 'grill'],
    names: ['Pub', 'Cervejaria Artesanal'],
    dishes: ['craft beer', 'fish and chips', 'grilled sausages', 'pies'],
    price: [1, 2],
    hours: 'lateNight',
    weight: 1,
  },
];

const PLACES = [
  'do Tejo',
  'da Sé',
  'Alfama',
  'da Estrela',
  'do Bairro',
  'da Lua',
  'do Sol',
  'Atlântico',
  'do Rossio',
  'da Graça',
  'do Castelo',
  'Saudade',
  'do Fado',
  'Azulejo',
  'do Miradouro',
  'do Chiado',
  'Real',
  'da Ribeira',
  'das Flores',
  'do Largo',
];
const STREETS = [
  'Rua Augusta',
  'Rua da Prata',
  'Rua do Norte',
  'Avenida da Liberdade',
  'Rua das Janelas Verdes',
];
const NEIGHBOURHOODS = [
  'Alfama',
  'Baixa',
  'Chiado',
  'Bairro Alto',
  'Príncipe Real',
  'Campo de Ourique',
  'Arroios',
];
const OPENERS = ['Family-run', 'Neighbourhood', 'Lively', 'Small', 'Bright', 'Old-school', 'Modern'];
const EXTRAS = [
  'Terrace in summer, heaters in winter.',
  'Open kitchen and a counter for walk-ins.',
  'A short wine list, mostly from the Alentejo and the Douro.',
  'Private room for up to 16 guests.',
  'Vegetarian dishes on request; ask about allergens.',
  'Live fado on Thursdays.',
  'Dog-friendly, with water bowls at the door.',
];

/** Weekly patterns; weekday 0 is Sunday. */
const HOURS = {
  lunchAndDinner: (closedOn: number) =>
    [0, 1, 2, 3, 4, 5, 6]
      .filter((d) => d !== closedOn)
      .flatMap((weekday) => [
        { weekday, opensAt: '12:00', closesAt: '15:00' },
        { weekday, opensAt: '19:00', closesAt: '23:00' },
      ]),
  allDay: () => [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: '12:00', closesAt: '23:00' })),
  daytime: (closedOn: number) =>
    [0, 1, 2, 3, 4, 5, 6]
      .filter((d) => d !== closedOn)
      .map((weekday) => ({ weekday, opensAt: '08:00', closesAt: '19:00' })),
  // Closes after midnight.
  lateNight: () => [2, 3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: '18:00', closesAt: '02:00' })),
};

/** A small seeded generator (mulberry32), so every run seeds the same city. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Seeds VENUE_COUNT venues (through createMany, a dozen statements in all): 90 % CLAIMED by one of
 * ORGANIZATION_COUNT organisations, 5 % LISTED (unowned) and 5 % DRAFT (not on the network, so
 * never found), each with weekly hours and a business agent.
 */
export async function seedCity(agnt: PreparedAgnt): Promise<void> {
  const { prisma } = agnt.database;
  const next = random(20261125);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const totalWeight = KINDS.reduce((sum, k) => sum + k.weight, 0);
  const pickKind = (): Kind => {
    let r = next() * totalWeight;
    for (const kind of KINDS) {
      r -= kind.weight;
      if (r < 0) return kind;
    }
    return KINDS[0]!;
  };

  const organizations = Array.from({ length: ORGANIZATION_COUNT }, (_, i) => ({
    id: randomUUID(),
    name: `Bench Hospitality ${i + 1}`,
  }));
  await prisma.organization.createMany({ data: organizations });

  const now = new Date();
  const venues: Prisma.VenueCreateManyInput[] = [];
  const hours: Prisma.OpeningHoursCreateManyInput[] = [];
  const agents: Prisma.AgentCreateManyInput[] = [];
  for (let i = 0; i < VENUE_COUNT; i += 1) {
    const kind = pickKind();
    const name = `${pick(kind.names)} ${pick(PLACES)}`;
    const status: VenueStatus = i % 20 === 0 ? 'DRAFT' : i % 20 === 10 ? 'LISTED' : 'CLAIMED';
    const organizationId = status === 'LISTED' ? null : organizations[i % ORGANIZATION_COUNT]!.id;
    const cuisines = [...kind.cuisines, ...kind.more.filter(() => next() < 0.35)];
    const dishes = [...kind.dishes].sort(() => next() - 0.5).slice(0, 3);
    const neighbourhood = pick(NEIGHBOURHOODS);
    const { latitude, longitude } = somewhereInTheCity(next);
    const id = randomUUID();
    const slug = `${name
      .normalize('NFD')
      .replace(/[^A-Za-z0-9 ]/g, '')
      .toLowerCase()
      .trim()
      .replace(/\s+/g, '-')}-${i + 1}`;
    venues.push({
      id,
      organizationId,
      name,
      slug,
      category: kind.category,
      cuisines,
      priceLevel: kind.price[0] + Math.floor(next() * (kind.price[1] - kind.price[0] + 1)),
      description: `${pick(OPENERS)} ${kind.names[0]!.toLowerCase()} in ${neighbourhood}: ${dishes[0]}, ${dishes[1]} and ${dishes[2]}. ${pick(EXTRAS)} ${pick(EXTRAS)}`,
      addressLine1: `${pick(STREETS)} ${1 + Math.floor(next() * 200)}`,
      city: 'Lisboa',
      postalCode: `11${String(Math.floor(next() * 100)).padStart(2, '0')}-${String(Math.floor(next() * 1000)).padStart(3, '0')}`,
      countryCode: 'PT',
      latitude,
      longitude,
      timeZone: 'Europe/Lisbon',
      phone: `+35121${String(1_000_000 + i).padStart(7, '0')}`,
      website: `https://${slug}.example.test`,
      socialHandles: { instagram: slug },
      photos: [`https://images.example.test/${slug}/1.jpg`, `https://images.example.test/${slug}/2.jpg`],
      status,
      slotMinutes: 15,
      turnMinutes: 90,
      coversPerSlot: 12,
      bookingRulesConfirmedAt: now,
      publishedAt: status === 'DRAFT' ? null : now,
    });
    for (const interval of HOURS[kind.hours](Math.floor(next() * 7)))
      hours.push({ venueId: id, ...interval });
    const dna = defaultVenueDna(name);
    // No signing secret: the bench never signs, and search selects only the agent's name.
    agents.push({
      kind: 'VENUE',
      name: dna.persona.name,
      venueId: id,
      organizationId,
      dna: dna as unknown as Prisma.InputJsonValue,
    });
  }
  // In chunks that fit one INSERT each (PostgreSQL takes at most 32,767 parameters): a larger
  // createMany is split by Prisma into statements it sends at once on one connection.
  for (let i = 0; i < venues.length; i += 500)
    await prisma.venue.createMany({ data: venues.slice(i, i + 500) });
  for (let i = 0; i < hours.length; i += 5_000) {
    await prisma.openingHours.createMany({ data: hours.slice(i, i + 5_000) });
  }
  for (let i = 0; i < agents.length; i += 2_000)
    await prisma.agent.createMany({ data: agents.slice(i, i + 2_000) });
  // As autovacuum would have done on a live database: plans from real statistics, the row
  // versions the seeding left behind (each venue's page version moved by its hours, then by its
  // agent) cleared and the visibility map set, and neither starting in the middle of a measurement.
  await prisma.$executeRaw`VACUUM ANALYZE`;
}

/** A point within CITY_RADIUS_METERS of the centre, denser towards it, north of the river. */
function somewhereInTheCity(next: () => number): { latitude: number; longitude: number } {
  const metresPerDegree = 111_320;
  let point = CITY_CENTRE;
  // Bounded: about two points in three land north of the river.
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const distance = CITY_RADIUS_METERS * next();
    const bearing = 2 * Math.PI * next();
    point = {
      latitude: CITY_CENTRE.latitude + (distance * Math.cos(bearing)) / metresPerDegree,
      longitude:
        CITY_CENTRE.longitude +
        (distance * Math.sin(bearing)) / (metresPerDegree * Math.cos((CITY_CENTRE.latitude * Math.PI) / 180)),
    };
    if (point.latitude >= RIVER_LATITUDE) break;
  }
  return point;
}
