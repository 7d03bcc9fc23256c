import { expect, test } from '@jest/globals';
import pg from 'pg';
import type { CDPSession, Page } from 'playwright-core';
import { browserDescribe, browserSuite, screenshot, type BrowserSuite } from '../helpers/browser.js';
import { checkPage, claim, heading, watchedPage } from '../helpers/browser-flows.js';
import { accountWithUser, type Fixture } from '../helpers/provision.js';
import { freePort } from '../helpers/twofold-server.js';

/**
 * Passkeys in real Chromium with the DevTools virtual authenticator (ctap2, internal transport,
 * resident key, user verification): forced enrolment picks Passkey, password + passkey sign-in
 * through the /demo relying party, acr_values=phr as a step-up, /account "Add passkey", a failed
 * ceremony, and a locked user. Screenshots: test-artifacts/screenshots/passkey-*.png.
 */
const describeBrowser = browserDescribe();
let suite: BrowserSuite;
/** WebAuthn needs a domain as RP id: the server's issuer is http://localhost:<port>. */
let base = '';

async function virtualAuthenticator(cdp: CDPSession): Promise<string> {
  const { authenticatorId } = (await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  })) as { authenticatorId: string };
  return authenticatorId;
}

async function demoSignIn(page: Page, acr?: string): Promise<void> {
  await page.goto(`${base}/demo`);
  if (acr) {
    await page.locator(`form[action="/demo/login?acr=${acr}"] button`).click();
  } else {
    await page.getByRole('button', { name: 'Sign in with Twofold' }).click();
  }
  await page.waitForURL(/\/interaction\/|\/demo$/);
}

async function logIn(page: Page, user: Fixture): Promise<void> {
  expect(await heading(page)).toBe('Log in');
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Log In' }).click();
  await page.waitForLoadState('load');
}

async function usePasskey(page: Page, shot: string): Promise<void> {
  expect(await heading(page)).toBe("Verify it's you");
  await checkPage(page);
  await screenshot(page, shot);
  await page.getByRole('button', { name: 'Use passkey' }).click();
}

async function onDemo(page: Page, shot: string): Promise<{ acr: string; amr: string[] }> {
  await page.waitForURL(`${base}/demo`);
  await expect(page.getByText('You are signed in.').isVisible()).resolves.toBe(true);
  await screenshot(page, shot);
  return { acr: await claim(page, 'acr'), amr: (await claim(page, 'amr')).split(', ') };
}

async function storedPasskeys(userId: string): Promise<{ name: string; backedUp: boolean; counter: number }[]> {
  const pool = new pg.Pool({ connectionString: suite.db.url, max: 1 });
  try {
    const { rows } = await pool.query<{ name: string; backedUp: boolean; counter: number }>(
      `SELECT nickname AS name, (config->>'backedUp')::boolean AS "backedUp", (config->>'counter')::int AS counter
       FROM mfa_devices WHERE user_id = $1 AND credential_id IS NOT NULL AND verified_at IS NOT NULL ORDER BY created_at`,
      [userId],
    );
    return rows;
  } finally {
    await pool.end();
  }
}

/** Devices still waiting for verification: a failed one-page add leaves none behind. */
async function pendingDevices(userId: string): Promise<number> {
  const pool = new pg.Pool({ connectionString: suite.db.url, max: 1 });
  try {
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM mfa_devices WHERE user_id = $1 AND verified_at IS NULL', [userId]);
    return rows[0]!.n;
  } finally {
    await pool.end();
  }
}

