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

  it('has each count written before the next part goes, never after the last', async () => {
    const { sent, send } = platform();
    const events: string[] = [];
    const counted = async ({ sent: n, of }: { sent: number; of: number }) => {
      events.push(`${n} of ${of} counted`);
    };
    const logged = async (part: string) => {
      events.push(`sending ${part}`);
      return send(part);
    };
    await sendInParts(['a', 'b', 'c'], undefined, logged, counted);
    expect(events).toEqual(['sending a', '1 of 3 counted', 'sending b', '2 of 3 counted', 'sending c']);
    // Going on from a count: nothing counted again before the first part sent now.
    events.length = 0;
    await sendInParts(['a', 'b', 'c'], { sent: 1, of: 3 }, logged, counted);
    expect(events).toEqual(['sending b', '2 of 3 counted', 'sending c']);
    // One part: nothing to count.
    events.length = 0;
    await sendInParts(['whole'], undefined, logged, counted);
    expect(events).toEqual(['sending whole']);
    expect(sent).toEqual(['a', 'b', 'c', 'b', 'c', 'whole']);
  });

  it('sends no further part when its count cannot be written', async () => {
    const { sent, send } = platform();
    const failure = new Error('database unavailable');
    const error = await sendInParts(['a', 'b'], undefined, send, async () => {
      throw failure;
    }).catch((e: unknown) => e);
    expect(error).toBe(failure);
    expect(sent).toEqual(['a']);
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
