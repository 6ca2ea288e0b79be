import { GraphQLError } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Actor } from '../domain/identity/actor.ts';
import { createAccess } from '../domain/organizations/access.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Services } from '../services.ts';
import type { Context } from './context.ts';
import { hardeningPlugins } from './hardening.ts';
import { schema } from './schema.ts';

/** What the HTTP layer (or the WebSocket server) knows about a request before GraphQL runs. */
export interface ServerContext {
  requestId: string;
  ip: string;
  actor: Actor;
  logger: Logger;
}

export type GraphQLServer = YogaServerInstance<ServerContext, Context>;

export function createGraphQLServer(services: Services, metrics: Metrics): GraphQLServer {
  const { config } = services;
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: config.graphql.graphiql ? { title: 'AGNT GraphQL', subscriptionsProtocol: 'WS' } : false,
    // One operation per request: batching would multiply what one rate-limited request can do.
    batching: false,
    logging: false,
    context: ({ requestId, ip, actor, logger }) => ({
      requestId,
      ip,
      actor,
      logger,
      services,
      access: createAccess(services.db, actor),
    }),
    // Unexpected errors reach the client as "Unexpected error." with the request id in the
    // `x-request-id` response header; the original is logged under that id (logUnexpectedErrors).
    maskedErrors: {
      maskError(error, message) {
        return isExpected(error)
          ? (error as GraphQLError)
          : new GraphQLError(message, { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
    plugins: [...hardeningPlugins(config.graphql), operationMetrics(metrics), logUnexpectedErrors()],
  });
}

function operationMetrics(metrics: Metrics): Plugin<Context> {
  return {
    onExecute({ args }) {
      const operation = args.operationName ?? 'anonymous';
      const definition = args.document.definitions.find(
        (d: { kind: string }) => d.kind === 'OperationDefinition',
      );
      const type = definition && 'operation' in definition ? definition.operation : 'unknown';
      return {
        onExecuteDone({ result }) {
          if (!('errors' in result)) return;
          const outcome = result.errors?.length ? 'error' : 'ok';
          metrics.graphqlOperations.inc({ operation, type, outcome });
        },
      };
    },
  };
}

/** An error raised on purpose (auth refusal, bad input, a limit) rather than a bug. */
function isExpected(error: unknown): boolean {
  if (!(error instanceof GraphQLError)) return false;
  const original = error.originalError;
  if (!original) return true;
  return original instanceof GraphQLError && Boolean(original.extensions?.code);
}

function logUnexpectedErrors(): Plugin<Context> {
  return {
    onExecute({ args }) {
      return {
        onExecuteDone({ result }) {
          if (!('errors' in result) || !result.errors) return;
          for (const error of result.errors) {
            if (!isExpected(error)) {
              args.contextValue.logger.error(
                { err: error.originalError ?? error, 'graphql.path': error.path },
                'unexpected error in GraphQL',
              );
            }
          }
        },
      };
    },
  };
}
