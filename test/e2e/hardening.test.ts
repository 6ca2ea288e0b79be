/**
 * Every GraphQL limit refuses its attack before any resolver runs, fragments included, and lets
 * through a request just under it (so a refusal proves the limit, not a broken server).
 *
 * "Before any resolver runs" is shown by side effects: the attacks ride on `createOrganization`
 * (which inserts an organisation) or `requestSignInCode` (which inserts a sign-in code and sends a
 * mail), and after a refusal nothing was inserted or sent. The limits are pinned here rather than
 * taken from the defaults, so the documents at the edges stay right if a default changes.
 *
 * Armor's refusals all read "Query validation error." (limits are not disclosed), so which limit
 * refused is shown by the twin one unit under it being accepted, every other measure unchanged.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentLimitsEnv } from '../factories/config.ts';
import { startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';

const LIMITS = {
  depth: 10,
  cost: 5000,
  aliases: 15,
  directives: 10,
  tokens: 1000,
  characters: 15_000,
  bodyBytes: 100_000,
};

let app: TestApp;
let owner: { token: string };
/** An organisation `owner` owns, for the API-key mutations. */
let organizationId: string;
beforeAll(async () => {
  app = await startTestApp({
    env: {
      ...documentLimitsEnv(LIMITS),
      HTTP_BODY_LIMIT_BYTES: String(LIMITS.bodyBytes),
      // An organisation made is how these tests see an operation run: one person makes many.
      ORGANIZATIONS_PER_PERSON: '1000',
    },
  });
  owner = await app.signIn();
  const created = await app.gql(
    'mutation { createOrganization(input: { name: "Hardening owner" }) { ... on OrganizationPayload { organization { id } } } }',
    {},
    { token: owner.token },
  );
  organizationId = (created.data as { createOrganization: { organization: { id: string } } })
    .createOrganization.organization.id;
});
afterAll(() => app?.close());

/**
 * A `createOrganization` mutation with a unique name and the given selection (and fragments), so
 * whether its resolver ran can be read from the database.
 */
function createOrganization(selection: string, fragments = '') {
  const name = `Hardening ${randomBytes(6).toString('hex')}`;
  return {
    name,
    query: `mutation { createOrganization(input: { name: "${name}" }) ${selection} }\n${fragments}`,
  };
}

async function organizationsNamed(name: string): Promise<number> {
  return app.services.db.organization.count({ where: { name } });
}

type Attempt = { name: string; query: string };

/**
 * Sends `attempt` as the owner: it is refused with one error (Armor's masked message unless told
 * otherwise), no data, and the resolver never ran (no organisation was inserted).
 */
async function expectRefused(attempt: Attempt, message: string | RegExp = /Query validation error/) {
  const response = await app.gql(attempt.query, {}, { token: owner.token });
  expect(response.data, JSON.stringify(response.body)).toBeUndefined();
  expect(
    response.errors?.map((e) => e.message),
    JSON.stringify(response.body),
  ).toEqual([expect.stringMatching(message)]);
  expect(await organizationsNamed(attempt.name)).toBe(0);
}

/** Sends `attempt` as the owner: it ran without errors and the organisation exists. */
async function expectAccepted(attempt: Attempt) {
  const response = await app.gql(attempt.query, {}, { token: owner.token });
  expect(response.errors, JSON.stringify(response.body)).toBeUndefined();
  expect(response.status).toBe(200);
  expect(await organizationsNamed(attempt.name)).toBe(1);
}

/**
 * A selection `depth` fields deep counting `createOrganization` (1) and ending in `__typename`:
 * organization → members → edges → node → organization → … (Membership leads back to Organization).
 */
const CYCLE = [
  { field: 'members(first: 1)', on: 'Organization' },
  { field: 'edges', on: 'OrganizationMembersConnection' },
  { field: 'node', on: 'OrganizationMembersConnectionEdge' },
  { field: 'organization', on: 'Membership' },
];
function pathOfDepth(depth: number) {
  const path = [{ field: 'organization', on: 'OrganizationPayload' }];
  for (let i = 0; path.length < depth - 2; i++) path.push(CYCLE[i % CYCLE.length]!);
  return path;
}

