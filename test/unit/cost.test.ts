/**
 * The cost priced with variables (src/api/cost.ts) is GraphQL Armor's for a document that says
 * everything itself, and the same document with its page sizes and ids given as variables, or a
 * page left to its default size, costs what it will run.
 */
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PAGE_SIZE, operationCost } from '../../src/api/cost.ts';
import { schema } from '../../src/api/schema.ts';

/** Armor's price of `source` as the API configures it (fragments flattened). */
function armorCost(source: string): number {
  const costs: number[] = [];
  const errors = validate(schema, parse(source), [
    costLimitRule({
      maxCost: Number.MAX_SAFE_INTEGER,
      flattenFragments: true,
      ignoreIntrospection: true,
      onAccept: [(_context, { n }) => costs.push(n)],
    }),
  ]);
  expect(errors).toEqual([]);
  return costs[0]!;
}

const cost = (source: string, variables: Record<string, unknown> = {}) =>
  operationCost(schema, parse(source), null, variables);

const DOCUMENTS = [
  '{ viewer { id email memberships { role organization { name } } } }',
  'mutation { createOrganization(input: { name: "x" }) { ... on OrganizationPayload { organization { members(first: 634) { totalCount } } } } }',
  `mutation { createOrganization(input: { name: "x" }) { ... on OrganizationPayload { organization { ...M ...M } } } }
   fragment M on Organization { members(first: 7) { edges { node { role user { id } } } } }`,
  `query { venues(text: "grill", first: 20) { totalCount edges { distanceMeters node { name cuisines openingHours { weekday opensAt closesAt } agent { name } } } } }`,
  `query { node(id: "x") { ... on Organization { name venues(first: 5) { edges { node { ...V } } } } } }
   fragment V on Venue { name bookings(first: 10) { edges { node { id status } } } }`,
];

describe('the cost with variables', () => {
  it('is Armor’s for a document that writes its page sizes', () => {
    for (const source of DOCUMENTS) expect(cost(source), source).toBeCloseTo(armorCost(source), 6);
  });

  it('takes a page size or the ids from the variables, and a connection’s default page without one', () => {
    const written = DOCUMENTS[1]!;
    const byVariable = written
      .replace('mutation {', 'mutation ($n: Int) {')
      .replace('first: 634', 'first: $n');
    expect(cost(byVariable, { n: 634 })).toBeCloseTo(armorCost(written), 6);
    // Armor, blind to the variable, counts that page once.
    expect(armorCost(byVariable)).toBeLessThan(cost(byVariable, { n: 634 }) / 100);

    const defaulted = written.replace('members(first: 634)', 'members');
    expect(cost(defaulted)).toBeCloseTo(cost(written.replace('634', String(DEFAULT_PAGE_SIZE))), 6);
    // A page size variable left null is the default page too.
    expect(cost(byVariable, { n: null })).toBeCloseTo(cost(defaulted), 6);
    expect(cost(byVariable, {})).toBeCloseTo(cost(defaulted), 6);

    const nodes = 'query ($ids: [ID!]!) { nodes(ids: $ids) { id } }';
    expect(cost(nodes, { ids: ['a', 'b', 'c'] })).toBe(3 * cost(nodes, { ids: ['a'] }));
    expect(cost('{ nodes(ids: ["a", "b", "c"]) { id } }')).toBe(cost(nodes, { ids: ['a', 'b', 'c'] }));
  });
});
