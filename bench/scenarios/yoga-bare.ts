/**
 * The floor: a bare graphql-yoga server on node:http answering `{ __typename }`, with nothing of
 * ours in the way (no authentication, rate limit, hardening plugins, metrics or database). Other
 * scenarios divide by it, which cancels out most of what the machine and Node contribute.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { defineScenario } from '../lib/scenario.ts';

export default defineScenario(import.meta.url, {
  name: 'yoga-bare',
  description: 'bare graphql-yoga on node:http, `{ __typename }`, no auth, no database',
  async prepare() {
    return {
      params: {},
      request: {
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      },
      check: ({ status, body }) =>
        status === 200 && (body as { data?: { __typename?: string } }).data?.__typename === 'Query'
          ? undefined
          : `expected 200 with data.__typename "Query", got ${status} ${JSON.stringify(body)}`,
      sameBodyEveryTime: true,
      cleanup: async () => {},
    };
  },
  async serve() {
    const yoga = createYoga({
      schema: createSchema({ typeDefs: 'type Query { ok: Boolean }' }),
      graphqlEndpoint: '/graphql',
      landingPage: false,
      graphiql: false,
      logging: false,
    });
    const server = createServer(yoga);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return {
      port: (server.address() as AddressInfo).port,
      stop: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  },
});
