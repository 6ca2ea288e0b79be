/**
 * Embeddings with a configured provider (the fake Ollama's /api/embed): the memory-embed sweep
 * gives memories vectors (again when their words change or the model changes, never to history), recall finds by
 * meaning what no word matches, a failing embedder leaves recall to full-text, and /readyz says
 * how similarity is computed (pgvector or SQL) without ever being unready for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectVectorSupport, memoryEmbedTask } from '../../src/domain/memory/embeddings.ts';
import { recall, remember } from '../../src/domain/memory/memories.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { createPerson } from '../factories/people.ts';
import { type FakeOllama, ollamaError, startFakeOllama } from '../fakes/ollama.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { runDueJobs } from '../helpers/jobs.ts';

let ollama: FakeOllama;
let app: TestApp;

beforeAll(async () => {
  ollama = await startFakeOllama();
  app = await startTestApp({
    env: { EMBEDDINGS_PROVIDER: 'ollama', OLLAMA_URL: ollama.url, OLLAMA_EMBED_MODEL: 'nomic-embed-text' },
  });
});
afterAll(async () => {
  await app?.close();
  await ollama?.close();
});

const embedded = (userId: string) =>
  app.services.db.memory.findMany({
    where: { userId },
    select: { content: true, embeddingModel: true, embedding: true },
    orderBy: { content: 'asc' },
  });

async function sweep() {
  await enqueue(app.services.db, memoryEmbedTask, {});
  await runDueJobs(app, ['memory-embed']);
}

describe('memory embeddings', () => {
  it('the memory-embed sweep gives new and changed memories vectors, once, and recall then finds by meaning', async () => {
    const db = app.services.db;
    const userId = (await createPerson(db, { label: 'embed' })).id;
    await remember(db, userId, { content: 'Allergic to peanuts', importance: 5 });
    await remember(db, userId, { content: 'Takes the metro', importance: 2 });
    // History is never recalled, so never embedded.
    await db.memory.create({ data: { userId, content: 'Likes loud bars', supersededAt: new Date() } });

    await sweep();
    const rows = await embedded(userId);
    expect(rows.map((m) => [m.content, m.embeddingModel, m.embedding.length])).toEqual([
      ['Allergic to peanuts', 'nomic-embed-text', 256],
      ['Likes loud bars', null, 0],
      ['Takes the metro', 'nomic-embed-text', 256],
    ]);

    // A second run embeds nothing.
    const calls = ollama.embedRequests.length;
    await sweep();
    expect(ollama.embedRequests.length).toBe(calls);

    // New words, a new vector.
    await remember(db, userId, { content: 'allergic to PEANUTS' });
    expect((await embedded(userId)).find((m) => /peanut/i.test(m.content))).toMatchObject({
      content: 'allergic to PEANUTS',
      embeddingModel: null,
    });
    await sweep();
    expect((await embedded(userId)).find((m) => /peanut/i.test(m.content))).toMatchObject({
      embeddingModel: 'nomic-embed-text',
    });

    // "nuts" is no word of "allergic to PEANUTS"; its meaning is.
    const search = app.services.memorySearch!;
    expect(await recall(db, userId, { query: 'any nuts?' })).toEqual([]);
    expect((await recall(db, userId, { query: 'any nuts?' }, { search })).map((m) => m.content)).toEqual([
      'allergic to PEANUTS',
    ]);

    // The embedder failing: recall answers from the words alone.
    ollama.failEmbeds(ollamaError(500, 'model crashed'));
    try {
      expect((await recall(db, userId, { query: 'peanuts' }, { search })).map((m) => m.content)).toEqual([
        'allergic to PEANUTS',
      ]);
      expect(await recall(db, userId, { query: 'any nuts?' }, { search })).toEqual([]);
    } finally {
      ollama.failEmbeds(null);
    }
  });

  it('embeds every memory again after the model changes, whichever side of the new name the old one sorts', async () => {
    const db = app.services.db;
    const userId = (await createPerson(db, { label: 'embed-model' })).id;
    const old = (content: string, model: string, supersededAt?: Date) =>
      db.memory.create({
        data: { userId, content, embedding: [1, 0, 0], embeddingModel: model, supersededAt },
      });
    await old('Prefers window seats', 'all-minilm');
    await old('Drinks oat milk', 'zeta-embed');
    await old('Liked jazz bars', 'all-minilm', new Date());

    await sweep();
    expect((await embedded(userId)).map((m) => [m.content, m.embeddingModel, m.embedding.length])).toEqual([
      ['Drinks oat milk', 'nomic-embed-text', 256],
      // History is never recalled: its old vector is dropped, and it is not embedded again.
      ['Liked jazz bars', null, 0],
      ['Prefers window seats', 'nomic-embed-text', 256],
    ]);
  });

  it('says in /readyz how similarity is computed, and stays ready without pgvector', async () => {
    const support = await detectVectorSupport(app.services.db, { install: true });
    const response = await fetch(`${app.url}/readyz`);
    const body = (await response.json()) as {
      ready: boolean;
      checks: Record<string, { ok: boolean; detail?: string }>;
    };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.checks.embeddings).toEqual({
      ok: true,
      detail: `on (ollama nomic-embed-text); ${support.detail}`,
    });
    // This machine's PostgreSQL has no pgvector: the SQL path is the one that runs.
    if (!support.pgvector) expect(support.detail).toMatch(/: cosine similarity in SQL over real\[\]$/);
  });

  it('without a provider, /readyz says recall is full-text alone', async () => {
    const off = await startTestApp({ database: app.database, redis: app.services.redis });
    try {
      expect(off.services.memorySearch).toBeUndefined();
      const body = (await (await fetch(`${off.url}/readyz`)).json()) as {
        checks: Record<string, { ok: boolean; detail?: string }>;
      };
      expect(body.checks.embeddings).toEqual({
        ok: true,
        detail: 'off: EMBEDDINGS_PROVIDER=none, recall is full-text alone',
      });
    } finally {
      await off.close();
    }
  });
});
