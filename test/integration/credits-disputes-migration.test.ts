/**
 * The migration that keeps each dispute of a credits purchase: applied to disputes taken back
 * before it, a dispute's row holds what its transfer took, and one whose transfer was reversed
 * (won) holds nothing and is marked won.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CREDITS_DISPUTE, grantCredits, refundCredits } from '../../src/domain/ledger/credits.ts';
import { reverseTransfer } from '../../src/domain/ledger/transfer.ts';
import { createTestDatabase, runMigrationFrom, type TestDatabase } from '../helpers/db.ts';

const MIGRATION = '20261221000009_credits_disputes';
/** Where the migration's backfill begins: the table is already there in a test database. */
const BACKFILL = '-- Disputes taken back before';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

it('keeps what each earlier dispute took, and a won one as won holding nothing', async () => {
  const db = database.prisma;
  const organizationId = randomUUID();
  await grantCredits(db, {
    transferId: randomUUID(),
    organizationId,
    amount: 5000,
    currency: 'USD',
    reason: 'bought',
  });
  const disputed = async (disputeId: string, amount: number) => {
    const transferId = randomUUID();
    await refundCredits(db, {
      kind: CREDITS_DISPUTE,
      transferId,
      organizationId,
      amount,
      currency: 'USD',
      reason: 'disputed',
      metadata: { disputeId, paymentIntentId: `pi_${disputeId}`, uncovered: '300' },
    });
    return transferId;
  };
  await disputed('dp_open', 1200);
  await reverseTransfer(db, { transferId: await disputed('dp_won', 800), reason: 'won' });

  await runMigrationFrom(database, MIGRATION, BACKFILL);

  const rows = await db.creditsDispute.findMany({ orderBy: { disputeId: 'asc' } });
  expect(
    rows.map(({ disputeId, paymentIntentId, taken, uncovered, won }) => ({
      disputeId,
      paymentIntentId,
      taken,
      uncovered,
      won,
    })),
  ).toEqual([
    { disputeId: 'dp_open', paymentIntentId: 'pi_dp_open', taken: 1200n, uncovered: 300n, won: false },
    { disputeId: 'dp_won', paymentIntentId: 'pi_dp_won', taken: 0n, uncovered: 300n, won: true },
  ]);
  expect(rows.every((row) => row.organizationId === organizationId)).toBe(true);
});
