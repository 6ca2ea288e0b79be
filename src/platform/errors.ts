/**
 * Expected failures. Domain code throws these; the GraphQL errors plugin turns each into a member
 * of the failing field's result union (they all implement the `Error` interface), MCP turns them
 * into error results, HTTP routes into 4xx answers. Anything else is a bug and is masked.
 */
export class DomainError extends Error {
  override name = 'DomainError';
}

/** Input that breaks a rule. `field` names the input path the client should highlight. */
export class ValidationError extends DomainError {
  override name = 'ValidationError';
  readonly field: string | null;
  constructor(message: string, field: string | null = null) {
    super(message);
    this.field = field;
  }
}

export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
}

/** The caller is known but may not do this. */
export class NotAllowedError extends DomainError {
  override name = 'NotAllowedError';
  constructor(message = 'You are not allowed to do this') {
    super(message);
  }
}

/** The request clashes with the current state (a duplicate, the last owner, …). */
export class ConflictError extends DomainError {
  override name = 'ConflictError';
}

/** Too many attempts; `retryAfterSeconds` tells when to try again. */
export class RateLimitedError extends DomainError {
  override name = 'RateLimitedError';
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Credentials were missing, wrong or expired. */
export class AuthenticationError extends DomainError {
  override name = 'AuthenticationError';
  /**
   * True when the credential is one we issued that is no longer good (an expired or signed-out
   * token, a revoked key): a client that holds it is not guessing, so it does not count towards
   * the per-address limit on failed credentials.
   */
  readonly genuine: boolean;
  constructor(message: string, options: { genuine?: boolean } = {}) {
    super(message);
    this.genuine = options.genuine ?? false;
  }
}

/** A configured outside service (database, Redis) does not answer; the message says how to fix it. */
export class ServiceUnavailableError extends Error {
  override name = 'ServiceUnavailableError';
}
