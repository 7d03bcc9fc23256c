import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { enrolThroughSignIn, expectKind, mfaCounters, sql, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { afterPassword, alertOf, devicesOf, expectAccountPage, openAccount, pathOf, refreshFails, refreshWorks, submitForm } from '../helpers/self-service.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * "Change password" in /account: the current password is checked (and counted by the password
 * throttle), the new one obeys the password rules, other sessions end and this one stays.
 */

let db: TestDatabase;
let sink: SmtpSink;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
const secrets = clusterSecrets();

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_pwchange');
  sink = await startSmtpSink();
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...secrets, MAIL_PROVIDER: 'smtp', SMTP_URL: sink.url });
  client = await confidentialClient(db.url);
});

afterAll(async () => {
  await server?.stop();
  await sink?.close();
  await db?.drop();
});

const newRp = () => RelyingParty.create(server.url, client.clientId, client.clientSecret);

/** An enrolled user with an app session (its refresh token) and a signed-in /account browser. */
async function signedInUser() {
  const email = `changer-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const user = { ...(await accountWithUser(db.url, { mfaRequired: true, email })), email };
  const rp = await newRp();
  const { app, tokens } = await enrolThroughSignIn(rp, user);
  const refreshToken = await refreshWorks(rp, tokens.refresh_token!);
  const browser = new UserAgent();
  const { page } = await openAccount(browser, server.url, user, { app });
  expectAccountPage(page);
  return { user, rp, app, refreshToken, browser, page };
}

async function passwordHashOf(userId: string): Promise<string> {
  return (await sql<{ h: string }>(db.url, 'SELECT password_hash AS h FROM users WHERE id = $1', [userId]))[0]!.h;
}

async function changePage(browser: UserAgent, accountPage: Page): Promise<Page> {
  // The section and its button are on /account.
  expect(accountPage.html).toMatch(/<h2[^>]*>\s*Password\s*<\/h2>/);
  const link = accountPage.html.match(/<a href="([^"]+)"[^>]*>\s*Change password\s*<\/a>/);
  expect(link).not.toBeNull();
  const page = await browser.request(new URL(link![1]!, accountPage.url).toString());
  expect(page.status).toBe(200);
  expect(page.headers.get('cache-control')).toBe('no-store');
  expect(page.html).toContain('<label for="currentPassword">Current password</label>');
  expect(page.html).toContain('<label for="newPassword">New password</label>');
  expect(page.html).toContain('<label for="confirmPassword">Confirm new password</label>');
  expect(page.html).toMatch(/<button[^>]*>\s*Change Password\s*<\/button>/);
  return page;
}

const change = (browser: UserAgent, page: Page, current: string, next: string, confirm = next) =>
  submitForm(browser, page, '/account/password', { currentPassword: current, newPassword: next, confirmPassword: confirm });

describe('change password', () => {
  test('a wrong current password, a rule broken or a mismatch: a clear message, nothing changes; the right one changes it, other sessions end and this one stays', async () => {
    const { user, rp, refreshToken, browser, page: accountPage } = await signedInUser();
    const before = await passwordHashOf(user.userId);
    let page = await changePage(browser, accountPage);
    const next = `new tulip ledger ${user.username}`;

    page = await change(browser, page, 'not my password at all', next);
    expect(page.status).toBe(401);
    expect(alertOf(page)).toBe('Your current password is not correct.');
    // The form comes back without any password in it.
    expect(page.html).not.toContain(next);
    expect(page.html).not.toContain('not my password at all');

    page = await change(browser, page, user.password, 'short pass');
    expect(page.status).toBe(422);
    expect(alertOf(page)).toMatch(/at least 12 characters/);
    page = await change(browser, page, user.password, 'Qwerty123456');
    expect(page.status).toBe(422);
    expect(alertOf(page)).toMatch(/commonly used passwords/);
    page = await change(browser, page, user.password, 'z'.repeat(257));
    expect(page.status).toBe(422);
    expect(alertOf(page)).toMatch(/at most 256 characters/);
    page = await change(browser, page, user.password, next, `${next}!`);
    expect(page.status).toBe(422);
    expect(alertOf(page)).toBe('The two new passwords do not match.');
    expect(page.html).not.toContain(user.password);
    expect(await passwordHashOf(user.userId)).toBe(before);
    // Nothing ended so far: the other session still refreshes.
    const rotated = await refreshWorks(rp, refreshToken);

    const done = await change(browser, page, user.password, next);
    expect(done.status).toBe(200);
    expectAccountPage(done);
    expect(done.html).toContain('Your password was changed. Your other sessions were signed out.');
    // This /account session carries on...
    expectAccountPage(await browser.request(`${server.url}/account`));
    // ...the other session's refresh token is dead.
    await refreshFails(rp, rotated);
    expect(await passwordHashOf(user.userId)).not.toBe(before);

    // The old password no longer signs in; the new one does, and still asks for the code.
    const old = await newRp();
    const { page: login } = await old.start();
    const refused = await submitPassword(old.agent, login, user);
    expect(refused.status).toBe(401);
    const { page: challenge } = await afterPassword(await newRp(), { username: user.username, password: next });
    expectKind(challenge, 'challenge');
    // Factors are untouched.
    expect(await devicesOf(db.url, user.userId)).toHaveLength(1);

    const events = await sql<{ type: string }>(db.url, "SELECT type FROM audit_events WHERE subject_user_id = $1 AND type LIKE 'password.%'", [user.userId]);
    expect(events.map((e) => e.type)).toEqual(['password.changed']);

    // One notice, "Your password was changed", with neither password in it.
    const deadline = Date.now() + 10_000;
    const notices = () => sink.to(user.email).filter((m) => m.subject === 'Your password was changed');
    while (notices().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(notices()).toHaveLength(1);
    for (const m of sink.to(user.email)) {
      for (const secret of [user.password, next]) expect([m.subject, m.text, m.html, m.raw].join('\n')).not.toContain(secret);
    }
  });

  test('wrong current passwords count in the password throttle: after 10, even the right one is refused for now', async () => {
    const { user, browser, page: accountPage } = await signedInUser();
    let page = await changePage(browser, accountPage);
    for (let i = 0; i < 10; i++) {
      page = await change(browser, page, `wrong current password ${i}`, `brand new password ${i}`);
      expect(page.status).toBe(401);
    }
    const before = await passwordHashOf(user.userId);
    page = await change(browser, page, user.password, 'brand new password ok');
    expect(page.status).toBe(429);
    expect(alertOf(page)).toMatch(/Too many failed sign-in attempts/);
    expect(await passwordHashOf(user.userId)).toBe(before);
    // The MFA failure counter is not the password throttle.
    expect((await mfaCounters(db.url, user.userId)).failed).toBe(0);
  });

  test('without a session the page asks to sign in; a POST without its CSRF token is refused', async () => {
    const { user, browser, page: accountPage } = await signedInUser();
    const stranger = new UserAgent();
    const login = await stranger.request(`${server.url}/account/password`);
    expectKind(login, 'login');
    const page = await changePage(browser, accountPage);
    const forged = await browser.request(`${server.url}/account/password`, {
      form: { currentPassword: user.password, newPassword: 'forged new password', confirmPassword: 'forged new password' },
    });
    expect(forged.status).toBe(403);
    expect(pathOf(page)).toBe('/account/password');
  });
});
