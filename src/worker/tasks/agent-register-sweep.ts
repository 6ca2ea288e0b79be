import { agentRegisterSweepTask, sweepAgentRegistrations } from '../../domain/agents/registration.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

export default defineHandler(
  agentRegisterSweepTask,
  async (_payload, { services, logger }: TaskContext<'db'>) => {
    const queued = await sweepAgentRegistrations(services.db);
    if (queued > 0) logger.info({ 'agents.queued': queued }, 'agents behind on registration queued');
  },
);
