import { expect, test } from '@jest/globals';
import { browserDescribe, browserSuite, screenshot, type BrowserSuite } from '../helpers/browser.js';
import { checkPage, forcedTotpEnrolment, heading, logIn, watchedPage } from '../helpers/browser-flows.js';
import { sql } from '../helpers/mfa.js';
import { accountWithUser } from '../helpers/provision.js';
import { openAccount, sleep } from '../helpers/self-service.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { UserAgent } from '../helpers/user-agent.js';

/**
 * The support console in real Chromium: a support user signs in (with MFA), finds a user by the
 * start of their email address, opens the user page and resets their MFA with the code the user
 * received by mail. Screenshots: test-artifacts/screenshots/support-*.png.
 */
const describeBrowser = browserDescribe();
let suite: BrowserSuite;
let sink: SmtpSink;

describeBrowser('the support console (/support) in Chromium', () => {
  suite = browserSuite({
    database: 'twofold_browser_support',
    serverLog: 'browser-support-server',
    env: async () => {
      sink = await startSmtpSink();
      return { MAIL_PROVIDER: 'smtp', SMTP_URL: sink.url };
    },
    after: async () => sink?.close(),
  });

  test('Find user → the user page → Reset MFA with the mailed verification code', async () => {
    const stem = `cust-${Date.now().toString(36)}`;
    const email = `${stem}@example.test`;
    const customer = await accountWithUser(suite.db.url, { mfaRequired: true, username: `${stem}-jo`, email });
    await openAccount(new UserAgent(), suite.server.url, customer); // enrols "Enrolment phone"
    const staff = await accountWithUser(suite.db.url, { mfaRequired: true, support: true });

    const page = await watchedPage(suite.context, suite.problems);
    await page.goto(`${suite.server.url}/support`);
    await page.waitForURL(/\/interaction\//);
    await logIn(page, staff);
    await forcedTotpEnrolment(page, 'Support phone');
    await page.waitForURL(`${suite.server.url}/support`);
    expect(await heading(page)).toBe('Support console');
    await checkPage(page, ['Find user']);

    await page.getByLabel('Find user', { exact: true }).fill(stem.toUpperCase());
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForLoadState('load');
    const link = page.getByRole('link', { name: customer.username, exact: true });
    expect(await link.count()).toBe(1);
    await screenshot(page, 'support-search');

    await link.click();
    await page.waitForURL(`${suite.server.url}/support/users/${customer.userId}`);
    expect(await heading(page)).toBe(customer.username);
    await checkPage(page);
    const devices = page.locator('#devices tbody tr');
    expect(await devices.count()).toBe(1);
    expect(await devices.first().innerText()).toContain('Mobile Passcode');
    expect(await devices.first().innerText()).toContain('Enrolment phone');
    expect(await page.getByRole('button', { name: 'Unlock' }).isDisabled()).toBe(true);
    await screenshot(page, 'support-user');

    await page.getByRole('button', { name: 'Reset MFA' }).click();
    // A GET form without fields: the URL may end in "?".
    await page.waitForURL((url) => url.pathname === `/support/users/${customer.userId}/reset-mfa`);
    expect(await heading(page)).toBe('Reset MFA');
    await checkPage(page, ['Reason', 'Verification code']);
    await page.getByRole('button', { name: 'Send verification code' }).click();
    await page.waitForLoadState('load');
    expect(await page.getByRole('status').innerText()).toContain('A verification code was sent to');
    const deadline = Date.now() + 10_000;
    const codeMail = () => sink.to(email).find((m) => m.subject === 'Your verification code for Support');
    while (!codeMail() && Date.now() < deadline) await sleep(25);
    const code = /\b(\d{6})\b/.exec(codeMail()!.text)![1]!;

    await page.getByLabel('Reason', { exact: true }).fill('Lost phone; the caller read the code from their mailbox');
    await page.getByLabel('Verification code', { exact: true }).fill(code);
    await screenshot(page, 'support-reset-dialog');
    await page.getByRole('button', { name: 'Confirm reset' }).click();
    await page.waitForURL(`${suite.server.url}/support/users/${customer.userId}?done=reset`);
    expect(await page.getByRole('status').innerText()).toContain('Multi-factor authentication was reset');
    expect(await page.locator('#devices').count()).toBe(0);
    expect(await page.getByText('No multi-factor devices.').isVisible()).toBe(true);
    await screenshot(page, 'support-user-after-reset');

    const [reset] = await sql<{ actor_user_id: string; details: Record<string, unknown> }>(
      suite.db.url,
      "SELECT actor_user_id, details FROM audit_events WHERE subject_user_id = $1 AND type = 'mfa.reset'",
      [customer.userId],
    );
    expect(reset).toMatchObject({ actor_user_id: staff.userId, details: { verification: 'email_code' } });
  });
});
