/**
 * The ledger's domain functions: transfers move balances once, a repeated id has no second
 * effect, and every refusal is a typed error that leaves the ledger as it was.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  balanceOf,
  ensureAccount,
  entriesOf,
  findAccount,
  organizationAccount,
  platformAccount,
} from '../../src/domain/ledger/accounts.ts';
import {
  adjustCredits,
  CREDITS_ADJUSTMENT,
  creditBalance,
  creditsAccount,
  debitCredits,
  grantCredits,
} from '../../src/domain/ledger/credits.ts';
import { InsufficientFundsError, TransferConflictError } from '../../src/domain/ledger/errors.ts';
import { findTransfer, reversalId, reverseTransfer, transfer } from '../../src/domain/ledger/transfer.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { NotAllowedError, NotFoundError, ValidationError } from '../../src/platform/errors.ts';
import { createOrganization, createPerson } from '../factories/people.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/** Sessions of this database waiting for a row lock held by another (the ledger's FOR UPDATE). */
async function waitingOnLock(): Promise<number> {
  const [row] = await db.prisma.$queryRaw<{ waiting: bigint }[]>`
    SELECT count(*) AS waiting FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%ledger_post_transfer%'`;
  return Number(row?.waiting ?? 0);
}

async function accounts() {
  const organization = await createOrganization(db.prisma);
  const source = await ensureAccount(db.prisma, organizationAccount(organization.id, 'FEES_PAYABLE', 'EUR'), {
    mayOverdraw: true,
  });
  const target = await ensureAccount(db.prisma, creditsAccount(organization.id, 'EUR'));
  return { organizationId: organization.id, source, target };
}

