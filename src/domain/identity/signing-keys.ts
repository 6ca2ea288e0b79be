/**
 * The ES256 keys that sign and verify our access tokens.
 *
 * One key signs; any number of public keys verify. Rotation is: publish the new key's public half
 * (as a verify-only key) for at least one access-token lifetime, switch signing to it, and keep the
 * old public key as verify-only until every token it signed has expired. The JWKS served at
 * `/.well-known/jwks.json` lists every verifying key so other services can follow the same steps.
 *
 * Without a configured key (development and test only; `loadConfig` refuses production without
 * one) a key is generated at start-up. Every process then has its own key, so tokens from one
 * process do not verify in another and all tokens die on restart; the log says so.
 */
import { createHash, hkdfSync } from 'node:crypto';
import {
  base64url,
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  exportPKCS8,
  generateKeyPair,
  importJWK,
  importPKCS8,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import type { Config } from '../../config/index.ts';
import type { Logger } from '../../platform/logger.ts';

export const ACCESS_TOKEN_ALGORITHM = 'ES256';

export interface SigningKeys {
  /** The key id (`kid`) that new tokens carry. */
  readonly signingKeyId: string;
  /** The private key new tokens are signed with. */
  readonly signingKey: CryptoKey;
  /** True when no key was configured and this process generated its own. */
  readonly generated: boolean;
  /** The public key for `kid`, or undefined when the kid is not one of ours. */
  publicKey(kid: string): CryptoKey | undefined;
  /** Every verifying public key, for `/.well-known/jwks.json`. Never contains private material. */
  jwks(): JSONWebKeySet;
  /**
   * A 32-byte secret for `purpose`, derived (HKDF-SHA256) from the signing key. It lets other
   * parts keep server-side secrets (the sign-in code pepper) without another variable to manage;
   * it changes when the signing key changes, so use it only for short-lived data.
   */
  deriveSecret(purpose: string): Buffer;
}

export interface SigningKeyInput {
  /** A PKCS#8 PEM ES256 (P-256) private key. */
  privateKeyPem: string;
  keyId: string;
  /**
   * Public keys that still verify but no longer sign (a retired key during rotation, or the next
   * key published ahead of the switch). Each needs a `kid`; private fields are refused.
   */
  verifyOnlyKeys?: JWK[];
}

/**
 * The keys from configuration, or a generated key outside production.
 * `verifyOnlyKeys` carries rotated-out public keys (there is no environment variable for them yet).
 */
export async function loadSigningKeys(
  config: Pick<Config, 'auth' | 'production'>,
  logger: Logger,
  options: { verifyOnlyKeys?: JWK[] } = {},
): Promise<SigningKeys> {
  const { privateKeyPem, keyId } = config.auth;
  if (privateKeyPem && keyId) {
    return createSigningKeys({ privateKeyPem, keyId, verifyOnlyKeys: options.verifyOnlyKeys });
  }
  if (config.production) {
    // loadConfig already refuses this; checked again because a production process signing with a
    // throwaway key would log everyone out on every deploy.
    throw new Error('JWT_PRIVATE_KEY and JWT_KEY_ID are required in production');
  }
  const generated = await generateSigningKey();
  const keys = await createSigningKeys({ ...generated, verifyOnlyKeys: options.verifyOnlyKeys }, true);
  logger.warn(
    { 'auth.kid': keys.signingKeyId },
    'JWT_PRIVATE_KEY is not set: signing access tokens with a key generated for this process only (tokens do not survive a restart or verify in other processes)',
  );
  return keys;
}

/** A fresh ES256 key as PKCS#8 PEM, with a kid derived from its JWK thumbprint. */
export async function generateSigningKey(): Promise<{ privateKeyPem: string; keyId: string }> {
  const { privateKey, publicKey } = await generateKeyPair(ACCESS_TOKEN_ALGORITHM, { extractable: true });
  const thumbprint = await calculateJwkThumbprint(await exportJWK(publicKey));
  return { privateKeyPem: await exportPKCS8(privateKey), keyId: thumbprint.slice(0, 16) };
}

export async function createSigningKeys(input: SigningKeyInput, generated = false): Promise<SigningKeys> {
  let signingKey: CryptoKey;
  try {
    // Extractable so the public half and the derived secrets can be computed from it; the key
    // object never leaves this module.
    signingKey = await importPKCS8(input.privateKeyPem, ACCESS_TOKEN_ALGORITHM, { extractable: true });
  } catch (error) {
    throw new Error(
      `JWT_PRIVATE_KEY is not an ES256 (P-256) PKCS#8 PEM private key: ${(error as Error).message}`,
    );
  }
  const privateJwk = await exportJWK(signingKey);
  if (!privateJwk.d) throw new Error('JWT_PRIVATE_KEY holds no private key material');
  const secretMaterial = Buffer.from(base64url.decode(privateJwk.d));

  const publicJwks: JWK[] = [publicPart(privateJwk, input.keyId)];
  for (const jwk of input.verifyOnlyKeys ?? []) {
    if (!jwk.kid) throw new Error('every verify-only signing key needs a kid');
    if (jwk.d !== undefined) throw new Error(`verify-only key ${jwk.kid} contains private material`);
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256')
      throw new Error(`verify-only key ${jwk.kid} is not a P-256 key`);
    if (publicJwks.some((k) => k.kid === jwk.kid)) throw new Error(`signing key id ${jwk.kid} is used twice`);
    publicJwks.push(publicPart(jwk, jwk.kid));
  }

  const publicKeys = new Map<string, CryptoKey>();
  for (const jwk of publicJwks) {
    publicKeys.set(jwk.kid!, (await importJWK(jwk, ACCESS_TOKEN_ALGORITHM)) as CryptoKey);
  }
  const document: JSONWebKeySet = { keys: publicJwks };

  return {
    signingKeyId: input.keyId,
    signingKey,
    generated,
    publicKey: (kid) => publicKeys.get(kid),
    // A copy, so a caller that edits the answer cannot change what we verify with.
    jwks: () => structuredClone(document),
    deriveSecret(purpose) {
      const salt = createHash('sha256').update('agnt signing-key secrets').digest();
      return Buffer.from(hkdfSync('sha256', secretMaterial, salt, `agnt:${purpose}`, 32));
    },
  };
}

/** Only the public members of an EC JWK, labelled for ES256 signatures. */
function publicPart(jwk: JWK, kid: string): JWK {
  return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg: ACCESS_TOKEN_ALGORITHM, use: 'sig' };
}
