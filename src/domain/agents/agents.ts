/**
 * The agent registry. Every venue gets a business agent when it is created, every person a
 * consumer agent on first contact, and each agent its own A2A signing secret, stored encrypted and
 * shown only when it is made (creation or rotation).
 *
 * Signing keys on the wire: each secret has a `kid`, `<first 8 characters of the agent's uuid>-v<n>`
 * where n counts the agent's secrets (v1 at creation, +1 per rotation), so a receiver can tell
 * which of the agent's keys signed an envelope without trying both. A rotation keeps the
 * previous secret (encrypted like the current one) verifying, never signing, for an overlap, so
 * envelopes signed just before it are not refused. The platform's own sender
 * (`platform-<name>`) is the one agent row of kind PLATFORM (`ensurePlatformAgent`), with a key
 * that rotates like any other.
 */
import { randomUUID } from 'node:crypto';
import { type Agent, Prisma } from '../../generated/prisma/client.ts';
import { parseAgentId } from '../../integrations/clawpulse/wire.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { ConflictError, NotAllowedError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { addJobExpression, jobToAddValues } from '../../platform/jobs.ts';
import { type Access, ANY_ROLE, MANAGERS } from '../organizations/access.ts';
import {
  type AgentDna,
  defaultConsumerDna,
  defaultVenueDna,
  parseDna,
  storedDna,
  TOOLS_VERSION,
} from './dna.ts';
import { agentRegistrationJob, queueAgentRegistration } from './registration.ts';
import { newSigningSecret, openSecret, type SecretKeyring, sealSecret } from './secrets.ts';

/** What deciding who may see an agent needs of its venue. */
const WITH_VENUE = { venue: { select: { status: true, organizationId: true } } } as const;

/** Creates a venue's business agent (inside the venue's transaction). */
export async function createVenueAgent(
  tx: DbOrTx,
  keyring: SecretKeyring,
  venue: { id: string; name: string; organizationId: string | null },
): Promise<{ agent: Agent; signingSecret: string }> {
  const id = randomUUID();
  const secret = newSigningSecret();
  const sealed = sealSecret(keyring, secret, id);
  const dna = defaultVenueDna(venue.name);
  const agent = await tx.agent.create({
    data: {
      id,
      kind: 'VENUE',
      name: dna.persona.name,
      venueId: venue.id,
      organizationId: venue.organizationId,
      dna: dna as unknown as Prisma.InputJsonValue,
      signingSecretCiphertext: sealed.ciphertext,
      signingSecretKeyId: sealed.keyId,
      signingKid: firstKid(id),
    },
  });
  await queueAgentRegistration(tx, agent.id);
  return { agent, signingSecret: secret.toString('base64url') };
}

/**
 * The person's consumer agent, made with its registration job (one statement) when they have
 * none. Safe to call concurrently: a call that loses the race inserts nothing and reads the other's.
 */
export async function ensureConsumerAgent(
  db: DbOrTx,
  keyring: SecretKeyring,
  userId: string,
): Promise<Agent> {
  const existing = await db.agent.findUnique({ where: { userId } });
  if (existing) return existing;
  const agent = consumerAgentInsert(keyring, 2);
  await db.$queryRawUnsafe(
    `
    WITH person AS (SELECT $1::uuid AS id),
    agent AS (${agent.insert})
    SELECT ${agent.job} AS job FROM agent`,
    userId,
    ...agent.values,
  );
  return db.agent.findUniqueOrThrow({ where: { userId } });
}

/**
 * A new consumer agent's parts of a statement: an `INSERT … RETURNING id` for a CTE, making the
 * agent of the person whose id the row source `person` gives as `id` (nothing when they have one),
 * and its registration job as an expression for the statement's select list, over that CTE's row
 * (at most one: the expression adds one job per statement, not per row) so the job is added only
 * when the agent was (and commits with it); their parameters from
 * `$first` on. First contact (src/domain/channels/inbound.ts) puts them in the statement that
 * makes the person; `ensureConsumerAgent` runs them alone. The row is the same whichever makes
 * it: a fresh id, the default DNA, a new signing secret sealed to that id, its first kid.
 */
