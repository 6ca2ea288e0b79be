import { describe, expect, it } from 'vitest';
import {
  forgetAll,
  forgetMatching,
  forgetMemory,
  listMemories,
  MEMORY_LIMITS,
  memoriesForPrompt,
  type RememberInput,
  recall,
  remember,
} from '../../src/domain/memory/memories.ts';
import type { MemoryKind } from '../../src/generated/prisma/enums.ts';
import { NotFoundError, ValidationError } from '../../src/platform/errors.ts';
import { useTestDatabase } from '../factories/database.ts';
import { createPerson } from '../factories/people.ts';
import { waitingForLock } from '../helpers/db.ts';

const db = useTestDatabase();

const NOW = new Date('2026-11-20T12:00:00Z');
const DAY = 86_400_000;
const at = (date: Date) => () => date;
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY);

async function person(): Promise<string> {
  const user = await createPerson(db(), { label: 'memory' });
  return user.id;
}

/** Writes memories straight to the table (the trigger still builds their search document). */
async function seed(
  userId: string,
  memories: { content: string; importance?: number; kind?: MemoryKind; createdAt?: Date }[],
): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const m of memories) {
    const row = await db().memory.create({
      data: {
        userId,
        content: m.content,
        importance: m.importance ?? 3,
        kind: m.kind ?? 'FACT',
        createdAt: m.createdAt ?? NOW,
      },
    });
    ids[m.content] = row.id;
  }
  return ids;
}

const contents = (memories: { content: string }[]) => memories.map((m) => m.content);
const count = (userId: string) => db().memory.count({ where: { userId } });

async function expectValidation(promise: Promise<unknown>, field: string | null) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as ValidationError).field).toBe(field);
}

