import { handleEnvelope } from '../../domain/envelopes/handle.ts';
import { a2aHandleTask } from '../../domain/envelopes/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Acts on one accepted inbound envelope, exactly once, with the handlers the network was given. */
export default defineHandler(
  a2aHandleTask,
  async ({ envelopeRowId, intent }, { services, logger }: TaskContext<'db' | 'network' | 'now'>) => {
    await handleEnvelope(
      { db: services.db, logger, now: services.now },
      envelopeRowId,
      services.network.handlers,
      { intent },
    );
  },
);