function deepSelection(depth: number): string {
  const path = pathOfDepth(depth);
  const inner = path.reduceRight((acc, step) => `{ ${step.field} ${acc} }`, '{ __typename }');
  // The inline fragment on the result union adds no depth: Armor flattens fragments.
  return `{ ... on OrganizationPayload ${inner} }`;
}

/** The same path, but each field sits in its own named fragment that spreads the next one. */
function deepFragments(depth: number): { selection: string; fragments: string } {
  const path = pathOfDepth(depth);
  const fragments = path.map((step, i) => {
    const next = i + 1 < path.length ? `...Step${i + 1}` : '__typename';
    return `fragment Step${i} on ${step.on} { ${step.field} { ${next} } }`;
  });
  return { selection: '{ ...Step0 }', fragments: fragments.join('\n') };
}

describe('depth', () => {
  it(`refuses an operation ${LIMITS.depth + 1} fields deep and runs one ${LIMITS.depth} deep`, async () => {
    const over = createOrganization(deepSelection(LIMITS.depth + 1));
    await expectRefused(over);

    const under = createOrganization(deepSelection(LIMITS.depth));
    await expectAccepted(under);
  });

  it('counts depth through nested fragment spreads, one fragment per level', async () => {
    // The accepted twin is also the Relay-style query that an unflattened cost limit refused.
    const deep = deepFragments(LIMITS.depth + 1);
    const over = createOrganization(deep.selection, deep.fragments);
    await expectRefused(over);

    const shallow = deepFragments(LIMITS.depth);
    const under = createOrganization(shallow.selection, shallow.fragments);
    await expectAccepted(under);
  });

  it('answers a refusal with this exact body: one masked error, no data, no limit disclosed', async () => {
    const over = createOrganization(deepSelection(LIMITS.depth + 1));
    // A client that speaks the GraphQL-over-HTTP media type gets a 400 for a refused document; a
    // plain JSON client gets 200 with the same body (the spec's rule for application/json).
    const response = await app.gql(
      over.query,
      {},
      {
        token: owner.token,
        headers: { accept: 'application/graphql-response+json' },
      },
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/graphql-response+json; charset=utf-8');
    expect(response.body).toEqual({
      errors: [
        {
          message: 'Syntax Error: Query validation error.',
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
        },
      ],
    });

    const plain = await app.gql(
      over.query,
      {},
      { token: owner.token, headers: { accept: 'application/json' } },
    );
    expect(plain.status).toBe(200);
    expect(plain.body).toEqual(response.body);
    expect(await organizationsNamed(over.name)).toBe(0);
  });
});

describe('cost', () => {
  // Armor prices a field with a selection at 2 plus 1.5 × its children, a scalar at 1, and
  // multiplies a field by its `first` argument; fragments are flattened, each spread costing a
  // little on top. For `createOrganization { ... on OrganizationPayload { organization {
  // members(first: N) { totalCount } } } }` that is 7 + 7.875·N inline, 11.5 + 7.875·N with the
  // `members` selection in a fragment, and 17.5 + 19.6875·N with that fragment spread twice.
  const inline = (n: number) =>
    `{ ... on OrganizationPayload { organization { members(first: ${n}) { totalCount } } } }`;
  const fragment = (n: number) => `fragment Members on Organization { members(first: ${n}) { totalCount } }`;
  const once = '{ ... on OrganizationPayload { organization { ...Members } } }';
  const twice = '{ ... on OrganizationPayload { organization { ...Members ...Members } } }';

  it(`refuses an operation over a cost of ${LIMITS.cost} and runs one just under`, async () => {
    const over = createOrganization(inline(635)); // 5007.6
    await expectRefused(over);

    const under = createOrganization(inline(634)); // 4999.75
    await expectAccepted(under);
  });

  it('prices a selection moved into a fragment as it would inline', async () => {
    const over = createOrganization(once, fragment(634)); // 5004.25
    await expectRefused(over);

    const under = createOrganization(once, fragment(633)); // 4996.4
    await expectAccepted(under);
  });

  it('prices a page size given as a variable as if written, before anything runs', async () => {
    const byVariable = (n: number) => {
      const name = `Hardening ${randomBytes(6).toString('hex')}`;
      return {
        name,
        n,
        query: `mutation ($n: Int) { createOrganization(input: { name: "${name}" }) { ... on OrganizationPayload { organization { members(first: $n) { totalCount } } } } }`,
      };
    };
    const send = (attempt: ReturnType<typeof byVariable>) =>
      app.gql(attempt.query, { n: attempt.n }, { token: owner.token });
    const over = byVariable(635); // 5007.6, as inline(635)
    const refused = await send(over);
    expect(refused.data ?? undefined, JSON.stringify(refused.body)).toBeUndefined();
    expect(refused.errors).toEqual([
      expect.objectContaining({
        message: 'Query validation error.',
        extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED' }),
      }),
    ]);
    expect(await organizationsNamed(over.name)).toBe(0);

    const under = byVariable(634);
    const accepted = await send(under);
    expect(accepted.errors, JSON.stringify(accepted.body)).toBeUndefined();
    expect(await organizationsNamed(under.name)).toBe(1);
  });

  it('prices the ids given to nodes, and a page left to its default size', async () => {
    // Each id of `nodes` runs its selection: about 390 an id, with the members connection at its
    // default page of 20; 60 ids are over, 2 are not.
    const query = `query ($ids: [ID!]!) { nodes(ids: $ids) { ... on Organization { members { edges { node { role } } } } } }`;
    const ids = (count: number) => Array.from({ length: count }, () => organizationId);
    const many = await app.gql(query, { ids: ids(60) }, { token: owner.token });
    expect(
      many.errors?.map((e) => e.message),
      JSON.stringify(many.body),
    ).toEqual(['Query validation error.']);
    const few = await app.gql(query, { ids: ids(2) }, { token: owner.token });
    expect(few.errors, JSON.stringify(few.body)).toBeUndefined();
  });

  it('prices every spread of a fragment, not just the first', async () => {
    // One spread at N = 254 costs about 2011; a second spread of the already-priced fragment is
    // not free (the fragment-cache bypass fixed in Armor), so the two together are over.
    const over = createOrganization(twice, fragment(254)); // 5018.1
    await expectRefused(over);

    const under = createOrganization(twice, fragment(253)); // 4998.4
    await expectAccepted(under);
  });
});

/** `count` aliases of `__typename` (Armor's allow-list is empty here, so these count too). */
const aliases = (count: number, from = 0) =>
  Array.from({ length: count }, (_, i) => `a${from + i}: __typename`).join(' ');

describe('aliases', () => {
  it(`refuses ${LIMITS.aliases + 1} aliases and runs ${LIMITS.aliases}`, async () => {
    const over = createOrganization(`{ ${aliases(LIMITS.aliases + 1)} }`);
    await expectRefused(over);

    const under = createOrganization(`{ ${aliases(LIMITS.aliases)} }`);
    await expectAccepted(under);
  });

  it('counts aliases inside fragments once per spread', async () => {
    // 8 aliases in a fragment spread twice (once directly, once through another fragment) are 16.
    const over = createOrganization(
      '{ ...Eight ...Wrapper }',
      `fragment Eight on MutationCreateOrganizationResult { ${aliases(8)} }
       fragment Wrapper on MutationCreateOrganizationResult { ...Eight }`,
    );
    await expectRefused(over);

    // 5 aliases spread three times are 15.
    const under = createOrganization(
      '{ ...Five ...Five ... on OrganizationPayload { ...Five } }',
      `fragment Five on MutationCreateOrganizationResult { ${aliases(5)} }`,
    );
    await expectAccepted(under);
  });
});

/** `count` fields each carrying one directive. */
const directed = (count: number) =>
  Array.from({ length: count }, () => '__typename @include(if: true)').join(' ');

describe('directives', () => {
  it(`refuses ${LIMITS.directives + 1} directives and runs ${LIMITS.directives}`, async () => {
    const over = createOrganization(`{ ${directed(LIMITS.directives + 1)} }`);
    await expectRefused(over);

    const under = createOrganization(`{ ${directed(LIMITS.directives)} }`);
    await expectAccepted(under);
  });

  it('counts directives inside fragments and on spreads', async () => {
    // (5 inside + 1 on the spread) × 2 spreads = 12.
    const over = createOrganization(
      '{ ...Five @skip(if: false) ...Five @skip(if: false) }',
      `fragment Five on MutationCreateOrganizationResult { ${directed(5)} }`,
    );
    await expectRefused(over);

    // (4 inside + 1 on the spread) × 2 spreads = 10.
    const under = createOrganization(
      '{ ...Four @skip(if: false) ...Four @skip(if: false) }',
      `fragment Four on MutationCreateOrganizationResult { ${directed(4)} }`,
    );
    await expectAccepted(under);
  });
});

describe('tokens', () => {
  // The padding is a list argument rather than repeated fields: a thousand sibling `__typename`s
  // trip graphql-js's own overlapping-fields budget ("Validation aborted") before our limit.
  // `mutation { createApiKey ( input : { organizationId : "…" , name : "…" , scopes : [ … ] } ) {
  // __typename } }` is 23 tokens plus one per scope (commas and white space are not tokens).
  function withTokens(total: number) {
    const name = `Token key ${randomBytes(6).toString('hex')}`;
    const scopes = Array.from({ length: total - 23 }, () => 'READ').join(', ');
    return {
      name,
      query: `mutation { createApiKey(input: { organizationId: "${organizationId}", name: "${name}", scopes: [${scopes}] }) { __typename } }`,
    };
  }
  const apiKeysNamed = (name: string) => app.services.db.apiKey.count({ where: { name } });

  it(`refuses ${LIMITS.tokens + 1} tokens (while parsing) and runs ${LIMITS.tokens}`, async () => {
    const over = withTokens(LIMITS.tokens + 1);
    const refused = await app.gql(over.query, {}, { token: owner.token });
    expect(refused.body).toEqual({
      errors: [
        { message: 'Syntax Error: Query validation error.', extensions: { code: 'GRAPHQL_PARSE_FAILED' } },
      ],
    });
    expect(await apiKeysNamed(over.name)).toBe(0);

    const under = withTokens(LIMITS.tokens);
    const accepted = await app.gql(under.query, {}, { token: owner.token });
    expect(accepted.body).toEqual({ data: { createApiKey: { __typename: 'CreateApiKeyPayload' } } });
    expect(await apiKeysNamed(under.name)).toBe(1);
  });
});

describe('characters', () => {
  /** A small operation padded with white space to exactly `length` characters. */
  const ofLength = (length: number) => {
    const doc = createOrganization('{ __typename }');
    return { name: doc.name, query: doc.query.padEnd(length, ' ') };
  };

  it(`refuses a document of ${LIMITS.characters + 1} characters (before parsing) and runs one of ${LIMITS.characters}`, async () => {
    const over = ofLength(LIMITS.characters + 1);
    await expectRefused(over, `Syntax Error: Query Character limit of ${LIMITS.characters} exceeded.`);

    const under = ofLength(LIMITS.characters);
    expect(under.query).toHaveLength(LIMITS.characters);
    await expectAccepted(under);
  });
});

describe('request body size', () => {
  /** A JSON body of exactly `bytes` bytes (ASCII), padded with JSON white space. */
  function bodyOf(bytes: number) {
    const doc = createOrganization('{ __typename }');
    return { name: doc.name, body: JSON.stringify({ query: doc.query }).padEnd(bytes, ' ') };
  }
  const post = (body: BodyInit, init: RequestInit = {}) =>
    fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.token}` },
      body,
      ...init,
    });

  it(`answers 413 to a body over ${LIMITS.bodyBytes} bytes and runs one of exactly ${LIMITS.bodyBytes}`, async () => {
    const over = bodyOf(LIMITS.bodyBytes + 1);
    const refused = await post(over.body);
    expect(refused.status).toBe(413);
    expect(await refused.json()).toEqual({ error: `Request body over ${LIMITS.bodyBytes} bytes` });
    expect(await organizationsNamed(over.name)).toBe(0);

    const under = bodyOf(LIMITS.bodyBytes);
    const accepted = await post(under.body);
    expect(accepted.status, await accepted.clone().text()).toBe(200);
    expect(await organizationsNamed(under.name)).toBe(1);
  });

  it('answers 413 to a streamed body without Content-Length once it passes the limit', async () => {
    const over = bodyOf(LIMITS.bodyBytes + 1);
    const bytes = new TextEncoder().encode(over.body);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 16_384) controller.enqueue(bytes.subarray(i, i + 16_384));
        controller.close();
      },
    });
    // A stream body is sent chunked, so the server learns the size only while reading.
    const refused = await post(stream, { duplex: 'half' } as RequestInit);
    expect(refused.status).toBe(413);
    expect(await organizationsNamed(over.name)).toBe(0);
  });
});

/** Sign-in codes stored and mails sent for any of `emails`: the side effects of requestSignInCode. */
async function signInSideEffects(emails: string[]) {
  const codes = await app.services.db.signInCode.count({ where: { email: { in: emails } } });
  const mails = app.smtp.messages.filter((m) => m.envelopeTo.some((to) => emails.includes(to))).length;
  return { codes, mails };
}

const requestCode = (email: string, alias = '') =>
  `${alias}requestSignInCode(input: { email: "${email}" }) { __typename }`;

describe('batching', () => {
  it('refuses a JSON array of operations, running none of them', async () => {
    const emails = [uniqueEmail('batch'), uniqueEmail('batch')];
    const response = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(emails.map((email) => ({ query: `mutation { ${requestCode(email)} }` }))),
    });
    const body = await response.json();
    expect(response.status, JSON.stringify(body)).toBe(400);
    expect(body.data).toBeUndefined();
    expect(body.errors).toHaveLength(1);
    expect(await signInSideEffects(emails)).toEqual({ codes: 0, mails: 0 });
  });
});

describe('sensitive mutations travel alone', () => {
  const refusals: [string, (a: string, b: string) => string][] = [
    [
      'twice with aliases',
      (a, b) => `mutation { ${requestCode(a, 'first: ')} ${requestCode(b, 'second: ')} }`,
    ],
    [
      'twice inside one fragment',
      (a, b) =>
        `mutation { ...Both } fragment Both on Mutation { ${requestCode(a, 'first: ')} ${requestCode(b, 'second: ')} }`,
    ],
    [
      'once in each of two fragments',
      (a, b) =>
        `mutation { ...A ...B } fragment A on Mutation { ${requestCode(a, 'first: ')} } fragment B on Mutation { ${requestCode(b, 'second: ')} }`,
    ],
    [
      'once directly and once in an inline fragment',
      (a, b) => `mutation { ${requestCode(a, 'first: ')} ... on Mutation { ${requestCode(b, 'second: ')} } }`,
    ],
    [
      'next to another mutation, through nested fragments',
      (a) =>
        `mutation { ...Outer } fragment Outer on Mutation { ...Inner createOrganization(input: { name: "x" }) { __typename } } fragment Inner on Mutation { ${requestCode(a)} }`,
    ],
  ];

  it.each(refusals)('refuses requestSignInCode %s, sending no code', async (_label, build) => {
    const emails = [uniqueEmail('alias'), uniqueEmail('alias')];
    const response = await app.gql(build(emails[0]!, emails[1]!), {}, { token: owner.token });
    expect(response.data, JSON.stringify(response.body)).toBeUndefined();
    expect(response.errors?.map((e) => e.message)).toContain(
      'requestSignInCode must be the only field of its operation',
    );
    expect(await signInSideEffects(emails)).toEqual({ codes: 0, mails: 0 });
  });

  it('refuses createApiKey twice in one operation, creating no key', async () => {
    const name = `Twice ${randomBytes(6).toString('hex')}`;
    const key = (alias: string) =>
      `${alias}: createApiKey(input: { organizationId: "${organizationId}", name: "${name}" }) { __typename }`;
    const response = await app.gql(`mutation { ${key('one')} ${key('two')} }`, {}, { token: owner.token });
    expect(response.errors?.map((e) => e.message)).toEqual([
      'createApiKey must be the only field of its operation',
    ]);
    expect(await app.services.db.apiKey.count({ where: { name } })).toBe(0);
  });

  it('runs requestSignInCode alone, even spread from a fragment', async () => {
    const email = uniqueEmail('alone');
    const response = await app.gql(`mutation { ...One } fragment One on Mutation { ${requestCode(email)} }`);
    expect(response.body).toEqual({
      data: { requestSignInCode: { __typename: 'RequestSignInCodePayload' } },
    });
    expect(await signInSideEffects([email])).toEqual({ codes: 1, mails: 1 });
  });
});

describe('text PostgreSQL cannot store', () => {
  /** Organisations whose name begins with `name` (a name holding NUL cannot even be asked for). */
  const organizationsBeginning = (name: string) =>
    app.services.db.organization.count({ where: { name: { startsWith: name } } });

  it('refuses a NUL character (U+0000) in a variable, naming where it is, and changes nothing', async () => {
    const name = `Nul ${randomBytes(6).toString('hex')}`;
    const response = await app.gql(
      'mutation Create($input: CreateOrganizationInput!) { createOrganization(input: $input) { __typename } }',
      { input: { name: `${name}\u0000` } },
      { token: owner.token },
    );
    expect(response.body).toEqual({
      errors: [
        {
          message:
            'Variable "$input.name": Text cannot contain the NUL character (U+0000) or an unpaired surrogate',
          extensions: { code: 'BAD_USER_INPUT' },
        },
      ],
    });
    expect(await organizationsBeginning(name)).toBe(0);
  });

  it('refuses an unpaired surrogate in a variable, which jsonb cannot hold either', async () => {
    const name = `Surrogate ${randomBytes(6).toString('hex')}`;
    const response = await app.gql(
      'mutation Create($input: CreateOrganizationInput!) { createOrganization(input: $input) { __typename } }',
      { input: { name: `${name}\ud800` } },
      { token: owner.token },
    );
    expect(response.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([
      [
        'Variable "$input.name": Text cannot contain the NUL character (U+0000) or an unpaired surrogate',
        'BAD_USER_INPUT',
      ],
    ]);
    expect(await organizationsBeginning(name)).toBe(0);
  });

  it('refuses one written in the document, and runs the same name without it', async () => {
    const name = `Nul ${randomBytes(6).toString('hex')}`;
    const create = (escaped: string) =>
      app.gql(
        `mutation { createOrganization(input: { name: "${escaped}" }) { __typename } }`,
        {},
        {
          token: owner.token,
        },
      );
    const refused = await create(`${name}\\u0000`);
    expect(refused.data).toBeUndefined();
    expect(refused.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([
      [
        'Text cannot contain the NUL character (U+0000) or an unpaired surrogate',
        'GRAPHQL_VALIDATION_FAILED',
      ],
    ]);
    expect(await organizationsBeginning(name)).toBe(0);
    const made = await create(name);
    expect(made.errors).toBeUndefined();
    expect(await organizationsBeginning(name)).toBe(1);
  });
});

describe('introspection and field suggestions', () => {
  let production: TestApp;
  beforeAll(async () => {
    production = await startTestApp({ env: { GRAPHQL_INTROSPECTION: 'false' } });
  });
  afterAll(() => production?.close());

  it('refuses introspection when it is off, still answering __typename', async () => {
    const schema = await production.gql('{ __schema { queryType { name } } }');
    expect(schema.data).toBeUndefined();
    expect(schema.errors?.[0]?.message).toBe(
      'GraphQL introspection has been disabled, but the requested query contained the field "__schema".',
    );
    const type = await production.gql('{ __type(name: "User") { fields { name } } }');
    expect(type.data).toBeUndefined();
    expect(type.errors?.[0]?.message).toMatch(/introspection has been disabled.*"__type"/);

    const typename = await production.gql('{ __typename }');
    expect(typename.body).toEqual({ data: { __typename: 'Query' } });
  });

  it('answers the full introspection query (as GraphiQL sends it) when it is on', async () => {
    expect(app.services.config.graphql.introspection).toBe(true);
    const response = await app.gql(getIntrospectionQuery({ descriptions: true }));
    expect(response.errors, JSON.stringify(response.body)).toBeUndefined();
    const types = (response.data as { __schema: { types: { name: string }[] } }).__schema.types;
    expect(types.map((t) => t.name)).toEqual(expect.arrayContaining(['Organization', 'ApiKey', 'User']));
  });

  it('answers every variant of the introspection query, and refuses one nested to multiply its answer', async () => {
    for (const options of [
      {},
      { descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true },
      { inputValueDeprecation: true, oneOf: true },
    ]) {
      const response = await app.gql(getIntrospectionQuery(options));
      expect(response.errors, JSON.stringify(response.body)).toBeUndefined();
    }
    // Introspection is exempt from the depth and cost limits; graphql-js's own rule bounds how
    // deep its lists nest, so a query whose answer multiplies at every level is refused.
    for (const nested of [
      `{ __schema { types { ${'possibleTypes { interfaces { '.repeat(6)}name${' } }'.repeat(6)} } } }`,
      '{ __type(name: "User") { fields { type { fields { type { fields { name } } } } } } }',
      'query { __schema { types { ...T } } } fragment T on __Type { fields { type { ...F } } } fragment F on __Type { interfaces { possibleTypes { name } } }',
    ]) {
      const refused = await app.gql(nested);
      expect(refused.data, nested).toBeUndefined();
      expect(refused.errors?.[0]?.message).toBe('Maximum introspection depth exceeded');
    }
  });

  it('names nothing of the schema in suggestions when introspection is off', async () => {
    const mistakes: [string, string, Record<string, unknown>?][] = [
      ['an unknown field', '{ viewr { id } }'],
      ['an unknown nested field', '{ viewer { membrships { id } } }'],
      ['an unknown input field', 'mutation { createOrganization(input: { nam: "x" }) { __typename } }'],
      ['an unknown type', '{ viewer { ... on Usr { id } } }'],
      [
        'an unknown enum value',
        'mutation { createApiKey(input: { organizationId: "x", name: "k", scopes: [REED] }) { __typename } }',
      ],
      // Variables are coerced at execution, after Armor's validation-time mask.
      [
        'an unknown enum value in a variable',
        'mutation ($s: [ApiKeyScope!]!) { createApiKey(input: { organizationId: "x", name: "k", scopes: $s }) { __typename } }',
        { s: ['REED'] },
      ],
      [
        'an unknown input field in a variable',
        'mutation ($i: CreateOrganizationInput!) { createOrganization(input: $i) { __typename } }',
        { i: { name: 'x', nme: 'y' } },
      ],
    ];
    for (const [label, query, variables] of mistakes) {
      const hidden = await production.gql(query, variables);
      expect(hidden.errors?.length, `${label}: ${JSON.stringify(hidden.body)}`).toBeGreaterThan(0);
      expect(hidden.data ?? null, label).toBeNull();
      expect(JSON.stringify(hidden.body), label).not.toMatch(
        /Did you mean|"viewer"|"memberships"|"User"|"READ"|"name"\?/,
      );

      // The same mistake where introspection is on gets the usual hint, so the check above bites.
      const shown = await app.gql(query, variables);
      expect(JSON.stringify(shown.body), label).toMatch(/Did you mean/);
    }
  });
});

describe('a request line that names no target', () => {
  /** Sends `lines` on a raw connection and returns what came back before it closed. */
  function raw(lines: string[]): Promise<string> {
    const { hostname, port } = new URL(app.url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port) }, () =>
        socket.end(`${lines.join('\r\n')}\r\n\r\n`),
      );
      let answer = '';
      socket.on('data', (chunk) => {
        answer += chunk;
      });
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
    });
  }

  it('is answered 400, and the process serves the next request; as an upgrade it is refused', async () => {
    const answer = await raw(['GET http://[::1/healthz HTTP/1.1', 'Host: localhost', 'Connection: close']);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const upgrade = await raw([
      'GET http://[::1/graphql HTTP/1.1',
      'Host: localhost',
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Protocol: graphql-transport-ws',
    ]);
    expect(upgrade).not.toMatch(/101 Switching Protocols/);
    const after = await fetch(new URL('/healthz', app.url));
    expect(after.status).toBe(200);
  });
});
