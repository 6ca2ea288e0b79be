/**
 * Identity over real HTTP: only `Authorization: Bearer <access token or API key>` says who calls.
 * Headers a proxy or a client might use to claim an identity change nothing; every way a token can
 * be wrong is a 401 with a message saying which and a `WWW-Authenticate` challenge; API keys work
 * until they are mistyped or revoked.
 */
import { randomUUID } from 'node:crypto';
import {
  base64url,
  type CryptoKey,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganizationAs } from '../factories/organizations.ts';
import { graphql } from '../generated/gql.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const Viewer = graphql(`
  query HttpAuthViewer {
    viewer { id email }
  }
`);

const ViewerAndOrganization = graphql(`
  query HttpAuthViewerAndOrganization($organizationId: ID!) {
    viewer { id }
    organization(id: $organizationId) { name }
  }
`);

const CreateOrganization = graphql(`
  mutation HttpAuthCreateOrganization($name: String!) {
    createOrganization(input: { name: $name }) {
      __typename
      ... on OrganizationPayload { organization { id } }
    }
  }
`);

const CreateApiKey = graphql(`
  mutation HttpAuthCreateApiKey($organizationId: ID!, $name: String!) {
    createApiKey(input: { organizationId: $organizationId, name: $name, scopes: [READ] }) {
      __typename
      ... on CreateApiKeyPayload { secret apiKey { id prefix } }
      ... on Error { message }
    }
  }
`);

const RevokeApiKey = graphql(`
  mutation HttpAuthRevokeApiKey($apiKeyId: ID!) {
    revokeApiKey(input: { apiKeyId: $apiKeyId }) {
      __typename
      ... on RevokeApiKeyPayload { apiKey { revokedAt } }
    }
  }
