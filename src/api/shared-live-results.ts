/**
 * Live updates executed once per process, not once per subscriber.
 *
 * A venue's team of a thousand people all subscribed to `bookingChanged` would, per change, each
 * run their own GraphQL execution of the same event (the booking read, Pothos' fields and scopes,
 * the result): the delivery time grew with the subscribers of a process. Their results are the
 * same whenever the subscription only admits people with the same rights over what it sends
 * (every subscriber of `bookingChanged(venueId)` is that venue's team, checked before each event)
 * and the selection asks only for fields whose value does not depend on who asks. Then the first
 * subscriber of a process to reach an event executes it, and every other subscriber with the same
 * document and variables is handed that same result object, which graphql-ws then writes.
 *
 * Everything else keeps its own execution: other subscriptions, selections with a field outside
 * the list below (`allowedTransitions` depends on the viewer's role and whether they are the
 * guest; `venue` on what the viewer may see of it), and a subscriber's own refusal (`REVOKED`).
 * Each subscriber still checks its own right to the events (the subscription field's
 * `whileAllowed`).
 *
 * A shared result is also serialised once: graphql-ws would turn it into text for each
 * subscriber, and `sharedResultText` gives websocket.ts the text written the first time.
 *
 * And a shared result without errors is written to a WebSocket subscriber's socket here, by the
 * `LiveDelivery` websocket.ts puts in the context, rather than handed up through Yoga's hooks and
 * graphql-ws' loop, which cost about as much again per subscriber as the write itself. The hooks
 * it skips have nothing to do for such a result today (error masking, the trace's error mark); a
 * plugin added later that must see every subscription result must be given one here too. A
 * result with errors, a subscriber's own, and any subscriber without a delivery (HTTP's event
 * streams) still go the whole way through every plugin.
 */
import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  type FragmentDefinitionNode,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * Subscription fields whose subscribers all hold the same rights over every event they receive,
 * and for each, the fields (by name, at any depth) whose value is the same for all of them.
 */
const SHAREABLE: Record<string, ReadonlySet<string>> = {
  bookingChanged: new Set([
    '__typename',
    'id',
    'partySize',
    'startsAt',
    'endsAt',
    'status',
    'source',
    'specialRequests',
    // The venue's team only: every subscriber of bookingChanged is its team.
    'notes',
    'guestName',
    'guestEmail',
    'expiresAt',
    'createdAt',
    'updatedAt',
    // BookingTransition and BookingFeedback: plain columns.
    'history',
    'from',
    'to',
    'by',
    'reason',
    'at',
    'feedback',
    'score',
    'comment',
  ]),
};

/** A number for each document (Yoga parses a query text once and caches it), for the keys below. */
const documentIds = new WeakMap<DocumentNode, number>();
let documentCount = 0;
function documentId(document: DocumentNode): number {
  let id = documentIds.get(document);
  if (id === undefined) {
    id = ++documentCount;
    documentIds.set(document, id);
  }
  return id;
}

/** The results executed so far for each event, by document and variables. */
const executed = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();
/** Results handed to more than one subscriber, and their `next` payload as JSON once written. */
const sharedResults = new WeakSet<object>();
const sharedTexts = new WeakMap<object, string>();

/**
 * A shared result's payload as graphql-ws writes it (`next`'s payload: the result, its errors
 * as JSON), serialised once per process for all its subscribers; undefined for a result of one
 * subscriber's own (another plugin's copy of a shared one is its own too).
 */
export function sharedResultText(result: ExecutionResult): string | undefined {
  if (!sharedResults.has(result)) return undefined;
  let text = sharedTexts.get(result);
  if (text === undefined) {
    const { errors, ...rest } = result;
    text = JSON.stringify({ ...rest, ...(errors ? { errors: errors.map((e) => e.toJSON()) } : {}) });
    sharedTexts.set(result, text);
  }
  return text;
}

/**
 * Writes a `next` message with a shared result's payload text straight to one subscriber's
 * socket; false when it did not (the socket is closing, or still holds much unsent), and the
 * result goes the usual way, where graphql-ws waits for each write before the next event.
 */
