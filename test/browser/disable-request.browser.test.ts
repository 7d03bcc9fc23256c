import { expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { browserDescribe, browserSuite, screenshot, type BrowserSuite } from '../helpers/browser.js';
import { checkPage, forcedTotpEnrolment, heading, logIn, watchedPage } from '../helpers/browser-flows.js';
import { accountWithUser, type Fixture } from '../helpers/provision.js';

/**
 * A request to disable "Require Multi-Factor", in real Chromium: the account's admin files it
 * in the /account/admin dialog (Request to disable, Reason) and sees Pending support review; a
 * support user of another account approves it on /support/requests (Note, Approve); the
 * admin's page then says Disabled. Screenshots: test-artifacts/screenshots/disable-request-*.png.
 */
const describeBrowser = browserDescribe();
let suite: BrowserSuite;

/** Opens `path`, signs in and enrols the forced Mobile Passcode on the way (the account requires MFA). */
async function signInWithEnrolment(page: Page, path: string, user: Fixture): Promise<void> {
  await page.goto(`${suite.server.url}${path}`);
  await page.waitForURL(/\/interaction\//);
  await logIn(page, user);
  await forcedTotpEnrolment(page, `${user.username} phone`);
  await page.waitForURL(`${suite.server.url}${path}`);
  await page.waitForLoadState('load');
}

describeBrowser('Requests to disable Require Multi-Factor (/account/admin, /support/requests) in Chromium', () => {
  suite = browserSuite({ database: 'twofold_browser_disable_request', serverLog: 'browser-disable-request-server' });

  test('the admin asks with a reason, support approves with a note, the requirement is off', async () => {
    const admin = await accountWithUser(suite.db.url, { mfaRequired: true, role: 'admin' });
    const support = await accountWithUser(suite.db.url, { mfaRequired: true, support: true });

    const a = await watchedPage(await suite.newContext(), suite.problems);
    await signInWithEnrolment(a, '/account/admin', admin);
    expect(await heading(a)).toBe('User Management');
    expect(await a.locator('#policy-state').innerText()).toBe('Require Multi-Factor: Enabled');
    await a.getByLabel('Edit Require Multi-Factor', { exact: true }).click();
    await checkPage(a, ['Reason']);
    await a.getByLabel('Reason', { exact: true }).fill('Our reception kiosk is shared and has no phone.');
    await screenshot(a, 'disable-request-dialog');
    await a.getByRole('button', { name: 'Request to disable' }).click();
    await a.waitForURL(/\/account\/admin\?requested=1$/);
    await checkPage(a);
    expect(await a.getByRole('status').first().innerText()).toBe('Your request was sent to support.');
    await a.getByLabel('Edit Require Multi-Factor', { exact: true }).click();
    expect(await a.getByText('Pending support review').isVisible()).toBe(true);
    expect(await a.getByRole('button', { name: 'Request to disable' }).count()).toBe(0);
    await screenshot(a, 'disable-request-pending');

    const s = await watchedPage(await suite.newContext(), suite.problems);
    await signInWithEnrolment(s, '/support/requests', support);
    expect(await heading(s)).toBe('Requests to disable multi-factor authentication');
    const request = s.locator('section.section', { hasText: admin.username });
    expect(await request.innerText()).toContain('Our reception kiosk is shared and has no phone.');
    await checkPage(s);
    await request.getByLabel('Note', { exact: true }).fill('Approved for the reception kiosk only.');
    expect(await request.getByRole('button', { name: 'Reject' }).isVisible()).toBe(true);
    await screenshot(s, 'disable-request-support-queue');
    await request.getByRole('button', { name: 'Approve' }).click();
    await s.waitForURL(/\/support\/requests\?decided=approved$/);
    await checkPage(s);
    expect(await s.getByRole('status').innerText()).toContain('The request was approved');
    expect(await s.getByText('No pending requests.').isVisible()).toBe(true);
    await screenshot(s, 'disable-request-approved');

    await a.goto(`${suite.server.url}/account/admin`);
    expect(await a.locator('#policy-state').innerText()).toBe('Require Multi-Factor: Disabled');
    await screenshot(a, 'disable-request-admin-after');
  }, 180_000);
});