export function consumerAgentInsert(
  keyring: SecretKeyring,
  first: number,
): { id: string; insert: string; job: string; values: unknown[] } {
  const id = randomUUID();
  const sealed = sealSecret(keyring, newSigningSecret(), id);
  const dna = defaultConsumerDna();
  const values: unknown[] = [
    id,
    dna.persona.name,
    JSON.stringify(dna),
    sealed.ciphertext,
    sealed.keyId,
    firstKid(id),
  ];
  const [agentId, name, json, ciphertext, keyId, kid] = values.map((_, i) => `$${first + i}`);
  const insert = `
    INSERT INTO agents (id, kind, name, user_id, dna, signing_secret_ciphertext, signing_secret_key_id,
                        signing_kid, updated_at)
    SELECT ${agentId}::uuid, 'CONSUMER', ${name}::text, id, ${json}::text::jsonb, ${ciphertext}::text,
           ${keyId}::text, ${kid}::text, now()
    FROM person
    ON CONFLICT (user_id) DO NOTHING
    RETURNING id`;
  const job = addJobExpression(first + values.length);
  values.push(...jobToAddValues(agentRegistrationJob(id)));
  return { id, insert, job, values };
}

/** Whether the caller may read the agent's DNA: its venue's organisation, its person, or platform admins. */
export async function canReadAgent(access: Access, agent: Pick<Agent, 'kind' | 'organizationId' | 'userId'>) {
  if (access.isPlatformAdmin) return true;
  if (agent.kind === 'VENUE' && agent.organizationId) return access.has(agent.organizationId, ANY_ROLE);
  if (agent.kind === 'CONSUMER') return access.actor.kind === 'user' && access.actor.userId === agent.userId;
  return false;
}

/**
 * Whether the caller manages the agent (changes its DNA, rotates its key, reads its registration's
 * troubles): platform admins, a venue agent's organisation's owners and admins, a consumer agent's person.
 */
export async function canManageAgent(
  access: Access,
  agent: Pick<Agent, 'kind' | 'organizationId' | 'userId'>,
): Promise<boolean> {
  if (access.isPlatformAdmin) return true;
  if (agent.kind === 'VENUE' && agent.organizationId) return access.has(agent.organizationId, MANAGERS);
  return agent.kind === 'CONSUMER' && access.actor.kind === 'user' && access.actor.userId === agent.userId;
}

async function requireAgentManager(access: Access, agent: Agent) {
  if (access.isPlatformAdmin) return;
  if (agent.kind === 'VENUE' && agent.organizationId) return access.require(agent.organizationId, MANAGERS);
  if (agent.kind === 'CONSUMER' && access.actor.kind === 'user' && access.actor.userId === agent.userId)
    return;
  access.requireUserId();
  throw new NotAllowedError();
}

/**
 * Every agent on the platform, newest first, optionally of one kind: platform admins only.
 * `query` is the page and selection (a Prisma select or include with cursor, take and skip).
 */
export function listAgents(
  db: DbOrTx,
  access: Access,
  input: { kind?: Agent['kind'] | null },
  query: Omit<Prisma.AgentFindManyArgs, 'where' | 'orderBy'> = {},
) {
  if (!access.isPlatformAdmin) {
    access.requireUserId();
    throw new NotAllowedError();
  }
  return db.agent.findMany({
    ...query,
    where: input.kind ? { kind: input.kind } : {},
    orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
  });
}

async function requireAgent(db: DbOrTx, agentId: string) {
  const agent = await db.agent.findUnique({ where: { id: agentId } });
  if (!agent) throw new NotFoundError('Agent not found');
  return agent;
}

/** Replaces an agent's DNA after validating it for the agent's kind. */
export async function updateAgentDna(db: Db, access: Access, input: { agentId: string; dna: unknown }) {
  const agent = await requireAgent(db, input.agentId);
  await requireAgentManager(access, agent);
  // Written with the catalogue's version: a tool added later is one its owner could not leave out.
  const dna = { ...parseDna(agent.kind, input.dna), toolsVersion: TOOLS_VERSION };
  return db.$transaction(async (tx) => {
    // Only while the agent is still whose the check above found it: a venue that changed hands
    // meanwhile takes its agent to the new owners, whose DNA the old ones must not write.
    const { count } = await tx.agent.updateMany({
      where: { id: agent.id, organizationId: agent.organizationId, userId: agent.userId },
      data: { dna: dna as unknown as Prisma.InputJsonValue, name: dna.persona.name },
    });
    if (count === 0) {
      throw new ConflictError(
        agent.kind === 'VENUE'
          ? "This agent's venue changed hands while the change was being made: nothing was changed"
          : 'This agent was removed while the change was being made: nothing was changed',
      );
    }
    // The gateway keeps the agent's profile: it is registered again with the new DNA.
    await queueAgentRegistration(tx, agent.id);
    return tx.agent.findUniqueOrThrow({ where: { id: agent.id }, include: WITH_VENUE });
  });
}

