import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { seedDemoNetwork } from '../../src/domain/demo/seed.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { loadKeyring, resolveServices } from '../../src/services.ts';
import { createTestDatabase } from '../helpers/db.ts';

const logger = createLogger('silent');
const NOWHERE_PG = 'postgresql://postgres@127.0.0.1:1/agnt';
const NOWHERE_REDIS = 'redis://127.0.0.1:1';

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
    const dir = await mkdtemp(path.join(tmpdir(), 'agnt-embedded-'));
    // Run as root, the embedded server drops to its own user, which must reach the folder.
    await chmod(dir, 0o755);
    const config = loadConfig({ NODE_ENV: 'test', EMBEDDED_POSTGRES_DIR: path.join(dir, 'pg') });
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
      await rm(dir, { recursive: true, force: true });
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
