/**
 * The shape nearly every mutation has, declared once: one required `input`, a payload object,
 * expected failures as members of a `<Name>Result` union, auth scopes on the input, and a
 * resolver that calls one domain function. Schema files say only what differs.
 */
import type {
  InputFieldBuilder,
  InputFieldMap,
  InputObjectRef,
  InputShapeFromFields,
  ObjectRef,
} from '@pothos/core';
import type { AuthScopeMap } from '@pothos/plugin-scope-auth';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { commonErrors } from './errors.ts';

type Types = typeof builder.$inferSchemaTypes;
type MaybePromise<T> = T | Promise<T>;
type ErrorClass = new (...args: never[]) => Error;

interface MutationOptions<Input, Payload> {
  description: string;
  payload: ObjectRef<Types, Payload>;
  /** The errors the result union holds (default: the common ones); null for a mutation that has none. */
  errors?: readonly ErrorClass[] | null;
  /** Who may call it, checked before anything runs; a function sees the input. None: anyone. */
  authScopes?:
    | AuthScopeMap<Types>
    | ((input: Input, ctx: Context) => MaybePromise<AuthScopeMap<Types> | boolean>);
  resolve: (input: Input, ctx: Context) => MaybePromise<Payload>;
}

type FieldsOf = (t: InputFieldBuilder<Types, 'InputObject'>) => InputFieldMap;

/**
 * Declares `name(input: <Input>!): <Name>Result!` (the payload itself when `errors` is null).
 * `input` is an input type, or its fields, which then make an input type named `<Name>Input`.
 */
export function mutation<Fields extends InputFieldMap, Payload>(
  name: string,
  options: MutationOptions<NoInfer<InputShapeFromFields<Fields>>, Payload> & {
    input: (t: InputFieldBuilder<Types, 'InputObject'>) => Fields;
  },
): void;
export function mutation<Input, Payload>(
  name: string,
  options: MutationOptions<Input, Payload> & { input: InputObjectRef<Types, Input> },
): void;
export function mutation(
  name: string,
  options: MutationOptions<never, unknown> & { input: InputObjectRef<Types, unknown> | FieldsOf },
): void {
  const { description, input, payload, errors = commonErrors, authScopes, resolve } = options;
  const capitalised = `${name[0]!.toUpperCase()}${name.slice(1)}`;
  const inputType =
    typeof input === 'function' ? builder.inputType(`${capitalised}Input`, { fields: input }) : input;
  builder.mutationField(name, (t) =>
    t.field({
      type: payload,
      description,
      ...(errors ? { errors: { types: [...errors], result: { name: `${capitalised}Result` } } } : {}),
      args: { input: t.arg({ type: inputType, required: true }) },
      ...(authScopes === undefined
        ? {}
        : {
            authScopes:
              typeof authScopes === 'function'
                ? (_root: unknown, args: { input: never }, ctx: Context) => authScopes(args.input, ctx)
                : authScopes,
          }),
      resolve: (_root: unknown, args: { input: never }, ctx: Context) => resolve(args.input, ctx),
      // Pothos types a field from literal options; the overloads above type what callers write.
    } as never),
  );
}

/** A payload object with one field, such as `VenuePayload { venue: Venue! }`. */
export function payloadType<Key extends string, Shape>(
  name: string,
  key: Key,
  type: ObjectRef<Types, Shape>,
): ObjectRef<Types, Record<Key, Shape>> {
  return builder.objectRef<Record<Key, Shape>>(name).implement({
    fields: (t) => ({ [key]: t.field({ type, resolve: (parent) => parent[key] as never }) }),
  });
}
