/**
 * Bringing a stored tool list up to date: an agent made before a tool existed gets it, a list its
 * owner edited keeps their choice. The catalogue is a parameter, so the rule for tools that will
 * be added later is tried here on a catalogue with one more version than today's.
 */
import { describe, expect, it } from 'vitest';
import {
  CONSUMER_TOOLS,
  defaultConsumerDna,
  defaultVenueDna,
  storedDna,
  TOOL_ADDED_IN,
  TOOLS_VERSION,
  type ToolCatalogue,
  toolsUpToDate,
  VENUE_TOOLS,
} from '../../src/domain/agents/dna.ts';
import { FIRST_CONSUMER_DEFAULT, FIRST_VENUE_DEFAULT } from '../fixtures/agent-tools.ts';

/** The catalogues at version 1, when DNA began recording its version: frozen. */
const CONSUMER_AT_1 = [...FIRST_CONSUMER_DEFAULT, 'suggest_venues', 'leave_feedback', 'set_reminder'];
const VENUE_AT_1 = [...FIRST_VENUE_DEFAULT, 'venue_create_booking', 'venue_send_menu', 'escalate_to_human'];

const dna = (tools: string[], toolsVersion?: number) => ({
  ...defaultConsumerDna(),
  tools: tools as never,
  toolsVersion,
});

describe('storedDna', () => {
  it('gives an agent stored with an earlier default list, never edited, the default of today', () => {
    const stored = { ...defaultConsumerDna(), tools: FIRST_CONSUMER_DEFAULT } as Record<string, unknown>;
    delete stored.toolsVersion;
    const read = storedDna('CONSUMER', stored);
    expect(read.tools).toEqual([...CONSUMER_TOOLS]);
    expect(read.tools).toEqual(expect.arrayContaining(['leave_feedback', 'set_reminder', 'suggest_venues']));
    // In another order it is the same list.
    expect(storedDna('CONSUMER', { ...stored, tools: [...FIRST_CONSUMER_DEFAULT].reverse() }).tools).toEqual([
      ...CONSUMER_TOOLS,
    ]);
    const venue = { ...defaultVenueDna('Casa'), tools: FIRST_VENUE_DEFAULT } as Record<string, unknown>;
    delete venue.toolsVersion;
    expect(storedDna('VENUE', venue).tools).toEqual([...VENUE_TOOLS]);
    // Everything else is as stored.
    expect(storedDna('CONSUMER', stored)).toEqual({ ...stored, tools: [...CONSUMER_TOOLS], toolsVersion: 1 });
  });

  it('leaves an edited list as its owner wrote it', () => {
    const edited = dna(['search_venues', 'recall']);
    delete edited.toolsVersion;
    expect(storedDna('CONSUMER', edited).tools).toEqual(['search_venues', 'recall']);
    // One tool short of an earlier default is an edit too.
    expect(storedDna('CONSUMER', dna(FIRST_CONSUMER_DEFAULT.slice(1))).tools).toEqual(
      FIRST_CONSUMER_DEFAULT.slice(1),
    );
    // Written at version 1 (after this rule), an earlier default's list is a choice: kept.
    expect(storedDna('CONSUMER', dna(FIRST_CONSUMER_DEFAULT, 1)).tools).toEqual(FIRST_CONSUMER_DEFAULT);
    expect(storedDna('VENUE', { ...defaultVenueDna('Casa'), tools: [] }).tools).toEqual([]);
  });

  it('leaves the platform agent, which has no DNA, alone', () => {
    expect(storedDna('PLATFORM', {})).toEqual({});
  });
});

describe('toolsUpToDate with a tool added after version 1', () => {
  const catalogue: ToolCatalogue = {
    tools: ['a', 'b', 'c', 'new'],
    addedIn: { new: 2 },
    unversionedDefaults: [['a'], ['a', 'b', 'c']],
  };

  it('adds it to every list written before it, edited or not', () => {
    expect(toolsUpToDate({ tools: ['a', 'b', 'c'], toolsVersion: 1 }, catalogue)).toEqual([
      'a',
      'b',
      'c',
      'new',
    ]);
    expect(toolsUpToDate({ tools: ['b'], toolsVersion: 1 }, catalogue)).toEqual(['b', 'new']);
    expect(toolsUpToDate({ tools: [], toolsVersion: 1 }, catalogue)).toEqual(['new']);
    // Unversioned lists were written at version 1 at most.
    expect(toolsUpToDate({ tools: ['c'] }, catalogue)).toEqual(['c', 'new']);
    expect(toolsUpToDate({ tools: ['a'] }, catalogue)).toEqual(['a', 'b', 'c', 'new']);
  });

  it('does not add it to a list written once it existed, whose owner left it out', () => {
    expect(toolsUpToDate({ tools: ['a', 'b'], toolsVersion: 2 }, catalogue)).toEqual(['a', 'b']);
    expect(toolsUpToDate({ tools: ['new', 'a'], toolsVersion: 2 }, catalogue)).toEqual(['new', 'a']);
  });
});

describe('the tool catalogue', () => {
  it('names the version of every tool added after version 1', () => {
    // A tool in the lists without a version here would never reach DNA written before it.
    const addedLater = (tools: readonly string[]) =>
      tools.filter((tool) => (TOOL_ADDED_IN as Record<string, number | undefined>)[tool] === undefined);
    expect(addedLater(CONSUMER_TOOLS).sort()).toEqual(CONSUMER_AT_1.sort());
    expect(addedLater(VENUE_TOOLS).sort()).toEqual(VENUE_AT_1.sort());
    for (const version of Object.values(TOOL_ADDED_IN)) {
      expect(version).toBeGreaterThan(1);
      expect(version).toBeLessThanOrEqual(TOOLS_VERSION);
    }
    expect(defaultConsumerDna().toolsVersion).toBe(TOOLS_VERSION);
    expect(defaultVenueDna('Casa').toolsVersion).toBe(TOOLS_VERSION);
  });
});
