/**
 * Recall quality on a labelled set (test/fixtures/recall-quality.json): for each question, is the
 * memory that answers it among the first five recalled? Measured with full-text alone and with
 * vectors mixed in (the fake Ollama's embedder), on the same memories. README ("Memory and
 * profile") records both figures.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemorySearch, embedPendingMemories } from '../../src/domain/memory/embeddings.ts';
import { type RecallOptions, recall } from '../../src/domain/memory/memories.ts';
import { createOllamaEmbedClient } from '../../src/integrations/ollama/embed.ts';
import { useTestDatabase } from '../factories/database.ts';
import { createPerson } from '../factories/people.ts';
import { type FakeOllama, startFakeOllama } from '../fakes/ollama.ts';
import { capturingLogger } from '../helpers/logs.ts';

const db = useTestDatabase();
const NOW = new Date('2026-11-20T12:00:00Z');

interface Fixture {
  memories: { content: string; importance: number }[];
  questions: { question: string; answer: string }[];
}

let ollama: FakeOllama;
let fixture: Fixture;

beforeAll(async () => {
  ollama = await startFakeOllama();
  fixture = JSON.parse(await readFile(new URL('../fixtures/recall-quality.json', import.meta.url), 'utf8'));
});
afterAll(() => ollama.close());

async function hitRateAt5(
  userId: string,
  options: RecallOptions,
): Promise<{ rate: number; missed: string[] }> {
  const missed: string[] = [];
  for (const { question, answer } of fixture.questions) {
    const found = await recall(db(), userId, { query: question, limit: 5 }, { now: () => NOW, ...options });
    if (!found.some((m) => m.content === answer)) missed.push(question);
  }
  return { rate: (fixture.questions.length - missed.length) / fixture.questions.length, missed };
}

describe('recall quality (hit rate at 5)', () => {
  it('mixing vectors with full-text finds at least as much as full-text alone, and more of the paraphrases', async () => {
    const user = await createPerson(db(), { label: 'recall-quality' });
    for (const [index, m] of fixture.memories.entries()) {
      await db().memory.create({
        data: {
          userId: user.id,
          content: m.content,
          importance: m.importance,
          createdAt: new Date(NOW.getTime() - index * 86_400_000),
        },
      });
    }
    const embedder = createOllamaEmbedClient({ url: ollama.url, model: 'nomic-embed-text', timeoutMs: 5000 });
    expect(await embedPendingMemories(db(), embedder)).toBe(fixture.memories.length);
    const search = createMemorySearch({
      db: db(),
      embedder,
      timeoutMs: 5000,
      logger: capturingLogger().logger,
    });

    const fullText = await hitRateAt5(user.id, {});
    const mixed = await hitRateAt5(user.id, { search });
    console.info(
      `recall hit rate at 5 over ${fixture.questions.length} questions: full-text ${fullText.rate.toFixed(2)}, mixed ${mixed.rate.toFixed(2)}`,
      { fullTextMissed: fullText.missed, mixedMissed: mixed.missed },
    );
    expect(mixed.rate).toBeGreaterThanOrEqual(fullText.rate);
    expect(mixed.rate).toBeGreaterThan(fullText.rate);
    // The figures README records ("Memory and profile"): a ranking change that moves them updates it.
    expect([fullText.rate, mixed.rate].map((rate) => Math.round(rate * fixture.questions.length))).toEqual([
      14, 23,
    ]);
    // What words alone find, mixing keeps finding.
    expect(mixed.missed.filter((q) => !fullText.missed.includes(q))).toEqual([]);
  });
});
