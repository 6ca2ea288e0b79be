import { agentRegisterTask, gatewayAgentId, registerAgent } from '../../domain/agents/registration.ts';
import { scheduleInboxRead } from '../../domain/network/inbox-reads.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

export default defineHandler(
  agentRegisterTask,
  async ({ agentId }, { services, logger }: TaskContext<'db' | 'network' | 'config' | 'now'>) => {
    const outcome = await registerAgent({ db: services.db, clawpulse: services.network.clawpulse }, agentId);
    if (outcome !== 'registered') return;
    logger.info({ 'agent.id': agentId }, 'agent registered with the gateway');
    // A venue agent on the network reads its inbox from now on (senders elsewhere do not wake it).
    const agent = await services.db.agent.findUnique({ where: { id: agentId } });
    const id = agent && gatewayAgentId(agent);
    if (id) await scheduleInboxRead(services.db, id, services.now(), services.config.network);
  },
);
