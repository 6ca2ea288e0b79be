-- The ledger: accounts, transfers and their entries, double-entry in integer minor units.
--
-- The rules below hold even if application code is wrong; the database refuses anything else:
--
-- 1. Immutable history. ledger_transfers and ledger_entries refuse UPDATE, DELETE and TRUNCATE
--    (triggers that raise), and a transfer's entries are written right after it, in its own
--    transaction: none can be added to a transfer later. A mistake is put right by a new,
--    reversing transfer.
-- 2. Balanced transfers. At commit (a DEFERRABLE INITIALLY DEFERRED constraint trigger, so the
--    entries of one transfer may be written one by one), every transfer written has at least two
--    entries and its entries sum to zero in each currency.
-- 3. One currency per account. An entry's (account_id, currency) is a foreign key to the
--    account's (id, currency), so an entry cannot be in another currency than its account.
-- 4. Balances equal the sum of their entries. The balance column is written by the database
--    only: inserting an entry adds its amount to the account's balance (a trigger, in the same
--    statement), an account is created with balance 0, and a direct UPDATE of balance is refused
--    (it is allowed only from inside the entry trigger, pg_trigger_depth() > 1). Since entries
--    can never change or go away, balance = sum(entries.amount) for every account, always, and
--    reading a balance needs no sum. (The other design, code updating balances and a deferred
--    check comparing them with a sum, costs a sum over the account's whole history per commit
--    and still lets a wrong write reach the row until commit.)
-- 5. No overdraft where none is allowed: CHECK (may_overdraw OR balance >= 0) on the account,
--    checked on every change the entry trigger makes.
--
-- Concurrency: the application locks the accounts of a transfer with SELECT … FOR UPDATE, in
-- order of id, before it writes (safety rule 2), so the trigger's UPDATE never waits and two
-- transfers over the same accounts cannot deadlock. The trigger's UPDATE would take the same row
-- locks anyway, so a writer that forgets the lock is still serialised, only less politely.

-- CreateEnum
CREATE TYPE "LedgerOwnerKind" AS ENUM ('ORGANIZATION', 'VENUE', 'PLATFORM');

-- CreateEnum
CREATE TYPE "LedgerAccountPurpose" AS ENUM ('CREDITS', 'FEES_PAYABLE', 'VENUE_PAYABLE', 'REVENUE', 'STRIPE_CLEARING', 'ADJUSTMENTS');

-- CreateTable
CREATE TABLE "ledger_accounts" (
    "id" UUID NOT NULL,
    "owner_kind" "LedgerOwnerKind" NOT NULL,
    "owner_id" UUID,
    "purpose" "LedgerAccountPurpose" NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "balance" BIGINT NOT NULL DEFAULT 0,
    "may_overdraw" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ledger_accounts_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "ledger_accounts_balance_check" CHECK ("may_overdraw" OR "balance" >= 0),
    CONSTRAINT "ledger_accounts_owner_check" CHECK (("owner_kind" = 'PLATFORM') = ("owner_id" IS NULL)),
    CONSTRAINT "ledger_accounts_currency_check" CHECK ("currency" ~ '^[A-Z]{3}$')
);