describe('transfer', () => {
  it('moves money between accounts and records who and why', async () => {
    const { source, target } = await accounts();
    const id = randomUUID();
    const written = await transfer(db.prisma, {
      id,
      kind: 'TEST',
      reason: 'a test',
      actor: 'user:x',
      metadata: { invoice: 'in_1' },
      entries: [
        { accountId: source, amount: -700 },
        { accountId: target, amount: 700 },
      ],
    });
    expect(written).toMatchObject({ id, kind: 'TEST', actor: 'user:x', created: true });
    expect(await balanceOf(db.prisma, source)).toBe(-700n);
    expect(await balanceOf(db.prisma, target)).toBe(700n);
    const stored = await findTransfer(db.prisma, id);
    expect(stored).toMatchObject({ reason: 'a test', actor: 'user:x', metadata: { invoice: 'in_1' } });
    expect(stored?.entries.map((entry) => entry.amount).sort()).toEqual([-700n, 700n].sort());
    expect(await entriesOf(db.prisma, target)).toEqual([
      expect.objectContaining({ transferId: id, amount: 700n, currency: 'EUR', kind: 'TEST' }),
    ]);
  });

  it('applies the same id once: a repeat returns the transfer already written and changes nothing', async () => {
    const { source, target } = await accounts();
    const input = {
      id: randomUUID(),
      kind: 'TEST',
      reason: 'once',
      entries: [
        { accountId: source, amount: -50 },
        { accountId: target, amount: 50 },
      ],
    };
    const first = await transfer(db.prisma, input);
    const again = await transfer(db.prisma, { ...input, entries: [...input.entries].reverse() });
    const concurrent = await Promise.all([1, 2, 3, 4].map(() => transfer(db.prisma, input)));
    expect(first.created).toBe(true);
    expect(again).toMatchObject({ id: input.id, created: false });
    expect(concurrent.every((result) => !result.created)).toBe(true);
    expect(await balanceOf(db.prisma, target)).toBe(50n);
  });

  it('refuses an id reused for other entries with TransferConflictError', async () => {
    const { source, target } = await accounts();
    const id = randomUUID();
    const entries = [
      { accountId: source, amount: -10 },
      { accountId: target, amount: 10 },
    ];
    await transfer(db.prisma, { id, kind: 'TEST', reason: 'first', entries });
    const other = [
      { accountId: source, amount: -11 },
      { accountId: target, amount: 11 },
    ];
    await expect(
      transfer(db.prisma, { id, kind: 'TEST', reason: 'second', entries: other }),
    ).rejects.toBeInstanceOf(TransferConflictError);
    await expect(transfer(db.prisma, { id, kind: 'OTHER', reason: 'third', entries })).rejects.toMatchObject({
      name: 'TransferConflictError',
      transferId: id,
    });
    expect(await balanceOf(db.prisma, target)).toBe(10n);
  });

  it('refuses an overdraft with InsufficientFundsError naming the account and the shortfall, and writes nothing', async () => {
    const { source, target } = await accounts();
    await transfer(db.prisma, {
      id: randomUUID(),
      kind: 'TEST',
      reason: 'fund',
      entries: [
        { accountId: source, amount: -300 },
        { accountId: target, amount: 300 },
      ],
    });
    const id = randomUUID();
    const refusal = await transfer(db.prisma, {
      id,
      kind: 'TEST',
      reason: 'too much',
      entries: [
        { accountId: target, amount: -301 },
        { accountId: source, amount: 301 },
      ],
    }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(InsufficientFundsError);
    expect(refusal).toMatchObject({ accountId: target, currency: 'EUR', balance: 300n, shortfall: 1n });
    expect(await findTransfer(db.prisma, id)).toBeNull();
    expect(await balanceOf(db.prisma, target)).toBe(300n);
    expect(await balanceOf(db.prisma, source)).toBe(-300n);
  });

  it('refuses malformed transfers before touching the database', async () => {
    const { source, target } = await accounts();
    const base = { id: randomUUID(), kind: 'TEST', reason: 'bad' };
    const cases = [
      { ...base, entries: [{ accountId: source, amount: -1 }] },
      {
        ...base,
        entries: [
          { accountId: source, amount: 0 },
          { accountId: target, amount: 0 },
        ],
      },
      {
        ...base,
        entries: [
          { accountId: source, amount: -5 },
          { accountId: target, amount: 4 },
        ],
      },
      {
        ...base,
        entries: [
          { accountId: source, amount: -5 },
          { accountId: source, amount: 5 },
        ],
      },
      {
        ...base,
        entries: [
          { accountId: source, amount: -0.5 },
          { accountId: target, amount: 0.5 },
        ],
      },
      { ...base, id: 'not-a-uuid', entries: [] },
      {
        ...base,
        reason: ' ',
        entries: [
          { accountId: source, amount: -5 },
          { accountId: target, amount: 5 },
        ],
      },
    ];
    for (const input of cases) {
      await expect(transfer(db.prisma, input), JSON.stringify(input)).rejects.toBeInstanceOf(ValidationError);
    }
    await expect(
      transfer(db.prisma, {
        ...base,
        entries: [
          { accountId: source, amount: -5 },
          { accountId: randomUUID(), amount: 5 },
        ],
      }),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect(await balanceOf(db.prisma, source)).toBe(0n);
  });

  it('refuses entries in two currencies that do not each sum to zero', async () => {
    const organization = await createOrganization(db.prisma);
    const euros = await ensureAccount(
      db.prisma,
      organizationAccount(organization.id, 'FEES_PAYABLE', 'EUR'),
      {
        mayOverdraw: true,
      },
    );
    const dollars = await ensureAccount(db.prisma, creditsAccount(organization.id, 'usd'));
    await expect(
      transfer(db.prisma, {
        id: randomUUID(),
        kind: 'TEST',
        reason: 'fx',
        entries: [
          { accountId: euros, amount: -100 },
          { accountId: dollars, amount: 100 },
        ],
      }),
    ).rejects.toMatchObject({ name: 'ValidationError', field: 'entries' });
  });

  it('runs inside a caller’s transaction, and rolls back with it', async () => {
    const { source, target } = await accounts();
    const id = randomUUID();
    await expect(
      db.prisma.$transaction(async (tx) => {
        await transfer(tx, {
          id,
          kind: 'TEST',
          reason: 'in a transaction',
          entries: [
            { accountId: source, amount: -20 },
            { accountId: target, amount: 20 },
          ],
        });
        expect(await balanceOf(tx, target)).toBe(20n);
        throw new Error('the caller changes its mind');
      }),
    ).rejects.toThrow('changes its mind');
    expect(await findTransfer(db.prisma, id)).toBeNull();
    expect(await balanceOf(db.prisma, target)).toBe(0n);
  });

  it('holds the accounts FOR UPDATE to the end of the transaction: a second debit waits, then sees the first', async () => {
    const { source, target } = await accounts();
    await transfer(db.prisma, {
      id: randomUUID(),
      kind: 'TEST',
      reason: 'fund',
      entries: [
        { accountId: source, amount: -100 },
        { accountId: target, amount: 100 },
      ],
    });
    const spend = (id: string) => ({
      id,
      kind: 'TEST',
      reason: 'spend all',
      entries: [
        { accountId: target, amount: -100 },
        { accountId: source, amount: 100 },
      ],
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let second: Promise<unknown> | undefined;
    await db.prisma.$transaction(
      async (tx) => {
        await transfer(tx, spend(randomUUID()));
        // Another connection spends the same 100 while this transaction is still open.
        second = transfer(db.prisma, spend(randomUUID())).catch((error: unknown) => error);
        // It is queued on the row lock, not refused on a stale balance and not applied.
        await expect.poll(() => waitingOnLock(), { timeout: 5_000 }).toBeGreaterThan(0);
        release();
        await released;
      },
      { timeout: 10_000 },
    );
    const refusal = await second;
    expect(refusal).toBeInstanceOf(InsufficientFundsError);
    expect(refusal).toMatchObject({ accountId: target, balance: 0n, shortfall: 100n });
    expect(await balanceOf(db.prisma, target)).toBe(0n);
  });

  it('reverses a transfer with a new one, once, and refuses when the money is gone', async () => {
    const { organizationId, source, target } = await accounts();
    const original = await transfer(db.prisma, {
      id: randomUUID(),
      kind: 'TEST',
      reason: 'to reverse',
      entries: [
        { accountId: source, amount: -90 },
        { accountId: target, amount: 90 },
      ],
    });
    const reversal = await reverseTransfer(db.prisma, { transferId: original.id, reason: 'refund' });
    const again = await reverseTransfer(db.prisma, { transferId: original.id, reason: 'refund' });
    expect(reversal).toMatchObject({ id: reversalId(original.id), kind: 'REVERSAL', created: true });
    expect(reversal.metadata).toMatchObject({ reverses: original.id });
    expect(again).toMatchObject({ id: reversal.id, created: false });
    expect(await balanceOf(db.prisma, target)).toBe(0n);
    expect(await balanceOf(db.prisma, source)).toBe(0n);
    // The original stays as it was: history is never edited.
    expect((await findTransfer(db.prisma, original.id))?.entries).toEqual(original.entries);

    const spent = await grantCredits(db.prisma, {
      transferId: randomUUID(),
      organizationId,
      amount: 40,
      currency: 'EUR',
      reason: 'bought',
    });
    await debitCredits(db.prisma, {
      transferId: randomUUID(),
      organizationId,
      amount: 30,
      currency: 'EUR',
      reason: 'spent',
    });
    await expect(
      reverseTransfer(db.prisma, { transferId: spent.id, reason: 'refund' }),
    ).rejects.toMatchObject({
      name: 'InsufficientFundsError',
      shortfall: 30n,
    });
    await expect(
      reverseTransfer(db.prisma, { transferId: randomUUID(), reason: 'x' }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('credits', () => {
  it('are bought into the organisation’s account from Stripe clearing, and spent into revenue', async () => {
    const organization = await createOrganization(db.prisma);
    const clearingBefore = await balanceOf(db.prisma, platformAccount('STRIPE_CLEARING', 'GBP'));
    const revenueBefore = await balanceOf(db.prisma, platformAccount('REVENUE', 'GBP'));
    const purchase = {
      transferId: randomUUID(),
      organizationId: organization.id,
      amount: 5_000,
      currency: 'gbp',
      reason: 'credits pack',
    };
    await grantCredits(db.prisma, purchase);
    await grantCredits(db.prisma, purchase);
    expect(await creditBalance(db.prisma, organization.id, 'GBP')).toBe(5_000n);
    const debit = {
      transferId: randomUUID(),
      organizationId: organization.id,
      amount: 1_200,
      currency: 'GBP',
      reason: 'booking.confirm',
    };
    await debitCredits(db.prisma, debit);
    await debitCredits(db.prisma, debit);
    expect(await creditBalance(db.prisma, organization.id, 'GBP')).toBe(3_800n);
    expect(await balanceOf(db.prisma, platformAccount('STRIPE_CLEARING', 'GBP'))).toBe(
      clearingBefore - 5_000n,
    );
    expect(await balanceOf(db.prisma, platformAccount('REVENUE', 'GBP'))).toBe(revenueBefore + 1_200n);
  });

  it('refuses a debit beyond the balance with InsufficientFundsError and changes nothing', async () => {
    const organization = await createOrganization(db.prisma);
    await expect(
      debitCredits(db.prisma, {
        transferId: randomUUID(),
        organizationId: organization.id,
        amount: 1,
        currency: 'EUR',
        reason: 'call',
      }),
    ).rejects.toMatchObject({ name: 'InsufficientFundsError', accountId: null, balance: 0n, shortfall: 1n });
    expect(await findAccount(db.prisma, creditsAccount(organization.id, 'EUR'))).toBeNull();
    await grantCredits(db.prisma, {
      transferId: randomUUID(),
      organizationId: organization.id,
      amount: 100,
      currency: 'EUR',
      reason: 'pack',
    });
    const refusal = await debitCredits(db.prisma, {
      transferId: randomUUID(),
      organizationId: organization.id,
      amount: 101,
      currency: 'EUR',
      reason: 'call',
    }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(InsufficientFundsError);
    expect(refusal).toMatchObject({ shortfall: 1n });
    expect(await creditBalance(db.prisma, organization.id, 'EUR')).toBe(100n);
    await expect(
      debitCredits(db.prisma, {
        transferId: randomUUID(),
        organizationId: organization.id,
        amount: 0,
        currency: 'EUR',
        reason: 'call',
      }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('are adjusted only by platform admins, with a reason, and the transfer keeps who and why', async () => {
    const organization = await createOrganization(db.prisma);
    const admin = await createPerson(db.prisma, { isPlatformAdmin: true });
    const owner = await createPerson(db.prisma);
    await db.prisma.membership.create({
      data: { organizationId: organization.id, userId: owner.id, role: 'OWNER' },
    });
    const adminAccess = createAccess(db.prisma, { kind: 'user', userId: admin.id, isPlatformAdmin: true });
    const ownerAccess = createAccess(db.prisma, { kind: 'user', userId: owner.id, isPlatformAdmin: false });

    await expect(
      adjustCredits(db.prisma, ownerAccess, {
        organizationId: organization.id,
        amount: 1_000,
        currency: 'EUR',
        reason: 'mine',
      }),
    ).rejects.toBeInstanceOf(NotAllowedError);
    await expect(
      adjustCredits(db.prisma, adminAccess, {
        organizationId: organization.id,
        amount: 1_000,
        currency: 'EUR',
        reason: '  ',
      }),
    ).rejects.toMatchObject({ name: 'ValidationError', field: 'reason' });
    expect(await creditBalance(db.prisma, organization.id, 'EUR')).toBe(0n);

    const given = await adjustCredits(db.prisma, adminAccess, {
      organizationId: organization.id,
      amount: 1_000,
      currency: 'EUR',
      reason: 'goodwill after the outage',
    });
    expect(given).toMatchObject({
      kind: CREDITS_ADJUSTMENT,
      actor: `user:${admin.id}`,
      reason: 'goodwill after the outage',
    });
    await expect(
      adjustCredits(db.prisma, adminAccess, {
        organizationId: organization.id,
        amount: -1_001,
        currency: 'EUR',
        reason: 'take back',
      }),
    ).rejects.toBeInstanceOf(InsufficientFundsError);
    await adjustCredits(db.prisma, adminAccess, {
      organizationId: organization.id,
      amount: -400,
      currency: 'EUR',
      reason: 'take back',
    });
    expect(await creditBalance(db.prisma, organization.id, 'EUR')).toBe(600n);
    const history = await entriesOf(db.prisma, creditsAccount(organization.id, 'EUR'));
    expect(history.map((entry) => [entry.amount, entry.reason, entry.actor])).toEqual(
      expect.arrayContaining([
        [1_000n, 'goodwill after the outage', `user:${admin.id}`],
        [-400n, 'take back', `user:${admin.id}`],
      ]),
    );
  });

  it('opens each account once under concurrent first use', async () => {
    const organization = await createOrganization(db.prisma);
    const ids = await Promise.all(
      Array.from({ length: 8 }, () => ensureAccount(db.prisma, creditsAccount(organization.id, 'CHF'))),
    );
    expect(new Set(ids).size).toBe(1);
    const platform = await Promise.all(
      Array.from({ length: 8 }, () => ensureAccount(db.prisma, platformAccount('REVENUE', 'CHF'))),
    );
    expect(new Set(platform).size).toBe(1);
  });
});
