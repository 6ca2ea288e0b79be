import { agentRegisterTask, registerAgent } from '../../domain/agents/registration.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

export default defineHandler(
  agentRegisterTask,
  async ({ agentId }, { services, logger }: TaskContext<'db' | 'network'>) => {
    const outcome = await registerAgent({ db: services.db, clawpulse: services.network.clawpulse }, agentId);
    if (outcome === 'registered') logger.info({ 'agent.id': agentId }, 'agent registered with the gateway');
  },
);
