/** The building blocks every concern's schema is made of, so each kind of value is read one way. */
import { z } from 'zod';

export const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const port = z.coerce.number().int().min(0).max(65535);
export const positiveInt = z.coerce.number().int().positive();
export const url = z.url();
export const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/**
 * A variable holding JSON (the channels' lists of bots, numbers and accounts; model prices),
 * checked by `schema`. Text that is not JSON is handed on as it is, so the schema's own message
 * says what was expected.
 */
export const json = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }, schema);

/** A comma-separated list (`a, b,c`), trimmed, empty entries dropped; unset is empty. */
export const list = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

/** A base URL without its trailing slash, so paths are appended with one. */
export const trimSlash = (value: string) => value.replace(/\/$/, '');

/** What every concern may look at besides its own variables. */
export interface Context {
  production: boolean;
}
