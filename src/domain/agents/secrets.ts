/**
 * A2A signing secrets at rest: AES-256-GCM under a keyring from AGENT_SECRET_KEYS. The first key
 * encrypts; every key decrypts, so keys rotate by putting a new one first, re-encrypting
 * (`reencryptAgentSecrets`), then dropping the old one. Each ciphertext is bound to its agent
 * (additional authenticated data), so a ciphertext copied onto another agent does not decrypt.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface SecretKeyring {
  currentKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
}

export interface SealedSecret {
  ciphertext: string;
  keyId: string;
}

export class SecretKeyError extends Error {
  override name = 'SecretKeyError';
}

/** Parses `id:base64key,id2:base64key2` (32-byte keys, standard or url-safe base64). */
export function parseKeyring(spec: string): SecretKeyring {
  const keys = new Map<string, Buffer>();
  let currentKeyId = '';
  for (const part of spec.split(',')) {
    const [id, encoded] = part.split(':');
    if (!id || !encoded) throw new SecretKeyError('AGENT_SECRET_KEYS: each entry is id:base64key');
    const key = Buffer.from(encoded.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
    if (key.length !== 32) throw new SecretKeyError(`AGENT_SECRET_KEYS: key ${id} is not 32 bytes`);
    if (keys.has(id)) throw new SecretKeyError(`AGENT_SECRET_KEYS: key id ${id} is used twice`);
    keys.set(id, key);
    currentKeyId ||= id;
  }
  return { currentKeyId, keys };
}

/** A fresh keyring spec with one random key, for development and tests. */
export function generateKeyringSpec(id = `k${Date.now().toString(36)}`): string {
  return `${id}:${randomBytes(32).toString('base64url')}`;
}

export function sealSecret(keyring: SecretKeyring, secret: Buffer, boundTo: string): SealedSecret {
  const key = keyring.keys.get(keyring.currentKeyId)!;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(boundTo));
  const body = Buffer.concat([cipher.update(secret), cipher.final()]);
  return {
    ciphertext: Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url'),
    keyId: keyring.currentKeyId,
  };
}

export function openSecret(keyring: SecretKeyring, sealed: SealedSecret, boundTo: string): Buffer {
  const key = keyring.keys.get(sealed.keyId);
  if (!key) throw new SecretKeyError(`No key ${sealed.keyId} in AGENT_SECRET_KEYS to decrypt this secret`);
  const raw = Buffer.from(sealed.ciphertext, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(boundTo));
  decipher.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
  } catch {
    throw new SecretKeyError('The secret does not decrypt: wrong key, or not this agent’s secret');
  }
}

/** A new A2A signing secret: 32 random bytes. */
export function newSigningSecret(): Buffer {
  return randomBytes(32);
}
