import { describe, expect, it } from 'vitest';
import {
  answerFromFacts,
  factsOf,
  hoursInWords,
  matchQuestion,
  type VenueFacts,
} from '../../src/domain/network/venue-facts.ts';

const everyDay = [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: '18:00', closesAt: '23:00' }));

const facts: VenueFacts = {
  name: 'Casa Azul',
  hours: everyDay,
  exceptions: [],
  address: 'Rua das Flores 12, 1200-195 Lisboa',
  phone: '+351 21 000 0000',
  website: 'https://casa-azul.example',
  priceLevel: 2,
  cuisines: ['Portuguese', 'seafood'],
};

describe("answering a guest's question from the venue's facts", () => {
  it('finds what is asked, in English, Spanish, Portuguese and Indonesian', () => {
    const cases: [string, string[], string][] = [
      ['What time do you open?', ['hours'], 'en'],
      ['When do you close on Sundays?', ['hours'], 'en'],
      ['Where are you located?', ['address'], 'en'],
      ["What's your phone number?", ['phone'], 'en'],
      ['Can I see the menu?', ['menu'], 'en'],
      ['How expensive is it?', ['price'], 'en'],
      ['What kind of food do you serve?', ['cuisine'], 'en'],
      ['¿A qué hora abren?', ['hours'], 'es'],
      ['¿Cuál es la dirección?', ['address'], 'es'],
      ['¿Tienen carta?', ['menu'], 'es'],
      ['¿Son caros los precios?', ['price'], 'es'],
      ['Que horas vocês abrem?', ['hours'], 'pt'],
      ['Qual é o endereço?', ['address'], 'pt'],
      ['Vocês têm cardápio?', ['menu'], 'pt'],
      ['Qual o telefone de vocês?', ['phone'], 'pt'],
      ['Jam berapa buka?', ['hours'], 'id'],
      ['Alamatnya di mana?', ['address'], 'id'],
      ['Berapa harga makanan di sini?', ['price', 'cuisine'], 'id'],
      ['Masakan apa yang ada?', ['cuisine'], 'id'],
    ];
    for (const [question, topics, language] of cases) {
      expect(matchQuestion(question), question).toMatchObject({ topics, language });
    }
  });

  it('answers from the facts in the question’s language', () => {
    expect(answerFromFacts(facts, 'What time do you open?')).toEqual({
      text: 'Opening hours: every day 18:00–23:00.',
      topics: ['hours'],
    });
    expect(answerFromFacts(facts, '¿Cuál es la dirección y el teléfono?')).toEqual({
      text: 'Dirección: Rua das Flores 12, 1200-195 Lisboa.\nTeléfono: +351 21 000 0000.',
      topics: ['address', 'phone'],
    });
    expect(answerFromFacts(facts, 'Vocês têm cardápio no site?')?.text).toBe(
      'Cardápio e site: https://casa-azul.example',
    );
    expect(answerFromFacts(facts, 'Masakan apa yang ada?')?.text).toBe('Masakan: Portuguese, seafood.');
    expect(answerFromFacts(facts, 'How expensive is it?')?.text).toBe('Price level: $$ / $$$$.');
    expect(answerFromFacts(facts, 'Can I book a table for four?')?.text).toMatch(
      /^To book a table, ask for a booking/,
    );
  });

  it('answers nothing when the question asks more than the facts, or a fact is missing', () => {
    expect(answerFromFacts(facts, 'Can I bring my dog?')).toBeNull();
    expect(answerFromFacts(facts, 'Are you open on Christmas?')).toBeNull();
    expect(answerFromFacts(facts, 'Are you open today?')).toBeNull();
    expect(answerFromFacts(facts, '¿Tienen opciones veganas en la carta?')).toBeNull();
    expect(answerFromFacts(facts, 'Ada parkir?')).toBeNull();
    expect(answerFromFacts(facts, 'Tell me a joke')).toBeNull();
    expect(answerFromFacts({ ...facts, phone: null }, 'What is your phone number?')).toBeNull();
    expect(answerFromFacts({ ...facts, hours: [] }, 'When do you open?')).toBeNull();
  });

  it('names the dated changes to the hours after the weekly hours, in the question’s language', () => {
    const exceptions = [
      { date: '2026-12-31', closed: false, opensAt: '18:00', closesAt: '01:00' },
      { date: '2026-12-24', closed: true, opensAt: null, closesAt: null },
      { date: '2026-12-31', closed: false, opensAt: '12:00', closesAt: '15:00' },
    ];
    const row = {
      ...facts,
      exceptions: factsOf({ ...rowOf(facts), exceptions: exceptions.map(asRow) }).exceptions,
    };
    expect(answerFromFacts(row, 'What time do you open?')?.text).toBe(
      'Opening hours: every day 18:00–23:00. Except: Dec 24 closed; Dec 31 12:00–15:00, 18:00–01:00.',
    );
    expect(answerFromFacts(row, '¿A qué hora abren?')?.text).toMatch(
      /^Horario: todos los días 18:00–23:00\. Excepto: 24 dic\.? cerrado; 31 dic\.? 12:00–15:00, 18:00–01:00\.$/,
    );
  });

  it('says the weekly hours day by day when they differ, from Monday', () => {
    const hours = [
      { weekday: 1, opensAt: '12:00', closesAt: '15:00' },
      { weekday: 1, opensAt: '19:00', closesAt: '23:00' },
      { weekday: 5, opensAt: '19:00', closesAt: '01:00' },
    ];
    expect(hoursInWords(hours)).toBe(
      'Mon 12:00–15:00, 19:00–23:00; Tue closed; Wed closed; Thu closed; Fri 19:00–01:00; Sat closed; Sun closed',
    );
    expect(hoursInWords(hours, 'pt')).toMatch(/^seg 12:00–15:00, 19:00–23:00; ter fechado/);
  });

  it("reads a venue's facts from its row, without an address it has not given", () => {
    const row = {
      name: 'Casa Azul',
      addressLine1: 'Rua das Flores 12',
      addressLine2: null,
      city: 'Lisboa',
      region: null,
      postalCode: '1200-195',
      phone: ' ',
      website: 'https://casa-azul.example',
      priceLevel: null,
      cuisines: [],
      hours: everyDay,
    };
    expect(factsOf(row)).toMatchObject({ address: 'Rua das Flores 12, 1200-195 Lisboa', phone: null });
    expect(factsOf({ ...row, addressLine1: null }).address).toBeNull();
  });
});

/** A venue row with `f`'s facts (as the database holds them). */
function rowOf(f: VenueFacts) {
  return {
    name: f.name,
    addressLine1: null,
    addressLine2: null,
    city: null,
    region: null,
    postalCode: null,
    phone: f.phone,
    website: f.website,
    priceLevel: f.priceLevel,
    cuisines: f.cuisines,
    hours: f.hours,
  };
}

function asRow(e: { date: string; closed: boolean; opensAt: string | null; closesAt: string | null }) {
  return { ...e, date: new Date(`${e.date}T00:00:00Z`) };
}
