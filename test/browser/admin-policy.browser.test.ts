import { expect, test } from '@jest/globals';
import type { BrowserContext, Page } from 'playwright-core';
import { browserDescribe, browserSuite, screenshot, type BrowserSuite } from '../helpers/browser.js';
import { checkPage, claim, heading, logIn, onInteraction, readQrPage, reauthenticateIfAsked, watchedPage } from '../helpers/browser-flows.js';
import { userIn } from '../helpers/admin-api.js';
import type { Authenticator } from '../helpers/mfa.js';
import { accountWithUser } from '../helpers/provision.js';

/**
 * The account-wide "Require Multi-Factor" setting on the hosted admin page, in real Chromium,
 * with two browser contexts of one account that does not require MFA yet: U, a plain user
 * without a device signed in to /demo with a password only; A, the account's admin (with a
 * Mobile Passcode) on /account/admin. Enabling the setting signs out every session of the
 * account: U's next sign-in asks for the password again and then for enrolment, and A is
 * signed out too. Screenshots: test-artifacts/screenshots/admin-*.png and account-admin*.png.
 */
const describeBrowser = browserDescribe();
let suite: BrowserSuite;

/** /demo → "Sign in with Twofold"; where the browser lands next is up to Twofold. */
async function startDemoSignIn(page: Page): Promise<void> {
  await page.goto(`${suite.server.url}/demo`);
  await checkPage(page);
  await page.getByRole('button', { name: 'Sign in with Twofold' }).click();
  await page.waitForLoadState('load');
}

async function onDemoSignedIn(page: Page): Promise<void> {
  await page.waitForURL(`${suite.server.url}/demo`);
  await checkPage(page);
  expect(await page.getByText('You are signed in.').isVisible()).toBe(true);
}

/** The relying party forgets its own session (its cookie); Twofold's session is untouched. */
async function forgetDemoSession(context: BrowserContext): Promise<void> {
  await context.clearCookies({ name: /^twofold\.demo\.session/ });
}

describeBrowser('Require Multi-Factor on the admin page (/account/admin) in Chromium', () => {
  suite = browserSuite({ database: 'twofold_browser_admin', serverLog: 'browser-admin-server' });

  test("an admin enables Require Multi-Factor: the user's other browser must sign in again and enrol; the admin is signed out", async () => {
    const admin = await accountWithUser(suite.db.url, { mfaRequired: false, role: 'admin' });
    const plain = await userIn(suite.db.url, admin.accountId);

    // U: the plain user signs in to /demo with a password only (no device, MFA not required).
    const contextU = await suite.newContext();
    const u = await watchedPage(contextU, suite.problems);
    await startDemoSignIn(u);
    expect(onInteraction(u)).toBe(true);
    await logIn(u, plain);
    await onDemoSignedIn(u);
    expect(await claim(u, 'sub')).toBe(plain.userId);
    expect(await claim(u, 'acr')).toBe('aal1');
    expect(await claim(u, 'amr')).toBe('pwd');
    await screenshot(u, 'admin-user-signed-in-aal1');
    // Twofold remembers U: a new sign-in of the demo app passes straight through (no page).
    await forgetDemoSession(contextU);
    await startDemoSignIn(u);
    await onDemoSignedIn(u);
    expect(await claim(u, 'acr')).toBe('aal1');

    // A: the admin signs in to /account (password only) and adds a Mobile Passcode device.
    const contextA = await suite.newContext();
    const a = await watchedPage(contextA, suite.problems);
    const apps = new Map<string, Authenticator>();
    await a.goto(`${suite.server.url}/account`);
    await a.waitForURL(/\/interaction\//);
    await logIn(a, admin);
    await a.waitForURL(`${suite.server.url}/account`);
    expect(await heading(a)).toBe('My Profile & Settings');
    await a.getByRole('link', { name: 'Add Mobile Passcode device' }).click();
    await reauthenticateIfAsked(a, admin, apps);
    await a.getByLabel('Device Nickname', { exact: true }).fill('Admin phone');
    await a.getByRole('button', { name: 'Add Device' }).click();
    const app = await readQrPage(a);
    apps.set('Admin phone', app);
    await a.getByLabel('Make this my default authentication method', { exact: true }).uncheck();
    await a.getByLabel('Verification Code', { exact: true }).fill(await app.next());
    await a.getByRole('button', { name: 'Verify Mobile Passcode' }).click();
    await a.waitForURL(`${suite.server.url}/account?done=verified`);

    // "User Management" needs a sign-in with MFA: the admin signed in with a password only, so
    // Twofold asks again (password, then the new device's code) and comes back to the page.
    await a.getByRole('link', { name: 'User Management' }).click();
    expect(await reauthenticateIfAsked(a, admin, apps)).toBe(true);
    await a.waitForURL(`${suite.server.url}/account/admin`);
    await checkPage(a);
    expect(await heading(a)).toBe('User Management');
    expect(await a.locator('#policy-state').innerText()).toBe('Require Multi-Factor: Disabled');
    const users = a.locator('table.claims tbody tr');
    expect(await users.count()).toBe(2);
    const rowOf = (name: string) => users.filter({ has: a.locator('td', { hasText: new RegExp(`^${name}$`) }) });
    expect(await rowOf(admin.username).innerText()).toMatch(/admin\s+On \(1 device\)\s+Mobile Passcode/);
    expect(await rowOf(plain.username).innerText()).toMatch(/user\s+Off/);
    await screenshot(a, 'account-admin');

    // The pencil opens the dialog: Enabled, Disabled (support only), Save Setting.
    const pencil = a.getByLabel('Edit Require Multi-Factor', { exact: true });
    expect(await pencil.evaluate((el) => (el as unknown as { tagName: string }).tagName)).toBe('SUMMARY');
    const enabled = a.getByLabel(/^Enabled/);
    expect(await enabled.isVisible()).toBe(false);
    await pencil.click();
    expect(await enabled.isVisible()).toBe(true);
    await checkPage(a);
    const disabled = a.getByLabel(/^Disabled/);
    expect(await disabled.isChecked()).toBe(true);
    expect(await disabled.isDisabled()).toBe(true);
    await enabled.check();
    await screenshot(a, 'account-admin-policy-dialog');
    await a.getByRole('button', { name: 'Save Setting' }).click();

    // Enabling signs out everyone in the account, the admin included.
    await a.waitForURL(/\/account\/signed-out\?reason=policy$/);
    await checkPage(a);
    expect(await heading(a)).toBe('You are signed out.');
    expect(await a.locator('main').innerText()).toContain('Multi-factor authentication is now required for everyone in your account');
    await screenshot(a, 'account-admin-signed-out');
    // Twofold's own session of the admin is gone too: /account asks for the password again.
    await a.goto(`${suite.server.url}/account`);
    await a.waitForURL(/\/interaction\//);
    expect(await heading(a)).toBe('Log in');

    // U: a new sign-in of the demo app is not passed through any more: the password page, then
    // the required-MFA notice (U has no device).
    await forgetDemoSession(contextU);
    await startDemoSignIn(u);
    expect(onInteraction(u)).toBe(true);
    await screenshot(u, 'admin-user-login-again');
    await logIn(u, plain);
    expect(onInteraction(u)).toBe(true);
    expect(await heading(u)).toBe('Multi-factor authentication required');
    await checkPage(u);
    expect(await u.getByRole('button', { name: 'Set Up Multi-Factor Authentication' }).isVisible()).toBe(true);
    await screenshot(u, 'admin-user-must-enrol');
  }, 180_000);
});
