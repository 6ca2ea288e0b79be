/**
 * Organisations made the way a person makes one, through the `createOrganization` mutation, so
 * the caller is its OWNER with everything the API sets up around that.
 */
import type { TestApp } from '../helpers/app.ts';
import { tag } from './people.ts';

// A plain string, not a codegen document: the factory reads one id and nothing more.
const CREATE_ORGANIZATION = `mutation FactoryCreateOrganization($name: String!) {
  createOrganization(input: { name: $name }) {
    __typename
    ... on OrganizationPayload { organization { id } }
    ... on Error { message }
  }
}`;

/** Creates an organisation as the holder of `token`; returns its global id. */
export async function createOrganizationAs(
  app: TestApp,
  token: string,
  name = `Organisation ${tag()}`,
): Promise<string> {
  const created = await app.gql<
    { createOrganization: { __typename: string; organization?: { id: string } } },
    { name: string }
  >(CREATE_ORGANIZATION, { name }, { token });
  const result = created.data?.createOrganization;
  if (result?.__typename !== 'OrganizationPayload' || !result.organization) {
    throw new Error(`could not create an organisation:\n${JSON.stringify(created.body, null, 2)}`);
  }
  return result.organization.id;
}
