/**
 * Public A2A over HTTP, for outside agents with an organisation's API key:
 *
 * - `GET /.well-known/agent-card.json`: the agent card (card.ts), open to anyone, as cards are;
 * - `POST /a2a/jsonrpc`: the open A2A protocol's JSON-RPC binding, through the A2A SDK's request
 *   handler over our executor (executor.ts) and task store (task-store.ts). A2A 1.0 methods
 *   (`SendMessage`, `GetTask`, `CancelTask`) with `A2A-Version: 1.0`; without it, 0.3's
 *   (`message/send`, `tasks/get`, `tasks/cancel`), translated by the SDK's compatibility layer;
 * - `POST /a2a/v1`: AGP envelopes (agp.ts).
 *
 * The JSON-RPC endpoint and the AGP endpoint authenticate every request by API key and count it
 * against the API's request limits (admit.ts); tasks are the key's organisation's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CancelTaskRequest } from '@a2a-js/sdk';
import { A2A_VERSION_HEADER, type Task, TaskState } from '@a2a-js/sdk';
import { LegacyJsonRpcTransportHandler } from '@a2a-js/sdk/compat/v0_3/server';
import { TaskNotCancelableError, TaskNotFoundError } from '@a2a-js/sdk/errors';
import {
  DefaultRequestHandler,
  JsonRpcTransportHandler,
  ServerCallContext,
  validateVersion,
} from '@a2a-js/sdk/server';
import { admit } from '../../api/admit-key.ts';
import type { ToolCaller } from '../../domain/tools/contract.ts';
import type { PublishedTool } from '../../domain/tools/network.ts';
import type { ToolQuota } from '../../domain/tools/quota.ts';
import { runTool } from '../../domain/tools/run.ts';
import {
  PayloadTooLargeError,
  type RequestContext,
  type Route,
  readBody,
  sendJson,
} from '../../platform/http.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { nestedTooDeep, STORABLE_DEPTH } from '../../platform/storable.ts';
import type { Services } from '../../wiring/services.ts';
import { AGP_PATH, agpHandler } from './agp.ts';
import { answerCache } from './cache.ts';
import { agentCard, CARD_PATH, cardJson, JSONRPC_PATH, legacyCardJson } from './card.ts';
import { publicExecutor } from './executor.ts';
import { failedOnOurSide, KeyUser, keyUserOf, PublicTaskStore } from './task-store.ts';

export interface PublicA2aOptions {
  tools: readonly PublishedTool[];
  quota?: ToolQuota;
}

/**
 * The SDK's request handler, but cancelling a task that books cancels its booking (through the
 * tool runner, as the key), since the task's state is the booking's.
 */
class PublicRequestHandler extends DefaultRequestHandler {
  private readonly cancelBooking: (task: Task, context: ServerCallContext) => Promise<void>;
  private readonly store: PublicTaskStore;
  constructor(
    card: ConstructorParameters<typeof DefaultRequestHandler>[0],
    store: PublicTaskStore,
    executor: ConstructorParameters<typeof DefaultRequestHandler>[2],
    cancelBooking: (task: Task, context: ServerCallContext) => Promise<void>,
  ) {
    super(card, store, executor, undefined, undefined, undefined, undefined, undefined, {
      // Nothing waits on a task's bus after its executor returns: tasks/get reads the booking.
      keepBusAliveStates: [],
    });
    this.store = store;
    this.cancelBooking = cancelBooking;
  }

  override async cancelTask(params: CancelTaskRequest, context: ServerCallContext): Promise<Task> {
    const task = await this.store.load(params.id, context);
    if (!task) throw new TaskNotFoundError(`Task not found: ${params.id}`);
    const booking = task.artifacts.find((a) => a.artifactId === 'booking');
    if (!booking) throw new TaskNotCancelableError('Only a task that books can be cancelled');
    // Asked again (the answer to the first lost): the task as it stands.
    if (task.status?.state === TaskState.TASK_STATE_CANCELED) return task;
    await this.cancelBooking(task, context);
    return (await this.store.load(params.id, context)) ?? task;
  }
}

