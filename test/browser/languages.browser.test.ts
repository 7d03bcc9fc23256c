import { expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { browserDescribe, browserSuite, screenshot, type BrowserSuite } from '../helpers/browser.js';
import { claim, watchedPage } from '../helpers/browser-flows.js';
import { RELAXED_SMS_LIMITS, startFakeVonage, vonageSettings, type FakeVonage } from '../helpers/fake-vonage.js';
import { accountWithUser, type Fixture } from '../helpers/provision.js';
import { secretFromUri, totp } from '../helpers/rfc6238.js';

/**
 * The sign-in journeys in German and in Arabic, in real Chromium through /demo: the language is
 * picked on the sign-in page itself (the picker is a plain form), then a forced Mobile Passcode
 * enrolment and an SMS enrolment run in that language. Every page is checked for its lang and
 * dir and for text that overflows its box (Arabic runs right to left with the same stylesheet).
 * Screenshots: test-artifacts/screenshots/lang-<tag>-*.png.
 */
const describeBrowser = browserDescribe();
let suite: BrowserSuite;
let fake: FakeVonage;

interface Words {
  tag: 'de' | 'ar';
  name: string;
  dir: 'ltr' | 'rtl';
  logIn: string;
  username: string;
  password: string;
  noticeButton: string;
  nickname: string;
  addDevice: string;
  code: string;
  verifyTotp: string;
  countryCode: string;
  phone: string;
  next: string;
  verify: string;
  pinText: RegExp;
  sms: string;
}

const GERMAN: Words = {
  tag: 'de',
  name: 'Deutsch',
  dir: 'ltr',
  logIn: 'Anmelden',
  username: 'Benutzername',
  password: 'Passwort',
  noticeButton: 'Mehrfaktor-Authentifizierung einrichten',
  nickname: 'Gerätename',
  addDevice: 'Gerät hinzufügen',
  code: 'Bestätigungscode',
  verifyTotp: 'Mobile Passcode bestätigen',
  countryCode: 'Ländervorwahl',
  phone: 'Telefonnummer',
  next: 'Weiter',
  verify: 'Bestätigen',
  pinText: /^Ihre Twofold-Bestätigungs-PIN lautet (\d{4})\./,
  sms: 'SMS',
};

const ARABIC: Words = {
  tag: 'ar',
  name: 'العربية',
  dir: 'rtl',
  logIn: 'تسجيل الدخول',
  username: 'اسم المستخدم',
  password: 'كلمة المرور',
  noticeButton: 'إعداد المصادقة متعددة العوامل',
  nickname: 'اسم الجهاز',
  addDevice: 'إضافة الجهاز',
  code: 'رمز التحقق',
  verifyTotp: 'التحقق من Mobile Passcode',
  countryCode: 'رمز الدولة',
  phone: 'رقم الهاتف',
  next: 'التالي',
  verify: 'تحقق',
  pinText: /^رمز PIN للتحقق في Twofold هو (\d{4})\./,
  sms: 'رسالة نصية',
};

/** Runs in the page: every element with text whose content is wider than its box, or that leaves its card. */
const OVERFLOW_CHECK = `(() => {
  const out = [];
  for (const e of document.querySelectorAll('main *, footer *')) {
    if (!e.innerText || !e.innerText.trim() || e.getClientRects().length === 0 || e.classList.contains('visually-hidden') || getComputedStyle(e).display === 'inline') continue;
    if (e.scrollWidth > e.clientWidth + 1) out.push(e.tagName + '.' + e.className + ': "' + e.innerText.slice(0, 40) + '" ' + e.scrollWidth + '>' + e.clientWidth);
    const card = e.closest('.card');
    if (card && card !== e) {
      const r = e.getBoundingClientRect();
      const c = card.getBoundingClientRect();
      if (r.left < c.left - 1 || r.right > c.right + 1) out.push(e.tagName + '.' + e.className + ' outside its card');
    }
  }
  return out;
})()`;

/** The page speaks `w`'s language, and no text sticks out of the element that holds it. */
async function checkLanguage(page: Page, w: Words): Promise<void> {
  expect(await page.locator('html').getAttribute('lang')).toBe(w.tag);
  expect(await page.locator('html').getAttribute('dir')).toBe(w.dir);
  const overflowing = (await page.evaluate(OVERFLOW_CHECK)) as string[];
  expect(overflowing).toEqual([]);
}

/** /demo → "Sign in with Twofold" → pick the language on the sign-in page → log in. */
async function signInPickingLanguage(page: Page, user: Fixture, w: Words): Promise<void> {
  await page.goto(`${suite.server.url}/demo`);
  await page.getByRole('button', { name: 'Sign in with Twofold' }).click();
  await page.waitForURL(/\/interaction\//);
  await page.getByLabel('Language', { exact: true }).selectOption(w.tag);
  await page.getByRole('button', { name: 'Change language' }).click();
  await page.waitForURL(/\/interaction\//);
  await screenshot(page, `lang-${w.tag}-login`);
  await checkLanguage(page, w);
  await page.getByLabel(w.username, { exact: true }).fill(user.username);
  await page.getByLabel(w.password, { exact: true }).fill(user.password);
  await page.getByRole('button', { name: w.logIn, exact: true }).click();
  await page.waitForLoadState('load');
  await checkLanguage(page, w);
  await screenshot(page, `lang-${w.tag}-notice`);
  await page.getByRole('button', { name: w.noticeButton }).click();
  await checkLanguage(page, w);
  await screenshot(page, `lang-${w.tag}-choose-method`);
}

async function backOnDemo(page: Page, amr: string[]): Promise<void> {
  await page.waitForURL(`${suite.server.url}/demo`);
  expect(await claim(page, 'acr')).toBe('aal2');
  expect((await claim(page, 'amr')).split(/,\s*/)).toEqual(amr);
}

describeBrowser('sign-in journeys in German and Arabic (Chromium, via /demo)', () => {
  suite = browserSuite({
    database: 'twofold_browser_lang',
    serverLog: 'browser-languages-server',
    env: async () => {
      fake = await startFakeVonage();
      return { ...vonageSettings(fake), ...RELAXED_SMS_LIMITS };
    },
    after: async () => fake?.close(),
  });

  test.each([GERMAN, ARABIC])('password + Mobile Passcode enrolment and sign-in ($tag)', async (w) => {
    const page = await watchedPage(suite.context, suite.problems, [401]);
    const user = await accountWithUser(suite.db.url, { mfaRequired: true });
    await signInPickingLanguage(page, user, w);
    await page.getByRole('button', { name: 'Mobile Passcode', exact: true }).click();
    await checkLanguage(page, w);
    await page.getByLabel(w.nickname, { exact: true }).fill('Work phone');
    await page.getByRole('button', { name: w.addDevice }).click();
    await checkLanguage(page, w);
    const secret = secretFromUri((await page.locator('a[href^="otpauth://"]').getAttribute('href'))!);
    await page.getByLabel(w.code, { exact: true }).fill(totp(secret));
    await screenshot(page, `lang-${w.tag}-totp-enrolment`);
    await page.getByRole('button', { name: w.verifyTotp }).click();
    await backOnDemo(page, ['pwd', 'otp', 'mfa']);
  });

  test.each([GERMAN, ARABIC])('SMS enrolment, the PIN texted in the chosen language ($tag)', async (w) => {
    const page = await watchedPage(suite.context, suite.problems, [401, 422]);
    const user = await accountWithUser(suite.db.url, { mfaRequired: true });
    const digits = w.tag === 'de' ? '447911123460' : '447911123461';
    await signInPickingLanguage(page, user, w);
    await page.getByRole('button', { name: w.sms, exact: true }).click();
    await checkLanguage(page, w);
    await page.getByLabel(w.countryCode, { exact: true }).selectOption('GB');
    await page.getByLabel(w.phone, { exact: true }).fill(`07911 ${digits.slice(-6)}`);
    await screenshot(page, `lang-${w.tag}-sms-number`);
    await page.getByRole('button', { name: w.next, exact: true }).click();
    await checkLanguage(page, w);
    const text = fake.messages.filter((m) => m.to === digits).at(-1)?.text ?? '';
    const pin = w.pinText.exec(text)?.[1];
    expect(pin).toBeDefined();
    await page.getByLabel(w.code, { exact: true }).fill(pin!);
    await screenshot(page, `lang-${w.tag}-sms-pin`);
    await page.getByRole('button', { name: w.verify, exact: true }).click();
    await backOnDemo(page, ['pwd', 'sms', 'mfa']);
  });
});
