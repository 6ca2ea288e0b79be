/**
 * A Prisma generator that writes the datamodel part of the DMMF (Prisma's parsed view of
 * schema.prisma) to a JSON file, so test/integration/schema-drift.test.ts can compare the migrated
 * database with what Prisma itself understands the schema to mean, not with a hand-kept list.
 *
 * Prisma runs generators as child processes speaking JSON-RPC: one request per line on stdin,
 * one response per line on stderr (stdout stays free for the generator's own output). The
 * protocol is spoken by hand rather than through `@prisma/generator-helper`, which is only a
 * transitive dependency here and may move or disappear on any install.
 *
 * Wired in schema.prisma as `generator dmmf`; runs under `npm run generate`, offline.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';

interface RpcRequest {
  jsonrpc: '2.0';
  id: number;
  method: string;
  params?: unknown;
}

interface GenerateParams {
  schemaPath: string;
  version: string;
  generator: { output?: { value: string | null } | null };
  dmmf: { datamodel: unknown };
}

async function generate(params: GenerateParams): Promise<null> {
  const output = params.generator.output?.value;
  if (!output) throw new Error('generator dmmf needs an `output` path');
  // The hash lets the drift test notice a DMMF that is older than schema.prisma.
  const schemaSha256 = createHash('sha256')
    .update(await readFile(params.schemaPath))
    .digest('hex');
  const snapshot = {
    prismaVersion: params.version,
    schemaPath: path.basename(params.schemaPath),
    schemaSha256,
    datamodel: withUnsupportedFields(
      params.dmmf.datamodel as Datamodel,
      await readFile(params.schemaPath, 'utf8'),
    ),
  };
  await mkdir(path.dirname(output), { recursive: true });
  await writeFile(output, `${JSON.stringify(snapshot, null, 2)}\n`);
  return null;
}

interface Datamodel {
  models: { name: string; fields: Record<string, unknown>[] }[];
}

/**
 * The DMMF leaves out `Unsupported("…")` fields (the client cannot read them), but the database
 * has their columns and indexes name them. They are read from the schema text and added back as
 * fields of kind `unsupported`, so the drift test compares them like any other column.
 */
function withUnsupportedFields(datamodel: Datamodel, schema: string): Datamodel {
  const blocks = schema.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm);
  for (const [, modelName, body] of blocks) {
    const model = datamodel.models.find((m) => m.name === modelName);
    if (!model) continue;
    for (const match of body!.matchAll(/^\s*(\w+)\s+Unsupported\("([^"]+)"\)(\?)?(.*)$/gm)) {
      const [, name, type, optional, rest] = match;
      const dbName = /@map\("([^"]+)"\)/.exec(rest ?? '')?.[1] ?? null;
      model.fields.push({ name, dbName, kind: 'unsupported', type, isRequired: !optional, isList: false });
    }
  }
  return datamodel;
}

function respond(message: object): void {
  process.stderr.write(`${JSON.stringify(message)}\n`);
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
lines.on('line', async (line) => {
  const request = JSON.parse(line) as RpcRequest;
  try {
    if (request.method === 'getManifest') {
      respond({
        jsonrpc: '2.0',
        id: request.id,
        result: { manifest: { prettyName: 'DMMF snapshot', defaultOutput: '../src/generated/dmmf.json' } },
      });
    } else if (request.method === 'generate') {
      respond({ jsonrpc: '2.0', id: request.id, result: await generate(request.params as GenerateParams) });
    }
  } catch (error) {
    const e = error as Error;
    respond({
      jsonrpc: '2.0',
      id: request.id,
      error: { code: -32000, message: e.message, data: { stack: e.stack } },
    });
  }
});
