import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { adminParams, api, enrolAndSignIn, expectError, expectStatus, signInWithPassword, type SignedIn } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { expectKind, mfaCounters, sql, submitPassword, toCallback } from '../helpers/mfa.js';
import { accountWithUser, cli, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

/**
 * "Sign out everywhere" and a lock end the tokens already handed out, not only the browser
 * sessions: the access token at userinfo and at the admin API, and what introspection says
 * about the access and refresh tokens (a resource server must not keep trusting them).
 */
let db: TestDatabase;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_token_signout');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets() });
  client = await confidentialClient(db.url);
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function userinfoStatus(accessToken: string): Promise<number> {
  const res = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  await res.arrayBuffer();
  return res.status;
}

/** What the token's own client learns from introspection (RFC 7662). */
async function introspect(rp: RelyingParty, token: string, hint: 'access_token' | 'refresh_token') {
  return oidc.tokenIntrospection(rp.config, token, { token_type_hint: hint });
}

interface Tokens {
  rp: RelyingParty;
  accessToken: string;
  refreshToken: string;
}

/** Everything a resource server or the RP would use still works. */
async function expectAlive({ rp, accessToken, refreshToken }: Tokens, user: Fixture): Promise<void> {
  expect(await userinfoStatus(accessToken)).toBe(200);
  expect(await introspect(rp, accessToken, 'access_token')).toMatchObject({ active: true, sub: user.userId });
  expect(await introspect(rp, refreshToken, 'refresh_token')).toMatchObject({ active: true, sub: user.userId });
}

/** Nothing works any more, and introspection says so (no claims leak either). */
async function expectEnded({ rp, accessToken, refreshToken }: Tokens): Promise<void> {
  expect(await userinfoStatus(accessToken)).toBe(401);
  expect(await introspect(rp, accessToken, 'access_token')).toEqual({ active: false });
  expect(await introspect(rp, refreshToken, 'refresh_token')).toEqual({ active: false });
  // Without a hint too: the answer does not depend on guessing the token's kind.
  expect(await oidc.tokenIntrospection(rp.config, accessToken)).toEqual({ active: false });
  await expect(oidc.refreshTokenGrant(rp.config, refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
}

const tokensOf = (s: { rp: RelyingParty; tokens: { access_token: string; refresh_token?: string } }): Tokens => ({
  rp: s.rp,
  accessToken: s.tokens.access_token,
  refreshToken: s.tokens.refresh_token!,
});

describe('signed out everywhere', () => {
  test('after `user reset-mfa`, the access token fails at userinfo and introspection says inactive for it and the refresh token; a later sign-in works', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const other = await accountWithUser(db.url, { mfaRequired: false });
    const mine = tokensOf(await signInWithPassword(server.url, client, user));
    const theirs = tokensOf(await signInWithPassword(server.url, client, other));
    await expectAlive(mine, user);

    await cli(db.url, ['user', 'reset-mfa', user.username]);

    await expectEnded(mine);
    // Another user's tokens are untouched.
    await expectAlive(theirs, other);

    // Signing in again after the mark gives tokens that work.
    const fresh = await mine.rp.start();
    expectKind(fresh.page, 'login');
    const tokens = await fresh.finish(await toCallback(mine.rp.agent, await submitPassword(mine.rp.agent, fresh.page, user)));
    await expectAlive({ rp: mine.rp, accessToken: tokens.access_token, refreshToken: tokens.refresh_token! }, user);
    // The access token carries the sign-in time it stands for, the ID token's.
    const { auth_time } = await mine.rp.verifyIdToken(tokens.id_token!);
    expect((await introspect(mine.rp, tokens.access_token, 'access_token')).auth_time).toBe(auth_time);
    // ...and so does the access token of a refresh with the new refresh token.
    const refreshed = await oidc.refreshTokenGrant(mine.rp.config, tokens.refresh_token!);
    await expectAlive({ rp: mine.rp, accessToken: refreshed.access_token, refreshToken: refreshed.refresh_token! }, user);
  });

  test('a mark set straight in Postgres ends an access token got by refresh before it (the token stands for the old sign-in)', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const signedIn = tokensOf(await signInWithPassword(server.url, client, user));
    // A refresh hands out a new access token standing for the same (old) sign-in.
    await sleep(1100);
    const refreshed = await oidc.refreshTokenGrant(signedIn.rp.config, signedIn.refreshToken);
    const viaRefresh = { rp: signedIn.rp, accessToken: refreshed.access_token, refreshToken: refreshed.refresh_token! };
    await expectAlive(viaRefresh, user);

    await sql(db.url, "UPDATE users SET sessions_valid_after = date_trunc('second', now()) + interval '1 second' WHERE id = $1", [user.userId]);

    await expectEnded(viaRefresh);
    expect(await userinfoStatus(signedIn.accessToken)).toBe(401);
  });

  test('admin API JWTs: a sign-out mark ends them (401) while an admin token got after it works', async () => {
    const admin = await accountWithUser(db.url, { mfaRequired: true, role: 'admin' });
    const session: SignedIn = await enrolAndSignIn(server.url, client, admin);
    expectStatus(await api(server.url, session.accessToken, 'GET', `/accounts/${admin.accountId}/users`), 200);
    // The admin token is a JWT: introspection does not do structured tokens at all.
    await expect(oidc.tokenIntrospection(session.rp.config, session.accessToken)).rejects.toMatchObject({ error: 'unsupported_token_type' });

    await cli(db.url, ['user', 'reset-mfa', admin.username]);
    expectError(await api(server.url, session.accessToken, 'GET', `/accounts/${admin.accountId}/users`), 401, 'unauthorized');
    await expect(oidc.refreshTokenGrant(session.rp.config, session.refreshToken!)).rejects.toMatchObject({ error: 'invalid_grant' });

    // The reset removed the device: a new sign-in enrols again and its token works.
    const again = await enrolAndSignIn(server.url, client, admin);
    expectStatus(await api(server.url, again.accessToken, 'GET', `/accounts/${admin.accountId}/users`), 200);
  });
});

describe('a locked user', () => {
  test('seven wrong codes in another sign-in: userinfo 401, introspection inactive for access and refresh tokens, admin API 401', async () => {
    const admin = await accountWithUser(db.url, { mfaRequired: true, role: 'admin' });
    // One browser holds an admin JWT, a second one opaque tokens for userinfo.
    const adminSession = await enrolAndSignIn(server.url, client, admin, adminParams(server.url));
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page, finish } = await rp.start({ scope: 'openid' });
    const challenge = await submitPassword(rp.agent, page, admin);
    expectKind(challenge, 'challenge');
    const tokens = await finish(await toCallback(rp.agent, await rp.agent.submit(challenge, '/mfa', { code: await adminSession.app.next() })));
    const opaque = { rp, accessToken: tokens.access_token, refreshToken: tokens.refresh_token! };
    await expectAlive(opaque, admin);
    expectStatus(await api(server.url, adminSession.accessToken, 'GET', `/accounts/${admin.accountId}/users`), 200);

    // Someone with the password guesses codes in a third browser until the user is locked.
    const attacker = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const start = await attacker.start();
    let attempt = await submitPassword(attacker.agent, start.page, admin);
    for (let i = 0; i < 7; i++) attempt = await attacker.agent.submit(attempt, '/mfa', { code: adminSession.app.wrongCode() });
    expectKind(attempt, 'locked');
    expect((await mfaCounters(db.url, admin.userId)).lockedAt).toBeInstanceOf(Date);

    await expectEnded(opaque);
    expectError(await api(server.url, adminSession.accessToken, 'GET', `/accounts/${admin.accountId}/users`), 401, 'unauthorized');
  });

  test('locked by SQL alone (no sign-out mark): userinfo 401, introspection inactive for both tokens', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const signedIn = tokensOf(await signInWithPassword(server.url, client, user));
    await expectAlive(signedIn, user);
    await sql(db.url, "UPDATE users SET locked_at = now(), locked_reason = 'too_many_mfa_failures' WHERE id = $1", [user.userId]);
    await expectEnded(signedIn);
  });
});

describe('sign-out marks ahead of the clock', () => {
  // Sign-ins are stamped no earlier than the marks in force, which can be ahead of the clock
  // (a mark is the next second, and several may come in one second). A later sign-out must
  // still end a sign-in stamped at such a mark, for the user's mark and the account's.
  test('a sign-in stamped at a user mark ahead of the clock ends at the next `user reset-mfa`', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    await sql(db.url, "UPDATE users SET sessions_valid_after = date_trunc('second', now()) + interval '3 seconds' WHERE id = $1", [user.userId]);
    const mine = tokensOf(await signInWithPassword(server.url, client, user));
    await expectAlive(mine, user);
    await cli(db.url, ['user', 'reset-mfa', user.username]);
    await expectEnded(mine);
  });

  test("a sign-in stamped at a user's mark ahead of the clock ends when the account's policy is enabled", async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    await sql(db.url, "UPDATE users SET sessions_valid_after = date_trunc('second', now()) + interval '3 seconds' WHERE id = $1", [user.userId]);
    const mine = tokensOf(await signInWithPassword(server.url, client, user));
    await expectAlive(mine, user);
    await cli(db.url, ['account', 'set-mfa-required', user.accountId, 'true']);
    await expectEnded(mine);
  });
});
