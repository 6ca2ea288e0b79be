-- lock_for_decision: what a venue's agent deciding a booking request takes and reads under its
-- locks (readForDecision in src/domain/bookings/bookings.ts), in one round trip: the venue's row,
-- then the booking's (the lock order of bookings.ts); the venue's status and booking rules and
-- what deciding checks of the booking, as they are under the locks; and the venue's other live
-- bookings that can share capacity with the start (as lock_for_booking reads them). The booking is
-- locked only when it is this venue's; null when not.
CREATE FUNCTION "lock_for_decision"(
  p_venue_id uuid,
  p_booking_id uuid,
  p_live text[],
  p_live_from timestamptz,
  p_live_to timestamptz,
  p_at timestamptz
) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  venue jsonb;
  booking jsonb;
  live jsonb;
BEGIN
  SELECT jsonb_build_object(
      'status', v.status, 'timeZone', v.time_zone,
      'partySizeMin', v.party_size_min, 'partySizeMax', v.party_size_max,
      'slotMinutes', v.slot_minutes, 'turnMinutes', v.turn_minutes,
      'leadTimeMinutes', v.lead_time_minutes, 'bookingHorizonDays', v.booking_horizon_days,
      'coversPerSlot', v.covers_per_slot)
    INTO venue
    FROM venues v
    WHERE v.id = p_venue_id
    FOR UPDATE;
  SELECT jsonb_build_object(
      'status', b.status, 'guestId', b.guest_id,
      'startsAt', b.starts_at, 'endsAt', b.ends_at, 'partySize', b.party_size)
    INTO booking
    FROM bookings b
    WHERE b.id = p_booking_id AND b.venue_id = p_venue_id
    FOR UPDATE;
  SELECT coalesce(jsonb_agg(jsonb_build_object(
      'startsAt', b.starts_at, 'endsAt', b.ends_at, 'partySize', b.party_size)), '[]'::jsonb)
    INTO live
    FROM bookings b
    WHERE b.venue_id = p_venue_id AND b.status::text = ANY (p_live) AND b.id <> p_booking_id
      AND b.starts_at >= p_live_from AND b.starts_at < p_live_to
      AND (b.ends_at > p_at OR b.starts_at >= p_at);
  RETURN jsonb_build_object('venue', venue, 'booking', booking, 'live', live);
END $$;
