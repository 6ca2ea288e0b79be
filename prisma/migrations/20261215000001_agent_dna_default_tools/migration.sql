-- Agents keep the tool list they were given when they were made, and a turn offers only the tools
-- listed: a person whose agent was made before leave_feedback, set_reminder or suggest_venues
-- existed never got them, nor a venue agent made before venue_create_booking, venue_send_menu and
-- escalate_to_human. A stored list with exactly the tools of an earlier default (in any order)
-- was never edited: it becomes today's default, written at tool catalogue version 1. An edited
-- list is left as it is. This is the rule of storedDna (src/domain/agents/dna.ts), which readers
-- apply anyway; writing it once keeps the rows as agents act and has the gateway's profiles
-- registered again (updated_at moves, agent-register-sweep picks them up).
--
-- Safe to run twice: a row it writes has a toolsVersion, and only rows without one are read.
-- Safe during a rolling deploy: code from before ignores toolsVersion, and the lists written are
-- exactly the lists that code offers; an agent it makes or edits meanwhile has no toolsVersion and
-- gets the same rule when read.

WITH defaults (kind, old_tools, new_tools) AS (
  VALUES
    ('CONSUMER'::"AgentKind",
     '["search_venues","get_venue_details","check_availability","create_booking","modify_booking","cancel_booking","list_my_bookings","get_weather","get_directions","remember","recall","update_profile","ask_venue","quote_delivery","confirm_delivery","get_delivery_status"]'::jsonb,
     '["search_venues","suggest_venues","get_venue_details","check_availability","create_booking","modify_booking","cancel_booking","list_my_bookings","leave_feedback","get_weather","get_directions","remember","recall","update_profile","set_reminder","ask_venue","quote_delivery","confirm_delivery","get_delivery_status"]'::jsonb),
    ('CONSUMER',
     '["search_venues","get_venue_details","check_availability","create_booking","modify_booking","cancel_booking","list_my_bookings","leave_feedback","get_weather","get_directions","remember","recall","update_profile","ask_venue","quote_delivery","confirm_delivery","get_delivery_status"]',
     '["search_venues","suggest_venues","get_venue_details","check_availability","create_booking","modify_booking","cancel_booking","list_my_bookings","leave_feedback","get_weather","get_directions","remember","recall","update_profile","set_reminder","ask_venue","quote_delivery","confirm_delivery","get_delivery_status"]'),
    ('CONSUMER',
     '["search_venues","get_venue_details","check_availability","create_booking","modify_booking","cancel_booking","list_my_bookings","leave_feedback","get_weather","get_directions","remember","recall","update_profile","set_reminder","ask_venue","quote_delivery","confirm_delivery","get_delivery_status"]',
     '["search_venues","suggest_venues","get_venue_details","check_availability","create_booking","modify_booking","cancel_booking","list_my_bookings","leave_feedback","get_weather","get_directions","remember","recall","update_profile","set_reminder","ask_venue","quote_delivery","confirm_delivery","get_delivery_status"]'),
    ('CONSUMER',
     '["search_venues","suggest_venues","get_venue_details","check_availability","create_booking","modify_booking","cancel_booking","list_my_bookings","leave_feedback","get_weather","get_directions","remember","recall","update_profile","ask_venue","quote_delivery","confirm_delivery","get_delivery_status"]',
     '["search_venues","suggest_venues","get_venue_details","check_availability","create_booking","modify_booking","cancel_booking","list_my_bookings","leave_feedback","get_weather","get_directions","remember","recall","update_profile","set_reminder","ask_venue","quote_delivery","confirm_delivery","get_delivery_status"]'),
    ('CONSUMER',
     '["search_venues","suggest_venues","get_venue_details","check_availability","create_booking","modify_booking","cancel_booking","list_my_bookings","leave_feedback","get_weather","get_directions","remember","recall","update_profile","set_reminder","ask_venue","quote_delivery","confirm_delivery","get_delivery_status"]',
     '["search_venues","suggest_venues","get_venue_details","check_availability","create_booking","modify_booking","cancel_booking","list_my_bookings","leave_feedback","get_weather","get_directions","remember","recall","update_profile","set_reminder","ask_venue","quote_delivery","confirm_delivery","get_delivery_status"]'),
    ('VENUE',
     '["check_availability","accept_booking","decline_booking","propose_alternative","answer_question","escalate_to_staff"]',
     '["check_availability","accept_booking","decline_booking","propose_alternative","answer_question","escalate_to_staff","venue_create_booking","venue_send_menu","escalate_to_human"]'),
    ('VENUE',
     '["check_availability","accept_booking","decline_booking","propose_alternative","answer_question","escalate_to_staff","venue_create_booking","venue_send_menu","escalate_to_human"]',
     '["check_availability","accept_booking","decline_booking","propose_alternative","answer_question","escalate_to_staff","venue_create_booking","venue_send_menu","escalate_to_human"]')
)
UPDATE "agents" AS a
SET "dna" = jsonb_set(a."dna", '{tools}', d.new_tools) || '{"toolsVersion": 1}'::jsonb,
    -- Only a list that changes is news for the gateway.
    "updated_at" = CASE WHEN (a."dna" -> 'tools') @> d.new_tools AND d.new_tools @> (a."dna" -> 'tools')
                        THEN a."updated_at" ELSE now() END
FROM defaults AS d
WHERE a."kind" = d.kind
  AND NOT (a."dna" ? 'toolsVersion')
  AND jsonb_typeof(a."dna" -> 'tools') = 'array'
  -- The same tools as the old default, in any order (containment both ways: equal as sets).
  AND (a."dna" -> 'tools') @> d.old_tools
  AND d.old_tools @> (a."dna" -> 'tools');
