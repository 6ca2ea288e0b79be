/** Agents: the keys that encrypt their A2A signing secrets at rest. */
import { z } from 'zod';
import { type Context, optional } from './parse.ts';

export const agentsEnv = z.object({
  AGENT_SECRET_KEYS: optional(
    z
      .string()
      .regex(
        /^[A-Za-z0-9_-]+:[A-Za-z0-9+/=_-]{43,44}(,[A-Za-z0-9_-]+:[A-Za-z0-9+/=_-]{43,44})*$/,
        'must be id:base64key pairs separated by commas (32-byte keys), the first one encrypting',
      ),
  ),
});
type AgentsEnv = z.output<typeof agentsEnv>;

export function agentsConfig(e: AgentsEnv) {
  return {
    /** `id:base64key,…`; the first key encrypts, every key decrypts (rotation). */
    secretKeys: e.AGENT_SECRET_KEYS,
  };
}

export function agentsProblems(e: AgentsEnv, { production }: Context): string[] {
  return production && !e.AGENT_SECRET_KEYS
    ? ['AGENT_SECRET_KEYS: required in production to encrypt agent signing secrets']
    : [];
}
