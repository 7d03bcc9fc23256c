import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { beginTotpEnrolment, enrolThroughSignIn, expectKind, expectTwofoldPage, kindOf, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, cli, confidentialClient, type Fixture } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import type { Page } from '../helpers/user-agent.js';

let db: TestDatabase;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_stepup');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets() });
  client = await confidentialClient(db.url, { firstParty: true });
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

const newRp = () => RelyingParty.create(server.url, client.clientId, client.clientSecret);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function claimsOf(rp: RelyingParty, finish: (cb: string) => Promise<{ id_token?: string }>, page: Page) {
  const tokens = await finish(callbackOf(page));
  return rp.verifyIdToken(tokens.id_token!);
}

/** Signs in with the password only; the account does not require MFA and the user has no device. */
async function passwordOnlySession(user: Fixture) {
  const rp = await newRp();
  const { page, finish } = await rp.start();
  const done = await submitPassword(rp.agent, page, user);
  const tokens = await finish(callbackOf(done));
  const claims = await rp.verifyIdToken(tokens.id_token!);
  expect(claims.acr).toBe('aal1');
  expect(claims.amr).toEqual(['pwd']);
  expect(claims.sub).toBe(user.userId);
  expect(typeof claims.auth_time).toBe('number');
  return { rp, tokens, claims };
}

describe('step-up with acr_values=aal2', () => {
  test('password-only sessions: enrolment by step-up, then a challenge for the other session; never aal2 without a code', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const x = await passwordOnlySession(user);

    // Without acr_values the password-only session passes through, and stays aal1.
    const sso = await x.rp.start();
    expect(kindOf(sso.page)).toBe('callback');
    const ssoClaims = await claimsOf(x.rp, sso.finish, sso.page);
    expect(ssoClaims.acr).toBe('aal1');
    expect(ssoClaims.amr).toEqual(['pwd']);

    // A second browser asks for aal2: the user, who has no device, is asked to set one up
    // (no password again: the session proved it), and the result is aal2.
    const y = await passwordOnlySession(user);
    const stepUp = await y.rp.start({ acr_values: 'aal2' });
    expectTwofoldPage(stepUp.page, server.url, 'notice');
    const { page: enrol, app } = await beginTotpEnrolment(y.rp.agent, stepUp.page);
    const enrolled = await claimsOf(y.rp, stepUp.finish, await y.rp.agent.submit(enrol, '/enrol/verify', { code: await app.next() }));
    expect(enrolled.sub).toBe(user.userId);
    expect(enrolled.acr).toBe('aal2');
    expect(enrolled.amr).toEqual(['pwd', 'otp', 'mfa']);

    // Turning MFA on ended the first browser's password-only session: a plain request asks for
    // the password again, and acr_values=aal2 then challenges the device, never passes through.
    const plain = await x.rp.start();
    expectTwofoldPage(plain.page, server.url, 'login');
    const challenged = await x.rp.start({ acr_values: 'aal2' });
    expectTwofoldPage(challenged.page, server.url, 'login');
    let challenge = await submitPassword(x.rp.agent, challenged.page, user);
    expectTwofoldPage(challenge, server.url, 'challenge');
    // A wrong code does not step up.
    challenge = await x.rp.agent.submit(challenge, '/mfa', { code: app.wrongCode() });
    expect(challenge.status).toBe(401);
    expectKind(challenge, 'challenge');
    const steppedUp = await claimsOf(x.rp, challenged.finish, await x.rp.agent.submit(challenge, '/mfa', { code: await app.next() }));
    expect(steppedUp.sub).toBe(user.userId);
    expect(steppedUp.acr).toBe('aal2');
    expect(steppedUp.amr).toEqual(['pwd', 'otp', 'mfa']);
    // The session now has MFA: a further aal2 request passes through with aal2.
    const after = await x.rp.start({ acr_values: 'aal2' });
    expect((await claimsOf(x.rp, after.finish, after.page)).acr).toBe('aal2');
  });

  test('acr_values=aal2 for a user without a device on an account without the requirement: enrolment, never aal1 passed off as aal2', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const rp = await newRp();
    // Straight to aal2 from no session: password, then enrolment (the user has no device).
    const { page, finish } = await rp.start({ acr_values: 'aal2' });
    const next = await submitPassword(rp.agent, page, user);
    expectTwofoldPage(next, server.url, 'notice');
    // Restarting without acr_values in the same browser gives the password page again:
    // the password alone created no session in the aal2 sign-in.
    const restart = await rp.start();
    expectTwofoldPage(restart.page, server.url, 'login');
    const { page: enrol, app } = await beginTotpEnrolment(rp.agent, next);
    const claims = await claimsOf(rp, finish, await rp.agent.submit(enrol, '/enrol/verify', { code: await app.next() }));
    expect(claims.acr).toBe('aal2');
  });
});

