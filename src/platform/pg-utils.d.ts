/** `pg`'s own conversion of a parameter for the wire (what it binds), exported as `pg/lib/utils`. */
declare module 'pg/lib/utils.js' {
  export function prepareValue(value: unknown): string | Buffer | null;
}
