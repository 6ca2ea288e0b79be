/**
 * The ledger's invariants are the database's, not the code's: every test here writes raw SQL that
 * goes around src/domain/ledger, as a buggy caller would, and the database refuses it.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/** Runs `work` in a transaction on its own connection and commits; rejects with PostgreSQL's error. */
async function inTransaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await work(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

async function openAccount(currency = 'EUR', mayOverdraw = false): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO ledger_accounts (id, owner_kind, owner_id, purpose, currency, may_overdraw)
     VALUES (gen_random_uuid(), 'ORGANIZATION', gen_random_uuid(), 'CREDITS', $1, $2) RETURNING id`,
    [currency, mayOverdraw],
  );
  return rows[0]!.id;
}

async function balance(accountId: string): Promise<bigint> {
  const { rows } = await db.pool.query<{ balance: string }>(
    'SELECT balance FROM ledger_accounts WHERE id = $1',
    [accountId],
  );
  return BigInt(rows[0]!.balance);
}

async function rawTransfer(
  client: pg.PoolClient | pg.Pool,
  entries: { accountId: string; amount: number; currency?: string }[],
  id = randomUUID(),
): Promise<string> {
  await client.query(
    `INSERT INTO ledger_transfers (id, kind, reason, actor) VALUES ($1, 'TEST', 'raw sql', 'test')`,
    [id],
  );
  for (const entry of entries) {
    await client.query(
      'INSERT INTO ledger_entries (transfer_id, account_id, currency, amount) VALUES ($1, $2, $3, $4)',
      [id, entry.accountId, entry.currency ?? 'EUR', entry.amount],
    );
  }
  return id;
}

/** A committed, balanced transfer of `amount` from an overdrawable source into a new account. */
async function funded(amount: number): Promise<{ source: string; target: string; transferId: string }> {
  const source = await openAccount('EUR', true);
  const target = await openAccount('EUR');
  let transferId = '';
  await inTransaction(async (client) => {
    transferId = await rawTransfer(client, [
      { accountId: source, amount: -amount },
      { accountId: target, amount },
    ]);
  });
  return { source, target, transferId };
}

describe('the ledger in the database', () => {
  it('applies a balanced transfer to both balances (written by the database, not by the caller)', async () => {
    const { source, target } = await funded(1_250);
    expect(await balance(source)).toBe(-1_250n);
    expect(await balance(target)).toBe(1_250n);
  });

  it('refuses an unbalanced transfer at commit, and nothing of it stays', async () => {
    const source = await openAccount('EUR', true);
    const target = await openAccount('EUR');
    const id = randomUUID();
    await expect(
      inTransaction(async (client) => {
        await rawTransfer(
          client,
          [
            { accountId: source, amount: -100 },
            { accountId: target, amount: 99 },
          ],
          id,
        );
      }),
    ).rejects.toMatchObject({ code: '23514', message: expect.stringContaining('not balanced') });
    expect(await balance(source)).toBe(0n);
    expect(await balance(target)).toBe(0n);
    const { rowCount } = await db.pool.query('SELECT 1 FROM ledger_transfers WHERE id = $1', [id]);
    expect(rowCount).toBe(0);
  });

  it('refuses a transfer balanced in sum but not in each currency', async () => {
    const euros = await openAccount('EUR', true);
    const dollars = await openAccount('USD');
    await expect(
      inTransaction(async (client) => {
        await rawTransfer(client, [
          { accountId: euros, amount: -100, currency: 'EUR' },
          { accountId: dollars, amount: 100, currency: 'USD' },
        ]);
      }),
    ).rejects.toMatchObject({ code: '23514', message: expect.stringContaining('not balanced') });
  });

  it('refuses a transfer with one entry, or none', async () => {
    const account = await openAccount('EUR', true);
    await expect(
      inTransaction(async (client) => {
        await rawTransfer(client, [{ accountId: account, amount: -5 }]);
      }),
    ).rejects.toMatchObject({ code: '23514', message: expect.stringContaining('at least two') });
    await expect(
      inTransaction(async (client) => {
        await rawTransfer(client, []);
      }),
    ).rejects.toMatchObject({ code: '23514', message: expect.stringContaining('at least two') });
  });

  it('refuses entries added later to a committed transfer, even balanced ones', async () => {
    const { transferId } = await funded(10);
    const a = await openAccount('EUR', true);
    const b = await openAccount('EUR');
    await expect(
      inTransaction(async (client) => {
        await client.query(
          `INSERT INTO ledger_entries (transfer_id, account_id, currency, amount) VALUES ($1, $2, 'EUR', -7), ($1, $3, 'EUR', 7)`,
          [transferId, a, b],
        );
      }),
    ).rejects.toMatchObject({ code: '23001', message: expect.stringContaining('must follow it') });
    expect(await balance(a)).toBe(0n);
    expect(await balance(b)).toBe(0n);
  });

  it('refuses a negative balance on an account that may not overdraw', async () => {
    const { source, target } = await funded(500);
    const elsewhere = await openAccount('EUR');
    await expect(
      inTransaction(async (client) => {
        await rawTransfer(client, [
          { accountId: target, amount: -501 },
          { accountId: elsewhere, amount: 501 },
        ]);
      }),
    ).rejects.toMatchObject({ code: '23514', constraint: 'ledger_accounts_balance_check' });
    expect(await balance(target)).toBe(500n);
    expect(await balance(elsewhere)).toBe(0n);
    expect(await balance(source)).toBe(-500n);
  });

  it('refuses an entry in another currency than its account', async () => {
    const euros = await openAccount('EUR', true);
    const dollars = await openAccount('USD', true);
    await expect(
      inTransaction(async (client) => {
        await rawTransfer(client, [
          { accountId: euros, amount: -100, currency: 'EUR' },
          { accountId: dollars, amount: 100, currency: 'EUR' },
        ]);
      }),
    ).rejects.toMatchObject({ code: '23503', constraint: 'ledger_entries_account_id_currency_fkey' });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of entries and transfers', async () => {
    const { target, transferId } = await funded(300);
    const refusals = [
      'UPDATE ledger_entries SET amount = amount * 2 WHERE transfer_id = $1',
      'DELETE FROM ledger_entries WHERE transfer_id = $1',
      "UPDATE ledger_transfers SET reason = 'rewritten' WHERE id = $1",
      'DELETE FROM ledger_transfers WHERE id = $1',
    ];
    for (const sql of refusals) {
      await expect(db.pool.query(sql, [transferId]), sql).rejects.toMatchObject({
        code: '23001',
        message: expect.stringContaining('append-only'),
      });
    }
    for (const table of ['ledger_entries', 'ledger_transfers', 'ledger_accounts']) {
      await expect(db.pool.query(`TRUNCATE ${table} CASCADE`), table).rejects.toMatchObject({
        code: '23001',
      });
    }
    expect(await balance(target)).toBe(300n);
    const { rows } = await db.pool.query<{ amount: string }>(
      'SELECT amount FROM ledger_entries WHERE transfer_id = $1 ORDER BY amount',
      [transferId],
    );
    expect(rows.map((row) => row.amount)).toEqual(['-300', '300']);
  });

  it('refuses a balance written other than by entries, and an account opened with money in it', async () => {
    const { target } = await funded(40);
    await expect(
      db.pool.query('UPDATE ledger_accounts SET balance = 1000000 WHERE id = $1', [target]),
    ).rejects.toMatchObject({
      code: '23001',
      message: expect.stringContaining('changes only by a transfer'),
    });
    await expect(db.pool.query('DELETE FROM ledger_accounts WHERE id = $1', [target])).rejects.toMatchObject({
      code: '23001',
    });
    await expect(
      db.pool.query(
        `INSERT INTO ledger_accounts (id, owner_kind, owner_id, purpose, currency, balance)
         VALUES (gen_random_uuid(), 'ORGANIZATION', gen_random_uuid(), 'CREDITS', 'EUR', 1000)`,
      ),
    ).rejects.toMatchObject({ code: '23514', message: expect.stringContaining('opens with balance 0') });
    await expect(
      db.pool.query(`UPDATE ledger_accounts SET currency = 'USD' WHERE id = $1`, [target]),
    ).rejects.toMatchObject({
      code: '23001',
    });
    expect(await balance(target)).toBe(40n);
  });

  it('keeps one platform account per purpose and currency, though the platform has no owner id', async () => {
    const open = () =>
      db.pool.query(
        `INSERT INTO ledger_accounts (id, owner_kind, owner_id, purpose, currency)
         VALUES (gen_random_uuid(), 'PLATFORM', NULL, 'REVENUE', 'JPY')`,
      );
    await open();
    await expect(open()).rejects.toMatchObject({ code: '23505' });
    await expect(
      db.pool.query(
        `INSERT INTO ledger_accounts (id, owner_kind, owner_id, purpose, currency)
         VALUES (gen_random_uuid(), 'ORGANIZATION', NULL, 'CREDITS', 'JPY')`,
      ),
    ).rejects.toMatchObject({ code: '23514', constraint: 'ledger_accounts_owner_check' });
  });
});
