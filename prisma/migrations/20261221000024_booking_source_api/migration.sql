-- A booking made over the GraphQL API was recorded as the venue's own (DASHBOARD) whoever made
-- it, so a developer's key booking at another organisation's venue (or a person booking for
-- themselves) cost the venue no booking fee, unlike the same booking over MCP, and the venue's
-- webhooks said its own team had made it. Such bookings are now API, and earn a fee as the
-- agents' do; DASHBOARD stays the venue's own team's.

ALTER TYPE "BookingSource" ADD VALUE 'API';
