import { describe, expect, it } from 'vitest';
import {
  getProfile,
  type ProfilePatch,
  profileForPrompt,
  profileSelect,
  updateProfile,
} from '../../src/domain/memory/profile.ts';
import { NotFoundError, ValidationError } from '../../src/platform/errors.ts';
import { useTestDatabase } from '../factories/database.ts';
import { createPerson } from '../factories/people.ts';

const db = useTestDatabase();

async function person(): Promise<string> {
  const user = await createPerson(db(), { label: 'profile' });
  return user.id;
}

const EMPTY = {
  displayName: null,
  homeArea: null,
  dietary: [],
  usualPartySize: null,
  preferredTimes: [],
  notes: null,
  language: null,
  latitude: null,
  longitude: null,
  timeZone: null,
};

const FULL: ProfilePatch = {
  displayName: 'Ana Silva',
  homeArea: 'Alfama, Lisbon',
  dietary: ['Vegetarian', 'nut allergy', 'vegetarian'],
  usualPartySize: 2,
  preferredTimes: ['Friday evenings', 'lunch around 13:00'],
  notes: 'Prefers quiet places',
  language: 'pt-br',
  latitude: 38.7118,
  longitude: -9.1303,
  timeZone: 'Europe/Lisbon',
};

/** The user's row as stored, in the columns a profile is read from. */
const stored = (userId: string) =>
  db().user.findUniqueOrThrow({ where: { id: userId }, select: profileSelect });