export function publicA2aRoutes(services: Services, metrics: Metrics, options: PublicA2aOptions): Route[] {
  const card = agentCard(services.config.http.publicUrl);
  const store = new PublicTaskStore(services.db);
  const toolDeps = {
    db: services.db,
    timeoutMs: services.config.llm.toolTimeoutMs,
    quota: options.quota,
  };
  const executor = publicExecutor({ ...toolDeps, store, tools: options.tools, now: services.now });
  const cancelTool = options.tools.find((t) => t.name === 'agnt.cancel_booking')?.tool;

  const handler = new PublicRequestHandler(card, store, executor, async (task, context) => {
    const user = keyUserOf(context);
    const bookingId = (
      task.artifacts.find((a) => a.artifactId === 'booking')?.parts[0]?.content as
        | { value: { bookingId: string } }
        | undefined
    )?.value.bookingId;
    const caller: ToolCaller = {
      userId: user.actor.userId,
      actor: user.actor,
      channel: 'a2a',
      agentId: null,
      now: services.now,
      logger: user.logger,
    };
    const result = await runTool(
      toolDeps,
      'agnt.cancel_booking',
      cancelTool,
      { booking_id: bookingId },
      caller,
    );
    if (result.outcome !== 'OK') throw new TaskNotCancelableError(result.error ?? 'Not cancelled');
  });
  const jsonRpc = new JsonRpcTransportHandler(handler);
  const legacy = new LegacyJsonRpcTransportHandler(handler);

  const cardRoute = (req: IncomingMessage, res: ServerResponse) => {
    const version = header(req, A2A_VERSION_HEADER);
    const body = isLegacy(version) ? legacyCardJson(card) : cardJson(card);
    sendJson(res, 200, body, { 'cache-control': 'public, max-age=300', vary: A2A_VERSION_HEADER });
  };

  const rpc = async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const rpcError = (status: number, code: number, message: string, headers?: Record<string, string>) =>
      sendJson(res, status, { jsonrpc: '2.0', id: null, error: { code, message } }, headers);
    const actor = await admit(services, metrics, req, res, ctx, (_res, status, refusal) =>
      rpcError(status, -32000, refusal.message, refusal.headers),
    );
    if (!actor) return;
    let body: Record<string, unknown>;
    try {
      const raw = await readBody(req, services.config.http.bodyLimitBytes);
      body = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      if (error instanceof PayloadTooLargeError) return rpcError(413, -32600, error.message);
      return rpcError(200, -32700, 'Parse error: the body is not JSON');
    }
    const version = header(req, A2A_VERSION_HEADER);
    const useLegacy = isLegacy(version);
    const mapError = useLegacy
      ? LegacyJsonRpcTransportHandler.mapToLegacyJSONRPCError
      : JsonRpcTransportHandler.mapToJSONRPCError;
    const id = (body && typeof body === 'object' && (body as { id?: unknown }).id) ?? null;
    const problem = paramsProblem(body);
    if (problem) {
      return sendJson(res, 200, {
        jsonrpc: '2.0',
        id,
        error: { code: INVALID_PARAMS, message: `Invalid params: ${problem}` },
      });
    }
    try {
      const context = new ServerCallContext({
        user: new KeyUser(actor, ctx.logger.child({ 'apiKey.id': actor.apiKeyId }), ctx.requestId),
        requestedVersion: version,
      });
      validateVersion(context.requestedVersion, card, 'JSONRPC');
      const answer = await (useLegacy ? legacy : jsonRpc).handle(body, context);
      if (typeof (answer as AsyncGenerator)[Symbol.asyncIterator] === 'function') {
        // The card offers no streaming; the SDK refuses streaming methods on the first event.
        const stream = answer as AsyncGenerator<unknown>;
        try {
          const first = await stream.next();
          sendJson(res, 200, first.value ?? { jsonrpc: '2.0', id, result: null });
        } finally {
          await stream.return(undefined);
        }
        return;
      }
      sendJson(res, 200, withoutInternals(answer, ctx));
    } catch (error) {
      const mapped = mapError(error);
      // A2A's own errors (no such task, not cancelable, …) are answers; anything else is our failure.
      if (mapped.code === INTERNAL_ERROR) ctx.logger.error({ err: error }, 'public A2A request failed');
      sendJson(res, 200, { jsonrpc: '2.0', id, error: maskedInternal(mapped, ctx) });
    }
  };

  return [
    { method: 'GET', path: CARD_PATH, handler: cardRoute },
    { method: 'POST', path: JSONRPC_PATH, handler: rpc },
    {
      method: 'POST',
      path: AGP_PATH,
      handler: agpHandler(services, metrics, {
        tools: options.tools,
        quota: options.quota,
        cache: answerCache(services.redis),
      }),
    },
  ];
}

/** JSON-RPC's "internal error": our failure, not the caller's. */
const INTERNAL_ERROR = -32603;
const INVALID_PARAMS = -32602;

/**
 * What is wrong with a request's parameters that the SDK would take for a failure of ours (it
 * reads them as their types, and a number for a task's id threw "taskId.trim is not a function",
 * answered "failed on our side"), or null.
 */
function paramsProblem(body: unknown): string | null {
  if (nestedTooDeep(body)) return `nested more than ${STORABLE_DEPTH} levels deep`;
  const params = (body as { params?: unknown } | null)?.params;
  if (params === undefined) return null;
  if (!params || typeof params !== 'object' || Array.isArray(params)) return 'params: an object is required';
  const { id, message, configuration } = params as Record<string, unknown>;
  if (id !== undefined && typeof id !== 'string') return 'id: a string is required';
  if (message !== undefined && (!message || typeof message !== 'object' || Array.isArray(message))) {
    return 'message: an object is required';
  }
  if (configuration !== undefined) {
    if (!configuration || typeof configuration !== 'object') return 'configuration: an object is required';
    const modes = (configuration as { acceptedOutputModes?: unknown }).acceptedOutputModes;
    if (modes !== undefined && !(Array.isArray(modes) && modes.every((mode) => typeof mode === 'string'))) {
      return 'configuration.acceptedOutputModes: a list of strings is required';
    }
  }
  return null;
}

/**
 * The SDK answers a failure of ours (a statement that failed, say) as an internal error carrying
 * the failure's own message, which may name our queries and tables: the caller is told only that
 * it failed and the request id; the message is logged under that id.
 */
function maskedInternal<E extends { code: number; message: string }>(error: E, ctx: RequestContext): E {
  if (error.code !== INTERNAL_ERROR) return error;
  return {
    ...error,
    message: failedOnOurSide(ctx.requestId),
    data: undefined,
  };
}

/** A JSON-RPC answer, with an internal error in it masked (and logged). */
function withoutInternals(answer: unknown, ctx: RequestContext): unknown {
  const error = (answer as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (!error || error.code !== INTERNAL_ERROR) return answer;
  ctx.logger.error({ 'rpc.error': error.message }, 'public A2A request failed');
  return { ...(answer as object), error: maskedInternal(error as { code: number; message: string }, ctx) };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.trim() || undefined;
}

/** No version, or one below 1.0, is A2A 0.3 (the SDK's own rule). */
function isLegacy(version: string | undefined): boolean {
  if (!version) return true;
  const major = Number.parseInt(version, 10);
  return Number.isFinite(major) && major < 1;
}
