import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { beginTotpEnrolment, expectKind, expectTwofoldPage, kindOf, postTo, sql, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import type { Page } from '../helpers/user-agent.js';

/**
 * A step-up adds the second factor to a session's password; it is no new password. So a
 * step-up that enrols a device needs a recent password (REAUTH_MAX_AGE, small here), it never
 * moves auth_time on, and once the user has a device a password-only session of theirs is
 * never reused, not even silently with prompt=none.
 */
// Small enough to wait out, with room for a busy machine inside the window.
const REAUTH_MAX_AGE = 6;
let db: TestDatabase;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_stepup_recency');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, REAUTH_MAX_AGE: String(REAUTH_MAX_AGE), ...clusterSecrets() });
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

/** A password-only session (account without the requirement, user without a device). */
async function passwordOnlySession(user: Fixture) {
  const rp = await newRp();
  const { page, finish } = await rp.start();
  const claims = await claimsOf(rp, finish, await submitPassword(rp.agent, page, user));
  expect(claims.acr).toBe('aal1');
  return { rp, claims };
}

/** Enrols a TOTP device from the required-MFA notice; returns the ID token claims and the app. */
async function enrolFrom(rp: RelyingParty, notice: Page, finish: (cb: string) => Promise<{ id_token?: string }>) {
  const { page: enrol, app } = await beginTotpEnrolment(rp.agent, notice);
  const claims = await claimsOf(rp, finish, await rp.agent.submit(enrol, '/enrol/verify', { code: await app.next() }));
  return { claims, app };
}

describe('a step-up that enrols a device', () => {
  test('on a session older than REAUTH_MAX_AGE: the password page first, never the enrolment notice; then a fresh auth_time', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const x = await passwordOnlySession(user);
    await sleep((REAUTH_MAX_AGE + 1.5) * 1000);

    const stepUp = await x.rp.start({ acr_values: 'aal2' });
    expectTwofoldPage(stepUp.page, server.url, 'login');
    // Reloading the page does not slip past the password either.
    expectKind(await x.rp.agent.request(stepUp.page.url), 'login');
    // Nor does posting straight to the enrolment routes of this interaction.
    const sneaky = await postTo(x.rp.agent, stepUp.page, '/enrol/method', { method: 'totp' });
    expect(kindOf(sneaky)).not.toBe('enrol-start');
    expect(kindOf(await postTo(x.rp.agent, stepUp.page, '/enrol/begin', { method: 'totp', nickname: 'Mine' }))).not.toBe('enrol');
    // Not even with the page reloaded while enrolment requests race it.
    const raced = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? postTo(x.rp.agent, stepUp.page, '/enrol/begin', { method: 'totp', nickname: 'Mine' }) : x.rp.agent.request(stepUp.page.url))),
    );
    expect(raced.map(kindOf).filter((k) => k === 'enrol' || k === 'notice')).toEqual([]);
    expect(await sql(db.url, 'SELECT id FROM mfa_devices WHERE user_id = $1', [user.userId])).toEqual([]);

    const notice = await submitPassword(x.rp.agent, stepUp.page, user);
    expectTwofoldPage(notice, server.url, 'notice');
    const { claims } = await enrolFrom(x.rp, notice, stepUp.finish);
    expect(claims.acr).toBe('aal2');
    // The password was proven again: auth_time moves on.
    expect(claims.auth_time as number).toBeGreaterThan(x.claims.auth_time as number);
  });

  test('within REAUTH_MAX_AGE: the notice (no password again), and the ID token keeps the original auth_time', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const x = await passwordOnlySession(user);
    // auth_time has whole seconds: a refreshed one would be visibly later.
    await sleep(1100);

    const stepUp = await x.rp.start({ acr_values: 'aal2' });
    expectTwofoldPage(stepUp.page, server.url, 'notice');
    const { claims } = await enrolFrom(x.rp, stepUp.page, stepUp.finish);
    expect(claims.acr).toBe('aal2');
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.auth_time).toBe(x.claims.auth_time);

    // The session keeps that sign-in time.
    const later = await x.rp.start({ max_age: '3600' });
    const laterClaims = await claimsOf(x.rp, later.finish, later.page);
    expect(laterClaims.acr).toBe('aal2');
    expect(laterClaims.auth_time).toBe(x.claims.auth_time);
  });
});

describe('a password-only session of a user who now has a device', () => {
  test('prompt=none gets login_required; a plain request signs in again, with the device (aal2)', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const x = await passwordOnlySession(user);
    // Control: before the device, prompt=none passes through silently.
    const silent = await x.rp.start({ prompt: 'none' });
    expect((await claimsOf(x.rp, silent.finish, silent.page)).acr).toBe('aal1');

    // The user sets up a device through a step-up in another browser.
    const y = await passwordOnlySession(user);
    const stepUp = await y.rp.start({ acr_values: 'aal2' });
    expectTwofoldPage(stepUp.page, server.url, 'notice');
    const { app } = await enrolFrom(y.rp, stepUp.page, stepUp.finish);

    const none = await x.rp.start({ prompt: 'none' });
    expect(none.page.status).toBe(0);
    const callback = new URL(callbackOf(none.page));
    expect(callback.searchParams.get('error')).toBe('login_required');
    expect(callback.searchParams.get('code')).toBeNull();

    const plain = await x.rp.start();
    expectTwofoldPage(plain.page, server.url, 'login');
    const challenge = await submitPassword(x.rp.agent, plain.page, user);
    expectTwofoldPage(challenge, server.url, 'challenge');
    const claims = await claimsOf(x.rp, plain.finish, await x.rp.agent.submit(challenge, '/mfa', { code: await app.next() }));
    expect(claims.acr).toBe('aal2');
    // That session is good for prompt=none again.
    const after = await x.rp.start({ prompt: 'none' });
    expect((await claimsOf(x.rp, after.finish, after.page)).acr).toBe('aal2');
  });
});
