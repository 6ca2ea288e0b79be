/**
 * A message handled while its sender's account is being purged: the drain read the person before
 * the purge, and writes their chat after it. The purge is the real one, held half-way (a memory of
 * the person locked by the test, which it deletes after their chats and identities); the message
 * is resolved as the chat's drain resolves it. Nothing is written back for the erased account:
 * whoever writes is new to us.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSender } from '../../src/domain/channels/inbound.ts';
import type { NormalizedMessage } from '../../src/domain/channels/normalized.ts';
import { purgeDeletedUsers } from '../../src/domain/erasure/purge.ts';
import { ACCOUNT_PURGE_AFTER_DAYS } from '../../src/domain/identity/account-deletion.ts';
import { inboundText } from '../factories/inbound.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { waitFor } from '../helpers/jobs.ts';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const DAY = 86_400_000;
const unique = () => `7${BigInt(`0x${randomBytes(5).toString('hex')}`)}`;

function messageFrom(sender: string, chat: string): NormalizedMessage {
  const normalized = inboundText({ account: 'agnt', chat, id: unique(), text: 'hello again' })
    .normalized as NormalizedMessage;
  return { ...normalized, sender: { ...normalized.sender, externalId: sender } };
}

/** Sessions of this database waiting for a lock. */
async function waitingForLocks(): Promise<number> {
  const [row] = await app.services.db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'`;
  return row?.n ?? 0;
}

describe('a message while its sender is purged', () => {
  it('writes no chat back for the erased account: the sender is someone new', async () => {
    const db = app.services.db;
    const keyring = app.services.keyring;
    const sender = unique();
    // They wrote before, then deleted their account long enough ago to be purged.
    const first = await resolveSender(db, keyring, messageFrom(sender, sender));
    const purgeAt = app.clock.now();
    await db.user.update({
      where: { id: first.userId },
      data: { deletedAt: new Date(purgeAt.getTime() - (ACCOUNT_PURGE_AFTER_DAYS + 1) * DAY) },
    });
    const memory = await db.memory.create({
      data: { userId: first.userId, kind: 'FACT', content: 'likes the window seat' },
    });

    // The purge runs until it reaches the memory the test holds: the person's row is locked, their
    // chats and identities deleted, nothing committed.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const holding = db.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT id FROM memories WHERE id = ${memory.id}::uuid FOR UPDATE`;
        await held;
      },
      { timeout: 20_000 },
    );
    const purge = purgeDeletedUsers(app.services.bookings, purgeAt, 1);
    await waitFor(async () => (await waitingForLocks()) >= 1, 'the purge to wait for the memory');

    // Their next message, in a group (a chat the drain must write before handling it).
    const resolving = resolveSender(db, keyring, messageFrom(sender, `-100${unique()}`));
    await waitFor(async () => (await waitingForLocks()) >= 2, 'the message to wait for the purge');
    release();
    await holding;
    expect(await purge).toBe(1);
    const now = await resolving;

    expect(now.userId).not.toBe(first.userId);
    expect(await db.chat.count({ where: { userId: first.userId } })).toBe(0);
    expect(await db.channelIdentity.count({ where: { userId: first.userId } })).toBe(0);
    expect(await db.user.findUniqueOrThrow({ where: { id: first.userId } })).toMatchObject({
      purgedAt: expect.any(Date),
    });
  });
});
