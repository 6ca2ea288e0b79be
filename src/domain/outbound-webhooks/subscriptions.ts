/**
 * An organisation's webhook subscriptions, as its owners and admins manage them: create (the
 * secret is shown once), change, disable and enable, delete, rotate the secret, send a test
 * event, resend a delivery. People only, like API keys: a leaked key must not be able to point
 * the organisation's events somewhere else. The signing secret is sealed with the agents' keyring, bound to the
 * subscription, like agents' A2A secrets (src/domain/agents/secrets.ts).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { WebhookSubscription } from '../../generated/prisma/client.ts';
import { type Db, type DbOrTx, holdKeys } from '../../platform/db.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { openSecret, type SecretKeyring, sealSecret } from '../agents/secrets.ts';
import { type Access, MANAGERS } from '../organizations/access.ts';
import { eventBody, TEST_EVENT, WEBHOOK_EVENTS, type WebhookEvent } from './events.ts';
import { newWebhookKey, secretText } from './signing.ts';
import { checkTarget, type TargetPolicy } from './targets.ts';
import { wakeDrain } from './tasks.ts';

export interface WebhookDeps {
  db: Db;
  keyring: SecretKeyring;
  now: () => Date;
  policy: TargetPolicy;
}

/** How long a rotated-out secret keeps signing beside the new one. */
export const PREVIOUS_SECRET_HOURS = 24;
/** An organisation's subscriptions, at most. */
const MAX_SUBSCRIPTIONS = 20;

const bound = (subscriptionId: string) => `webhook:${subscriptionId}`;

/** Deliveries are returned with their organisation, which decides who may see them. */
const withOrganization = { subscription: { select: { organizationId: true } } } as const;

function checkEvents(events: readonly string[]): WebhookEvent[] {
  const unique = [...new Set(events)];
  if (unique.length === 0) throw new ValidationError('Choose at least one event', 'events');
  unique.forEach((event, i) => {
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(event)) {
      throw new ValidationError(`There is no event ${event}`, `events.${i}`);
    }
  });
  return unique as WebhookEvent[];
}

function checkDescription(description: string | null | undefined): string {
  const text = (description ?? '').trim();
  if (text.length > 200) throw new ValidationError('A description is at most 200 characters', 'description');
  return text;
}

export async function createWebhookSubscription(
  deps: WebhookDeps,
  access: Access,
  input: { organizationId: string; url: string; events: readonly string[]; description?: string | null },
): Promise<{ subscription: WebhookSubscription; secret: string }> {
  access.requirePerson();
  await access.require(input.organizationId, MANAGERS);
  const events = checkEvents(input.events);
  const description = checkDescription(input.description);
  const url = await checkTarget(input.url, deps.policy);
  const id = randomUUID();
  const key = newWebhookKey();
  const sealed = sealSecret(deps.keyring, key, bound(id));
  const subscription = await deps.db.$transaction(async (tx) => {
    // Counted and written one at a time per organisation, so two made at once cannot both pass.
    await holdKeys(tx, `webhooks-of:${input.organizationId}`);
    const count = await tx.webhookSubscription.count({ where: { organizationId: input.organizationId } });
    if (count >= MAX_SUBSCRIPTIONS) {
      throw new ConflictError(`An organisation has at most ${MAX_SUBSCRIPTIONS} webhooks: delete one first`);
    }
    return tx.webhookSubscription.create({
      data: {
        id,
        organizationId: input.organizationId,
        url,
        events,
        description,
        secretCiphertext: sealed.ciphertext,
        secretKeyId: sealed.keyId,
      },
    });
  });
  return { subscription, secret: secretText(key) };
}

async function managed(db: Db, access: Access, subscriptionId: string): Promise<WebhookSubscription> {
  access.requirePerson();
  const found = z.uuid().safeParse(subscriptionId).success
    ? await db.webhookSubscription.findUnique({ where: { id: subscriptionId } })
    : null;
  if (!found) throw new NotFoundError('No such webhook');
  await access.require(found.organizationId, MANAGERS);
  return found;
}

