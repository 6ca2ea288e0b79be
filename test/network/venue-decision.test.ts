import { describe, expect, it } from 'vitest';
import {
  type DecisionInput,
  decideBookingRequest,
  nearestAlternatives,
} from '../../src/domain/network/venue-decision.ts';

const at = (time: string) => new Date(`2026-12-10T${time}:00Z`);

const base: DecisionInput = {
  policy: { autoAcceptWithinRules: true, askStaffAbovePartySize: 8, blackoutWindows: [] },
  request: { startsAt: at('20:00'), endsAt: at('21:30'), partySize: 2 },
  partySizes: { min: 1, max: 10 },
  blackouts: [],
  room: 'free',
  alternatives: [],
};

describe('a venue agent deciding a booking request', () => {
  it('accepts a request inside the rules when the policy says so', () => {
    expect(decideBookingRequest(base)).toEqual({ kind: 'accept' });
  });

  it('asks staff above the threshold, outside the party sizes, in a blackout, or when it must', () => {
    expect(decideBookingRequest({ ...base, request: { ...base.request, partySize: 9 } })).toMatchObject({
      kind: 'escalate',
      reason: 'party_size',
    });
    expect(
      decideBookingRequest({
        ...base,
        policy: { ...base.policy!, askStaffAbovePartySize: null },
        request: { ...base.request, partySize: 12 },
      }),
    ).toMatchObject({ kind: 'escalate', reason: 'party_size' });
    expect(
      decideBookingRequest({ ...base, blackouts: [{ startsAt: at('21:00'), endsAt: at('23:00') }] }),
    ).toMatchObject({ kind: 'escalate', reason: 'blackout' });
    expect(decideBookingRequest({ ...base, policy: null })).toMatchObject({
      kind: 'escalate',
      reason: 'no_policy',
    });
    expect(
      decideBookingRequest({ ...base, policy: { ...base.policy!, autoAcceptWithinRules: false } }),
    ).toMatchObject({ kind: 'escalate', reason: 'manual_policy' });
  });

  it('declines a full or unbookable time with the free times it found', () => {
    const alternatives = [at('19:30'), at('20:30')];
    expect(decideBookingRequest({ ...base, room: 'full', alternatives })).toEqual({
      kind: 'decline',
      reason: 'full',
      detail: 'That time is fully booked',
      alternatives,
    });
    expect(decideBookingRequest({ ...base, room: 'not_bookable', alternatives: [] })).toMatchObject({
      kind: 'decline',
      reason: 'not_bookable',
      alternatives: [],
    });
    // Staff decide large parties even when the time is full: they may know better.
    expect(
      decideBookingRequest({ ...base, room: 'full', request: { ...base.request, partySize: 9 } }),
    ).toMatchObject({ kind: 'escalate' });
  });

  it('offers the nearest free times, earlier first on a tie', () => {
    const slot = (time: string) => ({ startsAt: at(time), endsAt: at(time), coversLeft: null });
    const slots = ['18:00', '19:00', '19:30', '20:30', '21:00', '22:00'].map(slot);
    expect(nearestAlternatives(slots, at('20:00')).map((d) => d.toISOString().slice(11, 16))).toEqual([
      '19:30',
      '20:30',
      '19:00',
    ]);
    expect(nearestAlternatives([slot('20:00')], at('20:00'))).toEqual([]);
  });
});
