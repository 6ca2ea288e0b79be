/**
 * How a venue's business agent decides a booking request: by the venue's DNA (its booking policy)
 * and its booking rules, never by the guest's words. The decision is a pure function of what the
 * agent checked, so it can be read and tested apart from the inbox it serves.
 *
 * - Inside the rules with room, and the policy accepts within rules: accept.
 * - A party above the staff threshold or outside the venue's party sizes, a time in a blackout
 *   window, no policy at all, or a policy that does not auto-accept: escalate to the venue's staff
 *   (the guest hears that the team is checking).
 * - No room at that time, or not a bookable time: decline with the nearest free times.
 */
import type { BookingPolicy } from '../agents/agents.ts';
import { overlapsWindow, type Slot, type TimeWindow } from '../venues/availability.ts';

export type EscalationReason = 'party_size' | 'blackout' | 'no_policy' | 'manual_policy';

export type BookingDecision =
  | { kind: 'accept' }
  | { kind: 'escalate'; reason: EscalationReason; detail: string }
  | { kind: 'decline'; reason: 'full' | 'not_bookable'; detail: string; alternatives: Date[] };

export interface DecisionInput {
  policy: BookingPolicy | null;
  request: { startsAt: Date; endsAt: Date; partySize: number };
  /** The venue's own party sizes. */
  partySizes: { min: number; max: number };
  blackouts: readonly TimeWindow[];
  /** What the venue's capacity says of the requested time. */
  room: 'free' | 'full' | 'not_bookable';
  /** Free start times near the requested one, nearest first. */
  alternatives: readonly Date[];
}

export function decideBookingRequest(input: DecisionInput): BookingDecision {
  const { policy, request } = input;
  if (!policy) {
    return { kind: 'escalate', reason: 'no_policy', detail: 'The venue has not set a booking policy' };
  }
  const threshold = policy.askStaffAbovePartySize;
  if (threshold !== null && request.partySize > threshold) {
    return {
      kind: 'escalate',
      reason: 'party_size',
      detail: `Parties above ${threshold} are decided by the venue's staff`,
    };
  }
  if (request.partySize < input.partySizes.min || request.partySize > input.partySizes.max) {
    return {
      kind: 'escalate',
      reason: 'party_size',
      detail: `The venue books parties of ${input.partySizes.min} to ${input.partySizes.max}; its staff decide`,
    };
  }
  if (overlapsWindow(input.blackouts, request.startsAt.getTime(), request.endsAt.getTime())) {
    return {
      kind: 'escalate',
      reason: 'blackout',
      detail: 'The venue takes no bookings at that time as a rule',
    };
  }
  if (input.room !== 'free') {
    return {
      kind: 'decline',
      reason: input.room,
      detail:
        input.room === 'full' ? 'That time is fully booked' : 'That is not a bookable time at this venue',
      alternatives: [...input.alternatives],
    };
  }
  if (!policy.autoAcceptWithinRules) {
    return {
      kind: 'escalate',
      reason: 'manual_policy',
      detail: 'The venue confirms every booking itself',
    };
  }
  return { kind: 'accept' };
}

/** Up to `count` offered start times closest to `requested` (earlier first on a tie). */
export function nearestAlternatives(slots: readonly Slot[], requested: Date, count = 3): Date[] {
  const at = requested.getTime();
  return [...new Map(slots.map((s) => [s.startsAt.getTime(), s.startsAt])).values()]
    .filter((start) => start.getTime() !== at)
    .sort((a, b) => Math.abs(a.getTime() - at) - Math.abs(b.getTime() - at) || a.getTime() - b.getTime())
    .slice(0, count);
}
