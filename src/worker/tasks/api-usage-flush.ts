import { apiUsageFlushTask, flushApiUsage } from '../../domain/developer/usage.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/**
 * Copies API keys' requests per day from Redis to `api_key_daily_usage`, and records each day that
 * is over as one usage event per key (domain/developer/usage.ts).
 */
export default defineHandler(
  apiUsageFlushTask,
  async (_payload, { services, logger }: TaskContext<'apiQuota'>) => {
    const result = await flushApiUsage(services.apiQuota);
    if (result.flushed || result.recorded) logger.info({ 'api_usage.flush': result }, 'API usage flushed');
  },
);
