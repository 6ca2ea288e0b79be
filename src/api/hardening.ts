/**
 * Limits that reject abusive operations before any resolver runs: GraphQL Armor (depth, cost,
 * aliases, directives, tokens, field suggestions), the cost again with the operation's variables
 * (cost.ts), a character limit on the document, a rule that sensitive mutations travel alone, and
 * introspection (with every suggestion that would leak the schema) switched off where configured.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import {
  type ASTVisitor,
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config/index.ts';
import { holdsUnstorableText } from '../platform/storable.ts';
import { costWithVariablesLimit } from './cost.ts';

/**
 * Mutations that guess or mint secrets. Sent several at once (aliases, fragments) they would turn
 * one rate-limited request into many attempts, so each must be the only field of its operation.
 */
export const UNBATCHABLE_MUTATIONS = new Set([
  'requestSignInCode',
  'signInWithCode',
  'refreshSession',
  'createApiKey',
]);

export function hardeningPlugins(config: Config['graphql']): Plugin[] {
  return [
    characterLimit(config.maxCharacters),
    EnvelopArmorPlugin({
      maxDepth: {
        n: config.maxDepth,
        flattenFragments: true,
        ignoreIntrospection: true,
        exposeLimits: false,
        ...reportedAsValidationError(),
      },
      // Fragments priced as if written inline (each spread still counts): unflattened, Armor
      // charges every spread as an extra nesting level, so a Relay-style query of one fragment
      // per level cost ~400 times its inline twin and was refused at depths well within limits.
      costLimit: {
        maxCost: config.maxCost,
        flattenFragments: true,
        ignoreIntrospection: true,
        exposeLimits: false,
        ...reportedAsValidationError(),
      },
      maxAliases: {
        n: config.maxAliases,
        allowList: [],
        exposeLimits: false,
        ...reportedAsValidationError(),
      },
      maxDirectives: { n: config.maxDirectives, exposeLimits: false, ...reportedAsValidationError() },
      // Counted while parsing: a refusal is a parse failure (GRAPHQL_PARSE_FAILED, HTTP 400).
      maxTokens: { n: config.maxTokens, exposeLimits: false },
      blockFieldSuggestion: { enabled: !config.introspection },
    }) as Plugin,
    // Armor prices the document alone; priced again with its variables when it is about to run.
    costWithVariablesLimit(config.maxCost),
    validationRules([
      unbatchableMutationsRule,
      storableStringsRule,
      ...(config.introspection ? [] : [NoSchemaIntrospectionCustomRule]),
    ]),
    storableVariables(),
    ...(config.introspection ? [] : [withoutSuggestions()]),
  ];
}

/**
 * PostgreSQL's text and jsonb cannot hold NUL (U+0000), nor jsonb an unpaired UTF-16 surrogate,
 * both of which JSON and GraphQL strings can carry (`\u0000`, `\ud800`): written as a name, a
 * message or an agent's persona they failed the write, and the client was answered "Unexpected
 * error." with nothing changed. A string argument holding one is refused before anything runs,
 * naming where it is: in the document by this rule, in the variables by storableVariables.
 */
export function storableStringsRule(context: ValidationContext): ASTVisitor {
  return {
    StringValue(node) {
      if (holdsUnstorableText(node.value))
        context.reportError(new GraphQLError(TEXT_REFUSAL, { nodes: [node] }));
    },
  };
}

const TEXT_REFUSAL = 'Text cannot contain the NUL character (U+0000) or an unpaired surrogate';
/** Deeper than any input of the schema; the cost and depth limits keep documents far shallower. */
const VARIABLES_DEPTH = 32;

/** The path (`$input.names[2]`) of the first string in `value` that is not storable, or null. */
function unstorablePath(value: unknown, path: string, depth: number): string | null {
  if (typeof value === 'string') return holdsUnstorableText(value) ? path : null;
  if (!value || typeof value !== 'object' || depth > VARIABLES_DEPTH) return null;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = unstorablePath(item, `${path}[${index}]`, depth + 1);
      if (found) return found;
    }
    return null;
  }
  for (const [key, item] of Object.entries(value)) {
    const found = unstorablePath(item, `${path}.${key}`, depth + 1);
    if (found) return found;
  }
  return null;
}

