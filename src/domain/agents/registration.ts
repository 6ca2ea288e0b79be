/**
 * Registering our agents with the ClawPulse gateway. Every consumer and venue agent is registered
 * when it is made and again whenever it changes (its DNA, its status): the agent row's
 * `registeredAt` holds the version (`updatedAt`) the gateway last took, so "registered" is a fact
 * about the row and a sweep finds every agent behind, whatever was lost on the way (a job that
 * failed for good, a process that died between the write and the enqueue). The profile also
 * depends on the code: an agent acts by today's tool catalogue (storedDna), so a release that
 * raises TOOLS_VERSION changes every profile without changing a row; `registeredToolsVersion`
 * holds the catalogue version the gateway last took, and the sweep finds the agents behind it too.
 * Registering is idempotent on the gateway (a second registration replaces the profile), so running
 * twice is safe.
 */
import { z } from 'zod';
import { type ClawPulseClient, ClawPulseError } from '../../integrations/clawpulse/client.ts';
import { consumerAgentId, venueAgentId } from '../../integrations/clawpulse/wire.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { cronPayload, defineTask, enqueue, type JobToAdd, jobToAdd } from '../../platform/jobs.ts';
import { storableText } from '../../platform/storable.ts';
import { type AgentDna, storedDna, TOOLS_VERSION } from './dna.ts';

/** Registers one agent (or registers it again) with the gateway. */
export const agentRegisterTask = defineTask({
  name: 'agent-register',
  schema: z.object({ agentId: z.uuid() }),
  maxAttempts: 12,
});

/** Every ten minutes: agents whose registration is behind get their job again. */
export const agentRegisterSweepTask = defineTask({
  name: 'agent-register-sweep',
  schema: cronPayload.partial(),
  maxAttempts: 3,
});

/**
 * The agent's registration job, for a statement that adds it with the write that calls for it
 * (`addJobExpression`); `queueAgentRegistration` adds the same job on its own.
 */
export function agentRegistrationJob(agentId: string): JobToAdd {
  return jobToAdd(
    agentRegisterTask,
    { agentId },
    { jobKey: `agent-register:${agentId}`, jobKeyMode: 'replace' },
  );
}

/** Enqueues the agent's registration (in the caller's transaction when it is one). */
export async function queueAgentRegistration(db: DbOrTx, agentId: string): Promise<void> {
  const job = agentRegistrationJob(agentId);
  await enqueue(db, job.task, job.payload, job.options);
}

/** The agent's id on the network: `venue-<venue id>`, `consumer-<user id>`, or null for others. */
export function gatewayAgentId(agent: { kind: string; venueId: string | null; userId: string | null }) {
  if (agent.kind === 'VENUE' && agent.venueId) return venueAgentId(agent.venueId);
  if (agent.kind === 'CONSUMER' && agent.userId) return consumerAgentId(agent.userId);
  return null;
}

/**
 * The gateway has the agent as it is now: the row's latest change, with today's tool catalogue.
 * A catalogue the gateway took that is newer than this code's (a release rolled back) is not
 * today's either: the sweep looks only for older ones, but the agent's next registration job
 * sends the tools this code offers instead of taking the agent for unchanged.
 */
export function registrationUpToDate(agent: {
  registeredAt: Date | null;
  registeredToolsVersion: number;
  updatedAt: Date;
}): boolean {
  return (
    agent.registeredAt?.getTime() === agent.updatedAt.getTime() &&
    agent.registeredToolsVersion === TOOLS_VERSION
  );
}

export type RegistrationOutcome = 'registered' | 'unchanged' | 'not_on_network' | 'gone';

/**
 * Registers the agent as it is now, then records that version as registered (only if the row has
 * not changed meanwhile: a change lands its own registration). A gateway failure is thrown for the
 * job to retry; its message is kept on the row for operators.
 */
