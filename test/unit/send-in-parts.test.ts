/**
 * A message sent in parts (src/integrations/channel-sender.ts, `sendInParts`): after a failure
 * part-way the next attempt goes on from the first part not delivered, but only while the message
 * splits into as many parts as when they were counted; otherwise every part is sent.
 */
import { describe, expect, it } from 'vitest';
import { SendError, sendInParts } from '../../src/integrations/channel-sender.ts';

function platform(failAt?: number) {
  const sent: string[] = [];
  return {
    sent,
    send: async (part: string) => {
      if (sent.length + 1 === failAt) {
        failAt = undefined;
        throw new SendError('busy', { retryAfterSeconds: 3, rateLimited: true });
      }
      sent.push(part);
      return `id-${part}`;
    },
  };
}

describe('a message sent in parts', () => {
  it('says how many parts were taken, of how many, keeping what the failure says', async () => {
    const { sent, send } = platform(2);
    const error = await sendInParts(['a', 'b', 'c'], undefined, send).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SendError);
    expect(error).toMatchObject({ parts: { sent: 1, of: 3 }, retryAfterSeconds: 3, rateLimited: true });
    expect(sent).toEqual(['a']);
    // The next attempt goes on from there, and answers with the last part's id.
    expect(await sendInParts(['a', 'b', 'c'], { sent: 1, of: 3 }, send)).toEqual({
      externalMessageId: 'id-c',
    });
    expect(sent).toEqual(['a', 'b', 'c']);
  });

  it('sends every part when the message now splits otherwise', async () => {
    const { sent, send } = platform();
    await sendInParts(['x', 'y'], { sent: 1, of: 3 }, send);
    await sendInParts(['whole'], { sent: 1, of: 2 }, send);
    expect(sent).toEqual(['x', 'y', 'whole']);
  });

  it('throws a failure of the first part as it came', async () => {
    const failure = new Error('connection reset');
    await expect(
      sendInParts(['a', 'b'], undefined, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
  });
});