-- CreateTable
CREATE TABLE "ledger_transfers" (
    "id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ledger_transfers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ledger_entries" (
    "transfer_id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "amount" BIGINT NOT NULL,

    CONSTRAINT "ledger_entries_pkey" PRIMARY KEY ("transfer_id","account_id"),
    CONSTRAINT "ledger_entries_amount_check" CHECK ("amount" <> 0)
);

-- CreateIndex (NULLS NOT DISTINCT: the platform's accounts have no owner id and are still one per purpose and currency)
CREATE UNIQUE INDEX "ledger_accounts_owner_kind_owner_id_purpose_currency_key" ON "ledger_accounts"("owner_kind", "owner_id", "purpose", "currency") NULLS NOT DISTINCT;

-- CreateIndex
CREATE UNIQUE INDEX "ledger_accounts_id_currency_key" ON "ledger_accounts"("id", "currency");

-- CreateIndex
CREATE INDEX "ledger_transfers_kind_created_at_idx" ON "ledger_transfers"("kind", "created_at");

-- CreateIndex
CREATE INDEX "ledger_entries_account_id_currency_idx" ON "ledger_entries"("account_id", "currency");

-- AddForeignKey
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_transfer_id_fkey" FOREIGN KEY ("transfer_id") REFERENCES "ledger_transfers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_account_id_currency_fkey" FOREIGN KEY ("account_id", "currency") REFERENCES "ledger_accounts"("id", "currency") ON DELETE RESTRICT ON UPDATE CASCADE;

-- 1. Immutable history.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger: % is append-only (% refused); write a reversing transfer instead', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON "ledger_transfers"
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON "ledger_transfers"
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON "ledger_entries"
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON "ledger_entries"
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- 2. Balanced transfers, checked at commit for every transfer written.
CREATE FUNCTION ledger_check_transfer_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  entry_count bigint;
  unbalanced text;
BEGIN
  SELECT coalesce(sum(sums.entries), 0), string_agg(sums.currency || ' ' || sums.total, ', ') FILTER (WHERE sums.total <> 0)
  INTO entry_count, unbalanced
  FROM (
    SELECT currency, sum(amount) AS total, count(*) AS entries FROM ledger_entries WHERE transfer_id = NEW.id GROUP BY currency
  ) AS sums;
  IF entry_count < 2 THEN
    RAISE EXCEPTION 'ledger: transfer % has % entries; a transfer needs at least two', NEW.id, entry_count
      USING ERRCODE = 'check_violation';
  END IF;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'ledger: transfer % is not balanced (%)', NEW.id, unbalanced
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;

-- Once per transfer, at commit. Entries need no trigger of their own: they can only be written
-- in the transaction that writes their transfer (below), so this check sees them all.
CREATE CONSTRAINT TRIGGER ledger_transfers_balanced AFTER INSERT ON "ledger_transfers"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_transfer_balanced();

-- A transfer is written whole, once: its entries follow it in the same transaction (the last
-- transfer written there), so no entry can be added to a transfer committed before, even a
-- balanced pair that the commit check would let through.
CREATE FUNCTION ledger_note_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('ledger.writing_transfer', NEW.id::text, true);
  RETURN NULL;
END $$;

CREATE TRIGGER ledger_transfers_note AFTER INSERT ON "ledger_transfers"
  FOR EACH ROW EXECUTE FUNCTION ledger_note_transfer();

-- 4. Balances: an entry moves its account's balance, in the same statement; nothing else does.
CREATE FUNCTION ledger_apply_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('ledger.writing_transfer', true) IS DISTINCT FROM NEW.transfer_id::text THEN
    RAISE EXCEPTION 'ledger: entries of transfer % must follow it in the transaction that writes it', NEW.transfer_id
      USING ERRCODE = 'restrict_violation';
  END IF;
  UPDATE ledger_accounts SET balance = balance + NEW.amount WHERE id = NEW.account_id;
  RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_apply AFTER INSERT ON "ledger_entries"
  FOR EACH ROW EXECUTE FUNCTION ledger_apply_entry();

CREATE FUNCTION ledger_guard_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.balance <> 0 THEN
      RAISE EXCEPTION 'ledger: an account opens with balance 0; money arrives by transfer'
        USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.id <> OLD.id OR NEW.owner_kind <> OLD.owner_kind OR NEW.owner_id IS DISTINCT FROM OLD.owner_id
     OR NEW.purpose <> OLD.purpose OR NEW.currency <> OLD.currency THEN
    RAISE EXCEPTION 'ledger: an account''s owner, purpose and currency never change'
      USING ERRCODE = 'restrict_violation';
  END IF;
  -- Depth 1 is a statement from outside; the entry trigger's UPDATE runs at depth 2.
  IF NEW.balance <> OLD.balance AND pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'ledger: a balance changes only by a transfer''s entries'
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER ledger_accounts_guard BEFORE INSERT OR UPDATE ON "ledger_accounts"
  FOR EACH ROW EXECUTE FUNCTION ledger_guard_account();
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON "ledger_accounts"
  FOR EACH ROW WHEN (OLD.balance <> 0) EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON "ledger_accounts"
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Posting a transfer in one statement. The application validates what it can alone (src/domain/
-- ledger/transfer.ts) and then calls this, so the accounts' row locks are held only while the
-- server works, not across round trips: a hot account serialises transfers for microseconds, not
-- for a client's network and event-loop delays. Inside the caller's transaction (or the
-- statement's own, when called alone) it:
--   1. locks the accounts SELECT … FOR UPDATE in order of id (safety rule 2; one order for all,
--      so no deadlock),
--   2. answers 'exists' if the id is already taken (read after the lock, so a duplicate that
--      committed while this one waited is seen); the caller compares the contents,
--   3. answers 'missing' (an unknown account), 'unbalanced' (a currency whose amounts do not sum
--      to zero) or 'insufficient' (the first account, by id, that may not overdraw and would go
--      below zero, with its balance and shortfall), writing nothing,
--   4. else writes the transfer and its entries (the entry trigger moves the balances) and
--      answers 'created', one row per account with its currency and new balance.
CREATE FUNCTION ledger_post_transfer(
  p_id uuid, p_kind text, p_reason text, p_actor text, p_metadata jsonb, p_accounts uuid[], p_amounts bigint[]
) RETURNS TABLE (outcome text, account_id uuid, currency text, balance bigint, shortfall bigint, created_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  missing uuid;
  short_id uuid;
  unbalanced text;
  written timestamptz;
BEGIN
  -- 1. Hold the rows to the end of the transaction. Every later statement here reads them as they
  --    are now (READ COMMITTED: a new snapshot per statement) and nobody else can change them.
  PERFORM 1 FROM ledger_accounts a WHERE a.id = ANY (p_accounts) ORDER BY a.id FOR UPDATE OF a;

  -- 2.
  IF EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.id = p_id) THEN
    RETURN QUERY SELECT 'exists'::text, NULL::uuid, NULL::text, NULL::bigint, NULL::bigint, NULL::timestamptz;
    RETURN;
  END IF;

  -- 3. One pass over the legs and their (locked) accounts.
  SELECT
    (array_agg(l.id ORDER BY l.id) FILTER (WHERE a.id IS NULL))[1],
    (SELECT min(c.currency) FROM (
       SELECT a2.currency::text AS currency FROM unnest(p_accounts, p_amounts) AS l2(id, amount)
       JOIN ledger_accounts a2 ON a2.id = l2.id GROUP BY a2.currency HAVING sum(l2.amount) <> 0) AS c),
    (array_agg(a.id ORDER BY a.id) FILTER (WHERE NOT a.may_overdraw AND a.balance + l.amount < 0))[1]
  INTO missing, unbalanced, short_id
  FROM unnest(p_accounts, p_amounts) AS l(id, amount) LEFT JOIN ledger_accounts a ON a.id = l.id;
  IF missing IS NOT NULL THEN
    RETURN QUERY SELECT 'missing'::text, missing, NULL::text, NULL::bigint, NULL::bigint, NULL::timestamptz;
    RETURN;
  END IF;
  IF unbalanced IS NOT NULL THEN
    RETURN QUERY SELECT 'unbalanced'::text, NULL::uuid, unbalanced, NULL::bigint, NULL::bigint, NULL::timestamptz;
    RETURN;
  END IF;
  IF short_id IS NOT NULL THEN
    RETURN QUERY SELECT 'insufficient'::text, a.id, a.currency::text, a.balance, -(a.balance + l.amount), NULL::timestamptz
    FROM unnest(p_accounts, p_amounts) AS l(id, amount) JOIN ledger_accounts a ON a.id = l.id WHERE a.id = short_id;
    RETURN;
  END IF;

  -- 4. ON CONFLICT: a duplicate over other accounts may have committed since step 2.
  INSERT INTO ledger_transfers (id, kind, reason, actor, metadata)
  VALUES (p_id, p_kind, p_reason, p_actor, p_metadata)
  ON CONFLICT (id) DO NOTHING
  RETURNING ledger_transfers.created_at INTO written;
  IF written IS NULL THEN
    RETURN QUERY SELECT 'exists'::text, NULL::uuid, NULL::text, NULL::bigint, NULL::bigint, NULL::timestamptz;
    RETURN;
  END IF;
  INSERT INTO ledger_entries (transfer_id, account_id, currency, amount)
  SELECT p_id, a.id, a.currency, l.amount
  FROM unnest(p_accounts, p_amounts) AS l(id, amount) JOIN ledger_accounts a ON a.id = l.id;
  -- One row per account, with its balance after the transfer.
  RETURN QUERY SELECT 'created'::text, a.id, a.currency::text, a.balance, NULL::bigint, written
  FROM ledger_accounts a WHERE a.id = ANY (p_accounts) ORDER BY a.id;
END $$;
