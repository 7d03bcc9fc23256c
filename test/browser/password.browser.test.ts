import { expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { browserDescribe, browserSuite, screenshot, type BrowserSuite } from '../helpers/browser.js';
import { checkPage, forcedTotpEnrolment, heading, logIn, sensitive, watchedPage } from '../helpers/browser-flows.js';
import type { Authenticator } from '../helpers/mfa.js';
import { accountWithUser } from '../helpers/provision.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

/**
 * The password pages in real Chromium: "Forgot password?" from the sign-in page to the mailed
 * link and a new password, and "Change password" on /account. Screenshots:
 * test-artifacts/screenshots/password-*.png.
 */
const describeBrowser = browserDescribe();
let suite: BrowserSuite;
let sink: SmtpSink;

const LINK = /https?:\/\/[^\s]+\/password-reset\/[A-Za-z0-9_-]{43}/;

async function mailTo(address: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (sink.to(address).length === 0) {
    if (Date.now() > deadline) throw new Error(`no mail to ${address}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return sink.to(address)[0]!.text;
}

/** A page answered with an error status on purpose: Chromium logs it, and that is no page problem. */
function expectedStatus(status: number, path: string): void {
  const i = suite.problems.findIndex((p) => p.includes(`status of ${status}`) && p.includes(path));
  expect(i).toBeGreaterThanOrEqual(0);
  suite.problems.splice(i, 1);
}

describeBrowser('password pages in Chromium', () => {
  suite = browserSuite({
    database: 'twofold_browser_password',
    serverLog: 'browser-password-server',
    env: async () => {
      sink = await startSmtpSink();
      return { MAIL_PROVIDER: 'smtp', SMTP_URL: sink.url };
    },
    after: async () => {
      await sink?.close();
    },
  });

  test('Forgot password?: the request page, its answer, back to sign in; the mailed link sets a new password and the sign-in still asks for MFA', async () => {
    const email = `forgetful-${randomBytes(3).toString('hex')}@example.com`;
    const user = await accountWithUser(suite.db.url, { mfaRequired: true, email });
    const page = await watchedPage(suite.context, suite.problems);

    await page.goto(`${suite.server.url}/account`);
    await page.waitForURL(/\/interaction\//);
    const signIn = page.url();
    expect(await heading(page)).toBe('Log in');
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.waitForURL((url) => url.pathname === '/password-reset');
    expect(await heading(page)).toBe('Forgot password?');
    await checkPage(page, ['Email']);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await screenshot(page, 'password-forgot');
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await page.waitForLoadState('load');
    expect(await page.getByRole('status').innerText()).toBe('If an account uses that address, we sent a link to it.');
    await screenshot(page, 'password-forgot-sent');
    await page.getByRole('link', { name: 'Back to sign in' }).click();
    await page.waitForLoadState('load');
    expect(page.url()).toBe(signIn);
    expect(await heading(page)).toBe('Log in');

    const link = (await mailTo(email)).match(LINK)![0];
    await page.goto(link);
    expect(await heading(page)).toBe('Choose a new password');
    await checkPage(page, ['New password', 'Confirm new password']);
    await page.getByLabel('New password', { exact: true }).fill('short one');
    await page.getByLabel('Confirm new password', { exact: true }).fill('short one');
    await page.getByRole('button', { name: 'Set Password' }).click();
    await page.waitForLoadState('load');
    expect(await page.getByRole('alert').innerText()).toBe('Your password must be at least 12 characters long.');
    expectedStatus(422, '/password-reset/');
    await screenshot(page, 'password-reset-rule');
    const next = 'a brand new tulip ledger';
    await page.getByLabel('New password', { exact: true }).fill(next);
    await page.getByLabel('Confirm new password', { exact: true }).fill(next);
    await screenshot(page, 'password-reset');
    await page.getByRole('button', { name: 'Set Password' }).click();
    await page.waitForLoadState('load');
    expect(await heading(page)).toBe('Password set');
    await screenshot(page, 'password-reset-done');

    // The new password leads to the forced enrolment: the reset skipped nothing.
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL(/\/interaction\//);
    await logIn(page, { username: user.username, password: next });
    expect(await heading(page)).toBe('Multi-factor authentication required');
  });

  test('Change password on /account: a wrong current password is named, the right one changes it and the user stays signed in', async () => {
    const user = await accountWithUser(suite.db.url, { mfaRequired: true });
    const apps = new Map<string, Authenticator>();
    const page = await watchedPage(suite.context, suite.problems);
    await page.goto(`${suite.server.url}/account`);
    await page.waitForURL(/\/interaction\//);
    await logIn(page, user);
    apps.set('Work phone', await forcedTotpEnrolment(page, 'Work phone'));
    await page.waitForURL((url) => url.pathname === '/account');
    expect(await page.getByRole('heading', { level: 2, name: 'Password' }).isVisible()).toBe(true);

    await sensitive(page, user, apps, async () => {
      await page.getByRole('link', { name: 'Change password' }).click();
      await page.waitForLoadState('load');
    });
    expect(await heading(page)).toBe('Change password');
    await checkPage(page, ['Current password', 'New password', 'Confirm new password']);
    await page.getByLabel('Current password', { exact: true }).fill('not my password');
    await page.getByLabel('New password', { exact: true }).fill('my next tulip ledger');
    await page.getByLabel('Confirm new password', { exact: true }).fill('my next tulip ledger');
    await page.getByRole('button', { name: 'Change Password' }).click();
    await page.waitForLoadState('load');
    expect(await page.getByRole('alert').innerText()).toBe('Your current password is not correct.');
    expectedStatus(401, '/account/password');
    await screenshot(page, 'password-change-wrong-current');

    await page.getByLabel('Current password', { exact: true }).fill(user.password);
    await page.getByLabel('New password', { exact: true }).fill('my next tulip ledger');
    await page.getByLabel('Confirm new password', { exact: true }).fill('my next tulip ledger');
    await screenshot(page, 'password-change');
    await page.getByRole('button', { name: 'Change Password' }).click();
    await page.waitForURL((url) => url.pathname === '/account');
    expect(await page.getByRole('status').innerText()).toBe('Your password was changed. Your other sessions were signed out.');
    await screenshot(page, 'password-change-done');
  });
});
