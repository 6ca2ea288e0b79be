import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  base64url,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import {
  type AccessTokenVerifierDeps,
  authenticateAccessToken,
  createExternalIssuer,
  issueAccessToken,
  verifyAccessToken,
} from '../../src/domain/identity/access-tokens.ts';
import { findOrCreateUserByEmail } from '../../src/domain/identity/email.ts';
import {
  createSigningKeys,
  generateSigningKey,
  loadSigningKeys,
  type SigningKeys,
} from '../../src/domain/identity/signing-keys.ts';
import { AuthenticationError } from '../../src/platform/errors.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { manualClock, uniqueEmail } from './fixtures.ts';

const logger = createLogger('silent');
const auth = { issuer: 'https://agnt.test', audience: 'agnt-api', accessTtlSeconds: 900 };
let database: TestDatabase;
let keys: SigningKeys;
let signing: { privateKeyPem: string; keyId: string };
let deps: AccessTokenVerifierDeps;
let userId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  signing = await generateSigningKey();
  keys = await createSigningKeys(signing);
  deps = { keys, auth, db: database.prisma };
  userId = (await findOrCreateUserByEmail(database.prisma, uniqueEmail())).user.id;
});

afterAll(async () => {
  await database?.drop();
});

/** A token signed with our key, with the claims a test chooses. */
async function signed(
  claims: Record<string, unknown>,
  options: { header?: Record<string, unknown>; key?: CryptoKey; omit?: string[] } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    iss: auth.issuer,
    aud: auth.audience,
    sub: userId,
    iat: now,
    exp: now + 600,
    jti: randomUUID(),
    ...claims,
  };
  for (const name of options.omit ?? []) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', kid: keys.signingKeyId, typ: 'at+jwt', ...options.header } as never)
    .sign(options.key ?? keys.signingKey);
}

