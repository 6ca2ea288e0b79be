/**
 * What the consumer agent remembers about the signed-in person, and their profile: read on the
 * viewer, forgotten or changed by mutations.
 *
 * Private to the person: only a person signed in as themselves reads or changes them. Not their
 * colleagues (who may see them as a `User`), not API keys (which act for the person who made them,
 * but are the organisation's tools), and not platform admins either: what someone told their
 * personal assistant is not the platform's business. Mutations act on the caller's own data only,
 * so someone else's memory is as unknown to them as one that does not exist (NotFoundError).
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { MEMORY_LIST_ORDER } from '../../domain/memory/memories.ts';
import { type Profile as ProfileShape, profileSelect, toProfile } from '../../domain/memory/profile.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { idCursors } from '../cursors.ts';
import { describedEnum } from './enums.ts';
import { mutation, payloadType } from './mutation.ts';
import { User } from './user.ts';

/** True for the person themselves, signed in with a user token. */
export function isThemselves(userId: string, ctx: Context): boolean {
  return ctx.actor.kind === 'user' && ctx.actor.userId === userId;
}

const MemoryKind = describedEnum('MemoryKind', {
  FACT: 'Something true about the person ("allergic to peanuts").',
  PREFERENCE: 'Something they like or avoid ("prefers a quiet table").',
  PATTERN: 'A habit the agent noticed ("books for four on Fridays").',
});

export const Memory = builder.prismaNode('Memory', {
  id: { field: 'id' },
  description: 'Something the agent remembers about you. Only you can read it.',
  select: { id: true, userId: true },
  authScopes: (memory, ctx) => isThemselves(memory.userId, ctx),
  fields: (t) => ({
    kind: t.expose('kind', { type: MemoryKind }),
    content: t.exposeString('content'),
    importance: t.exposeInt('importance', {
      description: '1 (trivia) to 5 (never forget: allergies, accessibility).',
    }),
    createdAt: t.expose('createdAt', {
      type: 'DateTime',
      description: 'When it was remembered, or last remembered again.',
    }),
    lastUsedAt: t.expose('lastUsedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the agent last recalled it.',
    }),
  }),
});

const Profile = builder.objectRef<ProfileShape>('Profile').implement({
  description: 'What you told your agent about yourself. Only you can read it.',
  fields: (t) => ({
    displayName: t.exposeString('displayName', {
      nullable: true,
      description:
        'What you are called: venues see it with your bookings and questions, and people you invite with the invitation.',
    }),
    homeArea: t.exposeString('homeArea', { nullable: true }),
    dietary: t.exposeStringList('dietary', { description: 'Dietary needs and allergies.' }),
    usualPartySize: t.exposeInt('usualPartySize', { nullable: true }),
    preferredTimes: t.exposeStringList('preferredTimes', { description: 'When you like to go out.' }),
    notes: t.exposeString('notes', { nullable: true }),
    language: t.exposeString('language', { nullable: true, description: 'BCP 47 ("en", "pt-BR").' }),
    latitude: t.exposeFloat('latitude', { nullable: true }),
    longitude: t.exposeFloat('longitude', { nullable: true }),
    timeZone: t.exposeString('timeZone', { nullable: true, description: 'IANA ("Europe/Lisbon").' }),
  }),
});

builder.prismaObjectField(User, 'memories', (t) =>
  t.relatedConnection('memories', {
    description: 'What your agent remembers about you, newest first. Only you, signed in as yourself.',
    authScopes: (user, _args, ctx) => isThemselves(user.id, ctx),
    cursor: 'id',
    totalCount: true,
    // Memories replaced by newer ones (dreaming) are history, not what the agent remembers.
    query: (args) => idCursors(args, { where: { supersededAt: null }, orderBy: MEMORY_LIST_ORDER }),
  }),
);

builder.prismaObjectField(User, 'profile', (t) =>
  t.field({
    type: Profile,
    description: 'Your profile. Only you, signed in as yourself.',
    authScopes: (user, _args, ctx) => isThemselves(user.id, ctx),
    select: profileSelect,
    resolve: (user) => toProfile(user),
  }),
);

mutation('forgetMemory', {
  description: 'Makes your agent forget one thing it remembers about you.',
  input: (t) => ({ memoryId: t.globalID({ for: Memory }) }),
  payload: builder.simpleObject('ForgetMemoryPayload', { fields: (t) => ({ deletedMemoryId: t.id() }) }),
  authScopes: { person: true },
  resolve: async (input, ctx) => {
    const memory = await ctx.domain.memory.forgetMemory(ctx.access.requirePerson(), input.memoryId.id);
    return { deletedMemoryId: encodeGlobalID('Memory', memory.id) };
  },
});

const ForgetAllMemoriesPayload = builder.simpleObject('ForgetAllMemoriesPayload', {
  fields: (t) => ({ count: t.int({ description: 'How many memories were forgotten.' }) }),
});

builder.mutationField('forgetAllMemories', (t) =>
  t.field({
    type: ForgetAllMemoriesPayload,
    description: 'Makes your agent forget everything it remembers about you (your profile stays).',
    authScopes: { person: true },
    resolve: async (_root, _args, ctx) => ({
      count: await ctx.domain.memory.forgetAll(ctx.access.requirePerson()),
    }),
  }),
);

mutation('updateProfile', {
  description: 'Changes your profile. A bad field changes nothing and names itself in a ValidationError.',
  input: builder.inputType('UpdateProfileInput', {
    description: 'The fields to change. A field left out stays as it is; null, "" or [] removes it.',
    fields: (t) => ({
      displayName: t.string({ required: false, description: 'At most 100 characters.' }),
      homeArea: t.string({ required: false }),
      dietary: t.stringList({ required: false }),
      usualPartySize: t.int({ required: false }),
      preferredTimes: t.stringList({ required: false }),
      notes: t.string({ required: false }),
      language: t.string({ required: false, description: 'BCP 47 ("en", "pt-BR").' }),
      latitude: t.float({ required: false, description: 'Set together with longitude.' }),
      longitude: t.float({ required: false, description: 'Set together with latitude.' }),
      timeZone: t.string({ required: false, description: 'IANA ("Europe/Lisbon").' }),
    }),
  }),
  payload: payloadType('UpdateProfilePayload', 'profile', Profile),
  authScopes: { person: true },
  resolve: async (input, ctx) => ({
    profile: await ctx.domain.memory.updateProfile(ctx.access.requirePerson(), { ...input }),
  }),
});
