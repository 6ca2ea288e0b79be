/**
 * Answering a guest's question from the venue's own facts, without a model: a small matcher over
 * the question's words (English, Spanish, Portuguese, Indonesian) for the facts a venue keeps
 * (opening hours, address, phone, website and menu link, price level, cuisines) and for a wish to
 * book (which needs a booking request, not a question). A question that asks anything else, or a
 * fact the venue has not given, is not answered here: the venue's staff (or its model) decide.
 */

export type FactTopic = 'hours' | 'address' | 'phone' | 'website' | 'menu' | 'price' | 'cuisine' | 'booking';

export type FactLanguage = 'en' | 'es' | 'pt' | 'id';

export interface VenueFacts {
  name: string;
  /** Weekly hours, weekday 0 (Sunday) to 6 (Saturday), local times HH:MM. */
  hours: readonly { weekday: number; opensAt: string; closesAt: string }[];
  /**
   * Dated changes to the weekly hours in the coming days (closed all day, or open only in the
   * given intervals), by local date YYYY-MM-DD: an answer about hours names them.
   */
  exceptions: readonly HoursChange[];
  /** One line, or null when the venue gave none. */
  address: string | null;
  phone: string | null;
  website: string | null;
  /** 1 (cheap) to 4 (expensive), or null. */
  priceLevel: number | null;
  cuisines: readonly string[];
}

export interface HoursChange {
  /** The local date, YYYY-MM-DD. */
  date: string;
  closed: boolean;
  opensAt: string | null;
  closesAt: string | null;
}

/** How far ahead an answer about hours looks for dated changes. */
export const HOURS_CHANGES_DAYS = 14;

/** The facts of a venue row with its hours (and the dated changes to them coming up). */
export function factsOf(venue: {
  name: string;
  addressLine1: string | null;
  addressLine2: string | null;
  city: string | null;
  region: string | null;
  postalCode: string | null;
  phone: string | null;
  website: string | null;
  priceLevel: number | null;
  cuisines: readonly string[];
  hours: readonly { weekday: number; opensAt: string; closesAt: string }[];
  exceptions?: readonly { date: Date; closed: boolean; opensAt: string | null; closesAt: string | null }[];
}): VenueFacts {
  const address = [
    venue.addressLine1,
    venue.addressLine2,
    [venue.postalCode, venue.city].filter(Boolean).join(' '),
    venue.region,
  ]
    .map((part) => part?.trim())
    .filter(Boolean)
    .join(', ');
  return {
    name: venue.name,
    hours: venue.hours,
    exceptions: (venue.exceptions ?? [])
      .map((e) => ({
        date: e.date.toISOString().slice(0, 10),
        closed: e.closed,
        opensAt: e.opensAt,
        closesAt: e.closesAt,
      }))
      .sort((a, b) => a.date.localeCompare(b.date) || (a.opensAt ?? '').localeCompare(b.opensAt ?? '')),
    address: venue.addressLine1 ? address : null,
    phone: venue.phone?.trim() || null,
    website: venue.website?.trim() || null,
    priceLevel: venue.priceLevel,
    cuisines: venue.cuisines,
  };
}

/** Words (accents removed, lower case) that name a topic, per language. */
const TOPIC_WORDS: Record<FactTopic, Record<FactLanguage, readonly string[]>> = {
  hours: {
    en: ['open', 'opens', 'opening', 'close', 'closes', 'closing', 'hours', 'what time'],
    es: ['abren', 'abre', 'abierto', 'abiertos', 'cierran', 'cierra', 'horario', 'horarios', 'que hora'],
    pt: [
      'abrem',
      'aberto',
      'abertos',
      'fecham',
      'fecha',
      'horario',
      'horarios',
      'funcionamento',
      'que horas',
    ],
    id: ['buka', 'tutup', 'jam', 'operasional'],
  },
  address: {
    en: ['address', 'where', 'located', 'location', 'find you'],
    es: ['direccion', 'donde', 'ubicados', 'ubicado', 'ubicacion'],
    pt: ['endereco', 'morada', 'onde', 'localizacao', 'localizados', 'localizado'],
    id: ['alamat', 'dimana', 'di mana', 'lokasi', 'letak'],
  },
  phone: {
    en: ['phone', 'telephone', 'call you', 'phone number'],
    es: ['telefono', 'llamar', 'llamarlos'],
    pt: ['telefone', 'ligar'],
    id: ['telepon', 'telpon', 'nomor telepon', 'no telp', 'telp'],
  },
  website: {
    en: ['website', 'web site', 'site', 'web page', 'webpage', 'link'],
    es: ['web', 'sitio web', 'pagina web', 'pagina', 'enlace'],
    pt: ['site', 'pagina', 'web'],
    id: ['situs', 'website', 'web', 'tautan'],
  },
  menu: {
    en: ['menu', 'menus'],
    es: ['menu', 'carta'],
    pt: ['menu', 'cardapio', 'ementa'],
    id: ['menu', 'daftar menu'],
  },
  price: {
    en: ['price', 'prices', 'pricey', 'expensive', 'cheap', 'cost', 'how much'],
    es: ['precio', 'precios', 'caro', 'barato', 'cuesta', 'cuanto cuesta'],
    pt: ['preco', 'precos', 'caro', 'barato', 'custa', 'quanto custa'],
    id: ['harga', 'mahal', 'murah', 'berapa harga'],
  },
  cuisine: {
    en: ['cuisine', 'food', 'kind of food', 'type of food'],
    es: ['cocina', 'comida', 'tipo de comida'],
    pt: ['cozinha', 'comida', 'tipo de comida', 'culinaria'],
    id: ['masakan', 'makanan', 'kuliner'],
  },
  booking: {
    en: ['book', 'booking', 'reserve', 'reservation'],
    es: ['reservar', 'reserva', 'reservacion'],
    pt: ['reservar', 'reserva'],
    id: ['reservasi', 'booking', 'pesan meja', 'pesan tempat'],
  },
};