export interface LiveDelivery {
  next(payloadText: string): boolean;
}

/**
 * Whether each operation of each document (parsed once and cached by Yoga) may share its results:
 * by operation name, since one document may hold several operations that select differently.
 */
const shareableDocuments = new WeakMap<DocumentNode, Map<string, boolean>>();

export function sharedLiveResults(): Plugin {
  return {
    onSubscribe({ args, setSubscribeFn }) {
      if (!isShareable(args.document, args.operationName)) return;
      setSubscribeFn(subscribeShared);
    },
  };
}

async function subscribeShared(args: ExecutionArgs) {
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in source)) return source;
  // Two documents of one name (two versions of an app) select differently: the document is in the key.
  const key = `${documentId(args.document)}\n${args.operationName ?? ''}\n${JSON.stringify(args.variableValues ?? {})}`;
  const events = source[Symbol.asyncIterator]();
  const run = (event: unknown) => execute({ ...args, rootValue: event }) as Promise<ExecutionResult>;
  const delivery = (args.contextValue as { liveDelivery?: LiveDelivery } | undefined)?.liveDelivery;
  // Ended by graphql-ws (the subscriber completed it, or left): nothing more is written for it.
  let ended = false;
  const mapped: AsyncIterableIterator<ExecutionResult> = {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      for (;;) {
        const next = await events.next();
        if (next.done) return { done: true, value: undefined };
        const event = next.value as unknown;
        // A subscriber's own refusal (a symbol) is executed for it alone.
        if (typeof event !== 'object' || event === null) return { done: false, value: await run(event) };
        let results = executed.get(event);
        if (!results) {
          results = new Map();
          executed.set(event, results);
        }
        let result = results.get(key);
        if (!result) {
          result = run(event).then((value) => {
            sharedResults.add(value);
            return value;
          });
          results.set(key, result);
        }
        const value = await result;
        if (ended) return { done: true, value: undefined };
        // Written here, this subscriber waits for the next event; otherwise it goes up the usual way.
        if (delivery && !value.errors?.length && delivery.next(sharedResultText(value)!)) continue;
        return { done: false, value };
      }
    },
    async return() {
      ended = true;
      await events.return?.();
      return { done: true, value: undefined };
    },
  };
  return mapped;
}

function isShareable(document: DocumentNode, operationName: string | null | undefined): boolean {
  let operations = shareableDocuments.get(document);
  if (!operations) {
    operations = new Map();
    shareableDocuments.set(document, operations);
  }
  const name = operationName ?? '';
  const known = operations.get(name);
  if (known !== undefined) return known;
  const shareable = judge(document, operationName);
  operations.set(name, shareable);
  return shareable;
}

function judge(document: DocumentNode, operationName: string | null | undefined): boolean {
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (operation?.operation !== 'subscription') return false;
  const [root, ...others] = operation.selectionSet.selections;
  if (!root || others.length || root.kind !== Kind.FIELD || root.alias) return false;
  const fields = SHAREABLE[root.name.value];
  if (!fields || !root.selectionSet) return false;
  const fragments = new Map(
    document.definitions
      .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
      .map((f) => [f.name.value, f]),
  );
  const seen = new Set<string>();
  const within = (set: SelectionSetNode): boolean =>
    set.selections.every((selection) => {
      switch (selection.kind) {
        case Kind.FIELD:
          return (
            fields.has(selection.name.value) &&
            !selection.arguments?.length &&
            (!selection.selectionSet || within(selection.selectionSet))
          );
        case Kind.INLINE_FRAGMENT:
          return within(selection.selectionSet);
        case Kind.FRAGMENT_SPREAD: {
          const fragment = fragments.get(selection.name.value);
          if (!fragment) return false;
          if (seen.has(fragment.name.value)) return true;
          seen.add(fragment.name.value);
          return within(fragment.selectionSet);
        }
        default:
          return false;
      }
    });
  return within(root.selectionSet);
}