/** Changes a subscription; `enabled` disables it (deliveries wait) or enables it (they go now). */
export async function updateWebhookSubscription(
  deps: WebhookDeps,
  access: Access,
  input: {
    subscriptionId: string;
    url?: string | null;
    events?: readonly string[] | null;
    description?: string | null;
    enabled?: boolean | null;
  },
): Promise<WebhookSubscription> {
  const current = await managed(deps.db, access, input.subscriptionId);
  const events = input.events ? checkEvents(input.events) : undefined;
  const description =
    input.description === undefined || input.description === null
      ? undefined
      : checkDescription(input.description);
  const url = input.url ? await checkTarget(input.url, deps.policy) : undefined;
  const enabling = input.enabled === true && !current.enabled;
  const disabling = input.enabled === false && current.enabled;
  // Failures at the old address say nothing about the new one: its run of failures starts over,
  // so a receiver moved after an outage is not disabled for the old one's days.
  const moving = url !== undefined && url !== current.url;
  return deps.db.$transaction(async (tx) => {
    const updated = await tx.webhookSubscription.update({
      where: { id: current.id },
      data: {
        url,
        events,
        description,
        ...(moving ? { failingSince: null } : {}),
        ...(enabling ? { enabled: true, disabledAt: null, disabledReason: null, failingSince: null } : {}),
        ...(disabling
          ? { enabled: false, disabledAt: deps.now(), disabledReason: 'Disabled by a person' }
          : {}),
      },
    });
    // What waited while it was disabled goes now, in order, with its retries afresh: its time to
    // be given up counts from now, not from when it was queued (days ago, it would fail at once).
    if (enabling) {
      await tx.webhookDelivery.updateMany({
        where: { subscriptionId: current.id, status: 'PENDING' },
        data: { queuedAt: deps.now(), attempts: 0, nextAttemptAt: null },
      });
      await wakeDrain(tx, current.id, { now: true });
    }
    return updated;
  });
}

export async function deleteWebhookSubscription(
  deps: WebhookDeps,
  access: Access,
  input: { subscriptionId: string },
): Promise<{ deletedId: string }> {
  const current = await managed(deps.db, access, input.subscriptionId);
  // Its deliveries and attempts go with it (ON DELETE CASCADE); a drain job left finds nothing.
  await deps.db.webhookSubscription.delete({ where: { id: current.id } });
  return { deletedId: current.id };
}

/**
 * A new secret; the old one keeps signing beside it for 24 hours, so receivers can switch over
 * without losing a delivery. A second rotation within those hours drops the oldest.
 */
export async function rotateWebhookSecret(
  deps: WebhookDeps,
  access: Access,
  input: { subscriptionId: string },
): Promise<{ subscription: WebhookSubscription; secret: string }> {
  const current = await managed(deps.db, access, input.subscriptionId);
  const key = newWebhookKey();
  const sealed = sealSecret(deps.keyring, key, bound(current.id));
  // Conditional on the secret read: a rotation at the same time (whose secret its caller was shown)
  // or a re-seal under a new key (agents:reencrypt) is not overwritten with what was read before it.
  const { count } = await deps.db.webhookSubscription.updateMany({
    where: { id: current.id, secretCiphertext: current.secretCiphertext },
    data: {
      secretCiphertext: sealed.ciphertext,
      secretKeyId: sealed.keyId,
      previousSecretCiphertext: current.secretCiphertext,
      previousSecretKeyId: current.secretKeyId,
      previousSecretExpiresAt: new Date(deps.now().getTime() + PREVIOUS_SECRET_HOURS * 3_600_000),
    },
  });
  if (count === 0) {
    throw new ConflictError(
      "The webhook's secret changed while this was being done: nothing was changed, try again",
    );
  }
  const subscription = await deps.db.webhookSubscription.findUniqueOrThrow({ where: { id: current.id } });
  return { subscription, secret: secretText(key) };
}

/** The keys that sign a delivery now: the current secret, and the previous one while it lasts. */
export async function subscriptionKeys(
  _db: DbOrTx,
  keyring: SecretKeyring,
  subscription: WebhookSubscription,
  now: Date,
): Promise<Buffer[]> {
  const keys = [
    openSecret(
      keyring,
      { ciphertext: subscription.secretCiphertext, keyId: subscription.secretKeyId },
      bound(subscription.id),
    ),
  ];
  if (
    subscription.previousSecretCiphertext &&
    subscription.previousSecretKeyId &&
    subscription.previousSecretExpiresAt &&
    subscription.previousSecretExpiresAt > now
  ) {
    keys.push(
      openSecret(
        keyring,
        { ciphertext: subscription.previousSecretCiphertext, keyId: subscription.previousSecretKeyId },
        bound(subscription.id),
      ),
    );
  }
  return keys;
}

/**
 * Re-seals every subscription's secrets (the current one, and a rotated-out one still kept) that
 * are not under the keyring's current key, after a new key is put first in AGENT_SECRET_KEYS
 * (`npm run agents:reencrypt`, which re-seals the agents' secrets too). A rotated-out secret past
 * its 24 hours signs nothing more: it is dropped rather than opened (its key may be gone already).
 * Returns how many subscriptions changed.
 */
