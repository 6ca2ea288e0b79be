/**
 * What an operation costs as it will run: GraphQL Armor's cost (src/api/hardening.ts) priced with
 * the values it runs with. Armor checks the document while it is validated, before any variable
 * is known, so it multiplies a list only by a page size written in the document (`first: 100`):
 * one given as a variable (`first: $n`), one left to the field's default, and the ids of `nodes`
 * each counted once, and a document Armor let through could ask for a million rows. Priced here
 * when the operation is about to run, with its variables, on the same scale (an object 2, a scalar
 * 1, a level 1.5 times its parent, fragments as if inline, every spread counted), an operation
 * over GRAPHQL_MAX_COST is refused before any resolver runs.
 */
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type FragmentSpreadNode,
  GraphQLError,
  type GraphQLNamedType,
  type GraphQLSchema,
  getNamedType,
  type InlineFragmentNode,
  isCompositeType,
  Kind,
  type OperationDefinitionNode,
  type ValueNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

const OBJECT_COST = 2;
const SCALAR_COST = 1;
const DEPTH_FACTOR = 1.5;
/** What a connection gives without `first` or `last` (Pothos' default page size). */
export const DEFAULT_PAGE_SIZE = 20;

type Variables = Readonly<Record<string, unknown>> | null | undefined;

/**
 * The cost of the operation `operationName` (or the document's only one) of `document` with
 * `variables`. A connection given no page size (or a variable left null) counts its default page;
 * any other list, once.
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Variables,
): number {
  return priceOperation(schema, document, operationName, variables).cost;
}

/** The cost, and whether a variable's value went into it (else it is the document's alone). */
function priceOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Variables,
): { cost: number; byVariables: boolean } {
  let byVariables = false;
  const times = (field: FieldNode, type: GraphQLNamedType | null | undefined) => {
    const found = multiplier(field, type, variables);
    byVariables ||= found.byVariable;
    return found.times;
  };
  const fragments = new Map<string, FragmentDefinitionNode>();
  let operation: OperationDefinitionNode | undefined;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    else if (
      definition.kind === Kind.OPERATION_DEFINITION &&
      (!operationName || definition.name?.value === operationName)
    ) {
      operation ??= definition;
    }
  }
  if (!operation) return { cost: 0, byVariables };
  const root =
    operation.operation === 'query'
      ? schema.getQueryType()
      : operation.operation === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  if (!root) return { cost: 0, byVariables };

  // Armor's walk, step for step, but for the multiplier: a fragment is priced where it is first
  // spread and each later spread costs 1.5 times that; -1 while it is being priced.
  const priced = new Map<string, number>();
  const complexity = (
    node:
      | OperationDefinitionNode
      | FieldNode
      | InlineFragmentNode
      | FragmentSpreadNode
      | FragmentDefinitionNode,
    parent: GraphQLNamedType | null | undefined,
  ): number => {
    if (node.kind === Kind.OPERATION_DEFINITION) {
      return node.selectionSet.selections.reduce((sum, child) => sum + complexity(child, parent), 0);
    }
    if (node.kind === Kind.FIELD && node.name.value === '__schema') return 0;
    let cost = SCALAR_COST;
    if ('selectionSet' in node && node.selectionSet) {
      cost = OBJECT_COST;
      const type = typeWithin(schema, node, parent);
      for (const child of node.selectionSet.selections) {
        cost += child.kind === Kind.FIELD ? DEPTH_FACTOR * complexity(child, type) : complexity(child, type);
      }
      if (node.kind === Kind.FIELD) cost *= times(node, type);
    } else if (node.kind === Kind.FRAGMENT_SPREAD) {
      const name = node.name.value;
      if (priced.has(name)) return cost + DEPTH_FACTOR * (priced.get(name) ?? 0);
      priced.set(name, -1);
      const fragment = fragments.get(name);
      if (fragment) {
        const fragmentCost = complexity(fragment, parent);
        cost += fragmentCost;
        if (priced.get(name) === -1) priced.set(name, fragmentCost);
      }
    }
    return cost;
  };
  const cost = complexity(operation, root);
  return { cost, byVariables };
}

/** The type a node's own selection is made on. */
function typeWithin(
  schema: GraphQLSchema,
  node: FieldNode | InlineFragmentNode | FragmentDefinitionNode,
  parent: GraphQLNamedType | null | undefined,
): GraphQLNamedType | null | undefined {
  if (node.kind === Kind.FIELD) {
    const fields =
      parent && isCompositeType(parent) && 'getFields' in parent ? parent.getFields() : undefined;
    const definition = fields?.[node.name.value];
    return definition ? getNamedType(definition.type) : undefined;
  }
  return node.typeCondition ? schema.getType(node.typeCondition.name.value) : parent;
}

/** How many times a field's selection runs (its page size, or the ids it is given), and whether a variable said so. */
function multiplier(
  field: FieldNode,
  type: GraphQLNamedType | null | undefined,
  variables: Variables,
): { times: number; byVariable: boolean } {
  const argument = (name: string) => field.arguments?.find((a) => a.name.value === name)?.value;
  const pageSize = argument('first') ?? argument('last');
  const ids = argument('ids');
  const given = pageSize ?? ids;
  const byVariable = given?.kind === Kind.VARIABLE;
  const times = pageSize ? intOf(pageSize, variables) : ids ? lengthOf(ids, variables) : null;
  if (times !== null) return { times: Math.max(times, 1), byVariable };
  // No size (or a variable left null): a connection gives its default page.
  return { times: type?.name.endsWith('Connection') ? DEFAULT_PAGE_SIZE : 1, byVariable };
}

function intOf(value: ValueNode, variables: Variables): number | null {
  if (value.kind === Kind.INT) return Number.parseInt(value.value, 10);
  if (value.kind === Kind.VARIABLE) {
    const given = variables?.[value.name.value];
    return typeof given === 'number' && Number.isFinite(given) ? given : null;
  }
  return null;
}

function lengthOf(value: ValueNode, variables: Variables): number | null {
  if (value.kind === Kind.LIST) return value.values.length;
  if (value.kind === Kind.VARIABLE) {
    const given = variables?.[value.name.value];
    return Array.isArray(given) ? given.length : given === undefined || given === null ? null : 1;
  }
  return null;
}

/**
 * Refuses, before it runs, an operation whose cost with its variables is over `maxCost`: the
 * refusal reads as Armor's ("Query validation error.", limits not disclosed). A document whose cost
 * no variable changes is priced once (parsed documents are cached, so the same object comes back).
 */
export function costWithVariablesLimit(maxCost: number): Plugin {
  const fixed = new WeakMap<DocumentNode, Map<string, number>>();
  const over = (args: {
    schema: GraphQLSchema;
    document: DocumentNode;
    operationName?: string | null;
    variableValues?: Variables;
  }) => {
    const name = args.operationName ?? '';
    const known = fixed.get(args.document)?.get(name);
    if (known !== undefined) return known > maxCost;
    const { cost, byVariables } = priceOperation(
      args.schema,
      args.document,
      args.operationName,
      args.variableValues,
    );
    if (!byVariables) {
      const costs = fixed.get(args.document) ?? new Map<string, number>();
      costs.set(name, cost);
      fixed.set(args.document, costs);
    }
    return cost > maxCost;
  };
  const refusal = () => ({
    errors: [
      new GraphQLError('Query validation error.', { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }),
    ],
  });
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (over(args)) setResultAndStopExecution(refusal());
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      if (over(args)) setResultAndStopExecution(refusal());
    },
  };
}
