/**
 * The model gateway on a test database, with its own metrics, captured logs and a clock the test
 * moves by hand (budgets and breakers count by time).
 */
import type { Config } from '../../src/config/index.ts';
import { createLlmGateway } from '../../src/domain/conversation/gateway.ts';
import { createModelRouter } from '../../src/integrations/llm/router.ts';
import type { Db } from '../../src/platform/db.ts';
import { createMetrics } from '../../src/platform/metrics.ts';
import { capturingLogger } from '../helpers/logs.ts';

/** A gateway with `config`'s model settings over `db`, its clock starting at `startMs`. */
export function gatewayOver(config: Config, db: Db, startMs: number) {
  const { logger, lines: logs } = capturingLogger('debug');
  const metrics = createMetrics();
  let now = startMs;
  const clock = () => new Date(now);
  const gateway = createLlmGateway({
    models: createModelRouter(config.llm, { logger, metrics, now: clock }),
    budgets: config.llm.budgets,
    prices: config.llm.prices,
    maxOutputTokens: config.llm.maxOutputTokens,
    db,
    logger,
    metrics,
    now: clock,
  });
  return {
    gateway,
    metrics,
    logs,
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
  };
}
