import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { type DocumentNode, GraphQLError, Kind, type OperationDefinitionNode } from 'graphql';
import { createYoga, maskError, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Actor, MembershipRole } from '../domain/identity/actor.ts';
import { DomainError, RateLimitedError, ValidationError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import { measureOperation, type OperationStats, slowOperationFields } from '../platform/operation-stats.ts';
import { graphqlTracingPlugin } from '../platform/tracing.ts';
import type { Services } from '../wiring/services.ts';
import type { Context } from './context.ts';
import { bindDomain } from './domain.ts';
import { hardeningPlugins } from './hardening.ts';
import { createLiveAccess, type LiveAccess } from './live-access.ts';
import { prismaClient } from './prisma-client.ts';
import { schema } from './schema.ts';
import { sharedLiveResults } from './shared-live-results.ts';

/** What the HTTP layer (or the WebSocket server) knows about a request before GraphQL runs. */
export interface ServerContext {
  requestId: string;
  ip: string;
  actor: Actor;
  /** A signed-in person's roles, read with their user as the request was authenticated. */
  roles?: ReadonlyMap<string, MembershipRole> | null;
  logger: Logger;
}

export type GraphQLServer = YogaServerInstance<ServerContext, Context>;

/** `liveAccess`: this process's remembered rights, shared with the `/graphql` route's authentication. */
export function createGraphQLServer(
  services: Services,
  metrics: Metrics,
  liveAccess: LiveAccess = createLiveAccess(services),
): GraphQLServer {
  const { config, now, pubsub } = services;
  const domain = bindDomain(services, liveAccess.remembered);
  const tracing = graphqlTracingPlugin();
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: config.graphql.graphiql ? { title: 'AGNT GraphQL', subscriptionsProtocol: 'WS' } : false,
    // One operation per request: batching would multiply what one rate-limited request can do.
    batching: false,
    // CORS is answered by the HTTP route (src/api/cross-site.ts) from the configured origins.
    cors: false,
    logging: false,
    context: ({ requestId, ip, actor, logger }) => ({
      requestId,
      ip,
      actor,
      logger,
      access: domain.organizations.createAccess(actor),
      domain,
      liveAccess,
      services: { config, now, pubsub },
      [prismaClient]: services.db,
    }),
    // Unexpected errors reach the client as "Unexpected error." with the request id in the
    // `x-request-id` response header; the original is logged under that id (logUnexpectedErrors).
    maskedErrors: {
      maskError(error, message) {
        // A GET's `variables` or `extensions` that are not JSON, which Yoga parses unguarded (a
        // POST's body that is not is refused by Yoga itself with 400): the request is at fault.
        if (error instanceof SyntaxError) {
          return new GraphQLError('The request is not valid: `variables` and `extensions` must be JSON', {
            extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
          });
        }
        const domain = domainErrorOf(error);
        if (domain) return domain;
        if (isExpected(error)) return error as GraphQLError;
        // Yoga's own masking keeps the path and locations; never its development details.
        return maskError(error, message, false);
      },
    },
    plugins: [
      // A GET query must carry `x-graphql-yoga-csrf`, which a cross-site page cannot add unasked.
      useCSRFPrevention(),
      ...hardeningPlugins(config.graphql),
      sharedLiveResults(),
      operationMetrics(metrics),
      // With tracing on, a span per operation, a child of the request's.
      ...(tracing ? [tracing] : []),
      ...(config.monitoring.slowOperationMs > 0
        ? [logSlowOperations(config.monitoring.slowOperationMs)]
        : []),
      rolesForReads(),
      logUnexpectedErrors(),
    ],
  });
}

function operationMetrics(metrics: Metrics): Plugin<Context> {
  return {
    // Operations refused by validation (limits, unknown fields) never execute: count them here.
    onValidate({ params }) {
      return ({ valid }) => {
        if (valid) return;
        const { operation, type } = describeOperation(params.documentAST, undefined);
        metrics.graphqlOperations.inc({ operation, type, outcome: 'invalid' });
      };
    },
    onExecute({ args }) {
      const { operation, type } = describeOperation(args.document, args.operationName);
      return {
        onExecuteDone({ result }) {
          // Subscriptions stream results; they are counted once, when they start.
          const errors = Symbol.asyncIterator in result ? undefined : result.errors;
          metrics.graphqlOperations.inc({ operation, type, outcome: errors?.length ? 'error' : 'ok' });
        },
      };
    },
  };
}

