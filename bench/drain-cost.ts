/**
 * What one drained message costs PostgreSQL: statements, transactions and the commits among them
 * that write (each a WAL flush the webhooks' batches queue behind), for a person's first message
 * and for a later one of the same person in the same chat, with the drains acknowledging
 * (`CONSUMER_AGENT=false`, as `webhook-ingest` runs them).
 *
 *   npx node bench/drain-cost.ts [chats]   (default 100)
 *
 * On a throwaway migrated database (`agnt_bench_…`), it records one message for each chat and
 * drains the chats one after another, then a second message each and drains again. Every
 * statement any connection of the drain's pool sends is heard on the wire (the advisory lock's
 * two included; the job's fetch and completion are graphile-worker's and not run here). A
 * transaction is a BEGIN … COMMIT or a statement sent outside one; it writes when it holds an
 * INSERT, UPDATE or DELETE (a read-only commit flushes nothing).
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { generateKeyringSpec, parseKeyring } from '../src/domain/agents/secrets.ts';
import { acknowledge, drainChat, recordInbound } from '../src/domain/channels/inbound.ts';
import { connectDatabase } from '../src/platform/db.ts';
import { installJobSchema } from '../src/platform/jobs.ts';
import { createLogger } from '../src/platform/logger.ts';
import { inboundText } from '../test/factories/inbound.ts';
import { createMigratedDatabase } from './lib/database.ts';

const chats = Number(process.argv[2] ?? 100);

interface Heard {
  statements: number;
  transactions: number;
  writing: number;
}
const heard: Heard = { statements: 0, transactions: 0, writing: 0 };
const open = new WeakMap<object, { writes: boolean }>();
const WRITE = /^\s*(?:WITH\b[\s\S]*\b)?(?:INSERT|UPDATE|DELETE)\b/i;

// Every statement of every connection, on the wire.
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const config = args[0] as string | { text: string };
  const text = typeof config === 'string' ? config : config.text;
  heard.statements += 1;
  const tx = open.get(this);
  if (/^\s*BEGIN\b/i.test(text)) open.set(this, { writes: false });
  else if (/^\s*(COMMIT|ROLLBACK)\b/i.test(text)) {
    heard.transactions += 1;
    if (tx?.writes && /^\s*COMMIT/i.test(text)) heard.writing += 1;
    open.delete(this);
  } else if (tx) tx.writes ||= WRITE.test(text);
  else {
    heard.transactions += 1;
    if (WRITE.test(text)) heard.writing += 1;
  }
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

const bench = await createMigratedDatabase();
await installJobSchema(bench.url);
const database = connectDatabase(bench.url, 4);
const logger = createLogger('silent');
const keyring = parseKeyring(generateKeyringSpec());
const deps = { database, keyring, logger, handler: acknowledge };
try {
  for (const round of ['first contact', 'known sender'] as const) {
    const ids = Array.from({ length: chats }, (_, i) => `9${String(i).padStart(8, '0')}`);
    for (const chat of ids) {
      const id = `${round === 'first contact' ? 1 : 2}${chat}`;
      await recordInbound(database, inboundText({ account: 'drain-cost', chat, id, text: 'hello' }));
    }
    const before = { ...heard };
    const started = performance.now();
    for (const chat of ids) {
      const { processed } = await drainChat(deps, {
        platform: 'TELEGRAM',
        account: 'drain-cost',
        externalChatId: chat,
      });
      if (processed !== 1) throw new Error(`chat ${chat}: ${processed} processed`);
    }
    const ms = performance.now() - started;
    const per = (k: keyof Heard) => ((heard[k] - before[k]) / chats).toFixed(2);
    console.log(
      `${round}: ${per('statements')} statements, ${per('transactions')} transactions, ${per('writing')} writing commits per message; ${(ms / chats).toFixed(2)} ms each (${chats} chats)`,
    );
  }
} finally {
  await database.close();
  await bench.drop();
}