function part(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

describe('issuing access tokens', () => {
  it('signs an ES256 JWT with kid, typ, iss, aud, sub, iat, exp and jti', async () => {
    const now = new Date('2026-11-25T12:00:00Z');
    const issued = await issueAccessToken(keys, { userId, auth, now });
    expect(decodeProtectedHeader(issued.token)).toEqual({
      alg: 'ES256',
      kid: keys.signingKeyId,
      typ: 'at+jwt',
    });
    const claims = decodeJwt(issued.token);
    expect(claims).toEqual({
      iss: auth.issuer,
      aud: auth.audience,
      sub: userId,
      iat: now.getTime() / 1000,
      exp: now.getTime() / 1000 + 900,
      jti: issued.tokenId,
    });
    expect(issued.expiresAt.getTime()).toBe(now.getTime() + 900_000);
  });

  it('verifies what it issued and builds the actor from the stored user', async () => {
    const clock = manualClock();
    const { token, tokenId } = await issueAccessToken(keys, { userId, auth, now: clock.now() });
    await expect(verifyAccessToken({ ...deps, now: clock.now }, token)).resolves.toMatchObject({
      userId,
      tokenId,
      source: 'agnt',
    });
    await expect(authenticateAccessToken(deps, token)).resolves.toEqual({
      kind: 'user',
      userId,
      isPlatformAdmin: false,
    });
  });

  it('refuses a valid token whose user no longer exists', async () => {
    const gone = await findOrCreateUserByEmail(database.prisma, uniqueEmail());
    const { token } = await issueAccessToken(keys, { userId: gone.user.id, auth });
    await database.prisma.user.delete({ where: { id: gone.user.id } });
    await expect(authenticateAccessToken(deps, token)).rejects.toThrow('The access token belongs to no user');
  });
});

describe('rejecting access tokens', () => {
  const cases: [string, () => Promise<string>, RegExp][] = [
    ['malformed', async () => 'not.a.token', /malformed/],
    ['garbage', async () => 'abc', /malformed/],
    [
      'alg none (unsigned)',
      async () => {
        const now = Math.floor(Date.now() / 1000);
        const header = { alg: 'none', typ: 'at+jwt', kid: keys.signingKeyId };
        const payload = {
          iss: auth.issuer,
          aud: auth.audience,
          sub: userId,
          iat: now,
          exp: now + 600,
          jti: randomUUID(),
        };
        return `${part(header)}.${part(payload)}.`;
      },
      /algorithm "none" is not accepted \(expected ES256\)/,
    ],
    [
      'HS256 signed with the public key bytes (key confusion)',
      async () => {
        // The classic attack: the verifier's public key, as published, used as an HMAC secret.
        const spki = await exportSPKI(keys.publicKey(keys.signingKeyId)!);
        return signed({}, { header: { alg: 'HS256' }, key: new TextEncoder().encode(spki) as never });
      },
      /algorithm "HS256" is not accepted/,
    ],
    [
      'another asymmetric algorithm (ES384)',
      async () => {
        const { privateKey } = await generateKeyPair('ES384');
        return signed({}, { header: { alg: 'ES384' }, key: privateKey });
      },
      /algorithm "ES384" is not accepted/,
    ],
    [
      'unknown kid',
      async () => {
        const { privateKey } = await generateKeyPair('ES256');
        return signed({}, { header: { kid: 'someone-else' }, key: privateKey });
      },
      /unknown key \(kid someone-else\)/,
    ],
    ['no kid', async () => signed({}, { header: { kid: undefined } }), /names no signing key/],
    [
      'our kid, another key (bad signature)',
      async () => signed({}, { key: (await generateKeyPair('ES256')).privateKey }),
      /signature is invalid/,
    ],
    [
      'tampered payload',
      async () => {
        const [h, , s] = (await signed({})).split('.');
        const now = Math.floor(Date.now() / 1000);
        return `${h}.${part({ iss: auth.issuer, aud: auth.audience, sub: randomUUID(), iat: now, exp: now + 600, jti: 'x' })}.${s}`;
      },
      /signature is invalid/,
    ],
    [
      'expired',
      async () =>
        signed({ iat: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) - 60 }),
      /has expired/,
    ],
    ['no exp', async () => signed({}, { omit: ['exp'] }), /no "exp" claim/],
    ['no sub', async () => signed({}, { omit: ['sub'] }), /no "sub" claim/],
    ['sub not a user id', async () => signed({ sub: 'admin' }), /invalid subject/],
    ['future nbf', async () => signed({ nbf: Math.floor(Date.now() / 1000) + 3600 }), /not valid yet/],
    ['wrong issuer', async () => signed({ iss: 'https://evil.test' }), /unexpected issuer/],
    ['no issuer', async () => signed({}, { omit: ['iss'] }), /no "iss" claim/],
    ['wrong audience', async () => signed({ aud: 'another-api' }), /another audience/],
    ['wrong type (an ID token, say)', async () => signed({}, { header: { typ: 'JWT' } }), /wrong type/],
  ];

  it.each(cases)('refuses %s', async (_name, make, message) => {
    const token = await make();
    const error = await verifyAccessToken(deps, token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as Error).message).toMatch(message);
  });

  it('tolerates a few seconds of clock skew, no more', async () => {
    const clock = manualClock();
    const { token } = await issueAccessToken(keys, { userId, auth, now: clock.now() });
    clock.advance(900_000 + 4_000);
    await expect(verifyAccessToken({ ...deps, now: clock.now }, token)).resolves.toBeDefined();
    clock.advance(2_000);
    await expect(verifyAccessToken({ ...deps, now: clock.now }, token)).rejects.toThrow(/has expired/);
  });
});