function storableVariables(): Plugin {
  const refusal = (variables: unknown) => {
    if (!variables || typeof variables !== 'object') return null;
    for (const [name, value] of Object.entries(variables)) {
      const path = unstorablePath(value, `$${name}`, 0);
      if (path) {
        return {
          errors: [
            new GraphQLError(`Variable "${path}": ${TEXT_REFUSAL}`, {
              extensions: { code: 'BAD_USER_INPUT' },
            }),
          ],
        };
      }
    }
    return null;
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = refusal(args.variableValues);
      if (refused) setResultAndStopExecution(refused);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refused = refusal(args.variableValues);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}

/**
 * With introspection off, no error may name what the schema holds. Armor's mask only rewrites
 * validation messages of the form `Did you mean "x"?`; it misses `Did you mean the enum value "X"?`
 * and every suggestion made while coercing variables. graphql-js leaves them out at the source when
 * asked (`hideSuggestions`), but @graphql-tools/executor 2.1 does not pass that on when it coerces
 * variables with graphql-js, so results are also scrubbed.
 */
function withoutSuggestions(): Plugin {
  const scrub = (result: unknown) => {
    if (!result || typeof result !== 'object' || Symbol.asyncIterator in result) return;
    for (const error of (result as { errors?: readonly GraphQLError[] }).errors ?? []) {
      error.message = error.message.replace(/\s*Did you mean [^?]*\?/g, '');
    }
  };
  return {
    onValidate({ validateFn, setValidationFn }) {
      setValidationFn((schema, document, rules, options, typeInfo) =>
        validateFn(schema, document, rules, { ...options, hideSuggestions: true }, typeInfo),
      );
    },
    onExecute({ executeFn, setExecuteFn }) {
      // graphql's ExecutionArgs has `hideSuggestions`; Envelop's copy of the type does not yet.
      setExecuteFn((args) => executeFn(Object.assign({}, args, { hideSuggestions: true })));
      return { onExecuteDone: ({ result }) => scrub(result) };
    },
    onSubscribe({ subscribeFn, setSubscribeFn }) {
      setSubscribeFn((args) => subscribeFn(Object.assign({}, args, { hideSuggestions: true })));
      return { onSubscribeResult: ({ result }) => scrub(result) };
    },
  };
}

/**
 * Armor's validation rules throw their refusal by default, which Yoga answers like a failed
 * execution: HTTP 200 whatever the client accepts, and no error code. Reported to the validation
 * context instead, a refusal is a validation error like an unknown field: GRAPHQL_VALIDATION_FAILED,
 * and 400 for clients that accept application/graphql-response+json.
 */
function reportedAsValidationError() {
  return {
    propagateOnRejection: false,
    onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
  };
}

/**
 * Checked where the document is parsed, before any token is read, so it holds wherever Yoga's
 * envelop runs: HTTP requests and graphql-ws operations alike (a Yoga `onParams` hook would only
 * see HTTP).
 */
function characterLimit(max: number): Plugin {
  return {
    onParse({ params }) {
      const source = typeof params.source === 'string' ? params.source : params.source.body;
      if (source.length > max) {
        // `http.spec`: 400 for GraphQL-over-HTTP clients, 200 for plain JSON ones, as Yoga
        // answers its own request errors.
        throw new GraphQLError(`Syntax Error: Query Character limit of ${max} exceeded.`, {
          extensions: { code: 'BAD_USER_INPUT', http: { status: 400, spec: true } },
        });
      }
    },
  };
}

function validationRules(rules: ValidationRule[]): Plugin {
  return {
    onValidate({ addValidationRule }) {
      for (const rule of rules) addValidationRule(rule);
    },
  };
}

export function unbatchableMutationsRule(context: ValidationContext): ASTVisitor {
  return {
    OperationDefinition(operation) {
      if (operation.operation !== 'mutation') return;
      const fields = rootFieldNames(context, operation.selectionSet, new Set());
      const sensitive = fields.find((name) => UNBATCHABLE_MUTATIONS.has(name));
      if (sensitive && fields.length > 1) {
        context.reportError(
          new GraphQLError(`${sensitive} must be the only field of its operation`, { nodes: [operation] }),
        );
      }
    },
  };
}

/** Root field names of an operation, following fragment spreads and inline fragments. */
function rootFieldNames(context: ValidationContext, set: SelectionSetNode, seen: Set<string>): string[] {
  const names: string[] = [];
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value !== '__typename') names.push(selection.name.value);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      names.push(...rootFieldNames(context, selection.selectionSet, seen));
    } else {
      const name = selection.name.value;
      if (seen.has(name)) continue;
      seen.add(name);
      const fragment = context.getFragment(name);
      if (fragment) names.push(...rootFieldNames(context, fragment.selectionSet, seen));
    }
  }
  return names;
}
