import { expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { browserDescribe, browserSuite, screenshot, type BrowserSuite } from '../helpers/browser.js';
import { checkPage, forcedTotpEnrolment, heading, logIn, readQrPage, sensitive, watchedPage } from '../helpers/browser-flows.js';
import type { Authenticator } from '../helpers/mfa.js';
import { accountWithUser, type Fixture } from '../helpers/provision.js';
import { ROOT } from '../helpers/twofold-server.js';

/**
 * "My Profile & Settings" (/account) in real Chromium: a user enrolled with a Mobile Passcode
 * through the forced enrolment of the /account sign-in adds a second device (not as default),
 * generates and downloads recovery codes, changes the default method, removes one device and
 * then all of them. Sensitive pages may send the browser through a re-authentication; the
 * steps handle it where it happens. Screenshots: test-artifacts/screenshots/account-*.png; the
 * devices page is also kept in docs/screenshots/account-devices.png for the README.
 */
const describeBrowser = browserDescribe();
let suite: BrowserSuite;

const CODE = /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/;

/** The row of the devices table that shows `name`. */
const deviceRow = (page: Page, name: string) =>
  page.locator('table.devices tbody tr').filter({ has: page.locator('td.device-name', { hasText: new RegExp(`^\\s*${name}\\s*$`) }) });

interface Row {
  kind: string;
  name: string;
  status: string;
  isDefault: boolean;
}

async function deviceRows(page: Page): Promise<Row[]> {
  const rows = page.locator('table.devices tbody tr');
  const out: Row[] = [];
  for (let i = 0; i < (await rows.count()); i++) {
    const row = rows.nth(i);
    out.push({
      kind: (await row.locator('td.cell-kind').innerText()).trim(),
      name: (await row.locator('td.cell-name').innerText()).trim(),
      status: (await row.locator('td.cell-status').innerText()).trim(),
      isDefault: (await row.locator('td.cell-default .badge', { hasText: 'Default' }).count()) === 1,
    });
  }
  return out;
}

async function onAccountPage(page: Page, notice?: string): Promise<void> {
  await page.waitForURL((url) => url.pathname === '/account');
  await checkPage(page);
  expect(await heading(page)).toBe('My Profile & Settings');
  expect(await page.getByRole('heading', { level: 2, name: 'My Multi-Factor Devices' }).isVisible()).toBe(true);
  if (notice) expect(await page.getByRole('status').innerText()).toBe(notice);
}

describeBrowser('My Profile & Settings (/account) in Chromium', () => {
  suite = browserSuite({ database: 'twofold_browser_account', serverLog: 'browser-account-server' });

  test('devices, a second Mobile Passcode, recovery codes download, default method, remove one, remove all', async () => {
    const user: Fixture = await accountWithUser(suite.db.url, { mfaRequired: true, username: 'alice' });
    /** The user's authenticator apps by device nickname (a challenge names the device it asks for). */
    const apps = new Map<string, Authenticator>();
    let reauths = 0;
    const page = await watchedPage(suite.context, suite.problems);

    // /account signs in through Twofold like any app: password, then the forced enrolment.
    await page.goto(`${suite.server.url}/account`);
    await page.waitForURL(/\/interaction\//);
    await logIn(page, user, 'account-sign-in');
    apps.set('Work phone', await forcedTotpEnrolment(page, 'Work phone', 'account-'));
    await onAccountPage(page);
    expect(await page.getByText(`Signed in as ${user.username}`).isVisible()).toBe(true);
    expect(await deviceRows(page)).toEqual([{ kind: 'Mobile Passcode', name: 'Work phone', status: 'Verified', isDefault: true }]);
    expect(await page.locator('#default-method').innerText()).toBe('Your default authentication method is currently set as Mobile Passcode Application');
    expect(await page.locator('#recovery-left').innerText()).toBe('Recovery codes: 0 left');
    await screenshot(page, 'account-one-device');

    // "Add Mobile Passcode device": Device Nickname, Add Device, the QR code page.
    reauths += await sensitive(page, user, apps, async () => {
      if (!(new URL(page.url()).pathname === '/account/devices/new/totp')) await page.getByRole('link', { name: 'Add Mobile Passcode device' }).click();
    });
    expect(await heading(page)).toBe('Add a mobile passcode device');
    await checkPage(page, ['Device Nickname']);
    reauths += await sensitive(page, user, apps, async () => {
      await page.getByLabel('Device Nickname', { exact: true }).fill('Backup tablet');
      await screenshot(page, 'account-add-totp-nickname');
      await page.getByRole('button', { name: 'Add Device' }).click();
    });
    await page.waitForURL(/\/account\/devices\/[0-9a-f-]{36}$/);
    const tablet = await readQrPage(page);
    apps.set('Backup tablet', tablet);
    const makeDefault = page.getByLabel('Make this my default authentication method', { exact: true });
    expect(await makeDefault.isChecked()).toBe(true);
    await screenshot(page, 'account-add-totp-qr');
    reauths += await sensitive(page, user, apps, async () => {
      await page.getByLabel('Make this my default authentication method', { exact: true }).uncheck();
      await page.getByLabel('Verification Code', { exact: true }).fill(await tablet.next());
      await screenshot(page, 'account-add-totp-verify');
      await page.getByRole('button', { name: 'Verify Mobile Passcode' }).click();
    });
    // Not made the default: the user stays signed in and lands on the devices page.
    await onAccountPage(page, 'Your device is verified.');
    expect(await deviceRows(page)).toEqual([
      { kind: 'Mobile Passcode', name: 'Work phone', status: 'Verified', isDefault: true },
      { kind: 'Mobile Passcode', name: 'Backup tablet', status: 'Verified', isDefault: false },
    ]);
    for (const name of ['Work phone', 'Backup tablet']) {
      expect(await deviceRow(page, name).getByRole('link', { name: 'Manage' }).isVisible()).toBe(true);
    }
    await screenshot(page, 'account-devices-verified');
    // The README's picture of the devices page (without the one-time notice), 1000x800 viewport.
    await page.goto(`${suite.server.url}/account`);
    await onAccountPage(page);
    expect((await deviceRows(page)).map((d) => d.name)).toEqual(['Work phone', 'Backup tablet']);
    await page.setViewportSize({ width: 1000, height: 800 });
    const devicesShot = await screenshot(page, 'account-devices');
    fs.mkdirSync(path.join(ROOT, 'docs', 'screenshots'), { recursive: true });
    fs.copyFileSync(devicesShot, path.join(ROOT, 'docs', 'screenshots', 'account-devices.png'));
    await page.setViewportSize({ width: 1024, height: 768 });

    // "Generate Recovery Codes": Quantity (default 10), Generate Codes, the codes shown once.
    reauths += await sensitive(page, user, apps, async () => {
      if (new URL(page.url()).pathname !== '/account/recovery-codes') await page.getByRole('link', { name: 'Generate Recovery Codes' }).click();
    });
    expect(await heading(page)).toBe('Generate Recovery Codes');
    await checkPage(page, ['Quantity']);
    expect(await page.getByLabel('Quantity', { exact: true }).inputValue()).toBe('10');
    reauths += await sensitive(page, user, apps, async () => {
      await page.getByLabel('Quantity', { exact: true }).selectOption('10');
      await screenshot(page, 'account-recovery-generate');
      await page.getByRole('button', { name: 'Generate Codes' }).click();
    });
    expect(await heading(page)).toBe('Your recovery codes');
    await checkPage(page);
    const shown = (await page.getByRole('list', { name: 'Recovery codes' }).locator('li').allInnerTexts()).map((c) => c.trim());
    expect(shown).toHaveLength(10);
    for (const code of shown) expect(code).toMatch(CODE);
    expect(new Set(shown).size).toBe(10);
    await screenshot(page, 'account-recovery-codes');

    // "Save Your Codes" downloads recovery-codes.txt: a header, then one code a line.
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Save Your Codes' }).click();
    const file = await download;
    expect(file.suggestedFilename()).toBe('recovery-codes.txt');
    expect(await file.failure()).toBeNull();
    const text = fs.readFileSync((await file.path())!, 'utf8');
    const lines = text.split('\n');
    expect(lines[0]).toBe(`Twofold recovery codes for ${user.username}`);
    const blank = lines.indexOf('');
    expect(blank).toBeGreaterThan(0);
    const header = lines.slice(0, blank);
    for (const line of header) expect(line).not.toMatch(CODE);
    const body = lines.slice(blank + 1).filter((line) => line !== '');
    expect(body).toEqual(shown);
    expect(text.endsWith('\n')).toBe(true);
    // The download did not navigate away: the codes are still on screen.
    expect(await heading(page)).toBe('Your recovery codes');
    await page.getByRole('link', { name: 'Done' }).click();
    await onAccountPage(page);
    expect(await page.locator('#recovery-left').innerText()).toBe('Recovery codes: 10 left');

    // The default method: Edit, Mobile Passcode Application, Save.
    reauths += await sensitive(page, user, apps, async () => {
      if (new URL(page.url()).pathname !== '/account/default') await page.getByRole('link', { name: 'Edit', exact: true }).click();
    });
    expect(await heading(page)).toBe('Default authentication method');
    await checkPage(page, ['Mobile Passcode Application']);
    expect(await page.getByLabel('SMS', { exact: true }).count()).toBe(0);
    reauths += await sensitive(page, user, apps, async () => {
      await page.getByLabel('Mobile Passcode Application', { exact: true }).check();
      await screenshot(page, 'account-default-method');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
    });
    await onAccountPage(page, 'Your default authentication method was changed.');
    expect(await page.locator('#default-method').innerText()).toBe('Your default authentication method is currently set as Mobile Passcode Application');
    const afterSave = await deviceRows(page);
    expect(afterSave.map((d) => d.name)).toEqual(['Work phone', 'Backup tablet']);
    expect(afterSave.filter((d) => d.isDefault)).toHaveLength(1);
    const removed = afterSave.find((d) => d.isDefault)!.name;
    const kept = afterSave.find((d) => !d.isDefault)!.name;
    await screenshot(page, 'account-default-saved');

    // "Manage" the default device and remove it: the other one becomes the default.
    await deviceRow(page, removed).getByRole('link', { name: 'Manage', exact: true }).click();
    await page.waitForURL(/\/account\/devices\/[0-9a-f-]{36}$/);
    await checkPage(page);
    expect(await heading(page)).toBe(removed);
    expect(await page.locator('dl.details-list').innerText()).toMatch(/Mobile Passcode Application[\s\S]*Verified[\s\S]*Default/);
    await screenshot(page, 'account-manage-device');
    reauths += await sensitive(page, user, apps, async () => {
      await page.getByRole('button', { name: 'Remove device' }).click();
    });
    await onAccountPage(page, 'The device was removed. Your other sessions were signed out.');
    expect(await deviceRows(page)).toEqual([{ kind: 'Mobile Passcode', name: kept, status: 'Verified', isDefault: true }]);
    apps.delete(removed);
    await screenshot(page, 'account-device-removed');

    // "Remove all devices": a confirmation page, then the empty state.
    reauths += await sensitive(page, user, apps, async () => {
      if (new URL(page.url()).pathname !== '/account/devices-remove-all') await page.getByRole('link', { name: 'Remove all devices' }).click();
    });
    expect(await heading(page)).toBe('Remove all devices?');
    await checkPage(page);
    expect(await page.locator('main').innerText()).toContain('All your recovery codes are deleted (10 left).');
    await screenshot(page, 'account-remove-all-confirm');
    reauths += await sensitive(page, user, apps, async () => {
      await page.getByRole('button', { name: 'Remove all devices' }).click();
    });
    await onAccountPage(page, 'All devices were removed. Multi-factor authentication is off for your account.');
    expect(await page.locator('table.devices').count()).toBe(0);
    expect(await page.getByText('You have no multi-factor devices.').isVisible()).toBe(true);
    expect(await page.locator('#recovery-left').innerText()).toBe('Recovery codes: 0 left');
    expect(await page.getByRole('link', { name: 'Remove all devices' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Edit', exact: true }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Add Mobile Passcode device' }).isVisible()).toBe(true);
    await screenshot(page, 'account-no-devices');

    // With the default 5-minute window the whole flow fits in the first sign-in.
    console.info(`account browser flow: ${reauths} re-authentication(s)`);
  }, 240_000);

  test("Where you're signed in: two browsers, This browser, Sign out the other, Sign out everywhere else", async () => {
    const user: Fixture = await accountWithUser(suite.db.url, { mfaRequired: false, username: 'bob' });
    const signIn = async (page: Page) => {
      await page.goto(`${suite.server.url}/account`);
      await page.waitForURL(/\/interaction\//);
      await logIn(page, user);
      await onAccountPage(page);
    };
    const others = [await watchedPage(await suite.newContext(), suite.problems), await watchedPage(await suite.newContext(), suite.problems)];
    for (const other of others) await signIn(other);
    const page = await watchedPage(suite.context, suite.problems);
    await signIn(page);

    const section = page.locator('section[aria-labelledby="sessions-heading"]');
    expect(await section.getByRole('heading', { level: 2, name: "Where you're signed in" }).isVisible()).toBe(true);
    const rows = section.locator('tbody tr');
    expect(await rows.count()).toBe(3);
    // This browser first, marked, without a Sign out of its own; each other one has its button.
    expect(await rows.nth(0).locator('.badge', { hasText: 'This browser' }).isVisible()).toBe(true);
    expect(await rows.nth(0).getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    for (const i of [1, 2]) {
      expect(await rows.nth(i).locator('.badge', { hasText: 'This browser' }).count()).toBe(0);
      expect(await rows.nth(i).getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true);
    }
    const cells = await rows.nth(0).locator('td').allInnerTexts();
    expect(cells[0]).toMatch(/^Chrome( \(headless\))? \d+$/);
    expect(cells[1]).toBe('Linux');
    expect(cells[2]).toMatch(/^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{2}:\d{2} [AP]M UTC$/);
    await checkPage(page);
    await section.scrollIntoViewIfNeeded();
    await screenshot(page, 'account-signed-in-sessions');

    await rows.nth(1).getByRole('button', { name: 'Sign out' }).click();
    await onAccountPage(page, 'That session was signed out.');
    expect(await rows.count()).toBe(2);
    await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
    await onAccountPage(page, 'You were signed out everywhere else.');
    expect(await rows.count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Sign out everywhere else' }).count()).toBe(0);
    await screenshot(page, 'account-signed-in-this-browser');

    // Both other browsers are asked to sign in again.
    for (const other of others) {
      await other.reload();
      await other.waitForURL(/\/interaction\//);
      expect(await heading(other)).toBe('Log in');
    }
  }, 120_000);
});
