import { sendEnvelope } from '../../domain/envelopes/send.ts';
import { a2aSendTask, sendKey, wakeInboxJob } from '../../domain/envelopes/tasks.ts';
import { inboxReadJob } from '../../domain/network/inbox-reads.ts';
import { enqueueAll, type JobToAdd, jobToAdd } from '../../platform/jobs.ts';
import { envelopeDepsOf } from '../envelopes.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/**
 * Sends one outbound envelope; comes back when it must wait (retry, 429, open breaker). What
 * follows a send is added in one statement: the next attempt, the recipient's wake, the sender's
 * next inbox read.
 */
export default defineHandler(
  a2aSendTask,
  async (
    { envelopeRowId },
    { services, logger }: TaskContext<'config' | 'db' | 'keyring' | 'network' | 'now'>,
  ) => {
    const outcome = await sendEnvelope(envelopeDepsOf(services, logger), envelopeRowId);
    const jobs: JobToAdd[] = [];
    // This job holds the key while it runs, so this adds the next attempt behind it.
    if (outcome.retryAfterMs !== null) {
      jobs.push(
        jobToAdd(
          a2aSendTask,
          { envelopeRowId },
          {
            runAt: new Date(Date.now() + outcome.retryAfterMs),
            jobKey: sendKey(envelopeRowId),
            jobKeyMode: 'replace',
          },
        ),
      );
    }
    // A local recipient reads its inbox now rather than at its next poll.
    if (outcome.localRecipient) jobs.push(wakeInboxJob(outcome.localRecipient));
    // A sender now awaiting an answer (a guest's agent) starts listening for it.
    if (outcome.sender) {
      const next = await inboxReadJob(
        services.db,
        outcome.sender,
        services.now(),
        services.config.network,
        outcome.senderInbox,
      );
      if (next) jobs.push(next);
    }
    await enqueueAll(services.db, jobs);
  },
);
