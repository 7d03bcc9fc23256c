import { expect } from '@jest/globals';
import type { BrowserContext, Page } from 'playwright-core';
import { screenshot } from './browser.js';
import { Authenticator } from './mfa.js';

/**
 * Steps shared by the /account and /account/admin browser suites: a page that records console
 * errors, the accessibility sanity check, the hosted sign-in steps and the re-authentication
 * that sensitive /account pages may demand.
 */

export interface Credentials {
  username: string;
  password: string;
}

/** A new page of `context` whose console errors and uncaught errors are pushed to `problems`. */
export async function watchedPage(context: BrowserContext, problems: string[], okStatuses: number[] = []): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = msg.location().url || page.url();
    // Hosted pages answered on purpose with an error status (a wrong code: 401, locked: 423, ...).
    const status = /status of (\d{3})\b/.exec(msg.text());
    if (status && okStatuses.includes(Number(status[1])) && /\/interaction\//.test(where)) return;
    // Chromium asks for /favicon.ico on its own; Twofold has none (not a page problem).
    if (/\/favicon\.ico$/.test(where)) return;
    problems.push(`console: ${msg.text()} (${where})`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message} (${page.url()})`));
  return page;
}

export const heading = (page: Page): Promise<string> => page.getByRole('heading', { level: 1 }).innerText();

/** Accessibility sanity: lang, one visible h1, every form control labelled, the given labels work. */
export async function checkPage(page: Page, labels: string[] = []): Promise<void> {
  expect(await page.locator('html').getAttribute('lang')).toBeTruthy();
  expect(await page.locator('h1').count()).toBe(1);
  expect(await page.locator('h1').isVisible()).toBe(true);
  const unlabelled = (await page.evaluate(`Array.from(document.querySelectorAll('input, select, textarea'))
    .filter((el) => el.type !== 'hidden')
    .filter((el) => !(el.labels && el.labels.length > 0) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map((el) => el.outerHTML)`)) as string[];
  expect(unlabelled).toEqual([]);
  for (const label of labels) {
    const field = page.getByLabel(label, { exact: true });
    expect(await field.count()).toBe(1);
    expect(await field.isVisible()).toBe(true);
  }
}

/** The value of an ID token claim on the /demo page. */
export async function claim(page: Page, name: string): Promise<string> {
  const row = page.locator('table.claims tbody tr').filter({ has: page.locator('th', { hasText: new RegExp(`^\\s*${name}\\s*$`) }) });
  return (await row.locator('td').innerText()).trim();
}

export const onInteraction = (page: Page): boolean => new URL(page.url()).pathname.startsWith('/interaction/');

/** The hosted "Log in" page: Username, Password, Log In. */
export async function logIn(page: Page, user: Credentials, shot?: string): Promise<void> {
  expect(await heading(page)).toBe('Log in');
  await checkPage(page, ['Username', 'Password']);
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  if (shot) await screenshot(page, shot);
  await page.getByRole('button', { name: 'Log In' }).click();
  await page.waitForLoadState('load');
}

/**
 * The MFA challenge: picks the authenticator of the device the page names (by nickname) and
 * submits its next unused code.
 */
export async function answerChallenge(page: Page, apps: Map<string, Authenticator>, shot?: string): Promise<void> {
  expect(await heading(page)).toBe("Verify it's you");
  await checkPage(page, ['MFA Code']);
  const lead = await page.locator('p.lead').innerText();
  const named = [...apps.keys()].find((nickname) => lead.includes(nickname));
  if (!named) throw new Error(`the challenge names no known device: "${lead}" (known: ${[...apps.keys()].join(', ')})`);
  if (shot) await screenshot(page, shot);
  await page.getByLabel('MFA Code', { exact: true }).fill(await apps.get(named)!.next());
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await page.waitForLoadState('load');
}

/**
 * When a sensitive /account page sent the browser through a re-authentication (max_age=0),
 * signs in again (password, then the challenge) and returns true once back under /account.
 * Returns false when no sign-in was asked for.
 */
export async function reauthenticateIfAsked(page: Page, user: Credentials, apps: Map<string, Authenticator>, shot?: string): Promise<boolean> {
  await page.waitForLoadState('load');
  if (!onInteraction(page)) return false;
  await logIn(page, user, shot ? `${shot}-login` : undefined);
  if (onInteraction(page)) await answerChallenge(page, apps, shot ? `${shot}-challenge` : undefined);
  await page.waitForURL((url) => url.pathname.startsWith('/account'));
  await page.waitForLoadState('load');
  return true;
}

/**
 * Runs `act` (which leads to a sensitive page or submits a sensitive form); when Twofold first
 * asks for a re-authentication, signs in again and, since the browser comes back to the form
 * rather than to the result, runs `act` once more. Returns how many re-authentications happened.
 */
export async function sensitive(page: Page, user: Credentials, apps: Map<string, Authenticator>, act: () => Promise<void>): Promise<number> {
  await act();
  if (!(await reauthenticateIfAsked(page, user, apps))) return 0;
  await act();
  if (await reauthenticateIfAsked(page, user, apps)) throw new Error(`asked to sign in again twice in a row (${page.url()})`);
  return 1;
}

/**
 * On a hosted enrolment QR page: checks the QR image and the otpauth link and returns an
 * authenticator app for the key it shows.
 */
export async function readQrPage(page: Page): Promise<Authenticator> {
  expect(await heading(page)).toBe('Scan the QR code');
  await checkPage(page, ['Verification Code']);
  const qr = page.getByRole('img', { name: 'QR code' });
  await qr.waitFor({ state: 'visible' });
  expect(await qr.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
  expect(await qr.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
  const uri = await page.locator('a[href^="otpauth://totp/"]').getAttribute('href');
  expect(uri).toMatch(/^otpauth:\/\/totp\/Twofold:/);
  const app = Authenticator.fromUri(uri!);
  expect((await page.locator('code.secret-key').innerText()).replace(/\s/g, '')).toBe(app.secret);
  return app;
}

/** The forced enrolment of a sign-in, from the required-MFA notice to the verified Mobile Passcode. */
export async function forcedTotpEnrolment(page: Page, nickname: string, shotPrefix?: string): Promise<Authenticator> {
  expect(await heading(page)).toBe('Multi-factor authentication required');
  await checkPage(page);
  if (shotPrefix) await screenshot(page, `${shotPrefix}notice`);
  await page.getByRole('button', { name: 'Set Up Multi-Factor Authentication' }).click();
  expect(await heading(page)).toBe('Choose a method');
  await page.getByRole('button', { name: 'Mobile Passcode', exact: true }).click();
  await checkPage(page, ['Device Nickname']);
  await page.getByLabel('Device Nickname', { exact: true }).fill(nickname);
  await page.getByRole('button', { name: 'Add Device' }).click();
  const app = await readQrPage(page);
  // "Make this my default authentication method" belongs to self-service only.
  expect(await page.getByLabel('Make this my default authentication method').count()).toBe(0);
  await page.getByLabel('Verification Code', { exact: true }).fill(await app.next());
  if (shotPrefix) await screenshot(page, `${shotPrefix}enrolment`);
  await page.getByRole('button', { name: 'Verify Mobile Passcode' }).click();
  await page.waitForLoadState('load');
  return app;
}