describe('verifying the same token again', () => {
  it('answers from what it verified while the token holds, and refuses it once expired or under other rules', async () => {
    const clock = manualClock();
    const { token } = await issueAccessToken(keys, { userId, auth, now: clock.now() });
    await expect(verifyAccessToken({ ...deps, now: clock.now }, token)).resolves.toMatchObject({ userId });
    await expect(verifyAccessToken({ ...deps, now: clock.now }, token)).resolves.toMatchObject({ userId });
    await expect(
      verifyAccessToken({ ...deps, auth: { ...auth, audience: 'another-api' }, now: clock.now }, token),
    ).rejects.toThrow(/another audience/);
    clock.advance(900_000 + 6_000);
    await expect(verifyAccessToken({ ...deps, now: clock.now }, token)).rejects.toThrow(/has expired/);
  });
});

describe('signing keys', () => {
  it('publishes only public material in the JWKS', () => {
    const { keys: published } = keys.jwks();
    expect(published).toHaveLength(1);
    expect(published[0]).toEqual({
      kty: 'EC',
      crv: 'P-256',
      x: expect.any(String),
      y: expect.any(String),
      kid: keys.signingKeyId,
      alg: 'ES256',
      use: 'sig',
    });
  });

  it('keeps verifying a rotated-out key while it is listed, and stops when it is not', async () => {
    const next = await generateSigningKey();
    const oldPublic = keys.jwks().keys[0] as JWK;
    const rotated = await createSigningKeys({ ...next, verifyOnlyKeys: [oldPublic] });
    expect(rotated.jwks().keys.map((k) => k.kid)).toEqual([next.keyId, keys.signingKeyId]);

    const oldToken = (await issueAccessToken(keys, { userId, auth })).token;
    const newToken = (await issueAccessToken(rotated, { userId, auth })).token;
    await expect(verifyAccessToken({ ...deps, keys: rotated }, oldToken)).resolves.toMatchObject({ userId });
    await expect(verifyAccessToken({ ...deps, keys: rotated }, newToken)).resolves.toMatchObject({ userId });

    const retired = await createSigningKeys(next);
    await expect(verifyAccessToken({ ...deps, keys: retired }, oldToken)).rejects.toThrow(/unknown key/);
  });

  it('refuses private material among verify-only keys', async () => {
    const other = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = { ...(await exportJWK(other.privateKey)), kid: 'leak' };
    await expect(
      createSigningKeys({ ...(await generateSigningKey()), verifyOnlyKeys: [privateJwk] }),
    ).rejects.toThrow(/private material/);
  });

  it('loads the configured key and kid, and generates one only outside production', async () => {
    const configured = await loadSigningKeys(
      loadConfig({ NODE_ENV: 'test', JWT_PRIVATE_KEY: signing.privateKeyPem, JWT_KEY_ID: 'configured-1' }),
      logger,
    );
    expect(configured.signingKeyId).toBe('configured-1');
    expect(configured.generated).toBe(false);

    const generated = await loadSigningKeys(loadConfig({ NODE_ENV: 'development' }), logger);
    expect(generated.generated).toBe(true);

    const production = loadConfig({ NODE_ENV: 'test' });
    await expect(loadSigningKeys({ ...production, production: true }, logger)).rejects.toThrow(
      /required in production/,
    );
  });

  it('refuses a key that is not ES256', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const { exportPKCS8 } = await import('jose');
    await expect(
      createSigningKeys({ privateKeyPem: await exportPKCS8(rsa.privateKey), keyId: 'rsa' }),
    ).rejects.toThrow(/not an ES256/);
  });

  it('derives stable secrets per key and purpose', async () => {
    const again = await createSigningKeys(signing);
    expect(again.deriveSecret('sign-in-code').equals(keys.deriveSecret('sign-in-code'))).toBe(true);
    expect(keys.deriveSecret('sign-in-code').equals(keys.deriveSecret('other'))).toBe(false);
    const other = await createSigningKeys(await generateSigningKey());
    expect(other.deriveSecret('sign-in-code').equals(keys.deriveSecret('sign-in-code'))).toBe(false);
  });
});

