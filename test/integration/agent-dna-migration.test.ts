/**
 * The data migration that brings stored tool lists up to date: applied to agents stored the ways
 * they were before it (earlier defaults, edited lists, a list written after it), it writes what
 * storedDna reads, touches nothing a second time, and leaves every edited list as it was.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_TOOLS, storedDna, VENUE_TOOLS } from '../../src/domain/agents/dna.ts';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import type { AgentKind } from '../../src/generated/prisma/enums.ts';
import { MIGRATIONS_DIR } from '../../src/platform/migrate.ts';
import { createPerson } from '../factories/people.ts';
import { createVenue } from '../factories/venues.ts';
import { FIRST_CONSUMER_DEFAULT, FIRST_VENUE_DEFAULT } from '../fixtures/agent-tools.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const MIGRATION = path.join(MIGRATIONS_DIR, '20261215000001_agent_dna_default_tools', 'migration.sql');

const persona = { name: 'AGNT', tone: 'friendly', languages: ['en'] };
const consumerDna = (tools: string[], extra: Record<string, unknown> = {}) => ({
  persona,
  capabilities: ['bookings', 'questions', 'memory', 'delivery'],
  tools,
  bookingPolicy: null,
  escalationContact: null,
  ...extra,
});
const venueDna = (tools: string[]) => ({
  persona: { name: 'Casa concierge', tone: 'warm', languages: ['en'] },
  capabilities: ['bookings', 'questions'],
  tools,
  bookingPolicy: { autoAcceptWithinRules: true, askStaffAbovePartySize: 8, blackoutWindows: [] },
  escalationContact: null,
});

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

async function runMigration() {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(await readFile(MIGRATION, 'utf8'));
  } finally {
    await client.end();
  }
}

async function agentWith(kind: AgentKind, dna: Record<string, unknown>) {
  const db = database.prisma;
  const owner =
    kind === 'VENUE' ? { venueId: (await createVenue(db)).id } : { userId: (await createPerson(db)).id };
  return db.agent.create({
    data: {
      kind,
      name: 'agent',
      dna: dna as Prisma.InputJsonObject,
      ...owner,
      updatedAt: new Date('2026-12-01T10:00:00Z'),
    },
  });
}

const reread = (id: string) => database.prisma.agent.findUniqueOrThrow({ where: { id } });
const sorted = (tools: unknown) => [...(tools as string[])].sort();

describe('the agent DNA tools migration', () => {
  it('gives agents stored with an earlier default the default of today, leaves edited lists, and is safe to run again', async () => {
    const feedback = [...FIRST_CONSUMER_DEFAULT, 'leave_feedback'];
    const agents = {
      first: await agentWith('CONSUMER', consumerDna(FIRST_CONSUMER_DEFAULT)),
      reordered: await agentWith('CONSUMER', consumerDna([...feedback].reverse())),
      reminders: await agentWith('CONSUMER', consumerDna([...feedback, 'set_reminder'])),
      current: await agentWith('CONSUMER', consumerDna([...CONSUMER_TOOLS])),
      edited: await agentWith('CONSUMER', consumerDna(['search_venues', 'recall'])),
      oneShort: await agentWith('CONSUMER', consumerDna(FIRST_CONSUMER_DEFAULT.slice(1))),
      // Written at version 1 (after the rule): the earlier default's tools are the owner's choice.
      chosen: await agentWith('CONSUMER', consumerDna(FIRST_CONSUMER_DEFAULT, { toolsVersion: 1 })),
      venueFirst: await agentWith('VENUE', venueDna(FIRST_VENUE_DEFAULT)),
      venueEdited: await agentWith('VENUE', venueDna(['check_availability', 'escalate_to_staff'])),
    };
    const before = Object.fromEntries(Object.entries(agents).map(([k, a]) => [k, storedDna(a.kind, a.dna)]));

    await runMigration();
    const after = Object.fromEntries(
      await Promise.all(Object.entries(agents).map(async ([k, a]) => [k, await reread(a.id)] as const)),
    );

    // Never edited: today's default, as a version-1 list, and the gateway told (updated_at moved).
    for (const key of ['first', 'reordered', 'reminders'] as const) {
      const dna = after[key]!.dna as Record<string, unknown>;
      expect(dna.tools, key).toEqual([...CONSUMER_TOOLS]);
      expect(dna.toolsVersion, key).toBe(1);
      expect(dna.persona, key).toEqual(persona);
      expect(after[key]!.updatedAt.getTime(), key).toBeGreaterThan(agents[key].updatedAt.getTime());
    }
    expect((after.venueFirst!.dna as Record<string, unknown>).tools).toEqual([...VENUE_TOOLS]);
    expect(after.venueFirst!.updatedAt.getTime()).toBeGreaterThan(agents.venueFirst.updatedAt.getTime());
    // Already today's default: marked, but nothing new for the gateway.
    expect((after.current!.dna as Record<string, unknown>).toolsVersion).toBe(1);
    expect(after.current!.updatedAt).toEqual(agents.current.updatedAt);
    // Edited, or written after the rule: untouched.
    for (const key of ['edited', 'oneShort', 'chosen', 'venueEdited'] as const) {
      expect(after[key]!.dna, key).toEqual(agents[key].dna);
      expect(after[key]!.updatedAt, key).toEqual(agents[key].updatedAt);
    }
    // The rows now say what readers saw before: the migration and storedDna are one rule.
    for (const [key, row] of Object.entries(after)) {
      const read = storedDna(row!.kind, row!.dna);
      expect(sorted(read.tools), key).toEqual(sorted(before[key]!.tools));
      expect(sorted((row!.dna as { tools: string[] }).tools), key).toEqual(sorted(before[key]!.tools));
    }

    // A second run (a retried deploy) changes nothing.
    await runMigration();
    for (const [key, row] of Object.entries(after)) {
      const again = await reread(row!.id);
      expect(again.dna, key).toEqual(row!.dna);
      expect(again.updatedAt, key).toEqual(row!.updatedAt);
    }
  });
});