describeBrowser('passkeys (WebAuthn) in Chromium', () => {
  suite = browserSuite({
    database: 'twofold_browser_passkey',
    serverLog: 'browser-passkey-server',
    env: async () => {
      const port = await freePort();
      base = `http://localhost:${port}`;
      return { PORT: String(port), ISSUER: base, ALLOWED_HOSTS: `127.0.0.1:${port}` };
    },
  });

  test('enrol a passkey, sign in with password + passkey, phr step-up, add one on /account, a failed ceremony, a locked user', async () => {
    const discovery = (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as { acr_values_supported: string[] };
    expect(discovery.acr_values_supported).toEqual(['aal1', 'aal2', 'phr']);
    const user = await accountWithUser(suite.db.url, { mfaRequired: true, username: 'pat' });
    const page = await watchedPage(suite.context, suite.problems, [401, 423]);
    const cdp = await suite.context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const first = await virtualAuthenticator(cdp);

    // Forced enrolment offers Passkey.
    await demoSignIn(page);
    await logIn(page, user);
    expect(await heading(page)).toBe('Multi-factor authentication required');
    await page.getByRole('button', { name: 'Set Up Multi-Factor Authentication' }).click();
    await page.waitForLoadState('load');
    await screenshot(page, 'passkey-choose-method');
    await page.getByRole('button', { name: 'Passkey', exact: true }).click();
    await page.waitForLoadState('load');
    // One page here too: the name, then Create passkey runs the ceremony.
    await checkPage(page, ['Passkey name']);
    expect(await heading(page)).toBe('Add a passkey');
    await page.getByLabel('Passkey name', { exact: true }).fill('This laptop');
    await screenshot(page, 'passkey-enrol-create');
    await page.getByRole('button', { name: 'Create passkey' }).click();
    const enrolled = await onDemo(page, 'passkey-demo-after-enrolment');
    const [stored] = await storedPasskeys(user.userId);
    expect(stored).toMatchObject({ name: 'This laptop' });
    const keyAmr = stored!.backedUp ? 'swk' : 'hwk';
    expect(enrolled).toEqual({ acr: 'aal2', amr: ['pwd', keyAmr, 'mfa'] });

    // Password + passkey: amr pwd, hwk/swk (as stored), mfa.
    await suite.context.clearCookies();
    await demoSignIn(page);
    await logIn(page, user);
    await usePasskey(page, 'passkey-challenge');
    expect(await onDemo(page, 'passkey-demo-signed-in')).toEqual({ acr: 'aal2', amr: ['pwd', keyAmr, 'mfa'] });
    expect((await storedPasskeys(user.userId))[0]!.counter).toBeGreaterThan(0);

    // acr_values=phr on this aal2 session (the demo's own cookie dropped, Twofold's kept): a
    // step-up to the passkey (no password), then acr phr.
    await suite.context.clearCookies({ name: 'twofold.demo.session' });
    await demoSignIn(page, 'phr');
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
    await usePasskey(page, 'passkey-phr-step-up');
    expect(await onDemo(page, 'passkey-demo-phr')).toEqual({ acr: 'phr', amr: ['pwd', keyAmr, 'mfa'] });

    // /account: Add passkey, named, made default; listed as kind Passkey. A second
    // authenticator holds it (the first one's credential is excluded from registering again).
    await page.goto(`${base}/account`);
    if (new URL(page.url()).pathname.startsWith('/interaction/')) {
      await logIn(page, user);
      await usePasskey(page, 'passkey-account-sign-in');
      await page.waitForURL((url) => url.pathname === '/account');
    }
    // One page: name, default, Create passkey. A failed ceremony (the first authenticator
    // already holds a passkey of this user, so it refuses) says so on the page and leaves no
    // device waiting; the retry on another authenticator creates it.
    await page.getByRole('link', { name: 'Add passkey' }).click();
    await page.waitForLoadState('load');
    await checkPage(page, ['Passkey name', 'Make this my default authentication method']);
    await page.getByLabel('Passkey name', { exact: true }).fill('Security key');
    await expect(page.getByLabel('Make this my default authentication method').isChecked()).resolves.toBe(true);
    await screenshot(page, 'passkey-account-create');
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await page.getByText('Passkey not recognised').waitFor({ state: 'visible', timeout: 20_000 });
    expect(new URL(page.url()).pathname).toBe('/account/devices/new/passkey');
    await screenshot(page, 'passkey-account-failed');
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: first });
    const second = await virtualAuthenticator(cdp);
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await page.waitForURL((url) => url.pathname === '/account' || url.pathname.startsWith('/account/signed-out'));
    await screenshot(page, 'passkey-account-added');
    expect((await storedPasskeys(user.userId)).map((p) => p.name)).toEqual(['This laptop', 'Security key']);
    expect(await pendingDevices(user.userId)).toBe(0);
    // Making it the default ended the session: sign in again, now with the new passkey.
    await page.goto(`${base}/account`);
    if (new URL(page.url()).pathname.startsWith('/interaction/')) {
      await logIn(page, user);
      await usePasskey(page, 'passkey-account-sign-in-again');
      await page.waitForURL((url) => url.pathname === '/account');
    }
    const kinds = await page.locator('table.devices tbody td.cell-kind').allInnerTexts();
    expect(kinds.map((k) => k.trim())).toEqual(['Passkey', 'Passkey']);
    expect(await page.locator('#default-method').innerText()).toBe('Your default authentication method is currently set as Passkey');

    // Sign in with a passkey (no password) in a fresh browser holding the same credential.
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId: second });
    expect(credentials).toHaveLength(1);
    const other = await suite.newContext();
    const otherPage = await watchedPage(other, suite.problems, [401, 423]);
    const otherCdp = await other.newCDPSession(otherPage);
    await otherCdp.send('WebAuthn.enable');
    const copy = await virtualAuthenticator(otherCdp);
    await otherCdp.send('WebAuthn.addCredential', { authenticatorId: copy, credential: credentials[0]! });
    await otherPage.goto(`${base}/demo`);
    expect(await otherPage.locator('#passwordless').innerText()).toContain('Sign in with a passkey');
    await demoSignIn(otherPage);
    expect(await heading(otherPage)).toBe('Log in');
    await screenshot(otherPage, 'passkey-login-page');
    await otherPage.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const passwordless = await onDemo(otherPage, 'passkey-demo-passwordless');
    const secondAmr = (await storedPasskeys(user.userId))[1]!.backedUp ? 'swk' : 'hwk';
    expect(passwordless).toEqual({ acr: 'aal2', amr: [secondAmr, 'mfa'] });

    // A failed ceremony (the authenticator holds no credential): "Passkey not recognised", nothing issued.
    await cdp.send('WebAuthn.clearCredentials', { authenticatorId: second });
    await suite.context.clearCookies();
    await demoSignIn(page);
    await logIn(page, user);
    await usePasskey(page, 'passkey-challenge-before-failure');
    await expect(page.getByText('Passkey not recognised').waitFor({ state: 'visible', timeout: 20_000 })).resolves.toBeUndefined();
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
    await screenshot(page, 'passkey-not-recognised');
    await page.goto(`${base}/demo`);
    await expect(page.getByText('You are signed in.').count()).resolves.toBe(0);

    // A locked user is refused before any passkey is asked for.
    const pool = new pg.Pool({ connectionString: suite.db.url, max: 1 });
    await pool.query("UPDATE users SET locked_at = now(), locked_reason = 'test' WHERE id = $1", [user.userId]);
    await pool.end();
    await suite.context.clearCookies();
    await demoSignIn(page);
    await logIn(page, user);
    expect(await heading(page)).toBe('Your account is locked');
    await screenshot(page, 'passkey-locked');
    await expect(page.getByRole('button', { name: 'Use passkey' }).count()).resolves.toBe(0);
  }, 180_000);
});
