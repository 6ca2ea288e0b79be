/**
 * Limits that reject abusive operations before any resolver runs: GraphQL Armor (depth, cost,
 * aliases, directives, tokens, field suggestions), a character limit on the document, a rule that
 * sensitive mutations travel alone, and introspection switched off where configured.
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
import type { Config } from '../config.ts';

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
      },
      costLimit: { maxCost: config.maxCost, ignoreIntrospection: true, exposeLimits: false },
      maxAliases: { n: config.maxAliases, allowList: [], exposeLimits: false },
      maxDirectives: { n: config.maxDirectives, exposeLimits: false },
      maxTokens: { n: config.maxTokens, exposeLimits: false },
      blockFieldSuggestion: { enabled: !config.introspection },
    }) as Plugin,
    validationRules([
      unbatchableMutationsRule,
      ...(config.introspection ? [] : [NoSchemaIntrospectionCustomRule]),
    ]),
  ];
}

function characterLimit(max: number): Plugin {
  return {
    onParams({ params, setResult }) {
      if (typeof params.query === 'string' && params.query.length > max) {
        setResult({
          errors: [
            new GraphQLError(`Syntax Error: Query Character limit of ${max} exceeded.`, {
              extensions: { code: 'BAD_USER_INPUT' },
            }),
          ],
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