/**
 * Words of questions the facts never answer (pets, parking, diets, access, children, events,
 * special days): such a question goes to the venue's staff even when it also names a fact. A word
 * ending in `*` matches every word it begins (vegan*: vegana, veganos).
 */
const BEYOND_FACTS: Record<FactLanguage, readonly string[]> = {
  en: [
    'dog*',
    'pet',
    'pets',
    'parking',
    'vegan*',
    'vegetarian*',
    'gluten*',
    'allerg*',
    'wheelchair*',
    'kids',
    'child*',
    'birthday*',
    'christmas',
    'holiday*',
    'event*',
    'private',
    'today',
    'tonight',
    'tomorrow',
    'cake*',
    'terrace',
    'outdoor*',
    'wifi',
  ],
  es: [
    'perro*',
    'mascota*',
    'estacionamiento',
    'aparcamiento',
    'parking',
    'vegan*',
    'vegetarian*',
    'gluten',
    'alergi*',
    'silla de ruedas',
    'nino*',
    'cumpleanos',
    'navidad',
    'feriado*',
    'festivo*',
    'evento*',
    'privad*',
    'hoy',
    'esta noche',
    'manana',
    'pastel*',
    'tarta*',
    'terraza*',
  ],
  pt: [
    'cachorro*',
    'cao',
    'caes',
    'animal',
    'animais',
    'estacionamento',
    'vegan*',
    'vegetarian*',
    'gluten',
    'alergi*',
    'cadeira de rodas',
    'crianca*',
    'aniversario*',
    'natal',
    'feriado*',
    'evento*',
    'privad*',
    'hoje',
    'esta noite',
    'amanha',
    'bolo*',
    'esplanada*',
  ],
  id: [
    'anjing',
    'kucing',
    'hewan',
    'parkir*',
    'vegan',
    'vegetarian',
    'gluten',
    'alergi',
    'kursi roda',
    'anak*',
    'ulang tahun',
    'natal',
    'lebaran',
    'libur*',
    'acara',
    'privat',
    'hari ini',
    'malam ini',
    'besok',
    'kue',
  ],
};

/** Common words that tell the languages apart when the topic words do not. */
const LANGUAGE_HINTS: Record<FactLanguage, readonly string[]> = {
  en: ['the', 'you', 'what', 'is', 'are', 'do', 'does', 'your', 'how'],
  es: ['que', 'el', 'los', 'las', 'ustedes', 'es', 'hay', 'tienen', 'cual', 'su', 'como', 'donde', 'cuanto'],
  pt: ['voces', 'vcs', 'o', 'os', 'tem', 'sao', 'qual', 'seu', 'sua', 'como', 'onde', 'quanto', 'e'],
  id: ['apa', 'kapan', 'yang', 'ada', 'bisa', 'ini', 'berapa', 'anda', 'kalian', 'dimana', 'mana'],
};

const LANGUAGES: readonly FactLanguage[] = ['en', 'es', 'pt', 'id'];