describe('remember', () => {
  it('keeps a memory with the defaults: a FACT of importance 3, created now', async () => {
    const userId = await person();
    const result = await remember(db(), userId, { content: 'Allergic to peanuts' }, { now: at(NOW) });
    expect(result).toEqual({
      created: true,
      evicted: 0,
      memory: {
        id: expect.any(String),
        userId,
        kind: 'FACT',
        content: 'Allergic to peanuts',
        importance: 3,
        createdAt: NOW,
        lastUsedAt: null,
      },
    });
    expect(await db().memory.findUniqueOrThrow({ where: { id: result.memory.id } })).toMatchObject({
      content: 'Allergic to peanuts',
      importance: 3,
    });
  });

  it('strips control and bidirectional characters, keeps one line, and trims', async () => {
    const userId = await person();
    const { memory } = await remember(db(), userId, {
      content: '  Likes\tthe\r\nwindow\u0000 table\u202E\u2066 \u0007 at Tasca  ',
      kind: 'PREFERENCE',
      importance: 4,
    });
    expect(memory).toMatchObject({
      content: 'Likes the window table at Tasca',
      kind: 'PREFERENCE',
      importance: 4,
    });
    // Emoji sequences keep their joiners.
    const family = await remember(db(), userId, { content: 'Brings the 👨‍👩‍👧 on Sundays' });
    expect(family.memory.content).toBe('Brings the 👨‍👩‍👧 on Sundays');
  });

  it.each([
    ['empty', { content: '' }, 'content'],
    ['only control characters and spaces', { content: ' \u0000\u0001\n\t \u202E ' }, 'content'],
    ['longer than 500 characters', { content: 'a'.repeat(MEMORY_LIMITS.contentMaxChars + 1) }, 'content'],
    ['importance 0', { content: 'x', importance: 0 }, 'importance'],
    ['importance 6', { content: 'x', importance: 6 }, 'importance'],
    ['importance 2.5', { content: 'x', importance: 2.5 }, 'importance'],
    ['an unknown kind', { content: 'x', kind: 'SECRET' as MemoryKind }, 'kind'],
    ['content that is not text', { content: 42 as unknown as string }, 'content'],
  ] satisfies [string, RememberInput, string][])(
    'refuses %s and writes nothing',
    async (_name, input, field) => {
      const userId = await person();
      await seed(userId, [{ content: 'Already here' }]);
      await expectValidation(remember(db(), userId, input), field);
      expect(contents(await db().memory.findMany({ where: { userId } }))).toEqual(['Already here']);
    },
  );

  it('accepts exactly 500 characters after cleaning', async () => {
    const userId = await person();
    const { memory } = await remember(db(), userId, { content: `  ${'b'.repeat(500)}\u0000 ` });
    expect(memory.content).toHaveLength(500);
  });

  it('renews a memory with the same words instead of repeating it', async () => {
    const userId = await person();
    const first = await remember(
      db(),
      userId,
      { content: 'Allergic to peanuts.', importance: 5, kind: 'FACT' },
      { now: at(daysAgo(40)) },
    );
    const again = await remember(
      db(),
      userId,
      { content: '  allergic   TO peanuts!! ', importance: 2 },
      { now: at(NOW) },
    );
    expect(again).toEqual({
      created: false,
      evicted: 0,
      memory: expect.objectContaining({
        id: first.memory.id,
        // The new wording, the higher importance, the kind kept (none given), renewed now.
        content: 'allergic TO peanuts!!',
        importance: 5,
        kind: 'FACT',
        createdAt: NOW,
      }),
    });
    expect(await count(userId)).toBe(1);

    const raised = await remember(db(), userId, { content: 'Allergic to peanuts', kind: 'PREFERENCE' });
    expect(raised.memory).toMatchObject({ id: first.memory.id, kind: 'PREFERENCE', importance: 5 });
    expect(await count(userId)).toBe(1);
  });

  it('keeps memories whose words differ, however alike', async () => {
    const userId = await person();
    await remember(db(), userId, { content: 'Allergic to peanuts' });
    await remember(db(), userId, { content: 'Allergic to peanuts and shellfish' });
    await remember(db(), userId, { content: 'Peanuts allergic to' });
    expect(await count(userId)).toBe(3);
  });

  it('makes one memory when the same thing is remembered twice at once', async () => {
    const userId = await person();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        remember(db(), userId, { content: i % 2 ? 'Vegetarian!' : 'vegetarian' }),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.memory.id)).size).toBe(1);
    expect(await count(userId)).toBe(1);
  });

  it('keeps at most the cap, dropping the least important and oldest, never the new one', async () => {
    const userId = await person();
    const ids = await seed(userId, [
      { content: 'important old', importance: 5, createdAt: daysAgo(300) },
      { content: 'trivial new', importance: 1, createdAt: daysAgo(1) },
      { content: 'trivial old', importance: 1, createdAt: daysAgo(200) },
      { content: 'middling', importance: 3, createdAt: daysAgo(100) },
    ]);
    // A trivial memory recalled yesterday counts as fresh as one made yesterday.
    await db().memory.update({ where: { id: ids['trivial old']! }, data: { lastUsedAt: daysAgo(0.5) } });

    const result = await remember(
      db(),
      userId,
      { content: 'newest, trivial', importance: 1 },
      { now: at(NOW), cap: 3 },
    );
    expect(result).toMatchObject({ created: true, evicted: 2 });
    const kept = await db().memory.findMany({ where: { userId }, orderBy: { content: 'asc' } });
    expect(contents(kept)).toEqual(['important old', 'middling', 'newest, trivial']);
  });

  it('holds the default cap of 500', async () => {
    const userId = await person();
    await db().memory.createMany({
      data: Array.from({ length: MEMORY_LIMITS.perUser }, (_, i) => ({
        userId,
        content: `memory number ${i}`,
        importance: i === 0 ? 1 : 2,
        createdAt: daysAgo(10),
      })),
    });
    const result = await remember(db(), userId, { content: 'one more' });
    expect(result.evicted).toBe(1);
    expect(await count(userId)).toBe(MEMORY_LIMITS.perUser);
    expect(await db().memory.findFirst({ where: { userId, content: 'memory number 0' } })).toBeNull();
  });
});