/**
 * Logs (warn) a query or mutation whose execution took `thresholdMs` or more, with its SQL
 * statements and the time they took; subscriptions, which stream for as long as they are open,
 * are not measured.
 */
function logSlowOperations(thresholdMs: number): Plugin<Context> {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      let stats: OperationStats | undefined;
      setExecuteFn((execArgs) => {
        const measured = measureOperation(() => executeFn(execArgs));
        stats = measured.stats;
        return measured.result;
      });
      return {
        onExecuteDone() {
          const slow = stats && slowOperationFields(stats, thresholdMs);
          if (!slow) return;
          const { operation, type } = describeOperation(args.document, args.operationName);
          args.contextValue.logger.warn(
            { 'graphql.operation': operation, 'graphql.type': type, ...slow },
            'slow GraphQL operation',
          );
        },
      };
    },
  };
}

/**
 * A query changes no membership, so the roles read with the token's user stand for the whole
 * operation and no role is read again. Mutations and subscriptions read roles as they need them.
 */
function rolesForReads(): Plugin<Context & Partial<ServerContext>> {
  return {
    onExecute({ args }) {
      const { roles, access } = args.contextValue;
      if (roles && describeOperation(args.document, args.operationName).type === 'query') {
        access.knowRoles(roles);
      }
    },
  };
}

function describeOperation(document: DocumentNode, operationName: string | null | undefined) {
  const definition = document.definitions.find(
    (d): d is OperationDefinitionNode =>
      d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName),
  );
  return {
    operation: operationName ?? definition?.name?.value ?? 'anonymous',
    type: definition?.operation ?? 'unknown',
  };
}

const DOMAIN_CODES: Record<string, string> = {
  ValidationError: 'BAD_USER_INPUT',
  NotFoundError: 'NOT_FOUND',
  NotAllowedError: 'FORBIDDEN',
  ConflictError: 'CONFLICT',
  AuthenticationError: 'UNAUTHENTICATED',
  RateLimitedError: 'RATE_LIMITED',
  DailyQuotaExceededError: 'RATE_LIMITED',
};

/**
 * A domain error thrown from a field that has no result union (a query, a connection) is still
 * an expected failure: it reaches the client with its message and a code, never masked (nor
 * logged as unexpected).
 */
function domainErrorOf(error: unknown): GraphQLError | null {
  const original = isGraphQLError(error) ? error.originalError : error;
  const located = isGraphQLError(error) ? error : undefined;
  // Pothos refusing a connection's arguments (a cursor that is not one, a negative page size):
  // bad input like any other, with its code.
  if (original instanceof Error && original.name === 'PothosValidationError') {
    return new GraphQLError(original.message, {
      nodes: located?.nodes,
      path: located?.path,
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  // A variable whose value is not of its type (an enum value that is not one, "5" for an Int, a
  // DateTime without its offset): refused by graphql-js before anything runs.
  if (located && !located.path && /^Variable "\$[^"]+" /.test(located.message)) {
    return new GraphQLError(located.message, {
      nodes: located.nodes,
      extensions: { ...located.extensions, code: 'BAD_USER_INPUT' },
    });
  }
  if (!(original instanceof DomainError)) return null;
  return new GraphQLError(original.message, {
    nodes: located?.nodes,
    path: located?.path,
    extensions: {
      code: DOMAIN_CODES[original.name] ?? 'BAD_REQUEST',
      ...(original instanceof ValidationError && original.field ? { field: original.field } : {}),
      ...(original instanceof RateLimitedError ? { retryAfterSeconds: original.retryAfterSeconds } : {}),
    },
  });
}

/** An error raised on purpose (auth refusal, bad input, a limit) rather than a bug. */
function isExpected(error: unknown): boolean {
  if (!isGraphQLError(error)) return false;
  const original = error.originalError;
  if (!original) return true;
  return isGraphQLError(original) && Boolean(original.extensions?.code);
}

/** By name rather than instanceof: executor and plugins may carry another copy of graphql. */
function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

function logUnexpectedErrors(): Plugin<Context> {
  return {
    onExecute({ args }) {
      return {
        onExecuteDone({ result }) {
          if (!('errors' in result) || !result.errors) return;
          for (const error of result.errors) {
            if (!isExpected(error) && domainErrorOf(error) === null) {
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
