/**
 * The typed errors mutations return. Each domain error class becomes a GraphQL object implementing
 * the shared `Error` interface, so clients can always select `... on Error { message }`.
 */

import type { ObjectFieldsShape } from '@pothos/core';
import {
  AuthenticationError,
  ConflictError,
  type DomainError,
  NotAllowedError,
  NotFoundError,
  RateLimitedError,
  ValidationError,
} from '../../platform/errors.ts';
import { builder } from '../builder.ts';

export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  description: 'An expected failure of a mutation. Every error type implements it.',
  fields: (t) => ({
    message: t.exposeString('message'),
  }),
});

/**
 * Makes a domain error class a GraphQL object under the `Error` interface, so a field's result
 * union can hold it; `fields` are what it says beyond its message.
 */
export function errorType<T extends DomainError>(
  cls: new (...args: never[]) => T,
  name: string,
  description: string,
  fields: ObjectFieldsShape<typeof builder.$inferSchemaTypes, T> = () => ({}),
) {
  builder.objectType(cls, {
    name,
    description,
    // T is a DomainError, as the interface needs; Pothos cannot see that through the generic.
    interfaces: [ErrorInterface] as never,
    isTypeOf: (e) => e instanceof cls,
    fields,
  });
}

errorType(
  ValidationError,
  'ValidationError',
  'The input broke a rule. `message` is a sentence to show a person; `field` is the path of the field at fault in the input as sent (`socialHandles.0.handle`), or null when no single field is.',
  (t) => ({ field: t.exposeString('field', { nullable: true }) }),
);
errorType(NotFoundError, 'NotFoundError', 'What the input names does not exist, or is not visible to you.');
errorType(NotAllowedError, 'NotAllowedError', 'You may not do this to this object.');
errorType(ConflictError, 'ConflictError', 'The change clashes with the current state.');
errorType(AuthenticationError, 'AuthenticationError', 'The credentials given are wrong or expired.');
errorType(
  RateLimitedError,
  'RateLimitedError',
  'Too many attempts. Try again after `retryAfterSeconds`.',
  (t) => ({
    retryAfterSeconds: t.exposeInt('retryAfterSeconds'),
  }),
);

/** The errors nearly every mutation can return. */
export const commonErrors = [ValidationError, NotFoundError, NotAllowedError, ConflictError];
