-- lock_for_booking also returns who holds the venue under its row lock. A venue's team booking
-- for a guest by email was authorised on the venue's organisation as read before the lock, so a
-- booking that waited on the lock behind a takeover (a claim approved for another organisation)
-- was still made, confirmed and written to the guest in the name of the team the venue had just
-- left. Same arguments: a process of the previous release still running during a deploy reads
-- what it read before and ignores the rest.
CREATE OR REPLACE FUNCTION "lock_for_booking"(
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
  venue jsonb;
  result jsonb;
BEGIN
  IF p_guest_lock IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_guest_lock, 0));
  END IF;
  SELECT jsonb_build_object(
      'status', v.status, 'organizationId', v.organization_id, 'timeZone', v.time_zone,
      'partySizeMin', v.party_size_min, 'partySizeMax', v.party_size_max,
      'slotMinutes', v.slot_minutes, 'turnMinutes', v.turn_minutes,
      'leadTimeMinutes', v.lead_time_minutes, 'bookingHorizonDays', v.booking_horizon_days,
      'coversPerSlot', v.covers_per_slot)
    INTO venue
    FROM venues v
    WHERE v.id = p_venue_id
    FOR UPDATE;
  SELECT jsonb_build_object(
    'venue', venue,
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
