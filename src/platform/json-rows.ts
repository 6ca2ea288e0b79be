/**
 * Rows built as JSON by PostgreSQL: a Prisma `select` (as Pothos' Prisma plugin plans one for a
 * GraphQL selection) compiled into one statement whose rows are the objects Prisma's client
 * would have returned, relations nested, decoded by the schema's own types. For the pages of a
 * hot read (a search's venues with their week of hours and their agent), where Prisma's client
 * spends more CPU mapping the answer than PostgreSQL spends building it (bench/README.md, "a
 * search's page built by PostgreSQL").
 *
 * What it compiles, and nothing else (`compileRowsById` answers null and the caller asks Prisma):
 * scalar and enum fields; relations (to-one and to-many, `true` or `{ select, orderBy, take }`)
 * with `orderBy` on scalar fields (one an entry); `_count` of to-many relations. Never `where`,
 * `include`, `skip`, `cursor`, `distinct`, `omit`, a `take` below 1 or without an order, or an
 * empty selection. The names, keys and types come from
 * the DMMF Prisma writes on `npm run generate` (src/generated/dmmf.json), so the statement
 * follows schema.prisma; `test/integration/json-rows.test.ts` holds the answers to Prisma's for
 * every shape it compiles.
 */
import dmmfFile from '../generated/dmmf.json' with { type: 'json' };
import { quoteIdent } from './db.ts';

/** The slice of a DMMF field this reads (see @prisma/dmmf for the whole of it). */
export interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'enum' | 'object' | 'unsupported';
  type: string;
  isList: boolean;
  isId?: boolean;
  nativeType?: [string, string[]] | null;
  relationName?: string | null;
  relationFromFields?: string[] | null;
  relationToFields?: string[] | null;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}

const models = new Map(
  (dmmfFile as unknown as { datamodel: { models: DmmfModel[] } }).datamodel.models.map((model) => [
    model.name,
    { ...model, byName: new Map(model.fields.map((field) => [field.name, field])) },
  ]),
);
type Model = NonNullable<ReturnType<typeof models.get>>;

/** How a field's JSON value becomes what Prisma returns; absent when JSON already carries it. */
type Decode = (value: unknown) => unknown;

/** A compiled object: how to decode its fields (scalars needing it, and relations). */
interface Shape {
  fields: [name: string, decode: Decode][];
}