describe('tokens from an external issuer', () => {
  const external = { issuer: 'https://idp.example.test/', audience: 'agnt-external' };
  let server: Server;
  let idpKey: CryptoKey;
  let jwksRequests = 0;
  let externalDeps: AccessTokenVerifierDeps;

  beforeAll(async () => {
    // The IdP signs with RS256: a different algorithm from ours, as real IdPs often do.
    const pair = await generateKeyPair('RS256');
    idpKey = pair.privateKey;
    const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' }] };
    server = createServer((req, res) => {
      jwksRequests++;
      if (req.url !== '/.well-known/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const config = loadConfig({
      NODE_ENV: 'test',
      JWT_ISSUER: auth.issuer,
      JWT_AUDIENCE: auth.audience,
      EXTERNAL_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      EXTERNAL_JWT_ISSUER: external.issuer,
      EXTERNAL_JWT_AUDIENCE: external.audience,
    });
    externalDeps = { ...deps, external: createExternalIssuer(config.auth.external!) };
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  function idpToken(
    claims: Record<string, unknown>,
    header: Record<string, unknown> = {},
    key: CryptoKey = idpKey,
  ) {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: external.issuer,
      aud: external.audience,
      sub: 'auth0|12345',
      iat: now,
      exp: now + 300,
      email_verified: true,
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'idp-1', ...header } as never)
      .sign(key);
  }

  it('accepts a token signed by a key from the configured JWKS URL and maps it to a user by email', async () => {
    const email = uniqueEmail('external');
    const first = await verifyAccessToken(externalDeps, await idpToken({ email: email.toUpperCase() }));
    expect(first.source).toBe('external');
    const user = await database.prisma.user.findUniqueOrThrow({ where: { email } });
    expect(first.userId).toBe(user.id);

    const second = await authenticateAccessToken(externalDeps, await idpToken({ email }));
    expect(second).toEqual({ kind: 'user', userId: user.id, isPlatformAdmin: false });
    expect(jwksRequests).toBe(1);
  });

  it('refuses external tokens without an email, with an unverified one, for another audience, or signed with an unknown key', async () => {
    await expect(verifyAccessToken(externalDeps, await idpToken({}))).rejects.toThrow(/no "email" claim/);
    await expect(
      verifyAccessToken(externalDeps, await idpToken({ email: uniqueEmail(), email_verified: false })),
    ).rejects.toThrow(/unverified email/);
    // An issuer that does not say it verified the address has not: no user is named by it.
    const unsaid = uniqueEmail();
    await expect(
      verifyAccessToken(externalDeps, await idpToken({ email: unsaid, email_verified: undefined })),
    ).rejects.toThrow(/unverified email/);
    expect(await database.prisma.user.count({ where: { email: unsaid } })).toBe(0);
    await expect(
      verifyAccessToken(externalDeps, await idpToken({ email: uniqueEmail(), aud: 'someone-else' })),
    ).rejects.toThrow(/another audience/);
    const stranger = await generateKeyPair('RS256');
    await expect(
      verifyAccessToken(
        externalDeps,
        await idpToken({ email: uniqueEmail() }, { kid: 'idp-2' }, stranger.privateKey),
      ),
    ).rejects.toThrow(/unknown key/);
    await expect(
      verifyAccessToken(
        externalDeps,
        await idpToken(
          { email: uniqueEmail() },
          { alg: 'HS256' },
          new TextEncoder().encode('a shared secret') as never,
        ),
      ),
    ).rejects.toThrow(/algorithm "HS256" is not accepted/);
  });

  it('still applies our own rules to tokens that do not claim the external issuer', async () => {
    const { token } = await issueAccessToken(keys, { userId, auth });
    await expect(verifyAccessToken(externalDeps, token)).resolves.toMatchObject({ userId, source: 'agnt' });
    // An external-looking token that names our issuer is judged by our rules (ES256, our kids).
    await expect(
      verifyAccessToken(externalDeps, await idpToken({ iss: auth.issuer, email: uniqueEmail() })),
    ).rejects.toThrow(/algorithm "RS256" is not accepted/);
  });
});
