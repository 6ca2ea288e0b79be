/**
 * The migration that links each FAQ entry to the ask whose words it shows: applied to entries
 * written before it, it finds the newest answered question of the venue with those very words (as
 * the compile chose them), leaves an entry staff reworded without a link, and drops a draft whose
 * words no ask has any more (a guest erased before).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { answeredQuestion, createVenue } from '../factories/venues.ts';
import { createTestDatabase, runMigrationFrom, type TestDatabase } from '../helpers/db.ts';

const MIGRATION = '20261220000001_faq_entries_question_item';
/** Where the migration's backfill begins: the columns are already there in a test database. */
const BACKFILL = '-- The entries already written';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

it('links an entry to the newest ask with its words, a reworded entry to none, and drops a draft in an erased guest’s words', async () => {
  const db = database.prisma;
  const venue = await createVenue(db);
  const asks = (text: string, resolvedAt: string) =>
    answeredQuestion(db, venue.id, { text: `  ${text}\n`, answer: 'Yes.', resolvedAt: new Date(resolvedAt) });
  await asks('Do you have high chairs?', '2026-11-01T12:00:00Z');
  const newest = await asks('Do you have high chairs?', '2026-11-02T12:00:00Z');
  await asks('Do you have a high chair?', '2026-11-03T12:00:00Z');
  const entry = (question: string, questionKey: string) =>
    db.venueFaqEntry.create({
      data: {
        venueId: venue.id,
        questionKey,
        question,
        answer: 'Yes.',
        askedCount: 3,
        lastAskedAt: new Date(),
      },
    });
  const guestWords = await entry('Do you have high chairs?', 'children');
  const reworded = await entry('Is the terrace heated in winter?', 'question:terrace heated winter');
  await db.venueFaqEntry.update({ where: { id: reworded.id }, data: { status: 'APPROVED' } });
  // A draft in the words of a guest erased before: no ask has them any more.
  await entry('Is Anna allowed her dog Bolacha?', 'question:anna dog bolacha');

  await runMigrationFrom(database, MIGRATION, BACKFILL);

  const linked = await db.venueFaqEntry.findMany({
    where: { venueId: venue.id },
    orderBy: { question: 'asc' },
  });
  expect(linked.map((e) => [e.id, e.questionItemId])).toEqual([
    [guestWords.id, newest.id],
    [reworded.id, null],
  ]);
});
