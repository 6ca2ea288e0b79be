import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { seedDemoNetwork } from '../../src/domain/demo/seed.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { loadKeyring, resolveServices } from '../../src/wiring/services.ts';
import { createTestDatabase } from '../helpers/db.ts';

const logger = createLogger('silent');
const NOWHERE_PG = 'postgresql://postgres@127.0.0.1:1/agnt';
const NOWHERE_REDIS = 'redis://127.0.0.1:1';

// The embedded tests share one cluster (and its fixed port), so initdb runs once per file.
let embeddedDir: string;
beforeAll(async () => {
  embeddedDir = await mkdtemp(path.join(tmpdir(), 'agnt-embedded-'));
  // Run as root, the embedded server drops to its own user, which must reach the folder.
  await chmod(embeddedDir, 0o755);
});
afterAll(() => rm(embeddedDir, { recursive: true, force: true }));

describe('finding the services at start-up', () => {
  it('stops with a message naming DATABASE_URL when the configured database does not answer', async () => {
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: NOWHERE_PG });
    await expect(resolveServices(config, logger)).rejects.toThrow(
      /DATABASE_URL=postgresql:\/\/postgres@127\.0\.0\.1:1\/agnt does not answer\. Start PostgreSQL/,
    );
  });

  it('stops with a message naming REDIS_URL when the configured Redis does not answer, and closes what it opened', async () => {
    const database = await createTestDatabase();
    try {
      const config = loadConfig({
        NODE_ENV: 'test',
        DATABASE_URL: database.url,
        REDIS_URL: NOWHERE_REDIS,
        SEED_DEMO: 'false',
      });
      await expect(resolveServices(config, logger)).rejects.toThrow(
        /REDIS_URL=redis:\/\/127\.0\.0\.1:1 does not answer\. Start Redis/,
      );
    } finally {
      await database.drop();
    }
  });

  it('runs an embedded PostgreSQL and Redis stand-ins when nothing is configured or answering', async () => {
    const config = loadConfig({ NODE_ENV: 'test', EMBEDDED_POSTGRES_DIR: path.join(embeddedDir, 'pg') });
    // Nothing answers at the default addresses in this test.
    config.database.defaultUrl = NOWHERE_PG;
    config.redis.defaultUrl = NOWHERE_REDIS;
    config.agents.secretKeys = 'k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const services = await resolveServices(config, logger);
    try {
      expect(services.database.url).toMatch(/^postgresql:\/\/postgres:postgres@127\.0\.0\.1:\d+\/agnt$/);
      expect(services.redis.mode).toBe('memory');
      // Migrated and seeded.
      expect(await services.db.venue.count({ where: { status: 'CLAIMED' } })).toBe(3);
      expect(
        await services.db.agent.count({ where: { kind: 'VENUE', signingSecretCiphertext: { not: null } } }),
      ).toBe(3);
    } finally {
      await services.shutdown();
    }
  }, 120_000);

  it('stops cleanly on Ctrl-C in a terminal: no error line, and the embedded PostgreSQL is gone', async () => {
    const pgDir = path.join(embeddedDir, 'pg');
    // `npm start` in a terminal: the product leads a process group, and Ctrl-C signals the whole group.
    const child = spawn(process.execPath, ['test/fixtures/start-embedded.ts', 'all'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        PORT: '0',
        EMBEDDED_POSTGRES_DIR: pgDir,
        SEED_DEMO: 'false',
      },
    });
    const lines: { level: number; msg: string }[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += String(chunk);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const ready = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(JSON.parse(line));
        if (/Worker connected/.test(lines.at(-1)!.msg)) resolve();
      });
    });
    const story = () => `${lines.map((l) => `${l.level} ${l.msg}`).join('\n')}\n${stderr}`;
    try {
      await Promise.race([ready, exited.then(() => Promise.reject(new Error(`exited early:\n${story()}`)))]);
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited, story()).toBe(0);
      expect(
        lines.filter((l) => l.level >= 50),
        story(),
      ).toEqual([]);
      expect(lines.at(-1)?.msg, story()).toBe('stopped');
      expect(stderr, story()).toBe('');
      // The server stopped with the product rather than being left running on its own.
      expect(existsSync(path.join(pgDir, 'postmaster.pid'))).toBe(false);
    } finally {
      // The group may be gone already; a failed kill must not hide why the test failed.
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {}
      }
    }
  }, 120_000);
});

describe('the demo network', () => {
  it('is seeded once, into an empty database only', async () => {
    const database = await createTestDatabase();
    try {
      const config = loadConfig({
        NODE_ENV: 'test',
        AGENT_SECRET_KEYS: 'k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      });
      const keyring = await loadKeyring(config);
      const results = await Promise.all([
        seedDemoNetwork(database.prisma, keyring),
        seedDemoNetwork(database.prisma, keyring),
      ]);
      expect(results.sort()).toEqual([false, true]);
      expect(await database.prisma.organization.count()).toBe(1);
      const venues = await database.prisma.venue.findMany({ include: { hours: true, tables: true } });
      expect(venues.map((v) => v.slug).sort()).toEqual([
        'harbour-lights-bistro',
        'morning-glory-cafe',
        'the-night-owl',
      ]);
      expect(
        venues.every((v) => v.hours.length > 0 && v.tables.length > 0 && v.bookingRulesConfirmedAt),
      ).toBe(true);
    } finally {
      await database.drop();
    }
  });
});
