/**
 * Ending a session ends its access tokens too, not only its refresh token: after `signOut`, or
 * after a used refresh token is presented again (which ends the whole session), the session's
 * access tokens are refused over HTTP (401) and at a WebSocket's `connection_init`, although they
 * have not expired. Other sessions of the same person carry on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { rawConnectionInit } from '../helpers/websocket.ts';

const Viewer = graphql(`
  query SignOutViewer {
    viewer { id }
  }
`);

const SignOut = graphql(`
  mutation SignOutEnd($refreshToken: String!) {
    signOut(input: { refreshToken: $refreshToken }) { signedOut }
  }
`);

const RefreshSession = graphql(`
  mutation SignOutRefresh($refreshToken: String!) {
    refreshSession(input: { refreshToken: $refreshToken }) {
      __typename
      ... on SignInPayload { session { accessToken refreshToken } }
      ... on Error { message }
    }
  }
`);

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

/** The status of `viewer` with this token, and the refusal's message if any. */
async function asViewer(token: string) {
  const response = await app.gql(Viewer, {}, { token });
  return { status: response.status, message: response.errors?.[0]?.message, body: response.body };
}

/**
 * A bare graphql-transport-ws handshake with `Authorization: Bearer <token>` in `connection_init`:
 * the close code and reason, and whether the server acknowledged first.
 */
function connectionInit(token: string) {
  return rawConnectionInit(app, { authorization: `Bearer ${token}` });
}

const ACCEPTED = { code: 1000, reason: '', acknowledged: true };
const REFUSED = { code: 4403, reason: 'Forbidden', acknowledged: false };

describe('signing out', () => {
  it('refuses the access token of the ended session over HTTP and at connection_init', async () => {
    const session = await app.signIn();
    expect((await asViewer(session.token)).status).toBe(200);
    expect(await connectionInit(session.token)).toEqual(ACCEPTED);

    const ended = await app.gql(SignOut, { refreshToken: session.refreshToken });
    expect(ended.body).toEqual({ data: { signOut: { signedOut: true } } });

    expect(await asViewer(session.token)).toMatchObject({
      status: 401,
      message: 'The session of this access token has ended (signed out): sign in again',
    });
    expect(await connectionInit(session.token)).toEqual(REFUSED);
  });

  it("leaves the person's other sessions working", async () => {
    const here = await app.signIn();
    const there = await app.signIn(here.email);
    await app.gql(SignOut, { refreshToken: here.refreshToken });

    expect((await asViewer(here.token)).status).toBe(401);
    expect((await asViewer(there.token)).status).toBe(200);
    expect(await connectionInit(there.token)).toEqual(ACCEPTED);
  });
});

describe('presenting a used refresh token again', () => {
  it("ends the session: every access token of it is refused, the thief's and the owner's", async () => {
    const session = await app.signIn();
    const refreshed = await app.gql(RefreshSession, { refreshToken: session.refreshToken });
    const renewed = refreshed.data?.refreshSession;
    if (renewed?.__typename !== 'SignInPayload') throw new Error(JSON.stringify(refreshed.body));
    expect((await asViewer(renewed.session.accessToken)).status).toBe(200);

    // The first refresh token again: two parties hold it, so the session ends for both.
    const reused = await app.gql(RefreshSession, { refreshToken: session.refreshToken });
    expect(reused.data?.refreshSession).toMatchObject({ __typename: 'AuthenticationError' });

    for (const token of [session.token, renewed.session.accessToken]) {
      expect((await asViewer(token)).status).toBe(401);
      expect(await connectionInit(token)).toEqual(REFUSED);
    }
  });
});
