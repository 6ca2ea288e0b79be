-- A new booking's locks and the reads that decide it, in one round trip (lockForBooking in
-- src/domain/bookings/bookings.ts): the guest's advisory lock (when given), then the venue's row,
-- then the guest's waiting bookings and the venue's live bookings around the start. A VOLATILE
-- function takes a fresh snapshot for each statement it runs, so the reads, made after the locks
-- were granted, see every booking committed before that, as separate statements would.
CREATE FUNCTION "lock_for_booking"(
  p_venue_id uuid,
  p_guest_id uuid,
  p_guest_lock text,
  p_pending text[],
  p_live text[],
  p_live_from timestamptz,
  p_live_to timestamptz
) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  result jsonb;
BEGIN
  IF p_guest_lock IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_guest_lock, 0));
  END IF;
  PERFORM 1 FROM venues v WHERE v.id = p_venue_id FOR UPDATE;
  SELECT jsonb_build_object(
    'pendingHere', (SELECT count(*) FROM bookings b
      WHERE b.guest_id = p_guest_id AND b.venue_id = p_venue_id AND b.status::text = ANY (p_pending)),
    'pendingTotal', (SELECT count(*) FROM bookings b
      WHERE b.guest_id = p_guest_id AND b.status::text = ANY (p_pending)),
    'live', (SELECT coalesce(jsonb_agg(jsonb_build_object(
        'startsAt', b.starts_at, 'endsAt', b.ends_at, 'partySize', b.party_size)), '[]'::jsonb)
      FROM bookings b
      WHERE b.venue_id = p_venue_id AND b.status::text = ANY (p_live)
        AND b.starts_at >= p_live_from AND b.starts_at < p_live_to)
  ) INTO result;
  RETURN result;
END $$;