export async function reencryptWebhookSecrets(
  db: Db,
  keyring: SecretKeyring,
  now: Date = new Date(),
): Promise<number> {
  const stale = await db.webhookSubscription.findMany({
    where: {
      OR: [
        { secretKeyId: { not: keyring.currentKeyId } },
        { previousSecretKeyId: { not: keyring.currentKeyId } },
      ],
    },
  });
  let changed = 0;
  for (const subscription of stale) {
    const reseal = (ciphertext: string, keyId: string) => {
      const secret = openSecret(keyring, { ciphertext, keyId }, bound(subscription.id));
      return sealSecret(keyring, secret, bound(subscription.id));
    };
    const current = reseal(subscription.secretCiphertext, subscription.secretKeyId);
    const kept =
      subscription.previousSecretCiphertext &&
      subscription.previousSecretKeyId &&
      subscription.previousSecretExpiresAt &&
      subscription.previousSecretExpiresAt > now;
    const previous = kept
      ? reseal(subscription.previousSecretCiphertext!, subscription.previousSecretKeyId!)
      : null;
    // Conditional on the ciphertexts read, so a rotation that lands meanwhile is not overwritten.
    const { count } = await db.webhookSubscription.updateMany({
      where: {
        id: subscription.id,
        secretCiphertext: subscription.secretCiphertext,
        previousSecretCiphertext: subscription.previousSecretCiphertext,
      },
      data: {
        secretCiphertext: current.ciphertext,
        secretKeyId: current.keyId,
        ...(previous
          ? { previousSecretCiphertext: previous.ciphertext, previousSecretKeyId: previous.keyId }
          : { previousSecretCiphertext: null, previousSecretKeyId: null, previousSecretExpiresAt: null }),
      },
    });
    changed += count;
  }
  return changed;
}

/** Queues a `webhook.test` delivery for the subscription (behind what it already has pending). */
export async function sendTestWebhook(deps: WebhookDeps, access: Access, input: { subscriptionId: string }) {
  const current = await managed(deps.db, access, input.subscriptionId);
  if (!current.enabled) throw new ConflictError('The webhook is disabled: enable it first');
  const now = deps.now();
  return deps.db.$transaction(async (tx) => {
    const delivery = await tx.webhookDelivery.create({
      data: {
        id: randomUUID(),
        subscriptionId: current.id,
        messageId: `msg_${randomUUID()}`,
        eventType: TEST_EVENT,
        payload: eventBody(TEST_EVENT, now, {
          subscriptionId: current.id,
          organizationId: current.organizationId,
        }),
        queuedAt: now,
        nextAttemptAt: now,
      },
      include: withOrganization,
    });
    await wakeDrain(tx, current.id);
    return delivery;
  });
}

/**
 * Sends a delivery again, with its `webhook-id` (receivers that have it already can drop it), and
 * a fresh retry window (its attempts count from 0 again; the attempt log keeps the earlier ones).
 * It keeps its place in the order, so it goes before anything queued later.
 */
export async function resendWebhookDelivery(
  deps: WebhookDeps,
  access: Access,
  input: { deliveryId: string },
) {
  const delivery = z.uuid().safeParse(input.deliveryId).success
    ? await deps.db.webhookDelivery.findUnique({
        where: { id: input.deliveryId },
        include: { subscription: true },
      })
    : null;
  access.requirePerson();
  if (!delivery) throw new NotFoundError('No such delivery');
  await access.require(delivery.subscription.organizationId, MANAGERS);
  if (delivery.status === 'PENDING') throw new ConflictError('The delivery is still being sent');
  const now = deps.now();
  return deps.db.$transaction(async (tx) => {
    const updated = await tx.webhookDelivery.update({
      where: { id: delivery.id },
      data: {
        status: 'PENDING',
        attempts: 0,
        queuedAt: now,
        nextAttemptAt: now,
        deliveredAt: null,
        lastError: null,
      },
      include: withOrganization,
    });
    if (delivery.subscription.enabled) await wakeDrain(tx, delivery.subscriptionId, { now: true });
    return updated;
  });
}

/** The organisation a subscription belongs to, or null (for authorising before the real work). */
export async function organizationOfWebhookSubscription(
  db: Db,
  subscriptionId: string,
): Promise<string | null> {
  if (!z.uuid().safeParse(subscriptionId).success) return null;
  const row = await db.webhookSubscription.findUnique({
    where: { id: subscriptionId },
    select: { organizationId: true },
  });
  return row?.organizationId ?? null;
}

/** The organisation a delivery's subscription belongs to, or null. */
export async function organizationOfWebhookDelivery(db: Db, deliveryId: string): Promise<string | null> {
  if (!z.uuid().safeParse(deliveryId).success) return null;
  const row = await db.webhookDelivery.findUnique({
    where: { id: deliveryId },
    select: { subscription: { select: { organizationId: true } } },
  });
  return row?.subscription.organizationId ?? null;
}
