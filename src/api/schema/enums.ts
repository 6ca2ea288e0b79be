/** The shape most enums have, declared once: each value with its description. */
import type { EnumRef } from '@pothos/core';
import { builder } from '../builder.ts';

type Types = typeof builder.$inferSchemaTypes;

/** `enum <name>` whose values are the keys of `values`, each described by its string, in that order. */
export function describedEnum<const Values extends Record<string, string>>(
  name: string,
  values: Values,
): EnumRef<Types, keyof Values & string> {
  const described = Object.fromEntries(
    Object.entries(values).map(([value, description]) => [value, { description }]),
  );
  return builder.enumType(name, { values: described }) as EnumRef<Types, keyof Values & string>;
}
