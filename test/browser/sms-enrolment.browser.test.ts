import { expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { browserDescribe, browserSuite, screenshot, type BrowserSuite } from '../helpers/browser.js';
import { claim, heading, watchedPage } from '../helpers/browser-flows.js';
import { startFakeVonage, type FakeVonage } from '../helpers/fake-vonage.js';
import { accountWithUser } from '../helpers/provision.js';

/**
 * SMS enrolment and sign-in in real Chromium through the built-in /demo relying party, with the
 * real Vonage SDK of a Twofold process talking to a fake Vonage (which is where the PIN and the
 * codes are read). Screenshots go to test-artifacts/screenshots/sms-*.png.
 */
const describeBrowser = browserDescribe();
let suite: BrowserSuite;

let fake: FakeVonage;

const DIGITS = '447911123456';

/** Wrong PINs and codes (401), an invalid phone number (422) and the locked page (423) are answered so on purpose. */
const newPage = (): Promise<Page> => watchedPage(suite.context, suite.problems, [401, 422, 423]);

function latestCode(length: number): string {
  const msgs = fake.messages.filter((m) => m.to === DIGITS);
  const text = msgs[msgs.length - 1]?.text ?? '';
  const m = text.match(new RegExp(`\\b(\\d{${length}})\\b`));
  if (!m) throw new Error(`no ${length}-digit code in the latest SMS: "${text}"`);
  return m[1]!;
}

const wrong = (code: string) => String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');

/** No full number in what the page shows or in its markup. */
async function expectMasked(page: Page): Promise<void> {
  const html = await page.content();
  for (const form of [DIGITS, DIGITS.slice(2), '07911 123']) expect(html).not.toContain(form);
}

async function signIn(page: Page, user: { username: string; password: string }): Promise<void> {
  await page.goto(`${suite.server.url}/demo`);
  await page.getByRole('button', { name: 'Sign in with Twofold' }).click();
  await page.waitForURL(/\/interaction\//);
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Log In' }).click();
  await page.waitForLoadState('load');
}

async function backOnDemo(page: Page, shot: string): Promise<void> {
  await page.waitForURL(`${suite.server.url}/demo`);
  await expect(page.getByText('You are signed in.').isVisible()).resolves.toBe(true);
  await screenshot(page, shot);
  expect(await claim(page, 'acr')).toBe('aal2');
  expect((await claim(page, 'amr')).split(/,\s*/)).toEqual(['pwd', 'sms', 'mfa']);
}

describeBrowser('SMS enrolment and sign-in in Chromium (via /demo)', () => {
  suite = browserSuite({
    database: 'twofold_browser_sms',
    serverLog: 'browser-sms-server',
    env: async () => {
      fake = await startFakeVonage();
      return {
        SMS_PROVIDER: 'vonage',
        VONAGE_API_KEY: 'key',
        VONAGE_API_SECRET: 'secret',
        VONAGE_FROM: 'Twofold',
        VONAGE_REST_HOST: fake.url,
        SMS_RESEND_COOLDOWN: '0',
        SMS_LIMIT_USER_HOURLY: '1000',
        SMS_LIMIT_PHONE_HOURLY: '1000000',
        SMS_LIMIT_IP_HOURLY: '1000000',
        SMS_LIMIT_GLOBAL_HOURLY: '10000000',
      };
    },
    after: async () => fake?.close(),
  });

  test('SMS enrolment: invalid number (form kept), valid number, wrong then right PIN; later sign-in with an SMS code', async () => {
    const user = await accountWithUser(suite.db.url, { mfaRequired: true });
    const page = await newPage();
    await signIn(page, user);

    await expect(heading(page)).resolves.toBe('Multi-factor authentication required');
    await page.getByRole('button', { name: 'Set Up Multi-Factor Authentication' }).click();
    await expect(heading(page)).resolves.toBe('Choose a method');
    await screenshot(page, 'sms-choose-method');
    await page.getByRole('button', { name: 'SMS', exact: true }).click();

    // The country select shows names with calling codes; the number field accepts separators.
    await expect(heading(page)).resolves.toBe('Add an SMS device');
    const country = page.getByLabel('Country code', { exact: true });
    const phone = page.getByLabel('Phone number', { exact: true });
    expect(await country.locator('option[value="GB"]').innerText()).toBe('United Kingdom (+44)');
    await country.selectOption('GB');
    await phone.fill('0791 12');
    await screenshot(page, 'sms-enrol-invalid-number-typed');
    let response = page.waitForResponse((res) => res.request().method() === 'POST' && res.url().endsWith('/enrol/begin'));
    await page.getByRole('button', { name: 'Next' }).click();
    const invalid = await response;
    expect(invalid.status()).toBeGreaterThanOrEqual(400);
    expect(invalid.status()).toBeLessThan(500);
    await page.waitForLoadState('load');
    await expect(page.getByRole('alert').innerText()).resolves.toBe('Invalid phone number');
    await expect(page.getByLabel('Country code', { exact: true }).inputValue()).resolves.toBe('GB');
    await expect(page.getByLabel('Phone number', { exact: true }).inputValue()).resolves.toBe('0791 12');
    await screenshot(page, 'sms-enrol-invalid-number');
    expect(fake.messages).toHaveLength(0);

    await page.getByLabel('Phone number', { exact: true }).fill('07911 123-456');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.waitForLoadState('load');
    await expect(heading(page)).resolves.toBe('Enter your PIN');
    await expect(page.getByText('•••• 3456').isVisible()).resolves.toBe(true);
    await expectMasked(page);
    expect(fake.messages).toHaveLength(1);
    expect(fake.messages[0]).toMatchObject({ to: DIGITS, from: 'Twofold' });
    const pin = latestCode(4);
    await screenshot(page, 'sms-enrol-pin');

    await page.getByLabel('Verification Code', { exact: true }).fill(wrong(pin));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.waitForLoadState('load');
    await expect(page.getByRole('alert').innerText()).resolves.toBe('Invalid PIN');
    await expectMasked(page);
    await screenshot(page, 'sms-enrol-invalid-pin');

    await page.getByLabel('Verification Code', { exact: true }).fill(pin);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await backOnDemo(page, 'sms-enrolled-demo-aal2');
    await expectMasked(page);

    // A later sign-in: password, a 7-digit code by SMS, "Resend code", the new code.
    await suite.context.clearCookies();
    await signIn(page, user);
    await expect(heading(page)).resolves.toBe("Verify it's you");
    await expect(page.getByText('•••• 3456').isVisible()).resolves.toBe(true);
    await expectMasked(page);
    expect(fake.messages).toHaveLength(2);
    const first = latestCode(7);
    await screenshot(page, 'sms-challenge');
    await page.getByRole('button', { name: 'Resend code' }).click();
    await page.waitForLoadState('load');
    await expect(page.getByRole('status').innerText()).resolves.toContain('We sent a new code.');
    expect(fake.messages).toHaveLength(3);
    const second = latestCode(7);
    await screenshot(page, 'sms-challenge-resent');
    if (second !== first) {
      await page.getByLabel('MFA Code', { exact: true }).fill(first);
      response = page.waitForResponse((res) => res.request().method() === 'POST' && res.url().endsWith('/mfa'));
      await page.getByRole('button', { name: 'Verify', exact: true }).click();
      expect((await response).status()).toBe(401);
      await page.waitForLoadState('load');
      await expect(page.getByRole('alert').innerText()).resolves.toBe('Invalid code');
    }
    await page.getByLabel('MFA Code', { exact: true }).fill(second);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await backOnDemo(page, 'sms-signed-in-demo-aal2');
  });
});