/** The words of a text, lower case, accents removed. */
export function wordsOf(text: string): string[] {
  return text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/** Lower case, accents removed, words separated by single spaces, padded for phrase matching. */
export function normalize(text: string): string {
  return ` ${wordsOf(text).join(' ')} `;
}

const has = (normalized: string, phrase: string) => normalized.includes(` ${phrase} `);

export interface QuestionMatch {
  topics: FactTopic[];
  language: FactLanguage;
  /** The question also asks what the facts never answer. */
  beyondFacts: boolean;
}

/** What the question asks about, in which language it seems to be, and whether it asks more. */
export function matchQuestion(text: string): QuestionMatch {
  const normalized = normalize(text);
  const scores = new Map<FactLanguage, number>(LANGUAGES.map((l) => [l, 0]));
  const topics: FactTopic[] = [];
  for (const [topic, byLanguage] of Object.entries(TOPIC_WORDS) as [
    FactTopic,
    Record<FactLanguage, readonly string[]>,
  ][]) {
    let found = false;
    for (const language of LANGUAGES) {
      const hits = byLanguage[language].filter((w) => has(normalized, w)).length;
      if (hits > 0) {
        found = true;
        scores.set(language, scores.get(language)! + 2 * hits);
      }
    }
    if (found) topics.push(topic);
  }
  for (const language of LANGUAGES) {
    const hits = LANGUAGE_HINTS[language].filter((w) => has(normalized, w)).length;
    scores.set(language, scores.get(language)! + hits);
  }
  const language = LANGUAGES.reduce(
    (best, l) => (scores.get(l)! > scores.get(best)! ? l : best),
    'en' as FactLanguage,
  );
  const words = normalized.trim().split(' ');
  const beyondFacts = LANGUAGES.some((l) =>
    BEYOND_FACTS[l].some((w) =>
      w.endsWith('*') ? words.some((word) => word.startsWith(w.slice(0, -1))) : has(normalized, w),
    ),
  );
  return { topics, language, beyondFacts };
}

const DAY_ORDER = [1, 2, 3, 4, 5, 6, 0];

const WORDS: Record<
  FactLanguage,
  {
    days: readonly string[];
    everyDay: string;
    closed: string;
    /** Introduces the dated changes to the weekly hours. */
    except: string;
    hours: string;
    address: string;
    phone: string;
    website: string;
    menu: string;
    price: string;
    cuisine: string;
    booking: string;
  }
> = {
  en: {
    days: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'],
    everyDay: 'every day',
    closed: 'closed',
    except: 'Except',
    hours: 'Opening hours',
    address: 'Address',
    phone: 'Phone',
    website: 'Website',
    menu: 'Menu and website',
    price: 'Price level',
    cuisine: 'Cuisine',
    booking:
      'To book a table, ask for a booking with the date, the time and the number of guests, and the venue will answer it.',
  },
  es: {
    days: ['dom', 'lun', 'mar', 'mié', 'jue', 'vie', 'sáb'],
    everyDay: 'todos los días',
    closed: 'cerrado',
    except: 'Excepto',
    hours: 'Horario',
    address: 'Dirección',
    phone: 'Teléfono',
    website: 'Web',
    menu: 'Carta y web',
    price: 'Nivel de precios',
    cuisine: 'Cocina',
    booking:
      'Para reservar una mesa, pide una reserva con la fecha, la hora y el número de personas, y el local la responderá.',
  },
  pt: {
    days: ['dom', 'seg', 'ter', 'qua', 'qui', 'sex', 'sáb'],
    everyDay: 'todos os dias',
    closed: 'fechado',
    except: 'Exceto',
    hours: 'Horário',
    address: 'Endereço',
    phone: 'Telefone',
    website: 'Site',
    menu: 'Cardápio e site',
    price: 'Nível de preço',
    cuisine: 'Cozinha',
    booking:
      'Para reservar uma mesa, peça uma reserva com a data, a hora e o número de pessoas, e o local responde.',
  },
  id: {
    days: ['Min', 'Sen', 'Sel', 'Rab', 'Kam', 'Jum', 'Sab'],
    everyDay: 'setiap hari',
    closed: 'tutup',
    except: 'Kecuali',
    hours: 'Jam buka',
    address: 'Alamat',
    phone: 'Telepon',
    website: 'Situs web',
    menu: 'Menu dan situs web',
    price: 'Tingkat harga',
    cuisine: 'Masakan',
    booking:
      'Untuk memesan meja, kirim permintaan reservasi dengan tanggal, jam, dan jumlah orang, dan tempat ini akan menjawabnya.',
  },
};

/** The label of a fact topic in a language ("Phone", "Teléfono"). */
export function topicLabel(topic: Exclude<FactTopic, 'booking'>, language: FactLanguage = 'en'): string {
  return WORDS[language][topic];
}

/** The weekly hours in words: "every day 18:00–23:00", or day by day from Monday. */
export function hoursInWords(hours: VenueFacts['hours'], language: FactLanguage = 'en'): string {
  const w = WORDS[language];
  const dayText = (weekday: number) => {
    const intervals = hours
      .filter((h) => h.weekday === weekday)
      .sort((a, b) => a.opensAt.localeCompare(b.opensAt))
      .map((h) => `${h.opensAt}–${h.closesAt}`);
    return intervals.length > 0 ? intervals.join(', ') : w.closed;
  };
  const texts = DAY_ORDER.map(dayText);
  if (texts.every((t) => t === texts[0])) return `${w.everyDay} ${texts[0]}`;
  return DAY_ORDER.map((weekday, i) => `${w.days[weekday]} ${texts[i]}`).join('; ');
}

/** The dated changes in words: "Dec 24 closed; Dec 31 18:00–01:00", in the language's date style. */
export function hoursChangesInWords(changes: readonly HoursChange[], language: FactLanguage = 'en'): string {
  const w = WORDS[language];
  const day = new Intl.DateTimeFormat(language, { day: 'numeric', month: 'short', timeZone: 'UTC' });
  const byDate = new Map<string, string[]>();
  for (const change of changes) {
    const texts = byDate.get(change.date) ?? [];
    if (change.closed || !change.opensAt || !change.closesAt) texts.push(w.closed);
    else texts.push(`${change.opensAt}–${change.closesAt}`);
    byDate.set(change.date, texts);
  }
  return [...byDate]
    .map(([date, texts]) => {
      // Closed all day wins over any interval given the same day.
      const text = texts.includes(w.closed) ? w.closed : texts.join(', ');
      return `${day.format(new Date(`${date}T00:00:00Z`))} ${text}`;
    })
    .join('; ');
}

/** The weekly hours and, when there are any, the dated changes coming up. */
function hoursAnswer(facts: VenueFacts, language: FactLanguage): string {
  const w = WORDS[language];
  const weekly = `${w.hours}: ${hoursInWords(facts.hours, language)}.`;
  return facts.exceptions.length > 0
    ? `${weekly} ${w.except}: ${hoursChangesInWords(facts.exceptions, language)}.`
    : weekly;
}

/** The venue's answer to one topic, or null when its facts do not say. */
export function factAnswer(facts: VenueFacts, topic: FactTopic, language: FactLanguage): string | null {
  const w = WORDS[language];
  switch (topic) {
    case 'hours':
      return facts.hours.length > 0 ? hoursAnswer(facts, language) : null;
    case 'address':
      return facts.address ? `${w.address}: ${facts.address}.` : null;
    case 'phone':
      return facts.phone ? `${w.phone}: ${facts.phone}.` : null;
    case 'website':
      return facts.website ? `${w.website}: ${facts.website}` : null;
    case 'menu':
      return facts.website ? `${w.menu}: ${facts.website}` : null;
    case 'price':
      return facts.priceLevel ? `${w.price}: ${'$'.repeat(facts.priceLevel)} / $$$$.` : null;
    case 'cuisine':
      return facts.cuisines.length > 0 ? `${w.cuisine}: ${facts.cuisines.join(', ')}.` : null;
    case 'booking':
      return w.booking;
  }
}

/**
 * The answer to a guest's question from the venue's facts, in the question's language, when the
 * facts answer all of it; null when the question asks something else or a fact is missing.
 */
export function answerFromFacts(
  facts: VenueFacts,
  question: string,
): { text: string; topics: FactTopic[] } | null {
  const match = matchQuestion(question);
  if (match.topics.length === 0 || match.beyondFacts) return null;
  // "the menu's website" names both: one link answers both.
  const topics = match.topics.includes('menu') ? match.topics.filter((t) => t !== 'website') : match.topics;
  const lines: string[] = [];
  for (const topic of topics) {
    const line = factAnswer(facts, topic, match.language);
    if (!line) return null;
    lines.push(line);
  }
  return { text: lines.join('\n'), topics };
}

/** The facts as plain lines, for a model's trusted context. */
export function factsInWords(facts: VenueFacts): string {
  return [
    `Name: ${facts.name}`,
    `Opening hours (local time): ${facts.hours.length > 0 ? hoursInWords(facts.hours) : 'not given'}`,
    `Changes to those hours (local dates): ${
      facts.exceptions.length > 0 ? hoursChangesInWords(facts.exceptions) : 'none in the next two weeks'
    }`,
    `Address: ${facts.address ?? 'not given'}`,
    `Phone: ${facts.phone ?? 'not given'}`,
    `Website and menu: ${facts.website ?? 'not given'}`,
    `Price level: ${facts.priceLevel ? `${'$'.repeat(facts.priceLevel)} of $$$$` : 'not given'}`,
    `Cuisines: ${facts.cuisines.length > 0 ? facts.cuisines.join(', ') : 'not given'}`,
  ].join('\n');
}