describe('the profile', () => {
  it('starts empty', async () => {
    expect(await getProfile(db(), await person())).toEqual(EMPTY);
  });

  it('takes every field, cleaned and canonical, and reads back the same', async () => {
    const userId = await person();
    const profile = await updateProfile(db(), userId, FULL);
    expect(profile).toEqual({
      displayName: 'Ana Silva',
      homeArea: 'Alfama, Lisbon',
      dietary: ['vegetarian', 'nut allergy'],
      usualPartySize: 2,
      preferredTimes: ['Friday evenings', 'lunch around 13:00'],
      notes: 'Prefers quiet places',
      language: 'pt-BR',
      latitude: 38.7118,
      longitude: -9.1303,
      timeZone: 'Europe/Lisbon',
    });
    expect(await getProfile(db(), userId)).toEqual(profile);
    expect(await stored(userId)).toEqual({
      profile: {
        homeArea: 'Alfama, Lisbon',
        dietary: ['vegetarian', 'nut allergy'],
        usualPartySize: 2,
        preferredTimes: ['Friday evenings', 'lunch around 13:00'],
        notes: 'Prefers quiet places',
      },
      displayName: 'Ana Silva',
      language: 'pt-BR',
      latitude: 38.7118,
      longitude: -9.1303,
      timeZone: 'Europe/Lisbon',
    });
  });

  it('merges: fields left out stay, null and empty values remove', async () => {
    const userId = await person();
    await updateProfile(db(), userId, FULL);
    const changed = await updateProfile(db(), userId, {
      homeArea: 'Porto',
      dietary: null,
      preferredTimes: [],
      notes: '   ',
      language: null,
      latitude: null,
      longitude: null,
    });
    expect(changed).toEqual({
      ...EMPTY,
      displayName: 'Ana Silva',
      homeArea: 'Porto',
      usualPartySize: 2,
      timeZone: 'Europe/Lisbon',
    });
    // The dietary needs taken off are kept aside, so deep dreaming does not put them back.
    expect((await stored(userId)).profile).toEqual({
      homeArea: 'Porto',
      usualPartySize: 2,
      dietaryTakenOff: ['vegetarian', 'nut allergy'],
    });
    // An empty patch changes nothing, nor do fields given as undefined (left out, to a caller).
    expect(await updateProfile(db(), userId, {})).toEqual(changed);
    expect(await updateProfile(db(), userId, { homeArea: undefined, latitude: undefined })).toEqual(changed);
  });

  it('strips control characters from what it keeps', async () => {
    const userId = await person();
    const profile = await updateProfile(db(), userId, {
      notes: 'Line one\nline two\u0000\u202E',
      dietary: ['  Halal\t'],
    });
    expect(profile).toMatchObject({ notes: 'Line one line two', dietary: ['halal'] });
  });

  it.each([
    ['an unknown field', { favouriteColour: 'blue' }, 'favouriteColour'],
    ['a language that is not BCP 47', { language: 'english please' }, 'language'],
    ['a time zone that does not exist', { timeZone: 'Europe/Atlantis' }, 'timeZone'],
    ['a fixed offset for a time zone', { timeZone: '+01:00' }, 'timeZone'],
    ['a latitude out of range', { latitude: 91, longitude: 0 }, 'latitude'],
    ['a longitude out of range', { latitude: 0, longitude: -180.5 }, 'longitude'],
    ['a latitude without a longitude', { latitude: 38.7 }, 'longitude'],
    ['a longitude without a latitude', { longitude: -9.1 }, 'latitude'],
    ['a position half removed', { latitude: 38.7, longitude: null }, 'longitude'],
    ['a party of 0', { usualPartySize: 0 }, 'usualPartySize'],
    ['a party of 2.5', { usualPartySize: 2.5 }, 'usualPartySize'],
    ['a party of 51', { usualPartySize: 51 }, 'usualPartySize'],
    ['a home area too long', { homeArea: 'x'.repeat(121) }, 'homeArea'],
    ['notes too long', { notes: 'x'.repeat(1001) }, 'notes'],
    ['an empty dietary entry', { dietary: ['vegan', ' '] }, 'dietary.1'],
    ['too many dietary entries', { dietary: Array.from({ length: 21 }, (_, i) => `diet ${i}`) }, 'dietary'],
    ['a dietary entry that is not text', { dietary: [3] as unknown as string[] }, 'dietary.0'],
  ])('refuses %s, naming the field, and changes nothing', async (_name, patch, field) => {
    const userId = await person();
    await updateProfile(db(), userId, FULL);
    const before = await stored(userId);
    // Good fields beside the bad one are not written either.
    const error = await updateProfile(db(), userId, { homeArea: 'Changed', ...(patch as ProfilePatch) }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect(await stored(userId)).toEqual(before);
  });

  it('lands two patches at once, each merged into the other', async () => {
    const userId = await person();
    await Promise.all([
      updateProfile(db(), userId, { homeArea: 'Lisbon' }),
      updateProfile(db(), userId, { dietary: ['vegan'] }),
      updateProfile(db(), userId, { usualPartySize: 4 }),
    ]);
    expect(await getProfile(db(), userId)).toMatchObject({
      homeArea: 'Lisbon',
      dietary: ['vegan'],
      usualPartySize: 4,
    });
  });

  it('reads a stored profile leniently, leaving out what no longer passes', async () => {
    const userId = await person();
    await db().user.update({
      where: { id: userId },
      data: { profile: { homeArea: 'Lisbon', usualPartySize: 'two', dietary: 'vegan', legacy: true } },
    });
    expect(await getProfile(db(), userId)).toEqual({ ...EMPTY, homeArea: 'Lisbon' });
    expect(await updateProfile(db(), userId, { notes: 'ok' })).toEqual({
      ...EMPTY,
      homeArea: 'Lisbon',
      notes: 'ok',
    });
  });

  it('is NotFound for somebody who does not exist', async () => {
    const nobody = '00000000-0000-4000-8000-000000000000';
    await expect(getProfile(db(), nobody)).rejects.toBeInstanceOf(NotFoundError);
    await expect(updateProfile(db(), nobody, { homeArea: 'x' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('reads for the system prompt with only what is set, under readable names', async () => {
    const userId = await person();
    const profile = await updateProfile(db(), userId, { ...FULL, notes: null });
    expect(profileForPrompt(profile)).toEqual({
      'Home area': 'Alfama, Lisbon',
      'Dietary needs': 'vegetarian, nut allergy',
      'Usual party size': '2',
      'Preferred times': 'Friday evenings; lunch around 13:00',
      'Time zone': 'Europe/Lisbon',
    });
    expect(profileForPrompt(await getProfile(db(), await person()))).toEqual({});
  });
});