describe('re-authentication with max_age and prompt=login', () => {
  test('max_age=0 and prompt=login on an MFA session ask for the password and the code again', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const rp = await newRp();
    const { app, tokens } = await enrolThroughSignIn(rp, user);
    const first = await rp.verifyIdToken(tokens.id_token!);
    expect(first.acr).toBe('aal2');

    for (const params of [{ max_age: '0' }, { prompt: 'login' }] as Record<string, string>[]) {
      // auth_time has whole seconds: make sure a new login would show a later one.
      await sleep(1100);
      const started = Date.now();
      const { page, finish } = await rp.start(params);
      expectTwofoldPage(page, server.url, 'login');
      const challenge = await submitPassword(rp.agent, page, user);
      expectTwofoldPage(challenge, server.url, 'challenge');
      const claims = await claimsOf(rp, finish, await rp.agent.submit(challenge, '/mfa', { code: await app.next() }));
      expect(claims.acr).toBe('aal2');
      expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
      expect(claims.auth_time as number).toBeGreaterThanOrEqual(Math.floor(started / 1000));
      expect(claims.auth_time as number).toBeGreaterThan(first.auth_time as number);
    }

    // A positive max_age the session satisfies passes through, keeping aal2 and auth_time.
    const sso = await rp.start({ max_age: '3600' });
    const ssoClaims = await claimsOf(rp, sso.finish, sso.page);
    expect(ssoClaims.acr).toBe('aal2');
  });

  test('max_age=0 on a password-only session of a user with a device: password and code, aal2', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const x = await passwordOnlySession(user);
    // The user adds a device through a step-up in another browser.
    const y = await passwordOnlySession(user);
    const stepUp = await y.rp.start({ acr_values: 'aal2' });
    const { page: enrol, app } = await beginTotpEnrolment(y.rp.agent, stepUp.page);
    expect(kindOf(await y.rp.agent.submit(enrol, '/enrol/verify', { code: await app.next() }))).toBe('callback');

    const { page, finish } = await x.rp.start({ max_age: '0' });
    expectTwofoldPage(page, server.url, 'login');
    const challenge = await submitPassword(x.rp.agent, page, user);
    expectTwofoldPage(challenge, server.url, 'challenge');
    const claims = await claimsOf(x.rp, finish, await x.rp.agent.submit(challenge, '/mfa', { code: await app.next() }));
    expect(claims.acr).toBe('aal2');
  });
});

describe('the account policy switched to required', () => {
  test('an existing password-only session is sent back to sign in and its refresh token fails', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const { rp, tokens } = await passwordOnlySession(user);
    expect(tokens.refresh_token).toBeDefined();
    // Refresh works before the change (so the failure below is the policy's doing).
    const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);

    await cli(db.url, ['account', 'set-mfa-required', user.accountId, 'true']);

    const again = await rp.start();
    expectTwofoldPage(again.page, server.url, 'login');
    await expect(oidc.refreshTokenGrant(rp.config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Signing in again now means enrolling.
    const notice = await submitPassword(rp.agent, again.page, user);
    expectTwofoldPage(notice, server.url, 'notice');
  });
});
