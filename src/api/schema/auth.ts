import { AuthenticationError, RateLimitedError, ValidationError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import { mutation } from './mutation.ts';
import { User } from './user.ts';

mutation('requestSignInCode', {
  description: 'Emails a 6-digit sign-in code, valid for 10 minutes and 5 attempts.',
  input: (t) => ({ email: t.string() }),
  payload: builder.simpleObject('RequestSignInCodePayload', {
    description: 'A code is on its way to the address (whether or not it has an account yet).',
    fields: (t) => ({
      email: t.string(),
      expiresAt: t.field({ type: 'DateTime' }),
    }),
  }),
  errors: [ValidationError, RateLimitedError],
  resolve: (input, ctx) =>
    ctx.domain.identity.requestSignInCode(ctx.logger, { email: input.email, ip: ctx.ip }),
});

const Session = builder.simpleObject('Session', {
  description: 'A signed-in session: a short-lived access token and a refresh token to renew it.',
  fields: (t) => ({
    accessToken: t.string({ description: 'Send as `Authorization: Bearer <accessToken>`.' }),
    accessTokenExpiresAt: t.field({ type: 'DateTime' }),
    refreshToken: t.string({ description: 'Use once with refreshSession; each use returns a new one.' }),
    refreshTokenExpiresAt: t.field({ type: 'DateTime' }),
  }),
});

const SignInPayload = builder.simpleObject('SignInPayload', {
  fields: (t) => ({
    session: t.field({ type: Session }),
    user: t.field({ type: User }),
  }),
});

mutation('signInWithCode', {
  description: 'Signs in with the emailed code. Creates the account on first sign-in.',
  input: (t) => ({ email: t.string(), code: t.string() }),
  payload: SignInPayload,
  errors: [ValidationError, AuthenticationError, RateLimitedError],
  resolve: async (input, ctx) => {
    const result = await ctx.domain.identity.verifySignInCode(ctx.logger, {
      email: input.email,
      code: input.code,
      ip: ctx.ip,
    });
    // The request came in anonymous, but the caller has just proved who they are.
    ctx.access.provedToBe(result.user.id);
    return { user: result.user, session: session(result) };
  },
});

mutation('refreshSession', {
  description:
    'Trades a refresh token for a new session. A refresh token works once: presenting a used one ends the whole session.',
  input: (t) => ({ refreshToken: t.string() }),
  payload: SignInPayload,
  errors: [AuthenticationError],
  resolve: async (input, ctx) => {
    const result = await ctx.domain.identity.rotateRefreshToken(ctx.logger, input.refreshToken);
    ctx.access.provedToBe(result.user.id);
    return { user: result.user, session: session(result) };
  },
});

mutation('signOut', {
  description: 'Ends the session the refresh token belongs to.',
  input: (t) => ({ refreshToken: t.string() }),
  payload: builder.simpleObject('SignOutPayload', {
    fields: (t) => ({
      signedOut: t.boolean({ description: 'False when the token was unknown or already ended.' }),
    }),
  }),
  errors: null,
  resolve: async (input, ctx) => {
    const { revoked } = await ctx.domain.identity.revokeRefreshToken(input.refreshToken);
    return { signedOut: revoked };
  },
});

function session(result: {
  accessToken: { token: string; expiresAt: Date };
  refreshToken: { token: string; expiresAt: Date };
}) {
  return {
    accessToken: result.accessToken.token,
    accessTokenExpiresAt: result.accessToken.expiresAt,
    refreshToken: result.refreshToken.token,
    refreshTokenExpiresAt: result.refreshToken.expiresAt,
  };
}
