/**
 * The agent registry. Every venue gets a business agent when it is created, every person a
 * consumer agent on first contact, and each agent its own A2A signing secret, stored encrypted and
 * shown only when it is made (creation or rotation).
 */
import { randomUUID } from 'node:crypto';
import type { Agent, Prisma } from '../../generated/prisma/client.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { NotAllowedError, NotFoundError } from '../../platform/errors.ts';
import { type Access, ANY_ROLE, MANAGERS } from '../organizations/access.ts';
import { type AgentDna, defaultConsumerDna, defaultVenueDna, parseDna } from './dna.ts';
import { queueAgentRegistration } from './registration.ts';
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
    },
  });
  await queueAgentRegistration(tx, agent.id);
  return { agent, signingSecret: secret.toString('base64url') };
}

/** The person's consumer agent, created on first contact. Safe to call concurrently. */
export async function ensureConsumerAgent(
  db: DbOrTx,
  keyring: SecretKeyring,
  userId: string,
): Promise<Agent> {
  const existing = await db.agent.findUnique({ where: { userId } });
  if (existing) return existing;
  const id = randomUUID();
  const sealed = sealSecret(keyring, newSigningSecret(), id);
  const dna = defaultConsumerDna();
  const inserted = await db.$executeRaw`
    INSERT INTO agents (id, kind, name, user_id, dna, signing_secret_ciphertext, signing_secret_key_id, updated_at)
    VALUES (${id}::uuid, 'CONSUMER', ${dna.persona.name}, ${userId}::uuid, ${JSON.stringify(dna)}::jsonb,
            ${sealed.ciphertext}, ${sealed.keyId}, now())
    ON CONFLICT (user_id) DO NOTHING`;
  // A crash before this enqueue is caught by the registration sweep (registration.ts).
  if (inserted === 1) await queueAgentRegistration(db, id);
  return db.agent.findUniqueOrThrow({ where: { userId } });
}

/** Whether the caller may read the agent's DNA: its venue's organisation, its person, or platform admins. */
export async function canReadAgent(access: Access, agent: Pick<Agent, 'kind' | 'organizationId' | 'userId'>) {
  if (access.isPlatformAdmin) return true;
  if (agent.kind === 'VENUE' && agent.organizationId) return access.has(agent.organizationId, ANY_ROLE);
  if (agent.kind === 'CONSUMER') return access.actor.kind === 'user' && access.actor.userId === agent.userId;
  return false;
}

async function requireAgentManager(access: Access, agent: Agent) {
  if (access.isPlatformAdmin) return;
  if (agent.kind === 'VENUE' && agent.organizationId) return access.require(agent.organizationId, MANAGERS);
  if (agent.kind === 'CONSUMER' && access.actor.kind === 'user' && access.actor.userId === agent.userId)
    return;
  access.requireUserId();
  throw new NotAllowedError();
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
  const dna = parseDna(agent.kind, input.dna);
  return db.$transaction(async (tx) => {
    const updated = await tx.agent.update({
      where: { id: agent.id },
      data: { dna: dna as unknown as Prisma.InputJsonValue, name: dna.persona.name },
      include: WITH_VENUE,
    });
    // The gateway keeps the agent's profile: it is registered again with the new DNA.
    await queueAgentRegistration(tx, agent.id);
    return updated;
  });
}

/** Issues a new signing secret; the old one stops working at once. Returns the secret this once. */
export async function rotateAgentSigningSecret(
  db: Db,
  access: Access,
  keyring: SecretKeyring,
  input: { agentId: string },
) {
  const agent = await requireAgent(db, input.agentId);
  await requireAgentManager(access, agent);
  const secret = newSigningSecret();
  const sealed = sealSecret(keyring, secret, agent.id);
  const updated = await db.agent.update({
    where: { id: agent.id },
    data: { signingSecretCiphertext: sealed.ciphertext, signingSecretKeyId: sealed.keyId },
    include: WITH_VENUE,
  });
  return { agent: updated, signingSecret: secret.toString('base64url') };
}

/** The agent's signing secret, for signing and verifying A2A envelopes inside the platform. */
export async function agentSigningSecret(
  db: DbOrTx,
  keyring: SecretKeyring,
  agentId: string,
): Promise<Buffer> {
  const agent = await requireAgent(db, agentId);
  if (!agent.signingSecretCiphertext || !agent.signingSecretKeyId) {
    throw new NotFoundError('This agent has no signing secret yet; rotate it to issue one');
  }
  return openSecret(
    keyring,
    { ciphertext: agent.signingSecretCiphertext, keyId: agent.signingSecretKeyId },
    agent.id,
  );
}

/**
 * Re-encrypts every secret not under the keyring's current key (after a new key is put first),
 * and gives agents created before secrets existed one. Returns how many rows changed.
 */
export async function reencryptAgentSecrets(db: Db, keyring: SecretKeyring): Promise<number> {
  const stale = await db.agent.findMany({
    where: { OR: [{ signingSecretKeyId: null }, { signingSecretKeyId: { not: keyring.currentKeyId } }] },
    select: { id: true, signingSecretCiphertext: true, signingSecretKeyId: true },
  });
  for (const agent of stale) {
    const secret =
      agent.signingSecretCiphertext && agent.signingSecretKeyId
        ? openSecret(
            keyring,
            { ciphertext: agent.signingSecretCiphertext, keyId: agent.signingSecretKeyId },
            agent.id,
          )
        : newSigningSecret();
    const sealed = sealSecret(keyring, secret, agent.id);
    // Conditional on the old ciphertext, so a rotation that lands meanwhile is not overwritten.
    await db.agent.updateMany({
      where: { id: agent.id, signingSecretCiphertext: agent.signingSecretCiphertext },
      data: { signingSecretCiphertext: sealed.ciphertext, signingSecretKeyId: sealed.keyId },
    });
  }
  return stale.length;
}

export function dnaOf(agent: Pick<Agent, 'dna'>): AgentDna {
  return agent.dna as unknown as AgentDna;
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
  const agent = await db.agent.findUnique({
    where: { venueId },
    select: { id: true, kind: true, status: true, dna: true },
  });
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
