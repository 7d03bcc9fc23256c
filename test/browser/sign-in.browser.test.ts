import { expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { browserDescribe, browserSuite, screenshot, type BrowserSuite } from '../helpers/browser.js';
import { checkPage, claim, watchedPage } from '../helpers/browser-flows.js';
import { accountWithUser, type Fixture } from '../helpers/provision.js';
import { secretFromUri, totp } from '../helpers/rfc6238.js';

/**
 * Real Chromium on the hosted pages, signing in through the built-in /demo relying party
 * (authorization code + PKCE against a Twofold process on Postgres + Redis). Every page reached
 * is screenshotted into test-artifacts/screenshots/.
 */
const describeBrowser = browserDescribe();
let suite: BrowserSuite;

const STEP_MS = 30_000;

/** Wrong passwords and codes (401) and the locked page (423) are answered so on purpose. */
const newPage = (): Promise<Page> => watchedPage(suite.context, suite.problems, [401, 423]);

/** /demo → "Sign in with Twofold" → the hosted login page. */
async function openDemoAndSignIn(page: Page, shot?: string): Promise<void> {
  await page.goto(`${suite.server.url}/demo`);
  await checkPage(page);
  await expect(page.getByRole('heading', { level: 1 }).innerText()).resolves.toBe('Twofold demo app');
  if (shot) await screenshot(page, shot);
  await page.getByRole('button', { name: 'Sign in with Twofold' }).click();
  await page.waitForURL(/\/interaction\//);
}

async function logIn(page: Page, user: Fixture, password = user.password, shot?: string): Promise<void> {
  await checkPage(page, ['Username', 'Password']);
  await expect(page.getByRole('heading', { level: 1 }).innerText()).resolves.toBe('Log in');
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  if (shot) await screenshot(page, shot);
  await page.getByRole('button', { name: 'Log In' }).click();
  await page.waitForLoadState('load');
}

async function backOnDemo(page: Page, shot: string): Promise<void> {
  await page.waitForURL(`${suite.server.url}/demo`);
  await checkPage(page);
  await expect(page.getByText('You are signed in.').isVisible()).resolves.toBe(true);
  await screenshot(page, shot);
}

/** From the "MFA required" notice to a verified Mobile Passcode device; returns the TOTP secret. */
async function enrolMobilePasscode(page: Page, prefix: string, options: { wrongCodeFirst?: boolean } = {}): Promise<string> {
  await expect(page.getByRole('heading', { level: 1 }).innerText()).resolves.toBe('Multi-factor authentication required');
  await checkPage(page);
  await screenshot(page, `${prefix}notice`);
  await page.getByRole('button', { name: 'Set Up Multi-Factor Authentication' }).click();

  await expect(page.getByRole('heading', { level: 1 }).innerText()).resolves.toBe('Choose a method');
  await checkPage(page);
  await screenshot(page, `${prefix}choose-method`);
  await page.getByRole('button', { name: 'Mobile Passcode', exact: true }).click();

  await checkPage(page, ['Device Nickname']);
  await page.getByLabel('Device Nickname', { exact: true }).fill('Work phone');
  await screenshot(page, `${prefix}enrol-nickname`);
  await page.getByRole('button', { name: 'Add Device' }).click();

  await checkPage(page, ['Verification Code']);
  const qr = page.getByRole('img', { name: 'QR code' });
  await qr.waitFor({ state: 'visible' });
  expect(await qr.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete)).toBe(true);
  expect(await qr.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
  expect(await qr.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
  const uri = await page.locator('a[href^="otpauth://"]').getAttribute('href');
  expect(uri).toMatch(/^otpauth:\/\/totp\/Twofold:/);
  const params = new URL(uri!).searchParams;
  expect(params.get('issuer')).toBe('Twofold');
  for (const [key, expected] of [
    ['algorithm', 'SHA1'],
    ['digits', '6'],
    ['period', '30'],
  ] as const) {
    if (params.has(key)) expect(params.get(key)).toBe(expected);
  }
  const secret = secretFromUri(uri!);
  // The key is also shown as text for manual entry (grouped in fours).
  expect((await page.locator('code.secret-key').innerText()).replace(/\s/g, '')).toBe(secret);

  if (options.wrongCodeFirst) {
    await page.getByLabel('Verification Code', { exact: true }).fill(wrongCode(secret));
    await page.getByRole('button', { name: 'Verify Mobile Passcode' }).click();
    await expect(page.getByRole('alert').innerText()).resolves.toContain('Invalid code');
    await expect(page.getByRole('img', { name: 'QR code' }).isVisible()).resolves.toBe(true);
    await checkPage(page, ['Verification Code']);
    await screenshot(page, `${prefix}enrolment-error`);
  }

  await page.getByLabel('Verification Code', { exact: true }).fill(totp(secret));
  await screenshot(page, `${prefix}enrolment`);
  await page.getByRole('button', { name: 'Verify Mobile Passcode' }).click();
  return secret;
}

/** A six-digit code that is none of the codes the server would accept right now. */
function wrongCode(secret: string): string {
  const now = Date.now();
  const accepted = new Set([-2, -1, 0, 1, 2].map((k) => totp(secret, now + k * STEP_MS)));
  for (let n = 123456; ; n = (n + 1) % 1_000_000) {
    const code = String(n).padStart(6, '0');
    if (!accepted.has(code)) return code;
  }
}

async function onChallenge(page: Page, shot?: string): Promise<void> {
  await expect(page.getByRole('heading', { level: 1 }).innerText()).resolves.toBe("Verify it's you");
  await checkPage(page, ['MFA Code']);
  if (shot) await screenshot(page, shot);
}

async function submitChallenge(page: Page, code: string): Promise<void> {
  await page.getByLabel('MFA Code', { exact: true }).fill(code);
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await page.waitForLoadState('load');
}

/** A user whose account requires MFA, enrolled with a Mobile Passcode through the browser. */
async function userWithDevice(prefix: string): Promise<{ user: Fixture; secret: string }> {
  const user = await accountWithUser(suite.db.url, { mfaRequired: true });
  const page = await newPage();
  await openDemoAndSignIn(page);
  await logIn(page, user);
  const secret = await enrolMobilePasscode(page, prefix);
  await backOnDemo(page, `${prefix}demo-signed-in-aal2`);
  expect(await claim(page, 'acr')).toBe('aal2');
  // Sign-in state lives in the context's cookies; a new context starts signed out.
  await suite.context.clearCookies();
  await page.close();
  return { user, secret };
}

describeBrowser('hosted sign-in pages in Chromium (via /demo)', () => {
  suite = browserSuite({ database: 'twofold_browser', serverLog: 'browser-server' });

  test('a. password-only sign-in (account without the MFA requirement): acr aal1', async () => {
    const user = await accountWithUser(suite.db.url, { mfaRequired: false });
    const page = await newPage();
    await openDemoAndSignIn(page, 'demo-start');
    await logIn(page, user, user.password, 'login');
    await backOnDemo(page, 'demo-signed-in-aal1');
    expect(await claim(page, 'sub')).toBe(user.userId);
    expect(await claim(page, 'acr')).toBe('aal1');
    expect(await claim(page, 'amr')).toBe('pwd');
    expect(await claim(page, 'iss')).toBe(suite.server.url);
  });

  test('b. forced Mobile Passcode enrolment, then a later sign-in with the challenge: acr aal2', async () => {
    const user = await accountWithUser(suite.db.url, { mfaRequired: true });
    const page = await newPage();
    await openDemoAndSignIn(page);
    await logIn(page, user);
    const secret = await enrolMobilePasscode(page, '');
    await backOnDemo(page, 'demo-signed-in-aal2');
    expect(await claim(page, 'sub')).toBe(user.userId);
    expect(await claim(page, 'acr')).toBe('aal2');
    expect((await claim(page, 'amr')).split(/,\s*/)).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));

    // Sign out through the demo: Twofold asks to confirm, then returns to /demo signed out.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => !url.pathname.startsWith('/demo'));
    await checkPage(page);
    await screenshot(page, 'logout-confirm');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${suite.server.url}/demo`);
    await expect(page.getByRole('button', { name: 'Sign in with Twofold' }).isVisible()).resolves.toBe(true);
    await screenshot(page, 'demo-signed-out');

    // Signing in again: password, then the challenge. The enrolment used the current time step
    // and each step counts once, so the authenticator's next code is used (±1 step accepted).
    await page.getByRole('button', { name: 'Sign in with Twofold' }).click();
    await page.waitForURL(/\/interaction\//);
    await logIn(page, user);
    await onChallenge(page, 'challenge');
    await expect(page.getByText('Work phone').isVisible()).resolves.toBe(true);
    await submitChallenge(page, totp(secret, Date.now() + STEP_MS));
    await backOnDemo(page, 'demo-signed-in-again-aal2');
    expect(await claim(page, 'acr')).toBe('aal2');
    expect((await claim(page, 'amr')).split(/,\s*/)).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
  });

  test('c. the 7th wrong code locks the user; the locked page says to contact support', async () => {
    const { user, secret } = await userWithDevice('c-');
    const page = await newPage();
    await openDemoAndSignIn(page);
    await logIn(page, user);
    await onChallenge(page);
    const bad = wrongCode(secret);
    for (let i = 1; i <= 6; i++) {
      await submitChallenge(page, bad);
      await expect(page.getByRole('alert').innerText()).resolves.toContain('Invalid code');
      await onChallenge(page);
    }
    const response = page.waitForResponse((res) => res.request().method() === 'POST' && res.url().endsWith('/mfa'));
    await submitChallenge(page, bad);
    expect((await response).status()).toBe(423);
    await checkPage(page);
    const text = await page.locator('main').innerText();
    expect(text).toMatch(/locked/i);
    expect(text).toMatch(/contact support/i);
    await expect(page.getByLabel('MFA Code', { exact: true }).count()).resolves.toBe(0);
    await screenshot(page, 'locked');

    // Locked for good: a new sign-in with the right password shows the locked page, not a challenge.
    await openDemoAndSignIn(page);
    await logIn(page, user);
    expect(await page.locator('main').innerText()).toMatch(/locked/i);
    await expect(page.getByLabel('MFA Code', { exact: true }).count()).resolves.toBe(0);
    await screenshot(page, 'locked-after-password');
  });

  test('d. errors are shown on the same page with the form kept: wrong password, wrong code', async () => {
    const user = await accountWithUser(suite.db.url, { mfaRequired: true });
    const page = await newPage();
    await openDemoAndSignIn(page);
    await logIn(page, user, 'not the password');
    await expect(page.getByRole('alert').innerText()).resolves.toContain('Invalid username or password');
    await checkPage(page, ['Username', 'Password']);
    await expect(page.getByLabel('Username', { exact: true }).inputValue()).resolves.toBe(user.username);
    await expect(page.getByLabel('Password', { exact: true }).inputValue()).resolves.toBe('');
    await screenshot(page, 'login-error');

    // The right password on the same page, then a wrong code during enrolment.
    await logIn(page, user);
    const secret = await enrolMobilePasscode(page, 'd-', { wrongCodeFirst: true });
    await backOnDemo(page, 'd-demo-signed-in-aal2');
    await suite.context.clearCookies();

    // A wrong code on the challenge page: "Invalid code", still the challenge form.
    await openDemoAndSignIn(page);
    await logIn(page, user);
    await onChallenge(page);
    await submitChallenge(page, wrongCode(secret));
    await expect(page.getByRole('alert').innerText()).resolves.toContain('Invalid code');
    await onChallenge(page, 'challenge-error');
    await expect(page.getByLabel('MFA Code', { exact: true }).inputValue()).resolves.toBe('');
    // Then the right code still works (the counter is far from the lock).
    await submitChallenge(page, totp(secret, Date.now() + STEP_MS));
    await backOnDemo(page, 'd-demo-signed-in-again-aal2');
    expect(await claim(page, 'acr')).toBe('aal2');
  });
});
