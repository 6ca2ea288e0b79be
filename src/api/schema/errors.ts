/**
 * The typed errors mutations return. Each domain error class becomes a GraphQL object implementing
 * the shared `Error` interface, so clients can always select `... on Error { message }`.
 */
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

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description:
    'The input broke a rule. `message` is a sentence to show a person; `field` is the path of the field at fault in the input as sent (`socialHandles.0.handle`), or null when no single field is.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof ValidationError,
  fields: (t) => ({
    field: t.exposeString('field', { nullable: true }),
  }),
});

for (const [cls, name, description] of [
  [NotFoundError, 'NotFoundError', 'What the input names does not exist, or is not visible to you.'],
  [NotAllowedError, 'NotAllowedError', 'You may not do this to this object.'],
  [ConflictError, 'ConflictError', 'The change clashes with the current state.'],
  [AuthenticationError, 'AuthenticationError', 'The credentials given are wrong or expired.'],
] as const) {
  builder.objectType(cls, {
    name,
    description,
    interfaces: [ErrorInterface],
    isTypeOf: (e) => e instanceof cls,
    fields: () => ({}),
  });
}

builder.objectType(RateLimitedError, {
  name: 'RateLimitedError',
  description: 'Too many attempts. Try again after `retryAfterSeconds`.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof RateLimitedError,
  fields: (t) => ({
    retryAfterSeconds: t.exposeInt('retryAfterSeconds'),
  }),
});

/** The errors nearly every mutation can return. */
export const commonErrors = [ValidationError, NotFoundError, NotAllowedError, ConflictError];