describe('recall', () => {
  it('ranks a memory matching more (and rarer) words above a more important one matching fewer', async () => {
    const userId = await person();
    await seed(userId, [
      { content: 'Loves the sushi counter at Sakura', importance: 1 },
      { content: 'Sushi is fine but not every week', importance: 5 },
      { content: 'Works near the river', importance: 5 },
    ]);
    const found = await recall(db(), userId, { query: 'sushi counter' }, { now: at(NOW) });
    // Only memories with at least one of the words.
    expect(contents(found)).toEqual([
      'Loves the sushi counter at Sakura',
      'Sushi is fine but not every week',
    ]);
    expect(found[0]!.relevance).toBe(1);
    expect(found[1]!.relevance).toBeGreaterThan(0);
    expect(found[1]!.relevance).toBeLessThan(1);
    expect(found[0]!.score).toBeGreaterThan(found[1]!.score);
  });

  it('ranks equally relevant memories by importance, then by recency', async () => {
    const userId = await person();
    await seed(userId, [
      { content: 'Red wine, never white', importance: 2, createdAt: daysAgo(1) },
      { content: 'Orders natural wine', importance: 4, createdAt: daysAgo(1) },
      { content: 'Wine pairing at birthdays', importance: 3, createdAt: daysAgo(90) },
      { content: 'Wine bars in Alfama', importance: 3, createdAt: daysAgo(2) },
    ]);
    const found = await recall(db(), userId, { query: 'wine' }, { now: at(NOW) });
    expect(contents(found)).toEqual([
      'Orders natural wine',
      'Wine bars in Alfama',
      'Wine pairing at birthdays',
      'Red wine, never white',
    ]);
    expect(found.every((m) => m.relevance === 1)).toBe(true);
  });

  it('without a query, returns the most important and then the most recent', async () => {
    const userId = await person();
    await seed(userId, [
      { content: 'trivia, today', importance: 1, createdAt: NOW },
      { content: 'key, a year ago', importance: 5, createdAt: daysAgo(365) },
      { content: 'normal, last week', importance: 3, createdAt: daysAgo(7) },
      { content: 'normal, last year', importance: 3, createdAt: daysAgo(300) },
    ]);
    const found = await recall(db(), userId, {}, { now: at(NOW) });
    expect(contents(found)).toEqual([
      'key, a year ago',
      'normal, last week',
      'normal, last year',
      'trivia, today',
    ]);
    expect(found.every((m) => m.relevance === 0)).toBe(true);
    expect(contents(await recall(db(), userId, { query: '  ', limit: 2 }, { now: at(NOW) }))).toEqual([
      'key, a year ago',
      'normal, last week',
    ]);
  });

  it('weighs a word found in few memories above one found in most', async () => {
    const userId = await person();
    await seed(userId, [
      { content: 'my wife likes wine' },
      { content: 'my son is allergic to nuts' },
      { content: 'my favourite place is Tasca' },
      { content: 'my office is in Baixa' },
    ]);
    const found = await recall(db(), userId, { query: 'Anything with nuts for my son?' }, { now: at(NOW) });
    expect(found[0]!.content).toBe('my son is allergic to nuts');
    expect(found[0]!.relevance).toBe(1);
    expect(Math.max(...found.slice(1).map((m) => m.relevance))).toBeLessThan(0.2);
  });

  it('finds partial words by prefix, below whole words, from three letters', async () => {
    const userId = await person();
    await seed(userId, [
      { content: 'Vegetarian since 2019' },
      { content: 'Orders the veg box on Sundays' },
      { content: 'Eats meat' },
    ]);
    const found = await recall(db(), userId, { query: 'veg' }, { now: at(NOW) });
    expect(contents(found)).toEqual(['Orders the veg box on Sundays', 'Vegetarian since 2019']);
    expect(found[1]!.relevance).toBeCloseTo(0.5, 5);

    expect(contents(await recall(db(), userId, { query: 'vegeta' }, { now: at(NOW) }))).toEqual([
      'Vegetarian since 2019',
    ]);
    // "ve" is too short to stand for a word.
    expect(await recall(db(), userId, { query: 've' }, { now: at(NOW) })).toEqual([]);
  });

  it('treats query text as words only (no search syntax), in any language', async () => {
    const userId = await person();
    await seed(userId, [{ content: 'Adora o café da Graça' }, { content: '寿司 が 好き' }]);
    for (const query of ["café & !graça | ':*", "'); DROP TABLE memories; --", '(((', '!!!']) {
      await expect(recall(db(), userId, { query }, { now: at(NOW) })).resolves.toBeDefined();
    }
    expect(contents(await recall(db(), userId, { query: 'CAFÉ' }))).toEqual(['Adora o café da Graça']);
    expect(contents(await recall(db(), userId, { query: '寿司' }))).toEqual(['寿司 が 好き']);
    expect(await db().memory.count()).toBeGreaterThan(0);
  });

  it('marks what it returns as used, and only that', async () => {
    const userId = await person();
    const ids = await seed(userId, [{ content: 'Likes jazz' }, { content: 'Hates loud music' }]);
    const later = new Date(NOW.getTime() + DAY);
    const found = await recall(db(), userId, { query: 'jazz' }, { now: at(later) });
    expect(found).toEqual([expect.objectContaining({ id: ids['Likes jazz'], lastUsedAt: later })]);
    const rows = await db().memory.findMany({ where: { userId }, orderBy: { content: 'asc' } });
    expect(rows.map((r) => [r.content, r.lastUsedAt])).toEqual([
      ['Hates loud music', null],
      ['Likes jazz', later],
    ]);
  });

  it('limits the answer and refuses a bad limit', async () => {
    const userId = await person();
    await seed(
      userId,
      Array.from({ length: 12 }, (_, i) => ({ content: `pizza place ${i}` })),
    );
    expect(await recall(db(), userId, { query: 'pizza' })).toHaveLength(10);
    expect(await recall(db(), userId, { query: 'pizza', limit: 3 })).toHaveLength(3);
    await expectValidation(recall(db(), userId, { limit: 0 }), 'limit');
    await expectValidation(recall(db(), userId, { limit: MEMORY_LIMITS.recallMax + 1 }), 'limit');
  });
});