/**
 * Pauses a venue's business agent, or lets it act again: while paused it decides nothing on its
 * own (booking requests and changes, guests' questions go to the venue's staff, as at a venue
 * without an agent) and the gateway is told (the profile's status; no inbox polling). By the
 * venue's owners and admins; a retired agent stays retired.
 */
export async function setAgentPaused(db: Db, access: Access, input: { agentId: string; paused: boolean }) {
  const agent = await requireAgent(db, input.agentId);
  await requireAgentManager(access, agent);
  if (agent.kind !== 'VENUE') {
    throw new ValidationError("Only a venue's agent can be paused", 'agentId');
  }
  if (agent.status === 'RETIRED') throw new ConflictError('This agent is retired: it cannot act again');
  const status = input.paused ? 'PAUSED' : 'ACTIVE';
  if (agent.status === status)
    return db.agent.findUniqueOrThrow({ where: { id: agent.id }, include: WITH_VENUE });
  return db.$transaction(async (tx) => {
    // Only while the agent is still whose the check above found it, and not retired meanwhile.
    const { count } = await tx.agent.updateMany({
      where: { id: agent.id, organizationId: agent.organizationId, status: { in: ['ACTIVE', 'PAUSED'] } },
      data: { status },
    });
    if (count === 0) {
      throw new ConflictError(
        "This agent's venue changed hands, or the agent was retired, while the change was being made: nothing was changed",
      );
    }
    // The gateway keeps the agent's status: it is registered again.
    await queueAgentRegistration(tx, agent.id);
    return tx.agent.findUniqueOrThrow({ where: { id: agent.id }, include: WITH_VENUE });
  });
}

/**
 * Issues a new signing secret, which signs from now on; the previous one still verifies for
 * `keyOverlapSeconds` (0: it stops working at once), so envelopes already on their way are not
 * refused. Rotating again within the overlap replaces that previous key with the one being
 * retired. Returns the secret this once.
 */
export async function rotateAgentSigningSecret(
  db: Db,
  access: Access,
  keyring: SecretKeyring,
  input: { agentId: string; keyOverlapSeconds: number; now?: Date },
) {
  const agent = await requireAgent(db, input.agentId);
  await requireAgentManager(access, agent);
  const now = input.now ?? new Date();
  const previousUntil =
    input.keyOverlapSeconds > 0 ? new Date(now.getTime() + input.keyOverlapSeconds * 1000) : null;
  const { secret, data } = newSigningKey(keyring, agent, previousUntil);
  // Conditional on the secret read above: two rotations at once must not both retire the same key.
  const { count } = await db.agent.updateMany({
    where: { id: agent.id, signingSecretCiphertext: agent.signingSecretCiphertext },
    data,
  });
  if (count === 0) throw new ConflictError('The signing secret was rotated meanwhile; try again');
  const updated = await db.agent.findUniqueOrThrow({ where: { id: agent.id }, include: WITH_VENUE });
  return { agent: updated, signingSecret: secret.toString('base64url') };
}

/**
 * Gives the venue's business agent a new signing secret that no one has seen: when a venue
 * changes hands, whoever ran it before may hold the secret (it was shown to them at a rotation),
 * and must not sign for the venue's agent after. The old key still verifies envelopes that reached
 * the gateway before `now` (the platform's own replies on their way), none after. Run in the
 * transaction that moves the venue; the new holder rotates to be shown a secret of their own.
 */
export async function replaceVenueAgentSecret(
  tx: DbOrTx,
  keyring: SecretKeyring,
  venueId: string,
  now: Date,
): Promise<void> {
  const agents = await tx.agent.findMany({ where: { venueId } });
  for (const agent of agents) {
    await tx.agent.update({ where: { id: agent.id }, data: newSigningKey(keyring, agent, now).data });
  }
}

/**
 * The columns of an agent's new signing key, and its secret: the current key becomes the
 * previous one, verifying envelopes that reached the gateway before `previousUntil` (none when
 * null, and any earlier previous key goes either way).
 */
