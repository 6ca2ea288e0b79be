import { ConflictError } from '../../platform/errors.ts';

/**
 * A transfer would take an account that may not overdraw below zero. Nothing was written.
 * `shortfall` is how much (in minor units of `currency`) was missing.
 */
export class InsufficientFundsError extends ConflictError {
  override name = 'InsufficientFundsError';
  readonly code = 'INSUFFICIENT_FUNDS';
  /** Null when the account was never opened (it holds nothing). */
  readonly accountId: string | null;
  readonly currency: string;
  readonly balance: bigint;
  readonly shortfall: bigint;
  constructor(accountId: string | null, currency: string, balance: bigint, shortfall: bigint) {
    super(`Not enough funds: ${shortfall} ${currency} (minor units) short`);
    this.accountId = accountId;
    this.currency = currency;
    this.balance = balance;
    this.shortfall = shortfall;
  }
}

/** A transfer with this id exists already with other content: the id was reused for something else. */
export class TransferConflictError extends ConflictError {
  override name = 'TransferConflictError';
  readonly code = 'TRANSFER_CONFLICT';
  readonly transferId: string;
  constructor(transferId: string) {
    super(`Transfer ${transferId} already exists with other entries`);
    this.transferId = transferId;
  }
}
