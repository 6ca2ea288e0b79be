/**
 * The migrations are written by hand (Prisma's schema engine cannot run here), so nothing but this
 * test keeps them honest: it migrates an empty database and compares it, fact by fact, with
 * Prisma's own reading of schema.prisma, the datamodel part of the DMMF that
 * scripts/prisma-dmmf-generator.ts writes on `npm run generate`. Any fact on one side only fails
 * the test, so a migration that forgets an index fails as surely as one that adds a stray column.
 *
 * What Prisma would create is derived from the DMMF with Prisma's PostgreSQL conventions: scalar
 * and native types, list columns left nullable, `now()` as CURRENT_TIMESTAMP, client-side
 * `uuid()`/`cuid()` with no database default, constraint names `<table>_pkey`,
 * `<table>_<columns>_key|_idx|_fkey` (cut to 63 bytes), foreign keys ON DELETE Restrict or
 * SetNull and ON UPDATE Cascade unless stated. CHECK constraints, triggers and other objects the
 * schema cannot express are not compared, so hand-written migrations may add them.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DmmfField as ReadDmmfField } from '../../src/platform/json-rows.ts';
import { migrate } from '../../src/platform/migrate.ts';
import { createEmptyDatabase } from '../helpers/db.ts';

const DMMF_PATH = fileURLToPath(new URL('../../src/generated/dmmf.json', import.meta.url));
const SCHEMA_PATH = fileURLToPath(new URL('../../prisma/schema.prisma', import.meta.url));

/** PostgreSQL's NAMEDATALEN - 1; Prisma cuts default constraint names to fit. */
const MAX_IDENTIFIER_LENGTH = 63;

// The slice of the DMMF this test reads (see @prisma/dmmf for the whole of it).
interface DmmfFunctionDefault {
  name: string;
  args: unknown[];
}
type DmmfDefault = string | number | boolean | DmmfFunctionDefault | (string | number | boolean)[];
interface DmmfField extends ReadDmmfField {
  isRequired: boolean;
  default?: DmmfDefault;
  relationName?: string;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  schema: string | null;
  fields: DmmfField[];
}
interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal' | 'fulltext';
  dbName?: string | null;
  algorithm?: string;
  fields: { name: string; sortOrder?: 'asc' | 'desc' }[];
}
interface DmmfEnum {
  name: string;
  dbName: string | null;
  values: { name: string; dbName: string | null }[];
}
interface DmmfSnapshot {
  schemaSha256: string;
  datamodel: { models: DmmfModel[]; enums: DmmfEnum[]; indexes: DmmfIndex[] };
}

/** One side of the comparison, in PostgreSQL's vocabulary (type names as `format_type` prints them). */
interface Shape {
  enums: { name: string; values: string[] }[];
  tables: string[];
  columns: { table: string; name: string; type: string; nullable: boolean; default: string | null }[];
  indexes: {
    table: string;
    name: string;
    kind: 'primary key' | 'unique index' | 'index';
    /** Column names, `name DESC` for a descending key. */
    columns: string[];
    method: string;
  }[];
  foreignKeys: {
    table: string;
    name: string;
    columns: string[];
    refTable: string;
    refColumns: string[];
    onDelete: string;
    onUpdate: string;
  }[];
}

async function loadDmmf(): Promise<DmmfSnapshot> {
  let snapshot: DmmfSnapshot;
  try {
    snapshot = JSON.parse(await readFile(DMMF_PATH, 'utf8')) as DmmfSnapshot;
  } catch (error) {
    throw new Error(`Cannot read ${DMMF_PATH} (${(error as Error).message}); run \`npm run generate\``);
  }
  const schemaSha256 = createHash('sha256')
    .update(await readFile(SCHEMA_PATH))
    .digest('hex');
  if (snapshot.schemaSha256 !== schemaSha256) {
    throw new Error(`${DMMF_PATH} is older than prisma/schema.prisma; run \`npm run generate\``);
  }
  return snapshot;
}

// ---- What schema.prisma asks for ----------------------------------------------------------------