export async function registerAgent(
  deps: { db: Db; clawpulse: ClawPulseClient },
  agentId: string,
): Promise<RegistrationOutcome> {
  const agent = await deps.db.agent.findUnique({
    where: { id: agentId },
    include: { venue: { select: { name: true, category: true, city: true, region: true } } },
  });
  if (!agent) return 'gone';
  const id = gatewayAgentId(agent);
  if (!id) return 'not_on_network';
  if (registrationUpToDate(agent)) return 'unchanged';
  const dna = storedDna(agent.kind, agent.dna);
  try {
    await deps.clawpulse.register({
      agentId: id,
      kind: agent.kind === 'VENUE' ? 'venue' : 'consumer',
      dna: wireDna(agent.kind, agent.status, dna, agent.venue),
    });
  } catch (error) {
    // Shown to the agent's managers: the gateway's own answer, kept as PostgreSQL can hold it;
    // any other failure (the client wraps every network failure, so: a bug) is ours, and its words
    // go to the job's log.
    const shown =
      error instanceof ClawPulseError
        ? storableText(error.message.slice(0, 500))
        : 'Registration failed because of an error of ours; it is tried again';
    await deps.db.$executeRaw`
      UPDATE agents SET registration_error = ${shown} WHERE id = ${agentId}::uuid`;
    throw error;
  }
  // Raw SQL: Prisma's @updatedAt would move updated_at, and the row would look changed again.
  // The tools version goes with the same condition: the profile sent was this code's catalogue
  // applied to this version of the row.
  await deps.db.$executeRaw`
    UPDATE agents
    SET registered_at = updated_at, registered_tools_version = ${TOOLS_VERSION}, registration_error = NULL
    WHERE id = ${agentId}::uuid AND updated_at = ${agent.updatedAt}`;
  return 'registered';
}

/**
 * Enqueues registration for up to `limit` agents that are behind; returns how many. First the
 * agents changed since the gateway took them, oldest change first; then, with what is left of the
 * limit, agents registered at an older tool catalogue (after a release, every agent: the sweep
 * works through them `limit` at a time). Each question reads its own partial index (see the
 * migration agent_registered_tools_version), so a sweep with nothing to do reads next to nothing.
 */
export async function sweepAgentRegistrations(db: Db, limit = 200): Promise<number> {
  const changed = await db.$queryRaw<{ id: string }[]>`
    SELECT id FROM agents
    WHERE kind IN ('VENUE', 'CONSUMER')
      AND (registered_at IS NULL OR registered_at < updated_at)
    ORDER BY updated_at
    LIMIT ${limit}`;
  // The same row never answers both: this one asks for the rows registered as they are.
  const olderTools =
    changed.length < limit
      ? await db.$queryRaw<{ id: string }[]>`
          SELECT id FROM agents
          WHERE kind IN ('VENUE', 'CONSUMER')
            AND registered_tools_version < ${TOOLS_VERSION}
            AND registered_at = updated_at
          ORDER BY registered_tools_version
          LIMIT ${limit - changed.length}`
      : [];
  const behind = [...changed, ...olderTools];
  for (const { id } of behind) await queueAgentRegistration(db, id);
  return behind.length;
}

/**
 * The profile the gateway keeps: who the agent is and what it can do, in the shape the network's
 * other members read (role, tools, streams; a venue's name, category and area).
 */
function wireDna(
  kind: string,
  status: string,
  dna: AgentDna,
  venue: { name: string; category: string; city: string | null; region: string | null } | null,
) {
  const venueSide = kind === 'VENUE';
  return {
    persona: dna.persona,
    status: status.toLowerCase(),
    capabilities: {
      role: venueSide ? 'venue_concierge' : 'consumer_concierge',
      tools: dna.tools,
      skills: dna.capabilities,
      ...(venue
        ? {
            venue_name: venue.name,
            venue_category: venue.category.toLowerCase(),
            venue_area: [venue.city, venue.region].filter(Boolean).join(', '),
          }
        : {}),
    },
    behavioral: venueSide
      ? { autoReconnect: true, inboxPollEnabled: status === 'ACTIVE' }
      : { autoReconnect: true, language: dna.persona.languages[0] ?? 'en' },
  };
}