export interface CompiledRows {
  /** The statement; `$1` is the list of ids. */
  text: string;
  /** One row's `row` column (JSON, parsed by the driver) as Prisma's client returns it. */
  decode(row: unknown): unknown;
  /** The fields the statement reads of each model it reads (relations and `_count` by name). */
  reads: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Compiled statements by model and `select`; a selection's plan repeats request after request. */
const compiled = new Map<string, CompiledRows | null>();
const COMPILED_KEPT = 500;

/**
 * The statement that reads the rows of `modelName` whose id is one of `$1` (in no order), with
 * what `args` selects; null when `args` asks for something this does not compile.
 */
export function compileRowsById(modelName: string, args: unknown): CompiledRows | null {
  let key: string;
  try {
    key = `${modelName} ${JSON.stringify(args)}`;
  } catch {
    return null; // a value JSON cannot hold (a BigInt in a filter): not a selection this compiles
  }
  const known = compiled.get(key);
  if (known !== undefined) return known;
  const result = compile(modelName, args);
  if (compiled.size >= COMPILED_KEPT) compiled.clear();
  compiled.set(key, result);
  return result;
}

function compile(modelName: string, args: unknown): CompiledRows | null {
  const model = models.get(modelName);
  const id = model?.fields.find((field) => field.isId);
  if (!model || !id || !isRecord(args) || !onlyKeys(args, ['select'])) return null;
  const aliases = { next: 1, reads: new Map<string, Set<string>>() };
  const object = compileObject(model, args.select ?? true, 't0', aliases);
  if (!object) return null;
  // Ids pg sends as they are: a uuid or a text (a date or a char(n) id is left to Prisma).
  const cast =
    id.type !== 'String' ? null : id.nativeType?.[0] === 'Uuid' ? 'uuid[]' : id.nativeType ? null : 'text[]';
  if (!cast) return null;
  const text = `SELECT ${object.sql} AS "row" FROM ${table(model)} t0 WHERE t0.${column(id)} = ANY($1::${cast})`;
  const decode = decoderOf(object.shape);
  return { text, decode, reads: aliases.reads };
}

/** The next table alias, and what the statement reads so far. */
interface Aliases {
  next: number;
  reads: Map<string, Set<string>>;
}

/** `json_build_object(…)` of what `select` picks from the row aliased `alias`. */
function compileObject(
  model: Model,
  select: unknown,
  alias: string,
  aliases: Aliases,
): { sql: string; shape: Shape } | null {
  const pairs: string[] = [];
  const shape: Shape = { fields: [] };
  const picked: [string, unknown][] =
    select === true
      ? model.fields.filter((f) => f.kind === 'scalar' || f.kind === 'enum').map((f) => [f.name, true])
      : isRecord(select)
        ? Object.entries(select)
        : [];
  // An empty select is an error to Prisma: left to it to say so.
  if (
    select !== true &&
    (!isRecord(select) || !picked.some(([, wanted]) => wanted !== undefined && wanted !== false))
  ) {
    return null;
  }
  let reads = aliases.reads.get(model.name);
  if (!reads) {
    reads = new Set();
    aliases.reads.set(model.name, reads);
  }
  for (const [name, wanted] of picked) {
    if (wanted === undefined || wanted === false) continue;
    reads.add(name);
    if (name === '_count') {
      const counts = compileCounts(model, wanted, alias, aliases);
      if (!counts) return null;
      pairs.push(`'_count', ${counts}`);
      continue;
    }
    const field = model.byName.get(name);
    if (!field) return null;
    if (field.kind === 'scalar' || field.kind === 'enum') {
      if (wanted !== true) return null;
      const scalar = compileScalar(field, `${alias}.${column(field)}`);
      if (!scalar) return null;
      pairs.push(`${literal(name)}, ${scalar.sql}`);
      if (scalar.decode) shape.fields.push([name, scalar.decode]);
      continue;
    }
    if (field.kind !== 'object') return null;
    const relation = compileRelation(model, field, wanted, alias, aliases);
    if (!relation) return null;
    pairs.push(`${literal(name)}, ${relation.sql}`);
    if (relation.decode) shape.fields.push([name, relation.decode]);
  }
  // json_build_object takes at most 100 arguments: a wider object is built in parts.
  const parts: string[] = [];
  for (let i = 0; i < pairs.length; i += 50) {
    parts.push(`json_build_object(${pairs.slice(i, i + 50).join(', ')})`);
  }
  const sql =
    parts.length <= 1
      ? (parts[0] ?? 'json_build_object()')
      : `(${parts.map((part) => `${part}::jsonb`).join(' || ')})::json`;
  return { sql, shape };
}

function compileScalar(field: DmmfField, sql: string): { sql: string; decode?: Decode } | null {
  if (field.kind === 'enum') return { sql };
  const list = field.isList;
  const each = (decode: Decode): Decode =>
    list ? (value) => (value === null ? null : (value as unknown[]).map(decode)) : decode;
  switch (field.type) {
    case 'String':
    case 'Int':
    case 'Boolean':
    case 'Json':
      return { sql };
    case 'Float':
      // NaN and the infinities are strings in JSON.
      return { sql, decode: each((v) => (typeof v === 'string' ? Number(v) : v)) };
    case 'BigInt':
      // As text: a JSON number loses digits past 2^53.
      return list ? null : { sql: `${sql}::text`, decode: (v) => (v === null ? null : BigInt(v as string)) };
    case 'DateTime': {
      const native = field.nativeType?.[0];
      // timestamptz carries its offset and a date is read as midnight UTC, as Prisma reads them.
      if (native !== 'Timestamptz' && native !== 'Date') return null;
      return { sql, decode: each((v) => (v === null ? null : new Date(v as string))) };
    }
    default:
      return null;
  }
}

/** The columns that join `field`'s rows to the parent's: [parent column, child column] pairs. */
function joinOf(model: Model, field: DmmfField, related: Model): [DmmfField, DmmfField][] | null {
  const own = field.relationFromFields?.length ? field : undefined;
  const other = own
    ? undefined
    : related.fields.find(
        (f) => f.relationName === field.relationName && f !== field && f.relationFromFields?.length,
      );
  const from = own ?? other;
  if (!from?.relationFromFields || !from.relationToFields) return null;
  const fromModel = own ? model : related;
  const toModel = own ? related : model;
  const pairs: [DmmfField, DmmfField][] = [];
  for (const [i, name] of from.relationFromFields.entries()) {
    const fromField = fromModel.byName.get(name);
    const toField = toModel.byName.get(from.relationToFields[i] ?? '');
    if (!fromField || !toField) return null;
    pairs.push(own ? [fromField, toField] : [toField, fromField]);
  }
  return pairs;
}

function compileRelation(
  model: Model,
  field: DmmfField,
  wanted: unknown,
  alias: string,
  aliases: Aliases,
): { sql: string; decode?: Decode } | null {
  const related = models.get(field.type);
  if (!related) return null;
  const join = joinOf(model, field, related);
  if (!join) return null;
  let select: unknown = true;
  let orderBy: unknown;
  let take: unknown;
  if (isRecord(wanted)) {
    if (!onlyKeys(wanted, ['select', 'orderBy', 'take'])) return null;
    select = wanted.select ?? true;
    orderBy = wanted.orderBy;
    take = wanted.take;
  } else if (wanted !== true) {
    return null;
  }
  const child = `t${aliases.next++}`;
  const object = compileObject(related, select, child, aliases);
  if (!object) return null;
  const on = join
    .map(([parent, own]) => `${child}.${column(own)} = ${alias}.${column(parent)}`)
    .join(' AND ');
  const decodeObject = decoderOf(object.shape);
  if (!field.isList) {
    if (orderBy !== undefined || take !== undefined) return null;
    return {
      sql: `(SELECT ${object.sql} FROM ${table(related)} ${child} WHERE ${on} LIMIT 1)`,
      decode: object.shape.fields.length ? (v) => (v === null ? null : decodeObject(v)) : undefined,
    };
  }
  const order = orderClause(related, orderBy, child);
  if (order === null) return null;
  if (take !== undefined && !(Number.isSafeInteger(take) && (take as number) > 0)) return null;
  // Prisma takes the first rows by the primary key when no order is given: left to it.
  if (take !== undefined && !order) return null;
  const decode = object.shape.fields.length ? (v: unknown) => (v as unknown[]).map(decodeObject) : undefined;
  if (take === undefined) {
    const aggregate = `json_agg(${object.sql}${order ? ` ORDER BY ${order}` : ''})`;
    return {
      sql: `(SELECT coalesce(${aggregate}, '[]'::json) FROM ${table(related)} ${child} WHERE ${on})`,
      decode,
    };
  }
  // The first `take` rows in order, aggregated in that order: each row carries its place.
  const rows = `SELECT ${object.sql} AS j, row_number() OVER (${order ? `ORDER BY ${order}` : ''}) AS n FROM ${table(related)} ${child} WHERE ${on}${order ? ` ORDER BY ${order}` : ''} LIMIT ${take as number}`;
  return { sql: `(SELECT coalesce(json_agg(x.j ORDER BY x.n), '[]'::json) FROM (${rows}) x)`, decode };
}

/** `ORDER BY` of a relation's `orderBy` ('' for none); null for one this does not compile. */
function orderClause(model: Model, orderBy: unknown, alias: string): string | null {
  if (orderBy === undefined) return '';
  const terms: string[] = [];
  for (const entry of Array.isArray(orderBy) ? orderBy : [orderBy]) {
    // One field an entry, as Prisma requires.
    if (!isRecord(entry) || Object.keys(entry).length !== 1) return null;
    for (const [name, direction] of Object.entries(entry)) {
      const field = model.byName.get(name);
      if (
        !field ||
        (field.kind !== 'scalar' && field.kind !== 'enum') ||
        field.isList ||
        field.type === 'Json'
      ) {
        return null;
      }
      if (direction !== 'asc' && direction !== 'desc') return null;
      // Prisma's order: NULLS LAST ascending, NULLS FIRST descending (PostgreSQL's own default).
      terms.push(`${alias}.${column(field)} ${direction.toUpperCase()}`);
    }
  }
  return terms.join(', ');
}

/** `_count: { select: { relation: true } }`: the number of each to-many relation's rows. */
function compileCounts(model: Model, wanted: unknown, alias: string, aliases: Aliases): string | null {
  if (!isRecord(wanted) || !onlyKeys(wanted, ['select']) || !isRecord(wanted.select)) return null;
  const pairs: string[] = [];
  for (const [name, counted] of Object.entries(wanted.select)) {
    if (counted === undefined || counted === false) continue;
    const field = model.byName.get(name);
    const related = field && models.get(field.type);
    if (counted !== true || !field || field.kind !== 'object' || !field.isList || !related) return null;
    // Counted, its rows are read: whatever versions them must cover the model.
    if (!aliases.reads.has(related.name)) aliases.reads.set(related.name, new Set());
    const join = joinOf(model, field, related);
    if (!join) return null;
    const child = `t${aliases.next++}`;
    const on = join
      .map(([parent, own]) => `${child}.${column(own)} = ${alias}.${column(parent)}`)
      .join(' AND ');
    pairs.push(`${literal(name)}, (SELECT count(*)::int FROM ${table(related)} ${child} WHERE ${on})`);
  }
  if (!pairs.length) return null;
  return `json_build_object(${pairs.join(', ')})`;
}

function decoderOf(shape: Shape): (row: unknown) => unknown {
  if (!shape.fields.length) return (row) => row;
  return (row) => {
    const object = row as Record<string, unknown>;
    for (const [name, decode] of shape.fields) object[name] = decode(object[name]);
    return object;
  };
}

function table(model: Model): string {
  return quoteIdent(model.dbName ?? model.name);
}

function column(field: DmmfField): string {
  return quoteIdent(field.dbName ?? field.name);
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(object: Record<string, unknown>, allowed: string[]): boolean {
  return Object.entries(object).every(([key, value]) => value === undefined || allowed.includes(key));
}