describe("one person's memories", () => {
  it('are never recalled, listed, forgotten or counted for somebody else', async () => {
    const alice = await person();
    const bob = await person();
    const aliceIds = await seed(alice, [{ content: 'Alice loves oysters', importance: 5 }]);
    const bobIds = await seed(bob, [{ content: 'Bob loves oysters too' }]);

    expect(contents(await recall(db(), bob, { query: 'oysters' }))).toEqual(['Bob loves oysters too']);
    expect(contents(await recall(db(), bob, {}))).toEqual(['Bob loves oysters too']);
    expect(contents(await memoriesForPrompt(db(), bob, { text: 'oysters' }))).toEqual([
      'Bob loves oysters too',
    ]);
    expect(contents((await listMemories(db(), bob)).memories)).toEqual(['Bob loves oysters too']);

    await expect(forgetMemory(db(), bob, aliceIds['Alice loves oysters']!)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(contents(await forgetMatching(db(), bob, 'oysters'))).toEqual(['Bob loves oysters too']);
    expect(await forgetAll(db(), bob)).toBe(0);
    await expectValidation(listMemories(db(), bob, { after: aliceIds['Alice loves oysters']! }), 'after');

    // Remembering Alice's words for Bob makes Bob's own memory; Alice's is untouched.
    const bobs = await remember(db(), bob, { content: 'alice loves oysters' });
    expect(bobs).toMatchObject({ created: true, memory: { userId: bob } });
    expect(await db().memory.findUnique({ where: { id: aliceIds['Alice loves oysters']! } })).toMatchObject({
      userId: alice,
      content: 'Alice loves oysters',
      importance: 5,
      lastUsedAt: null,
    });
    expect(bobIds).toBeDefined();
  });
});

describe('listMemories', () => {
  it('pages newest first and refuses a cursor it did not give', async () => {
    const userId = await person();
    await seed(
      userId,
      [5, 4, 3, 2, 1].map((days) => ({ content: `${days} days ago`, createdAt: daysAgo(days) })),
    );
    const first = await listMemories(db(), userId, { first: 2 });
    expect(contents(first.memories)).toEqual(['1 days ago', '2 days ago']);
    expect(first.hasNextPage).toBe(true);
    const second = await listMemories(db(), userId, { first: 2, after: first.endCursor });
    expect(contents(second.memories)).toEqual(['3 days ago', '4 days ago']);
    const last = await listMemories(db(), userId, { first: 2, after: second.endCursor });
    expect(last).toMatchObject({ hasNextPage: false });
    expect(contents(last.memories)).toEqual(['5 days ago']);

    await expectValidation(listMemories(db(), userId, { after: 'not-a-cursor' }), 'after');
    await expectValidation(listMemories(db(), userId, { first: 0 }), 'first');
    await expectValidation(listMemories(db(), userId, { first: 101 }), 'first');
  });
});

describe('forgetting', () => {
  it('forgets one memory of the person, and NotFound for an unknown or malformed id', async () => {
    const userId = await person();
    const ids = await seed(userId, [{ content: 'Keep me' }, { content: 'Forget me' }]);
    const forgotten = await forgetMemory(db(), userId, ids['Forget me']!);
    expect(forgotten).toMatchObject({
      id: ids['Forget me'],
      content: 'Forget me',
      importance: 3,
      kind: 'FACT',
    });
    expect(contents(await db().memory.findMany({ where: { userId } }))).toEqual(['Keep me']);

    await expect(forgetMemory(db(), userId, ids['Forget me']!)).rejects.toBeInstanceOf(NotFoundError);
    await expect(forgetMemory(db(), userId, '00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(forgetMemory(db(), userId, "x' OR 1=1 --")).rejects.toBeInstanceOf(NotFoundError);
    expect(await count(userId)).toBe(1);
  });

  it('forgets everything and says how much', async () => {
    const userId = await person();
    await seed(userId, [{ content: 'a' }, { content: 'b' }, { content: 'c' }]);
    expect(await forgetAll(db(), userId)).toBe(3);
    expect(await count(userId)).toBe(0);
    expect(await forgetAll(db(), userId)).toBe(0);
  });

  it('forgets what a dream writes while it runs: the forget waits for the dream, then takes it too', async () => {
    const userId = await person();
    await seed(userId, [{ content: 'Said before' }]);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding!: () => void;
    const held = new Promise<void>((resolve) => {
      holding = resolve;
    });
    // A dream under way: it holds the person's memory lock and has written a memory, not committed.
    const dream = db().$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`memories:${userId}`}, 0))`;
        await tx.memory.create({
          data: { userId, content: 'Dreamt from a summary', importance: 3, kind: 'FACT', createdAt: NOW },
        });
        holding();
        await released;
      },
      { timeout: 10_000 },
    );
    await held;
    const forgetting = forgetAll(db(), userId);
    await waitingForLock(db(), 'pg_advisory_xact_lock');
    release();
    await dream;
    expect(await forgetting).toBe(2);
    expect(await count(userId)).toBe(0);
  });

  it('/forget forgets the memories with every one of the words, whole or as their start', async () => {
    const userId = await person();
    await seed(userId, [
      { content: 'Allergic to peanuts', createdAt: daysAgo(3) },
      { content: 'Peanut butter fan', createdAt: daysAgo(2) },
      { content: 'Son is allergic to shellfish', createdAt: daysAgo(1) },
      { content: 'Likes the window table' },
    ]);
    const forgotten = await forgetMatching(db(), userId, 'peanut ALLERGIC!');
    expect(contents(forgotten)).toEqual(['Allergic to peanuts']);

    const more = await forgetMatching(db(), userId, 'pea');
    expect(contents(more)).toEqual(['Peanut butter fan']);
    // Short words match only whole words.
    expect(await forgetMatching(db(), userId, 'wi')).toEqual([]);
    expect(await forgetMatching(db(), userId, 'nothing like this')).toEqual([]);
    expect(contents(await db().memory.findMany({ where: { userId }, orderBy: { content: 'asc' } }))).toEqual([
      'Likes the window table',
      'Son is allergic to shellfish',
    ]);
  });

  it('/forget with no words is refused and forgets nothing', async () => {
    const userId = await person();
    await seed(userId, [{ content: 'Stays' }]);
    await expectValidation(forgetMatching(db(), userId, '  ?! \u0000 '), 'text');
    expect(await count(userId)).toBe(1);
  });
});

describe('memoriesForPrompt', () => {
  it('puts the memories matching the message first, then the most important others', async () => {
    const userId = await person();
    const ids = await seed(userId, [
      { content: 'Son is allergic to nuts', importance: 5 },
      { content: 'Likes a window table', importance: 2 },
      { content: 'Needs step-free access', importance: 4, createdAt: daysAgo(200) },
      { content: 'Prefers Thai on Fridays', importance: 3 },
      { content: 'Once ordered a window seat on a train', importance: 1 },
    ]);
    const chosen = await memoriesForPrompt(
      db(),
      userId,
      { text: 'A table by the window on Friday please', limit: 4 },
      { now: at(NOW) },
    );
    expect(contents(chosen)).toEqual([
      // Matching "a", "window" and "table"; "a", "window" and "on"; "on" and "Fridays" by its start.
      // Then the most important of the others: an importance of 5 outranks 4, a year older too.
      'Likes a window table',
      'Once ordered a window seat on a train',
      'Prefers Thai on Fridays',
      'Son is allergic to nuts',
    ]);
    expect(chosen.every((m) => m.lastUsedAt?.getTime() === NOW.getTime())).toBe(true);
    const unused = await db().memory.findUniqueOrThrow({ where: { id: ids['Needs step-free access']! } });
    expect(unused.lastUsedAt).toBeNull();
  });

  it('stays within the character budget, skipping what does not fit', async () => {
    const userId = await person();
    await seed(userId, [
      { content: `Long story about ${'x'.repeat(80)}`, importance: 5 },
      { content: 'Short one', importance: 4 },
      { content: 'Another short', importance: 3 },
    ]);
    const chosen = await memoriesForPrompt(db(), userId, { text: '', maxChars: 30 }, { now: at(NOW) });
    expect(contents(chosen)).toEqual(['Short one', 'Another short']);
    const long = await db().memory.findFirstOrThrow({ where: { userId, importance: 5 } });
    expect(long.lastUsedAt).toBeNull();
  });

  it('is empty for a person the agent knows nothing about', async () => {
    expect(await memoriesForPrompt(db(), await person(), { text: 'hello' })).toEqual([]);
  });
});
