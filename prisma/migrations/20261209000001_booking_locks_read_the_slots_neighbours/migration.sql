-- lock_for_booking, reading of the venue's live bookings only those that can share capacity with
-- the start being decided (lockForBooking in src/domain/bookings/bookings.ts): those starting in
-- [p_live_from, p_live_to) that are still running at p_at or start at or after it. Deciding one
-- start needs the bookings starting in its slot (covers) and those overlapping its turn (tables),
-- no others; a busy venue's two days either side were read, sent and gone through before.
-- The function of seven arguments stays for processes of the previous release still running
-- during a deploy; a later migration drops it.
CREATE FUNCTION "lock_for_booking"(
  p_venue_id uuid,
  p_guest_id uuid,
  p_guest_lock text,
  p_pending text[],
  p_live text[],
  p_live_from timestamptz,
  p_live_to timestamptz,
  p_at timestamptz
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
        AND b.starts_at >= p_live_from AND b.starts_at < p_live_to
        AND (b.ends_at > p_at OR b.starts_at >= p_at))
  ) INTO result;
  RETURN result;
END $$;
