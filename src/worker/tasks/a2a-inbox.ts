import { drainInbox } from '../../domain/envelopes/receive.ts';
import { a2aInboxTask, wakeInbox } from '../../domain/envelopes/tasks.ts';
import { scheduleInboxRead } from '../../domain/network/inbox-reads.ts';
import { envelopeDepsOf } from '../envelopes.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/**
 * Reads one agent's inbox once. A full read is followed at once by another; otherwise the next
 * read is when `nextInboxRead` says (a venue agent's poll, a consumer agent awaiting an answer),
 * or none until a sender wakes it. A read that fails (the gateway away) is tried again by the
 * job's attempts; after the last one, or after a read that left messages unrecorded, the next read
 * is scheduled as an unfinished one (a consumer agent too), so an agent's reads never stop for a
 * failure.
 */
export default defineHandler(
  a2aInboxTask,
  async (
    { agentId },
    { services, logger, job }: TaskContext<'config' | 'db' | 'keyring' | 'network' | 'now'>,
  ) => {
    const drained = await drainInbox(envelopeDepsOf(services, logger), agentId).catch(async (error) => {
      if (job.finalAttempt) {
        await scheduleInboxRead(services.db, agentId, services.now(), services.config.network, {
          unfinished: true,
        });
      }
      throw error;
    });
    const { agent, ...result } = drained;
    if (result.received) logger.info({ 'agent.gateway_id': agentId, ...result }, 'inbox read');
    if (result.more) await wakeInbox(services.db, agentId);
    else {
      await scheduleInboxRead(services.db, agentId, services.now(), services.config.network, {
        agent,
        unfinished: result.failed > 0,
      });
    }
  },
);