function newSigningKey(keyring: SecretKeyring, agent: KeyColumns, previousUntil: Date | null) {
  const secret = newSigningSecret();
  const sealed = sealSecret(keyring, secret, agent.id);
  const keepPrevious =
    Boolean(agent.signingSecretCiphertext && agent.signingSecretKeyId) && previousUntil !== null;
  return {
    secret,
    data: {
      signingSecretCiphertext: sealed.ciphertext,
      signingSecretKeyId: sealed.keyId,
      signingKid: nextKid(agent.id, agent.signingKid),
      previousSigningSecretCiphertext: keepPrevious ? agent.signingSecretCiphertext : null,
      previousSigningSecretKeyId: keepPrevious ? agent.signingSecretKeyId : null,
      previousSigningKid: keepPrevious ? (agent.signingKid ?? firstKid(agent.id)) : null,
      previousSigningValidUntil: keepPrevious ? previousUntil : null,
    } satisfies Prisma.AgentUpdateManyMutationInput,
  };
}

/** The agent's signing secret, for signing and verifying A2A envelopes inside the platform. */
export async function agentSigningSecret(
  db: DbOrTx,
  keyring: SecretKeyring,
  agentId: string,
): Promise<Buffer> {
  return (await agentSigningKey(db, keyring, agentId)).secret;
}

/** A signing key as the wire names it. */
export interface SigningKey {
  kid: string;
  secret: Buffer;
}

/** The kid of an agent's first secret. */
export function firstKid(agentId: string): string {
  return `${agentId.slice(0, 8)}-v1`;
}

/** The kid of the secret that replaces the one named `kid`. */
export function nextKid(agentId: string, kid: string | null): string {
  const n = kid ? Number(/-v(\d+)$/.exec(kid)?.[1] ?? '1') : 1;
  return `${agentId.slice(0, 8)}-v${n + 1}`;
}

type KeyColumns = Pick<
  Agent,
  | 'id'
  | 'signingSecretCiphertext'
  | 'signingSecretKeyId'
  | 'signingKid'
  | 'previousSigningSecretCiphertext'
  | 'previousSigningSecretKeyId'
  | 'previousSigningKid'
  | 'previousSigningValidUntil'
>;

/** The agent's current key: the one it signs with. */
export async function agentSigningKey(
  db: DbOrTx,
  keyring: SecretKeyring,
  agentId: string,
): Promise<SigningKey> {
  return signingKeyOf(keyring, await requireAgent(db, agentId));
}

/** agentSigningKey of an agent row already read. */
export function signingKeyOf(keyring: SecretKeyring, agent: KeyColumns): SigningKey {
  const key = currentKey(keyring, agent);
  if (!key) throw new NotFoundError('This agent has no signing secret yet; rotate it to issue one');
  return key;
}

function currentKey(keyring: SecretKeyring, agent: KeyColumns): SigningKey | null {
  if (!agent.signingSecretCiphertext || !agent.signingSecretKeyId) return null;
  return {
    kid: agent.signingKid ?? firstKid(agent.id),
    secret: openSecret(
      keyring,
      { ciphertext: agent.signingSecretCiphertext, keyId: agent.signingSecretKeyId },
      agent.id,
    ),
  };
}

/**
 * The key named `kid` among those that verify an envelope of the agent that reached the gateway
 * at `arrived`: its current key, or its previous one when the envelope arrived within the
 * rotation's overlap. null when no such key verifies.
 */
export function verifyingKey(
  keyring: SecretKeyring,
  agent: KeyColumns,
  kid: string,
  arrived: Date,
): SigningKey | null {
  if (agent.signingSecretCiphertext && (agent.signingKid ?? firstKid(agent.id)) === kid) {
    return currentKey(keyring, agent);
  }
  if (
    agent.previousSigningSecretCiphertext &&
    agent.previousSigningSecretKeyId &&
    agent.previousSigningKid === kid &&
    agent.previousSigningValidUntil &&
    agent.previousSigningValidUntil.getTime() > arrived.getTime()
  ) {
    return {
      kid,
      secret: openSecret(
        keyring,
        { ciphertext: agent.previousSigningSecretCiphertext, keyId: agent.previousSigningSecretKeyId },
        agent.id,
      ),
    };
  }
  return null;
}

/**
 * The agent of ours a gateway agent id names: `consumer-<user>` the person's consumer agent,
 * `venue-<venue>` the venue's business agent, `platformAgentId` the platform agent. null for
 * anything else (an agent that is not ours, or a malformed id).
 */