/** Prisma's default constraint name: `<table>_<columns><suffix>`, cut so the whole fits 63 bytes. */
function defaultName(parts: string[], suffix: string): string {
  const base = parts.join('_');
  return `${base.slice(0, MAX_IDENTIFIER_LENGTH - suffix.length)}${suffix}`;
}

const SCALAR_TYPES: Record<string, string> = {
  String: 'text',
  Boolean: 'boolean',
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

/** `@db.X(args)` as `format_type` prints it. */
function nativeType(name: string, args: string[]): string {
  const precision = args.length > 0 ? `(${args.join(',')})` : '';
  const simple: Record<string, string> = {
    Text: 'text',
    Uuid: 'uuid',
    Xml: 'xml',
    Inet: 'inet',
    Citext: 'citext',
    Boolean: 'boolean',
    Integer: 'integer',
    SmallInt: 'smallint',
    Oid: 'oid',
    BigInt: 'bigint',
    DoublePrecision: 'double precision',
    Real: 'real',
    Money: 'money',
    Date: 'date',
    Json: 'json',
    JsonB: 'jsonb',
    ByteA: 'bytea',
  };
  const withPrecision: Record<string, [string, string]> = {
    Char: ['character', ''],
    VarChar: ['character varying', ''],
    Bit: ['bit', ''],
    VarBit: ['bit varying', ''],
    Decimal: ['numeric', ''],
    Timestamp: ['timestamp', ' without time zone'],
    Timestamptz: ['timestamp', ' with time zone'],
    Time: ['time', ' without time zone'],
    Timetz: ['time', ' with time zone'],
  };
  const plain = simple[name];
  if (plain) return plain;
  const parts = withPrecision[name];
  if (parts) return `${parts[0]}${precision}${parts[1]}`;
  throw new Error(`schema-drift test does not know the native type @db.${name}; teach nativeType()`);
}

function literal(value: string | number | boolean): string {
  return String(value);
}

function expectedDefault(field: DmmfField, enums: Map<string, DmmfEnum>): string | null {
  const value = field.default;
  if (value === undefined) return null;
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (typeof value === 'object') {
    switch (value.name) {
      case 'now':
        return 'CURRENT_TIMESTAMP';
      case 'autoincrement':
        return 'autoincrement()';
      case 'dbgenerated':
        return typeof value.args[0] === 'string' ? value.args[0] : null;
      // Filled in by Prisma Client, so the column has no default of its own.
      case 'uuid':
      case 'cuid':
      case 'nanoid':
      case 'ulid':
        return null;
      default:
        throw new Error(`schema-drift test does not know @default(${value.name}()); teach expectedDefault()`);
    }
  }
  if (field.kind === 'enum' && typeof value === 'string') {
    const member = enums.get(field.type)?.values.find((v) => v.name === value);
    return member?.dbName ?? value;
  }
  return literal(value);
}

/**
 * The partial indexes schema.prisma declares (`@@unique([a, b], where: …)`, the `partialIndexes`
 * preview feature), as `<model> <unique|normal> <fields>`. Prisma 7's DMMF leaves the `where` out,
 * so it is read from the schema's text; the predicate itself is not compared, only that the
 * database's index is partial too.
 */
function partialIndexes(schema: string): Set<string> {
  const found = new Set<string>();
  for (const block of schema.matchAll(/^model (\w+) \{([\s\S]*?)^\}/gm)) {
    for (const line of block[2]!.matchAll(/@@(unique|index)\(\[([^\]]*)\][^)]*\bwhere:/g)) {
      const fields = line[2]!.split(',').map((f) => f.trim().replace(/\(.*$/, ''));
      found.add(`${block[1]} ${line[1] === 'unique' ? 'unique' : 'normal'} ${fields.join(',')}`);
    }
  }
  return found;
}

function expectedShape({ datamodel }: DmmfSnapshot, schemaText: string): Shape {
  const enums = new Map(datamodel.enums.map((e) => [e.name, e]));
  const models = new Map(datamodel.models.map((m) => [m.name, m]));
  const tableOf = (model: DmmfModel) => model.dbName ?? model.name;
  const columnOf = (model: DmmfModel, fieldName: string) => {
    const field = model.fields.find((f) => f.name === fieldName);
    if (!field) throw new Error(`${model.name} has no field ${fieldName}`);
    return field.dbName ?? field.name;
  };

  const shape: Shape = {
    enums: datamodel.enums.map((e) => ({
      name: e.dbName ?? e.name,
      values: e.values.map((v) => v.dbName ?? v.name),
    })),
    tables: [],
    columns: [],
    indexes: [],
    foreignKeys: [],
  };

  for (const model of datamodel.models) {
    if (model.schema) throw new Error(`${model.name}: multiSchema models are not compared; teach this test`);
    const table = tableOf(model);
    shape.tables.push(table);
    for (const field of model.fields) {
      if (field.kind === 'object') {
        const target = models.get(field.type);
        if (!target) throw new Error(`${model.name}.${field.name} points at unknown model ${field.type}`);
        const from = field.relationFromFields ?? [];
        if (from.length === 0) {
          const back = target.fields.find(
            (f) => f.relationName === field.relationName && !(target === model && f.name === field.name),
          );
          if (field.isList && back?.isList) {
            throw new Error(
              `${model.name}.${field.name} is an implicit many-to-many relation; model the join table explicitly (its index and key names are not checked here)`,
            );
          }
          continue;
        }
        const columns = from.map((name) => columnOf(model, name));
        const allRequired = from.every((name) => model.fields.find((f) => f.name === name)?.isRequired);
        shape.foreignKeys.push({
          table,
          // `@relation(map: …)` does not reach the DMMF, so only default names can be checked;
          // the project keeps Prisma's default foreign key names.
          name: defaultName([table, ...columns], '_fkey'),
          columns,
          refTable: tableOf(target),
          refColumns: (field.relationToFields ?? []).map((name) => columnOf(target, name)),
          onDelete: referentialAction(field.relationOnDelete ?? (allRequired ? 'Restrict' : 'SetNull')),
          onUpdate: referentialAction(field.relationOnUpdate ?? 'Cascade'),
        });
        continue;
      }
      let type: string;
      if (field.kind === 'enum') {
        const e = enums.get(field.type);
        type = e?.dbName ?? field.type;
      } else if (field.kind === 'unsupported') {
        type = field.type;
      } else if (field.nativeType) {
        type = nativeType(field.nativeType[0], field.nativeType[1]);
      } else {
        const scalar = SCALAR_TYPES[field.type];
        if (!scalar) throw new Error(`${model.name}.${field.name}: unknown scalar type ${field.type}`);
        type = scalar;
      }
      shape.columns.push({
        table,
        name: field.dbName ?? field.name,
        type: field.isList ? `${type}[]` : type,
        // Prisma's migrations never put NOT NULL on a scalar list column.
        nullable: !field.isRequired || field.isList,
        default: expectedDefault(field, enums),
      });
    }
  }

  const partial = partialIndexes(schemaText);
  for (const index of datamodel.indexes) {
    const model = models.get(index.model);
    if (!model) throw new Error(`index on unknown model ${index.model}`);
    if (index.type === 'fulltext')
      throw new Error(`${index.model}: fulltext indexes do not exist on PostgreSQL`);
    const table = tableOf(model);
    const names = index.fields.map((f) => columnOf(model, f.name));
    const kind = index.type === 'id' ? 'primary key' : index.type === 'unique' ? 'unique index' : 'index';
    const suffix = index.type === 'id' ? '_pkey' : index.type === 'unique' ? '_key' : '_idx';
    shape.indexes.push({
      table,
      name: index.dbName ?? defaultName(index.type === 'id' ? [table] : [table, ...names], suffix),
      kind,
      columns: [
        ...index.fields.map((f, i) => (f.sortOrder === 'desc' ? `${names[i]} DESC` : names[i]!)),
        ...(partial.has(`${index.model} ${index.type} ${index.fields.map((f) => f.name).join(',')}`)
          ? ['(partial)']
          : []),
      ],
      method: (index.algorithm ?? 'BTree').toLowerCase(),
    });
  }
  return shape;
}

function referentialAction(action: string): string {
  const actions: Record<string, string> = {
    Cascade: 'cascade',
    Restrict: 'restrict',
    NoAction: 'no action',
    SetNull: 'set null',
    SetDefault: 'set default',
  };
  const sql = actions[action];
  if (!sql) throw new Error(`unknown referential action ${action}`);
  return sql;
}

// ---- What the database has ----------------------------------------------------------------------

const PG_ACTIONS: Record<string, string> = {
  a: 'no action',
  r: 'restrict',
  c: 'cascade',
  n: 'set null',
  d: 'set default',
};

/**
 * A column default as the comparison spells it: casts dropped from literals (`'-1'::integer` is
 * `-1`), arrays as `[a, b]`, sequences as `autoincrement()`; anything else verbatim.
 */
function normalizeDefault(expression: string | null): string | null {
  if (expression === null) return null;
  if (/^nextval\('[^']+'::regclass\)$/.test(expression)) return 'autoincrement()';
  const quoted = /^'((?:[^']|'')*)'(?:::.+)?$/.exec(expression);
  if (quoted) {
    const text = quoted[1]!.replaceAll("''", "'");
    // `'{a,b}'::text[]` is an array literal written by hand.
    if (expression.endsWith('[]') && text.startsWith('{') && text.endsWith('}')) {
      const inner = text.slice(1, -1);
      return `[${inner ? inner.split(',').join(', ') : ''}]`;
    }
    return text;
  }
  const array = /^ARRAY\[(.*)\]$/.exec(expression.replace(/^(ARRAY\[.*\])::[^[\]']+(?:\[\])+$/, '$1'));
  if (array) {
    const inner = array[1]!;
    return `[${inner ? inner.split(', ').map(normalizeDefault).join(', ') : ''}]`;
  }
  return expression;
}

/** Reads the current schema of the database `client` is connected to (inside its transaction, if any). */
async function introspect(client: pg.ClientBase): Promise<Shape> {
  const enums = await client.query<{ name: string; values: string[] }>(`
    SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
    FROM pg_type t
    JOIN pg_namespace n ON n.oid = t.typnamespace
    JOIN pg_enum e ON e.enumtypid = t.oid
    WHERE n.nspname = current_schema()
    GROUP BY t.typname`);
  const tables = await client.query<{ name: string }>(`
    SELECT c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations'`);
  const columns = await client.query<{
    table: string;
    name: string;
    type: string;
    nullable: boolean;
    default: string | null;
  }>(`
    SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
           NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS default
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations'`);
  const indexes = await client.query<{
    table: string;
    name: string;
    primary: boolean;
    unique: boolean;
    method: string;
    columns: string[];
    expressions: boolean;
    partial: boolean;
  }>(`
    SELECT t.relname AS table, i.relname AS name, ix.indisprimary AS primary, ix.indisunique AS unique,
           am.amname AS method, ix.indexprs IS NOT NULL AS expressions, ix.indpred IS NOT NULL AS partial,
           ARRAY(
             SELECT a.attname::text
                    || CASE WHEN pg_index_column_has_property(ix.indexrelid, k.n::int, 'desc') THEN ' DESC' ELSE '' END
             FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
             WHERE k.n <= ix.indnkeyatts
             ORDER BY k.n
           ) AS columns
    FROM pg_index ix
    JOIN pg_class i ON i.oid = ix.indexrelid
    JOIN pg_class t ON t.oid = ix.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_am am ON am.oid = i.relam
    WHERE n.nspname = current_schema() AND t.relname <> '_prisma_migrations'`);
  const foreignKeys = await client.query<{
    table: string;
    name: string;
    columns: string[];
    refTable: string;
    refColumns: string[];
    onDelete: string;
    onUpdate: string;
  }>(`
    SELECT t.relname AS table, con.conname AS name, rt.relname AS "refTable",
           con.confdeltype AS "onDelete", con.confupdtype AS "onUpdate",
           ARRAY(
             SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.n
           ) AS columns,
           ARRAY(
             SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.n
           ) AS "refColumns"
    FROM pg_constraint con
    JOIN pg_class t ON t.oid = con.conrelid
    JOIN pg_class rt ON rt.oid = con.confrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE con.contype = 'f' AND n.nspname = current_schema()`);

  return {
    enums: enums.rows,
    tables: tables.rows.map((r) => r.name),
    // format_type quotes mixed-case names ("VenueStatus"); schema.prisma spells them bare.
    columns: columns.rows.map((c) => ({
      ...c,
      type: c.type.replaceAll('"', ''),
      default: normalizeDefault(c.default),
    })),
    indexes: indexes.rows.map((ix) => ({
      table: ix.table,
      name: ix.name,
      kind: ix.primary ? 'primary key' : ix.unique ? 'unique index' : 'index',
      // Expression indexes cannot be declared in Prisma; partial ones only with `where:` (see partialIndexes).
      columns: [
        ...ix.columns,
        ...(ix.expressions ? ['(expression)'] : []),
        ...(ix.partial ? ['(partial)'] : []),
      ],
      method: ix.method,
    })),
    foreignKeys: foreignKeys.rows.map((fk) => ({
      ...fk,
      onDelete: PG_ACTIONS[fk.onDelete] ?? fk.onDelete,
      onUpdate: PG_ACTIONS[fk.onUpdate] ?? fk.onUpdate,
    })),
  };
}

// ---- Comparison ---------------------------------------------------------------------------------

/**
 * One line per fact, each with the thing it is about (a table, column, index, constraint or enum)
 * so the diff can pair a changed fact's two versions.
 */
function facts(shape: Shape): Map<string, string> {
  const entries: [line: string, subject: string][] = [
    ...shape.enums.map((e): [string, string] => [`enum ${e.name}: ${e.values.join(', ')}`, `enum ${e.name}`]),
    ...shape.tables.map((t): [string, string] => [`${t}: table`, t]),
    ...shape.columns.map((c): [string, string] => [
      `${c.table}.${c.name}: ${c.type} ${c.nullable ? 'null' : 'not null'}${c.default === null ? '' : ` default ${c.default}`}`,
      `${c.table}.${c.name}`,
    ]),
    ...shape.indexes.map((ix): [string, string] => [
      `${ix.table}: ${ix.kind} ${ix.name} (${ix.columns.join(', ')})${ix.method === 'btree' ? '' : ` using ${ix.method}`}`,
      `${ix.table}: ${ix.name}`,
    ]),
    ...shape.foreignKeys.map((fk): [string, string] => [
      `${fk.table}: foreign key ${fk.name} (${fk.columns.join(', ')}) references ${fk.refTable} (${fk.refColumns.join(', ')}) on delete ${fk.onDelete} on update ${fk.onUpdate}`,
      `${fk.table}: ${fk.name}`,
    ]),
  ];
  return new Map(entries);
}

/**
 * The facts on one side only: `- …` is in schema.prisma but not in the database, `+ …` the other
 * way round. Grouped by subject, so a changed column shows as a `-` line followed by its `+` line.
 */
function drift(expected: Shape, actual: Shape): string[] {
  const want = facts(expected);
  const have = facts(actual);
  const only = (side: Map<string, string>, other: Map<string, string>, sign: string) =>
    [...side].filter(([line]) => !other.has(line)).map(([line, subject]) => ({ subject, sign, line }));
  // `-` sorts after `+` in ASCII, hence the reversed sign comparison.
  return [...only(want, have, '-'), ...only(have, want, '+')]
    .sort((a, b) => compare(a.subject, b.subject) || compare(b.sign, a.sign) || compare(a.line, b.line))
    .map((d) => `${d.sign} ${d.line}`);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Foreign keys whose columns are not the leading columns of some index on their table. */
function unindexedForeignKeys(shape: Shape): string[] {
  return shape.foreignKeys
    .filter((fk) => {
      const wanted = new Set(fk.columns);
      return !shape.indexes.some((ix) => {
        if (ix.table !== fk.table) return false;
        const leading = ix.columns.slice(0, fk.columns.length).map((c) => c.replace(/ DESC$/, ''));
        return leading.length === wanted.size && leading.every((c) => wanted.has(c));
      });
    })
    .map((fk) => `${fk.table}: ${fk.name} (${fk.columns.join(', ')})`);
}

const LEGEND =
  'schema.prisma and the migrated database differ (- only in schema.prisma, + only in the database)';

describe('schema drift', () => {
  let expected: Shape;
  let database: Awaited<ReturnType<typeof createEmptyDatabase>>;
  let client: pg.Client;

  beforeAll(async () => {
    expected = expectedShape(await loadDmmf(), await readFile(SCHEMA_PATH, 'utf8'));
    database = await createEmptyDatabase();
    await migrate(database.url);
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await database?.drop();
  });

  it('migrations build exactly the database schema.prisma describes', async () => {
    expect(drift(expected, await introspect(client)), LEGEND).toEqual([]);
  });

  it('has an index leading with the columns of every foreign key', async () => {
    // PostgreSQL does not index foreign keys by itself, and Prisma does not add one either: without
    // it, deleting a parent row scans the child table. Add `@@index([…])` and its migration.
    expect(unindexedForeignKeys(await introspect(client)), 'foreign keys without an index').toEqual([]);
  });

  it('reports drift in either direction', async () => {
    // DDL is transactional in PostgreSQL: change the schema, look, and roll it all back.
    await client.query('BEGIN');
    try {
      await client.query(`
        DROP INDEX "venues_organization_id_idx";
        ALTER TABLE "users" ALTER COLUMN "email" TYPE varchar(255);
        ALTER TABLE "users" ADD COLUMN "nickname" text;
        ALTER TABLE "venues" ALTER COLUMN "status" DROP DEFAULT;
        ALTER TABLE "opening_hours" ALTER COLUMN "weekday" DROP NOT NULL;
        ALTER TYPE "AgentKind" ADD VALUE 'ROBOT';
        ALTER TABLE "agents" DROP CONSTRAINT "agents_user_id_fkey",
          ADD CONSTRAINT "agents_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id")
          ON DELETE SET NULL ON UPDATE CASCADE;
        CREATE TABLE "stray" ("id" integer PRIMARY KEY);`);
      const actual = await introspect(client);
      expect(drift(expected, actual)).toEqual([
        '- agents: foreign key agents_user_id_fkey (user_id) references users (id) on delete cascade on update cascade',
        '+ agents: foreign key agents_user_id_fkey (user_id) references users (id) on delete set null on update cascade',
        '- enum AgentKind: CONSUMER, VENUE, PLATFORM',
        '+ enum AgentKind: CONSUMER, VENUE, PLATFORM, ROBOT',
        '- opening_hours.weekday: integer not null',
        '+ opening_hours.weekday: integer null',
        '+ stray: table',
        '+ stray.id: integer not null',
        '+ stray: primary key stray_pkey (id)',
        '- users.email: text null',
        '+ users.email: character varying(255) null',
        '+ users.nickname: text null',
        '- venues.status: VenueStatus not null default DRAFT',
        '+ venues.status: VenueStatus not null',
        '- venues: index venues_organization_id_idx (organization_id)',
      ]);
      expect(unindexedForeignKeys(actual)).toEqual(['venues: venues_organization_id_fkey (organization_id)']);
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('spells database defaults the way it spells Prisma defaults', () => {
    expect(normalizeDefault(`nextval('t_id_seq'::regclass)`)).toBe('autoincrement()');
    expect(normalizeDefault(`'-1'::integer`)).toBe('-1');
    expect(normalizeDefault(`'it''s'::character varying`)).toBe("it's");
    expect(normalizeDefault(`'red'::"Colour"`)).toBe('red');
    expect(normalizeDefault('ARRAY[]::text[]')).toBe('[]');
    expect(normalizeDefault(`ARRAY['x'::text, 'y'::text]`)).toBe('[x, y]');
    expect(normalizeDefault(`'{a,b}'::text[]`)).toBe('[a, b]');
    expect(normalizeDefault('CURRENT_TIMESTAMP')).toBe('CURRENT_TIMESTAMP');
    expect(defaultName(['t'.repeat(70)], '_pkey')).toHaveLength(MAX_IDENTIFIER_LENGTH);
  });
});
