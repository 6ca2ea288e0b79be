import { sendEnvelope } from '../../domain/envelopes/send.ts';
import { a2aSendTask, sendKey, wakeInbox } from '../../domain/envelopes/tasks.ts';
import { scheduleInboxRead } from '../../domain/network/inbox-reads.ts';
import { enqueue } from '../../platform/jobs.ts';
import { envelopeDepsOf } from '../envelopes.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Sends one outbound envelope; comes back when it must wait (retry, 429, open breaker). */
export default defineHandler(
  a2aSendTask,
  async (
    { envelopeRowId },
    { services, logger }: TaskContext<'config' | 'db' | 'keyring' | 'network' | 'now'>,
  ) => {
    const outcome = await sendEnvelope(envelopeDepsOf(services, logger), envelopeRowId);
    // This job holds the key while it runs, so this adds the next attempt behind it.
    if (outcome.retryAfterMs !== null) {
      await enqueue(
        services.db,
        a2aSendTask,
        { envelopeRowId },
        {
          runAt: new Date(Date.now() + outcome.retryAfterMs),
          jobKey: sendKey(envelopeRowId),
          jobKeyMode: 'replace',
        },
      );
    }
    // A local recipient reads its inbox now rather than at its next poll.
    if (outcome.localRecipient) await wakeInbox(services.db, outcome.localRecipient);
    // A sender now awaiting an answer (a guest's agent) starts listening for it.
    if (outcome.sender) {
      await scheduleInboxRead(services.db, outcome.sender, services.now(), services.config.network);
    }
  },
);