export async function agentByGatewayId(
  db: DbOrTx,
  gatewayId: string,
  platformAgentId: string,
): Promise<Agent | null> {
  const parsed = parseAgentId(gatewayId);
  if (!parsed) return null;
  if (parsed.kind === 'platform') {
    if (gatewayId !== platformAgentId) return null;
    return db.agent.findFirst({
      where: { kind: 'PLATFORM' },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
  }
  return parsed.kind === 'consumer'
    ? db.agent.findUnique({ where: { userId: parsed.id } })
    : db.agent.findUnique({ where: { venueId: parsed.id } });
}

/**
 * Whether a gateway agent id is one this installation runs: a person's consumer agent
 * (`consumer-<user>` of one of its people), a venue's business agent (`venue-<venue>` of one of
 * its venues), or its platform agent; whether or not the agent row exists yet. Another
 * installation's agents (ids of people and venues it does not know) are not.
 */
export async function isHostedAgent(
  db: DbOrTx,
  gatewayId: string,
  platformAgentId: string,
): Promise<boolean> {
  const parsed = parseAgentId(gatewayId);
  if (!parsed) return false;
  if (parsed.kind === 'platform') return gatewayId === platformAgentId;
  const found =
    parsed.kind === 'consumer'
      ? await db.user.findUnique({ where: { id: parsed.id }, select: { id: true } })
      : await db.venue.findUnique({ where: { id: parsed.id }, select: { id: true } });
  return found !== null;
}

/**
 * agentByGatewayId of several gateway ids at once, in one statement (the platform agent's id in
 * one more): each id that names an agent of ours, with its agent.
 */
export async function agentsByGatewayIds(
  db: DbOrTx,
  gatewayIds: readonly string[],
  platformAgentId: string,
): Promise<Map<string, Agent>> {
  const found = new Map<string, Agent>();
  const users = new Map<string, string>();
  const venues = new Map<string, string>();
  for (const gatewayId of new Set(gatewayIds)) {
    const parsed = parseAgentId(gatewayId);
    if (parsed?.kind === 'consumer') users.set(parsed.id, gatewayId);
    else if (parsed?.kind === 'venue') venues.set(parsed.id, gatewayId);
    else if (parsed?.kind === 'platform') {
      const agent = await agentByGatewayId(db, gatewayId, platformAgentId);
      if (agent) found.set(gatewayId, agent);
    }
  }
  if (users.size + venues.size === 0) return found;
  const agents = await db.agent.findMany({
    where: { OR: [{ userId: { in: [...users.keys()] } }, { venueId: { in: [...venues.keys()] } }] },
  });
  for (const agent of agents) {
    const gatewayId =
      (agent.userId !== null ? users.get(agent.userId) : undefined) ??
      (agent.venueId !== null ? venues.get(agent.venueId) : undefined);
    if (gatewayId) found.set(gatewayId, agent);
  }
  return found;
}

/**
 * Records that `gatewayId`'s inbox was just read (`last_inbox_poll_at`), when it names an agent of
 * ours (as agentByGatewayId resolves it), in one statement; returns that agent's kind and status
 * as they are, or null. Raw SQL: Prisma's @updatedAt would move `updated_at`, which registration
 * reads as a change.
 */
export async function recordInboxPoll(
  db: DbOrTx,
  gatewayId: string,
  platformAgentId: string,
  at: Date,
): Promise<Pick<Agent, 'id' | 'kind' | 'status'> | null> {
  const parsed = parseAgentId(gatewayId);
  if (!parsed || (parsed.kind === 'platform' && gatewayId !== platformAgentId)) return null;
  const which =
    parsed.kind === 'platform'
      ? Prisma.sql`id = (SELECT id FROM agents WHERE kind = 'PLATFORM' ORDER BY created_at, id LIMIT 1)`
      : parsed.kind === 'consumer'
        ? Prisma.sql`user_id = ${parsed.id}::uuid`
        : Prisma.sql`venue_id = ${parsed.id}::uuid`;
  const rows = await db.$queryRaw<Pick<Agent, 'id' | 'kind' | 'status'>[]>`
    UPDATE agents SET last_inbox_poll_at = ${at} WHERE ${which}
    RETURNING id::text AS id, kind::text AS kind, status::text AS status`;
  return rows[0] ?? null;
}

/**
 * The platform's own agent (the sender of envelopes no person or venue sends, under
 * `CLAWPULSE_PLATFORM_AGENT_ID`), made on first use. One row of kind PLATFORM: its key is the
 * platform key, stored and rotated like any agent's. Safe to call concurrently.
 */
export async function ensurePlatformAgent(db: Db, keyring: SecretKeyring): Promise<Agent> {
  const find = () =>
    db.agent.findFirst({ where: { kind: 'PLATFORM' }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  const existing = await find();
  if (existing) return existing;
  return db.$transaction(async (tx) => {
    // One creator at a time; the second finds the first's row.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended('agents:platform', 0))`;
    const again = await tx.agent.findFirst({
      where: { kind: 'PLATFORM' },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    if (again) return again;
    const id = randomUUID();
    const sealed = sealSecret(keyring, newSigningSecret(), id);
    return tx.agent.create({
      data: {
        id,
        kind: 'PLATFORM',
        name: 'AGNT',
        signingSecretCiphertext: sealed.ciphertext,
        signingSecretKeyId: sealed.keyId,
        signingKid: firstKid(id),
      },
    });
  });
}

/**
 * Re-encrypts every secret not under the keyring's current key (after a new key is put first),
 * the previous secret of a rotation overlap included, and gives agents created before secrets
 * existed one. Returns how many rows changed.
 */
export async function reencryptAgentSecrets(db: Db, keyring: SecretKeyring): Promise<number> {
  const stale = await db.agent.findMany({
    where: {
      OR: [
        { signingSecretKeyId: null },
        { signingSecretKeyId: { not: keyring.currentKeyId } },
        { previousSigningSecretKeyId: { not: keyring.currentKeyId } },
      ],
    },
  });
  for (const agent of stale) {
    const reseal = (ciphertext: string, keyId: string) =>
      sealSecret(keyring, openSecret(keyring, { ciphertext, keyId }, agent.id), agent.id);
    const current =
      agent.signingSecretCiphertext && agent.signingSecretKeyId
        ? reseal(agent.signingSecretCiphertext, agent.signingSecretKeyId)
        : sealSecret(keyring, newSigningSecret(), agent.id);
    const previous =
      agent.previousSigningSecretCiphertext && agent.previousSigningSecretKeyId
        ? reseal(agent.previousSigningSecretCiphertext, agent.previousSigningSecretKeyId)
        : null;
    // Conditional on the old ciphertext, so a rotation that lands meanwhile is not overwritten.
    await db.agent.updateMany({
      where: { id: agent.id, signingSecretCiphertext: agent.signingSecretCiphertext },
      data: {
        signingSecretCiphertext: current.ciphertext,
        signingSecretKeyId: current.keyId,
        signingKid: agent.signingKid ?? firstKid(agent.id),
        ...(previous
          ? {
              previousSigningSecretCiphertext: previous.ciphertext,
              previousSigningSecretKeyId: previous.keyId,
            }
          : {}),
      },
    });
  }
  return stale.length;
}

/** The DNA the agent acts by: its stored DNA with its tool list brought up to date (storedDna). */
export function dnaOf(agent: Pick<Agent, 'kind' | 'dna'>): AgentDna {
  return storedDna(agent.kind, agent.dna);
}

export type BookingPolicy = NonNullable<AgentDna['bookingPolicy']>;

/** A venue's business agent as booking code sees it: whether it runs, and the policy it decides by. */
export interface VenueAgentPolicy {
  agentId: string;
  /** An ACTIVE agent decides the venue's booking requests; a paused or retired one leaves them to staff. */
  active: boolean;
  policy: BookingPolicy | null;
  /** The policy's blackout windows as times, for availability. */
  blackouts: { startsAt: Date; endsAt: Date }[];
}

/** The venue's business agent and its booking policy, or null when the venue has no agent. */
export async function venueAgentPolicy(db: DbOrTx, venueId: string): Promise<VenueAgentPolicy | null> {
  const agent = await db.agent.findUnique({ where: { venueId }, select: VENUE_AGENT_POLICY_SELECT });
  return venueAgentPolicyOf(agent);
}

/** What venueAgentPolicyOf reads of a venue's agent (to select it with the venue). */
export const VENUE_AGENT_POLICY_SELECT = { id: true, kind: true, status: true, dna: true } as const;

/** venueAgentPolicy of an agent row already read (the venue's, or null when it has none). */
export function venueAgentPolicyOf(
  agent: Pick<Agent, 'id' | 'kind' | 'status' | 'dna'> | null,
): VenueAgentPolicy | null {
  if (agent?.kind !== 'VENUE') return null;
  const policy = dnaOf(agent).bookingPolicy ?? null;
  return {
    agentId: agent.id,
    active: agent.status === 'ACTIVE',
    policy,
    blackouts: (policy?.blackoutWindows ?? []).map((w) => ({
      startsAt: new Date(w.startsAt),
      endsAt: new Date(w.endsAt),
    })),
  };
}
