/** Which database errors pass (the same work later should succeed), and which are the data's. */
import { describe, expect, it } from 'vitest';
import { isPassingDatabaseFault } from '../../src/platform/db.ts';

const adapter = (cause: Record<string, unknown>) =>
  Object.assign(new Error('raw query failed'), { code: 'P2010', meta: { driverAdapterError: { cause } } });

describe('isPassingDatabaseFault', () => {
  it('knows a dropped or refused connection, a pool timeout, a deadlock and a serialisation failure', () => {
    expect(isPassingDatabaseFault(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(
      true,
    );
    expect(isPassingDatabaseFault(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isPassingDatabaseFault(Object.assign(new Error('pool'), { code: 'P2024' }))).toBe(true);
    expect(isPassingDatabaseFault(adapter({ kind: 'TransactionWriteConflict', originalCode: '40P01' }))).toBe(
      true,
    );
    expect(isPassingDatabaseFault(adapter({ kind: 'postgres', originalCode: '57P01' }))).toBe(true);
    // Wrapped by whoever caught it first.
    expect(
      isPassingDatabaseFault(new Error('turn failed', { cause: adapter({ kind: 'SocketTimeout' }) })),
    ).toBe(true);
  });

  it('does not take a refusal of the data, or anything else, for one', () => {
    expect(
      isPassingDatabaseFault(adapter({ kind: 'UniqueConstraintViolation', originalCode: '23505' })),
    ).toBe(false);
    expect(isPassingDatabaseFault(adapter({ kind: 'postgres', originalCode: '22P02' }))).toBe(false);
    expect(isPassingDatabaseFault(new Error('model answered nonsense'))).toBe(false);
    expect(isPassingDatabaseFault(null)).toBe(false);
  });
});