`);

type User = { token: string; userId: string; email: string };

let app: TestApp;
let victim: User & { organizationId: string; apiKey: string };
let other: User;

/** The Relay global id of a user, as `viewer.id` shows it. */
const globalUserId = (userId: string) => Buffer.from(`User:${userId}`).toString('base64');

async function createOrganization(token: string, name: string): Promise<string> {
  return createOrganizationAs(app, token, name);
}

async function createApiKey(token: string, organizationId: string) {
  const created = await app.gql(CreateApiKey, { organizationId, name: 'http-auth test key' }, { token });
  const result = created.data?.createApiKey;
  if (result?.__typename !== 'CreateApiKeyPayload') throw new Error(JSON.stringify(created.body));
  return { secret: result.secret, id: result.apiKey.id, prefix: result.apiKey.prefix };
}

beforeAll(async () => {
  app = await startTestApp();
  const signedIn = await app.signIn();
  const organizationId = await createOrganization(signedIn.token, 'Victim Bistro');
  const key = await createApiKey(signedIn.token, organizationId);
  victim = { ...signedIn, organizationId, apiKey: key.secret };
  other = await app.signIn();
});
afterAll(() => app?.close());

describe('identity headers other than Authorization are ignored', () => {
  /** Every header here names the victim, the way some proxies and frameworks pass identity on. */
  const impersonation = () => ({
    'x-user-id': victim.userId,
    'x-user': victim.userId,
    'x-userid': globalUserId(victim.userId),
    'x-forwarded-user': victim.email,
    'x-forwarded-email': victim.email,
    'x-auth-request-user': victim.userId,
    'x-remote-user': victim.email,
    'remote-user': victim.email,
    'x-api-key': victim.apiKey,
    'x-access-token': victim.token,
    'x-auth-token': victim.token,
  });

  it('leaves an anonymous caller anonymous', async () => {
    const response = await app.gql(
      ViewerAndOrganization,
      { organizationId: victim.organizationId },
      { headers: impersonation() },
    );
    expect(response.status).toBe(200);
    expect(response.data, JSON.stringify(response.body)).toEqual({ viewer: null, organization: null });
    expect(response.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });

  it("leaves a signed-in caller themselves, without the victim's organisations", async () => {
    const response = await app.gql(
      ViewerAndOrganization,
      { organizationId: victim.organizationId },
      { token: other.token, headers: impersonation() },
    );
    expect(response.data?.viewer?.id).toBe(globalUserId(other.userId));
    expect(response.data?.organization).toBeNull();
    expect(response.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('creates nothing for an anonymous caller who names the victim', async () => {
    const name = `Impersonated ${randomUUID()}`;
    const response = await app.gql(CreateOrganization, { name }, { headers: impersonation() });
    expect(
      response.errors?.map((e) => e.extensions?.code),
      JSON.stringify(response.body),
    ).toEqual(['UNAUTHENTICATED']);
    expect(await app.services.db.organization.count({ where: { name } })).toBe(0);
  });

  it('is the same answer as without those headers (control)', async () => {
    const plain = await app.gql(Viewer, {}, { token: other.token });
    const withHeaders = await app.gql(Viewer, {}, { token: other.token, headers: impersonation() });
    expect(withHeaders.body).toEqual(plain.body);
    expect(plain.data?.viewer?.email).toBe(other.email);
  });
});

describe('access tokens', () => {
  const now = () => Math.floor(Date.now() / 1000);

  /** The claims our own tokens carry, valid for five minutes, for `victim`. */
  function validClaims(): JWTPayload {
    const { issuer, audience } = app.services.config.auth;
    return {
      iss: issuer,
      aud: audience,
      sub: victim.userId,
      iat: now(),
      exp: now() + 300,
      jti: randomUUID(),
    };
  }

  function validHeader(): JWTHeaderParameters {
    return { alg: 'ES256', typ: 'at+jwt', kid: app.services.keys.signingKeyId };
  }

  /** Signs `claims` (minus `omit`) under `header` with `key` (by default the server's own). */
  async function sign(
    changes: {
      claims?: JWTPayload;
      header?: Partial<JWTHeaderParameters>;
      omit?: string[];
      key?: CryptoKey | Uint8Array;
    } = {},
  ): Promise<string> {
    const claims: JWTPayload = { ...validClaims(), ...changes.claims };
    for (const name of changes.omit ?? []) delete claims[name];
    const header = { ...validHeader(), ...changes.header } as JWTHeaderParameters;
    return new SignJWT(claims).setProtectedHeader(header).sign(changes.key ?? app.services.keys.signingKey);
  }

  /** An unsigned token (`alg: none`), otherwise exactly like ours. */
  function unsigned(): string {
    const encode = (value: object) => base64url.encode(JSON.stringify(value));
    return `${encode({ ...validHeader(), alg: 'none' })}.${encode(validClaims())}.`;
  }

  /** The server's public key as published at /.well-known/jwks.json, as a PEM an attacker would use. */
  async function publishedPublicKeyPem(): Promise<string> {
    const jwks = (await (await fetch(`${app.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const jwk = jwks.keys.find((k) => k.kid === app.services.keys.signingKeyId)!;
    return exportSPKI((await importJWK(jwk, 'ES256', { extractable: true })) as CryptoKey);
  }

  it('accepts a token crafted here with every claim right, so each case below differs in one way', async () => {
    const response = await app.gql(Viewer, {}, { token: await sign() });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.data?.viewer).toEqual({ id: globalUserId(victim.userId), email: victim.email });
  });

  const failures: [string, () => Promise<string> | string, string][] = [
    ['alg none', () => unsigned(), 'The access token\'s algorithm "none" is not accepted (expected ES256)'],
    [
      'HS256 signed with the published public key',
      async () =>
        sign({ header: { alg: 'HS256' }, key: new TextEncoder().encode(await publishedPublicKeyPem()) }),
      'The access token\'s algorithm "HS256" is not accepted (expected ES256)',
    ],
    [
      'our kid but another ES256 key',
      async () => sign({ key: (await generateKeyPair('ES256')).privateKey }),
      'The access token signature is invalid',
    ],
    [
      'a wrong issuer',
      () => sign({ claims: { iss: 'https://evil.example' } }),
      'The access token was issued by an unexpected issuer',
    ],
    [
      'a wrong audience',
      () => sign({ claims: { aud: 'another-api' } }),
      'The access token is meant for another audience',
    ],
    ['a wrong type', () => sign({ header: { typ: 'JWT' } }), 'The access token has the wrong type (typ)'],
    [
      'an expired exp',
      () => sign({ claims: { iat: now() - 1000, exp: now() - 60 } }),
      'The access token has expired',
    ],
    ['no exp', () => sign({ omit: ['exp'] }), 'The access token has no "exp" claim'],
    ['no sub', () => sign({ omit: ['sub'] }), 'The access token has no "sub" claim'],
    [
      'a future nbf',
      () => sign({ claims: { nbf: now() + 600 } }),
      'The access token is not valid yet (nbf is in the future)',
    ],
    [
      'an unknown kid',
      () => sign({ header: { kid: 'not-one-of-ours' } }),
      'The access token was signed with an unknown key (kid not-one-of-ours)',
    ],
    ['no kid', () => sign({ header: { kid: undefined } }), 'The access token names no signing key (kid)'],
    ['garbage', () => 'not.a.token', 'The access token is malformed'],
  ];

  it.each(failures)('refuses a token with %s: 401 with the reason', async (_label, make, message) => {
    const response = await app.gql(Viewer, {}, { token: await make() });
    expect(response.status, JSON.stringify(response.body)).toBe(401);
    expect(response.body).toEqual({ errors: [{ message, extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer error="invalid_token", error_description="${message.replaceAll('"', "'")}"`,
    );
  });

  it('answers a refusal with exactly this response', async () => {
    const expired = await sign({ claims: { iat: now() - 1000, exp: now() - 60 } });
    const response = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${expired}` },
      body: JSON.stringify({ query: '{ viewer { id } }' }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer error="invalid_token", error_description="The access token has expired"',
    );
    expect(await response.json()).toEqual({
      errors: [{ message: 'The access token has expired', extensions: { code: 'UNAUTHENTICATED' } }],
    });
  });

  it('refuses an Authorization header that is not Bearer', async () => {
    const response = await app.gql(Viewer, {}, { headers: { authorization: `Basic ${btoa('user:pass')}` } });
    expect(response.status).toBe(401);
    expect(response.errors?.[0]?.message).toBe('Use the Authorization header as "Bearer <token or API key>"');
  });
});

describe('API keys', () => {
  it('identifies the person who created the key', async () => {
    const response = await app.gql(
      ViewerAndOrganization,
      { organizationId: victim.organizationId },
      { token: victim.apiKey },
    );
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.data?.viewer?.id).toBe(globalUserId(victim.userId));
    expect(response.data?.organization).toEqual({ name: 'Victim Bistro' });
  });

  it('refuses a key with one character changed, by its checksum', async () => {
    // Change a character in the middle of the secret part (after `agnt_live_<public id>_`).
    const index = victim.apiKey.length - 20;
    const original = victim.apiKey[index]!;
    const mistyped = `${victim.apiKey.slice(0, index)}${original === 'a' ? 'b' : 'a'}${victim.apiKey.slice(index + 1)}`;
    const response = await app.gql(Viewer, {}, { token: mistyped });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({
      errors: [
        {
          message: 'The API key is malformed (check that it was copied whole)',
          extensions: { code: 'UNAUTHENTICATED' },
        },
      ],
    });
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });

  it('refuses a revoked key at once', async () => {
    const organizationId = await createOrganization(other.token, 'Revoking Bar');
    const key = await createApiKey(other.token, organizationId);
    expect((await app.gql(Viewer, {}, { token: key.secret })).status).toBe(200);

    const revoked = await app.gql(RevokeApiKey, { apiKeyId: key.id }, { token: other.token });
    expect(revoked.data?.revokeApiKey?.__typename, JSON.stringify(revoked.body)).toBe('RevokeApiKeyPayload');

    const response = await app.gql(Viewer, {}, { token: key.secret });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({
      errors: [{ message: 'The API key has been revoked', extensions: { code: 'UNAUTHENTICATED' } }],
    });
  });
});
