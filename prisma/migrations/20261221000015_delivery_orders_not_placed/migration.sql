-- Deliveries an operator settled as never booked (NOT_PLACED) are deleted with their quotes 30 days
-- later by the daily retention job, which finds them by this index.
CREATE INDEX "delivery_orders_not_placed_idx" ON "delivery_orders"("updated_at") WHERE status = 'NOT_PLACED';
