-- Billing events for outbound webhooks: what receivers were last told of a subscription (its
-- status, price and standing), so a change is announced once however often it is seen, and when
-- a fee invoice's finalisation was announced.
ALTER TABLE billing_subscriptions
  ADD COLUMN announced_status TEXT,
  ADD COLUMN announced_price_id TEXT,
  ADD COLUMN announced_standing TEXT;

-- Subscriptions stored before these events existed are taken as announced as they stand: nobody
-- could subscribe to them yet, and a receiver subscribing later must not hear of old news.
UPDATE billing_subscriptions
   SET announced_status = status,
       announced_price_id = price_id,
       announced_standing = COALESCE(notified_standing, 'NONE');

ALTER TABLE fee_invoices ADD COLUMN finalized_at TIMESTAMPTZ(3);
UPDATE fee_invoices SET finalized_at = updated_at WHERE status <> 'draft';
