/**
 * What deciding tables costs: `availability` for one local date at floors of 20 and 200 tables
 * with a day of bookings around 12:00–23:00 (90-minute turns, parties of 1 to 8, a quarter of the
 * tables combinable), seeded so every run plans the same floors. Prints the milliseconds of one
 * day's listing (the mean of five after one warm-up) and how many starts it offers a party of 4.
 * Run: `npx node bench/table-plan.ts`. A booking decides one start, a small share of this.
 */
import { availability } from '../src/domain/venues/availability.ts';

const DAY = Date.parse('2026-11-30T00:00:00Z');
const FLOORS = [
  { tables: 20, bookings: [25, 50, 100, 150] },
  { tables: 200, bookings: [100, 200, 300, 400, 800] },
];

let seed = 5;
const random = (n: number) => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed % n;
};

console.log('| tables | bookings | ms per day | starts offered |');
console.log('|-------:|---------:|-----------:|---------------:|');
for (const floor of FLOORS) {
  const tables = Array.from({ length: floor.tables }, (_, i) => ({
    id: `t${i}`,
    seats: [2, 2, 4, 4, 6, 8][i % 6]!,
    combinable: i % 4 === 0,
  }));
  for (const count of floor.bookings) {
    const bookings = Array.from({ length: count }, () => {
      const startsAt = DAY + (12 * 60 + random(44) * 15) * 60_000;
      return {
        startsAt: new Date(startsAt),
        endsAt: new Date(startsAt + 90 * 60_000),
        partySize: 1 + random(8),
      };
    });
    const input = {
      timeZone: 'UTC',
      rules: {
        partySizeMin: 1,
        partySizeMax: 8,
        slotMinutes: 15,
        turnMinutes: 90,
        leadTimeMinutes: 0,
        bookingHorizonDays: 30,
        coversPerSlot: null,
      },
      hours: [{ weekday: 1, opensAt: '12:00', closesAt: '23:30' }],
      exceptions: [],
      tables,
      bookings,
      date: '2026-11-30',
      partySize: 4,
      now: new Date('2026-11-25T00:00:00Z'),
    };
    availability(input);
    const started = performance.now();
    let offered = 0;
    for (let i = 0; i < 5; i += 1) offered = availability(input).length;
    const ms = (performance.now() - started) / 5;
    console.log(`| ${floor.tables} | ${count} | ${ms.toFixed(1)} | ${offered} |`);
  }
}
