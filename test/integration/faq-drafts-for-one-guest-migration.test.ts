/**
 * The migration that drops FAQ drafts compiled from an answer written to one guest: such a draft
 * goes, a draft from an answer for every guest stays, and so does an entry staff approved.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { answeredQuestion, createVenue } from '../factories/venues.ts';
import { createTestDatabase, runMigrationFrom, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

it('drops drafts made from an answer to one guest, and keeps the rest', async () => {
  const db = database.prisma;
  const venue = await createVenue(db);
  const entry = async (question: string, answer: string, forAll: boolean, status: 'DRAFT' | 'APPROVED') => {
    const item = await answeredQuestion(db, venue.id, { text: question, answer, answerForAll: forAll });
    return db.venueFaqEntry.create({
      data: {
        venueId: venue.id,
        questionKey: `question:${randomUUID()}`,
        questionItemId: item.id,
        question,
        answer,
        status,
        askedCount: 2,
        lastAskedAt: new Date(),
      },
    });
  };
  await entry('Can you keep our cake cold?', 'Yes Maria, for your 8pm table.', false, 'DRAFT');
  const general = await entry('Do you have high chairs?', 'Yes, two.', true, 'DRAFT');
  const approved = await entry('Is there parking?', 'Yes Joao, in our garage.', false, 'APPROVED');

  await runMigrationFrom(database, '20261221000013_faq_drafts_for_one_guest', 'DELETE FROM');

  const left = await db.venueFaqEntry.findMany({
    where: { venueId: venue.id },
    orderBy: { question: 'asc' },
  });
  expect(left.map((e) => e.id)).toEqual([general.id, approved.id]);
});
