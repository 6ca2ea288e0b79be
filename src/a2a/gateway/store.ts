/**
 * The embedded gateway's inboxes in PostgreSQL (`gateway_agents`, `gateway_messages`).
 *
 * Delivery is at least once, as CLAWPULSE.md asks: a read hands out the oldest visible messages
 * of an inbox and hides them until `visible_at` (now + the visibility timeout); a message not
 * acknowledged by then is handed out again. The read is one statement that picks rows with
 * `FOR UPDATE SKIP LOCKED` and moves their `visible_at` in the same step, so two readers of one
 * inbox (two worker processes polling the same venue) never get the same message within one
 * visibility window: the second skips what the first holds, and once the first commits the rows
 * are no longer visible (PostgreSQL re-checks `visible_at` on the row it locks).
 *
 * Times come from the caller's clock (`now`), so tests move time instead of sleeping and every
 * process of one installation agrees as far as their clocks do.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AgentKindOnWire, InboxMessage, Priority } from '../../integrations/clawpulse/wire.ts';
import type { Db } from '../../platform/db.ts';
import { defineTask } from '../../platform/jobs.ts';
import { isUuid } from '../../platform/uuid.ts';

/** Acknowledged messages are kept this long (for operators reading the table), then pruned. */
export const ACKED_RETENTION_MS = 24 * 60 * 60 * 1000;

/** The schedule that prunes acknowledged messages (src/worker/tasks/clawpulse-gateway-prune.ts). */
export const gatewayPruneTask = defineTask({
  name: 'clawpulse-gateway-prune',
  schema: z.object({}),
  // The next tick is the retry; nothing is lost by waiting for it.
  maxAttempts: 1,
});

export interface GatewayStore {
  /** Registers an agent, or replaces the kind and DNA of one registered before. */
  register(agent: { agentId: string; kind: AgentKindOnWire; dna: unknown }): Promise<void>;
  /** Puts a message in `to`'s inbox; its id, or null when `to` is not registered. */
  post(message: { to: string; from: string; priority: Priority; payload: unknown }): Promise<string | null>;
  /** Hands out up to `limit` visible messages of an inbox, oldest first, and hides them for the visibility timeout. */
  read(agentId: string, limit: number): Promise<InboxMessage[]>;
  /** Acknowledges those of `ids` that are in the agent's inbox and not yet acknowledged; how many. */
  ack(agentId: string, ids: readonly string[]): Promise<number>;
}

export function createGatewayStore(options: {
  db: Db;
  visibilityTimeoutSeconds: number;
  now: () => Date;
}): GatewayStore {
  const { db, now } = options;
  const visibilityMs = options.visibilityTimeoutSeconds * 1000;

  return {
    async register({ agentId, kind, dna }) {
      const at = now();
      await db.$executeRaw`
        INSERT INTO gateway_agents (agent_id, kind, dna, registered_at, updated_at)
        VALUES (${agentId}, ${kind}, ${JSON.stringify(dna)}::text::jsonb, ${at}, ${at})
        ON CONFLICT (agent_id) DO UPDATE SET kind = excluded.kind, dna = excluded.dna, updated_at = excluded.updated_at`;
    },

    async post({ to, from, priority, payload }) {
      const id = randomUUID();
      const at = now();
      // Inserting from the recipient's row answers "is it registered?" in the same statement.
      const inserted = await db.$executeRaw`
        INSERT INTO gateway_messages (id, to_agent, from_agent, priority, payload, received_at, visible_at)
        SELECT ${id}::uuid, agent_id, ${from}, ${priority}, ${JSON.stringify(payload)}::text::jsonb, ${at}, ${at}
        FROM gateway_agents WHERE agent_id = ${to}`;
      return inserted === 1 ? id : null;
    },

    async read(agentId, limit) {
      const at = now();
      const hiddenUntil = new Date(at.getTime() + visibilityMs);
      const rows = await db.$queryRaw<
        {
          id: string;
          from_agent: string;
          to_agent: string;
          priority: Priority;
          payload: unknown;
          received_at: Date;
        }[]
      >`
        WITH picked AS (
          SELECT id FROM gateway_messages
          WHERE to_agent = ${agentId} AND acked_at IS NULL AND visible_at <= ${at}
          ORDER BY sequence
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
        ), handed AS (
          UPDATE gateway_messages AS m
          SET visible_at = ${hiddenUntil}, delivery_count = m.delivery_count + 1
          FROM picked WHERE m.id = picked.id
          RETURNING m.id, m.sequence, m.from_agent, m.to_agent, m.priority, m.payload, m.received_at
        )
        SELECT id::text, from_agent, to_agent, priority, payload, received_at FROM handed ORDER BY sequence`;
      return rows.map((row) => ({
        id: row.id,
        from: row.from_agent,
        to: row.to_agent,
        priority: row.priority,
        payload: row.payload,
        receivedAt: row.received_at.toISOString(),
      }));
    },

    async ack(agentId, ids) {
      // An id that is no uuid names no message of ours; it is not an error, just not acknowledged.
      const valid = [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
      if (valid.length === 0) return 0;
      return db.$executeRaw`
        UPDATE gateway_messages SET acked_at = ${now()}
        WHERE to_agent = ${agentId} AND id = ANY(${valid}::text[]::uuid[]) AND acked_at IS NULL`;
    },
  };
}

/** Deletes messages acknowledged before `before`; how many. */
export async function pruneAcknowledged(db: Db, before: Date): Promise<number> {
  return db.$executeRaw`DELETE FROM gateway_messages WHERE acked_at < ${before}`;
}

/** Unacknowledged messages per kind of recipient, and how long the oldest has waited since it arrived. */
export interface GatewayBacklogLine {
  kind: string;
  pending: number;
  oldestAgeSeconds: number;
}

export async function gatewayBacklog(db: Db, now: Date): Promise<GatewayBacklogLine[]> {
  const rows = await db.$queryRaw<{ kind: string; pending: number; oldest: Date }[]>`
    SELECT agents.kind, count(*)::int AS pending, min(messages.received_at) AS oldest
    FROM gateway_messages AS messages JOIN gateway_agents AS agents ON agents.agent_id = messages.to_agent
    WHERE messages.acked_at IS NULL
    GROUP BY agents.kind`;
  return rows.map((row) => ({
    kind: row.kind,
    pending: row.pending,
    oldestAgeSeconds: Math.max(0, (now.getTime() - row.oldest.getTime()) / 1000),
  }));
}
