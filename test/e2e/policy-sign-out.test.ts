import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { adminParams, api, enrolAndSignIn, expectError, expectStatus, signInWithPassword, userIn } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { enrolThroughSignIn, expectKind, expectTwofoldPage, kindOf, submitPassword, toCallback } from '../helpers/mfa.js';
import { accountWithUser, cli, confidentialClient } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, freePort, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

/**
 * Enabling "Require Multi-Factor" ends every session of the account's users at once and on
 * every process. Two Twofold processes share Postgres, Redis, the operator's secrets and one
 * public ISSUER (A's address), as nodes behind a load balancer. The users' browsers talk to A;
 * the admin signs in and calls the API on B.
 */
let db: TestDatabase;
let a: TwofoldProcess;
let b: TwofoldProcess;
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_policy');
  const portA = await freePort();
  const env = { DATABASE_URL: db.url, REDIS_URL, ISSUER: `http://127.0.0.1:${portA}`, TRUST_PROXY: 'true', ...clusterSecrets() };
  [a, b] = await Promise.all([startTwofold(env, { port: portA }), startTwofold(env)]);
  client = await confidentialClient(db.url);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await db?.drop();
});

/** The load balancer sends this browser's requests for the ISSUER to process B. */
function viaB(rp: RelyingParty): void {
  Object.assign(rp.agent.headers, { 'x-forwarded-host': new URL(a.url).host, 'x-forwarded-proto': 'http' });
  rp.agent.route = (url) => {
    if (url.origin !== a.url) return url;
    const routed = new URL(url);
    routed.port = String(b.port);
    return routed;
  };
}

/** Ports that token endpoint calls were really sent to. */
const tokenCallsTo: number[] = [];

/** The RP's token endpoint calls, sent to process `target` instead of the ISSUER's address. */
function tokenEndpointOf(rp: RelyingParty, target: TwofoldProcess): oidc.Configuration {
  const config = new oidc.Configuration(rp.config.serverMetadata(), client.clientId, undefined, oidc.ClientSecretBasic(client.clientSecret));
  oidc.allowInsecureRequests(config);
  config[oidc.customFetch] = (url, options) => {
    const routed = new URL(url);
    if (routed.origin === a.url) routed.port = String(target.port);
    tokenCallsTo.push(Number(routed.port));
    return fetch(routed, { ...options, headers: { ...options.headers, 'x-forwarded-host': new URL(a.url).host } });
  };
  return config;
}

describe('the Require Multi-Factor policy across two processes', () => {
  test("an admin enables it on B: the account's sessions and refresh tokens end on A and B; other accounts keep theirs; support disables it again", async () => {
    // The admin enrolled while the account still required MFA (the default); then the operator
    // turned the requirement off, so the account's other users sign in with a password only.
    const admin = await accountWithUser(db.url, { mfaRequired: true, role: 'admin' });
    const adminRp = await RelyingParty.create(a.url, client.clientId, client.clientSecret);
    viaB(adminRp);
    const adminTokens = (await enrolThroughSignIn(adminRp, admin, adminParams(a.url))).tokens;
    await cli(db.url, ['account', 'set-mfa-required', admin.accountId, 'false']);
    const u = await userIn(db.url, admin.accountId);

    const support = await accountWithUser(db.url, { mfaRequired: true, support: true });
    const supportSession = await enrolAndSignIn(a.url, client, support);

    // U signs in through A with the password alone: a browser session and a refresh token.
    const uSession = await signInWithPassword(a.url, client, u);
    expect((await uSession.rp.verifyIdToken(uSession.tokens.id_token!)).acr).toBe('aal1');
    const uOnA = uSession.rp.config;
    const uOnB = tokenEndpointOf(uSession.rp, b);
    // A user of another account (no MFA requirement) does the same.
    const v = await accountWithUser(db.url, { mfaRequired: false });
    const vSession = await signInWithPassword(a.url, client, v);

    // Controls, before the change: U's browser goes straight back to the RP and both of U's
    // refresh tokens work (each refresh rotates, so keep the new ones).
    const again = await uSession.rp.start();
    expect(kindOf(again.page)).toBe('callback');
    const second = await again.finish(await toCallback(uSession.rp.agent, again.page));
    const r1 = (await oidc.refreshTokenGrant(uOnB, uSession.tokens.refresh_token!)).refresh_token!;
    const r2 = (await oidc.refreshTokenGrant(uOnA, second.refresh_token!)).refresh_token!;

    // The admin enables the policy through process B.
    const enabled = await api(b.url, adminTokens.access_token, 'PUT', `/accounts/${admin.accountId}/mfa-policy`, { json: { mfaRequired: true } });
    expectStatus(enabled, 200);
    expect(enabled.json).toMatchObject({ mfaRequired: true, updatedBy: admin.userId });

    // On A, U's browser session is over: a new sign-in request shows Twofold's password page.
    const afterwards = await uSession.rp.start();
    expectTwofoldPage(afterwards.page, a.url, 'login');
    // U's refresh tokens fail on both processes.
    await expect(oidc.refreshTokenGrant(uOnB, r1)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(uOnA, r2)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(uOnA, r1)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(uOnB, r2)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The admin's own token ended with the account's sessions (on both processes).
    expectError(await api(a.url, adminTokens.access_token, 'GET', `/accounts/${admin.accountId}/mfa-policy`), 401, 'unauthorized');
    expectError(await api(b.url, adminTokens.access_token, 'GET', `/accounts/${admin.accountId}/mfa-policy`), 401, 'unauthorized');

    // U has no device: after the password, the notice; enrolment is the only way on.
    const notice = await submitPassword(uSession.rp.agent, afterwards.page, u);
    expectKind(notice, 'notice');
    const retry = await uSession.rp.start();
    expectKind(retry.page, 'login');

    // The other account's user keeps the browser session and the refresh token, on A and B.
    const vAgain = await vSession.rp.start();
    expect(kindOf(vAgain.page)).toBe('callback');
    const rv = (await oidc.refreshTokenGrant(tokenEndpointOf(vSession.rp, b), vSession.tokens.refresh_token!)).refresh_token!;
    await oidc.refreshTokenGrant(vSession.rp.config, rv);

    // Support turns the requirement off (on A): a user without devices signs in with a password only.
    const disabled = await api(a.url, supportSession.accessToken, 'PUT', `/accounts/${admin.accountId}/mfa-policy`, { json: { mfaRequired: false } });
    expectStatus(disabled, 200);
    expect(disabled.json).toMatchObject({ mfaRequired: false, updatedBy: support.userId });
    const last = await uSession.rp.start();
    const done = await submitPassword(uSession.rp.agent, last.page, u);
    const tokens = await last.finish(await toCallback(uSession.rp.agent, done));
    const claims = await uSession.rp.verifyIdToken(tokens.id_token!);
    expect(claims.sub).toBe(u.userId);
    expect(claims.acr).toBe('aal1');
    expect(claims.amr).toEqual(['pwd']);
    // Disabling ended nobody's session: that new refresh token works on B.
    await oidc.refreshTokenGrant(tokenEndpointOf(uSession.rp, b), tokens.refresh_token!);
    expect(tokenCallsTo.length).toBeGreaterThanOrEqual(5);
    expect(new Set(tokenCallsTo)).toEqual(new Set([b.port]));
  });
});
