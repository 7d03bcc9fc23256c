import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFakeVonage, type FakeVonage } from '../helpers/fake-vonage.js';
import { beginTotpEnrolment, expectKind, kindOf, mfaCounters, sql, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { addTotpDevice, expectAccountPage, pathOf, verifyDevice } from '../helpers/self-service.js';
import { UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * SMS sign-in end to end: a Twofold process with SMS_PROVIDER=vonage whose SDK talks to a fake
 * Vonage on 127.0.0.1, driven by openid-client (RelyingParty) and a cookie-jar user agent.
 */

let db: TestDatabase;
let fake: FakeVonage;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };

/** Every page served after a number was accepted: none may show the full number. */
const pagesAfterEnrolment: Page[] = [];
/** Every phone number used here (E.164 without '+'), to look for in pages and logs. */
const numbers = new Set<string>();

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_sms');
  fake = await startFakeVonage();
  server = await startTwofold({
    DATABASE_URL: db.url,
    REDIS_URL,
    ...clusterSecrets(),
    SMS_PROVIDER: 'vonage',
    VONAGE_API_KEY: 'key',
    VONAGE_API_SECRET: 'secret',
    VONAGE_FROM: 'Twofold',
    VONAGE_REST_HOST: fake.url,
    SMS_TIMEOUT_MS: '2000',
    SMS_RESEND_COOLDOWN: '0',
    // The Redis server is shared by every suite (and run) of this hour: keep the caps out of the way.
    SMS_LIMIT_USER_HOURLY: '1000',
    SMS_LIMIT_PHONE_HOURLY: '1000000',
    SMS_LIMIT_IP_HOURLY: '1000000',
    SMS_LIMIT_GLOBAL_HOURLY: '10000000',
  });
  client = await confidentialClient(db.url, { firstParty: true });
});

afterAll(async () => {
  await server?.stop();
  await fake?.close();
  await db?.drop();
});

async function newRp(): Promise<RelyingParty> {
  const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
  recordPages(rp.agent);
  return rp;
}

/** Keeps every page this agent sees once a phone number has been accepted (see pagesAfterEnrolment). */
function recordPages(agent: UserAgent): void {
  const request = agent.request.bind(agent);
  agent.request = async (...args: Parameters<UserAgent['request']>) => {
    const page = await request(...args);
    if (kindOf(page) !== 'enrol-start') pagesAfterEnrolment.push(page);
    return page;
  };
}

const sent = (digits: string) => fake.messages.filter((m) => m.to === digits);

/** The code in the latest SMS to `digits` (E.164 without '+'). */
function latestCode(digits: string, length: number): string {
  const msgs = sent(digits);
  const text = msgs[msgs.length - 1]?.text ?? '';
  const m = text.match(new RegExp(`\\b(\\d{${length}})\\b`));
  if (!m) throw new Error(`no ${length}-digit code in the latest SMS to ${digits}: "${text}"`);
  return m[1]!;
}

const wrong = (code: string) => String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');

const alert = (page: Page) => page.html.match(/role="alert"[^>]*>([\s\S]*?)</)?.[1]?.trim();

/** From the required-MFA notice through "SMS" to the country and phone number form. */
async function toSmsForm(agent: UserAgent, notice: Page): Promise<Page> {
  expectKind(notice, 'notice');
  expect(notice.html).toMatch(/<button[^>]*>\s*Set Up Multi-Factor Authentication\s*<\/button>/);
  const choose = await agent.submit(notice, '/enrol');
  expectKind(choose, 'choose');
  expect(choose.html).toMatch(/<button[^>]*value="sms"[^>]*>\s*SMS\s*<\/button>/);
  const form = await agent.submit(choose, '/enrol/method', { method: 'sms' });
  expectKind(form, 'enrol-start');
  return form;
}

/** Forced enrolment with SMS for a user with no device; returns the ID token's claims. */
async function enrolSms(user: Fixture, phone: string, digits: string) {
  numbers.add(digits);
  const rp = await newRp();
  const { page, finish } = await rp.start();
  const form = await toSmsForm(rp.agent, await submitPassword(rp.agent, page, user));
  const enrol = await rp.agent.submit(form, '/enrol/begin', { method: 'sms', country: 'GB', phone });
  expectKind(enrol, 'enrol');
  const tokens = await finish(callbackOf(await rp.agent.submit(enrol, '/enrol/verify', { code: latestCode(digits, 4) })));
  return rp.verifyIdToken(tokens.id_token!);
}

/** A new browser: password, then the SMS challenge of a user with an SMS device. */
async function smsChallenge(user: Fixture) {
  const rp = await newRp();
  const { page, finish } = await rp.start();
  const challenge = await submitPassword(rp.agent, page, user);
  return { rp, challenge, finish };
}

describe('SMS enrolment and sign-in through openid-client', () => {
  let user: Fixture;
  const digits = '447911123456';

  beforeAll(async () => {
    user = await accountWithUser(db.url, { mfaRequired: true });
    numbers.add(digits);
  });

  test('forced enrolment: invalid number (form kept), then a valid one, wrong PIN, right PIN → aal2 with sms', async () => {
    const rp = await newRp();
    const { page, finish } = await rp.start();
    const form = await toSmsForm(rp.agent, await submitPassword(rp.agent, page, user));
    expect(form.html).toContain('<label for="country">Country code</label>');
    expect(form.html).toContain('<label for="phone">Phone number</label>');
    expect(form.html).toMatch(/<option value="GB"[^>]*>United Kingdom \(\+44\)<\/option>/);
    expect(form.html).toMatch(/<button[^>]*>\s*Next\s*<\/button>/);

    const before = fake.messages.length;
    let current = form;
    for (const bad of ['12345', 'call me maybe', '+49 151 23456789', '0791112345678901', '']) {
      current = await rp.agent.submit(current, '/enrol/begin', { method: 'sms', country: 'GB', phone: bad });
      expect(current.status).toBeGreaterThanOrEqual(400);
      expect(current.status).toBeLessThan(500);
      expectKind(current, 'enrol-start');
      expect(alert(current)).toBe('Invalid phone number');
      // The form is kept: the chosen country and what was typed.
      expect(current.html).toMatch(/<option value="GB" selected>/);
      expect(current.html).toContain(`value="${bad}"`);
    }
    expect(fake.messages.length).toBe(before);
    expect(await sql(db.url, 'SELECT id FROM mfa_devices WHERE user_id = $1', [user.userId])).toHaveLength(0);

    const enrol = await rp.agent.submit(current, '/enrol/begin', { method: 'sms', country: 'GB', phone: '07911 123-456' });
    expectKind(enrol, 'enrol');
    expect(enrol.html).toContain('•••• 3456');
    expect(enrol.html).toContain('<label for="code">Verification Code</label>');
    expect(enrol.html).toMatch(/<button[^>]*>\s*Verify\s*<\/button>/);
    expect(fake.messages.length).toBe(before + 1);
    const sms = fake.messages.at(-1)!;
    expect(sms.to).toBe(digits);
    expect(sms.from).toBe('Twofold');
    expect(sms.apiKey).toBe('key');
    const pin = latestCode(digits, 4);
    expect(sms.text).toContain(pin);

    const bad = await rp.agent.submit(enrol, '/enrol/verify', { code: wrong(pin) });
    expectKind(bad, 'enrol');
    expect(bad.status).toBe(401);
    expect(alert(bad)).toBe('Invalid PIN');

    const tokens = await finish(callbackOf(await rp.agent.submit(bad, '/enrol/verify', { code: pin })));
    const claims = await rp.verifyIdToken(tokens.id_token!);
    expect(claims.sub).toBe(user.userId);
    expect(claims.amr).toEqual(['pwd', 'sms', 'mfa']);
    expect(claims.acr).toBe('aal2');

    const devices = await sql<{ kind: string; phone: string; verified: boolean; isDefault: boolean }>(
      db.url,
      'SELECT kind, phone_e164 AS phone, verified_at IS NOT NULL AS verified, is_default AS "isDefault" FROM mfa_devices WHERE user_id = $1',
      [user.userId],
    );
    expect(devices).toEqual([{ kind: 'sms', phone: `+${digits}`, verified: true, isDefault: true }]);
  });

  test('later sign-in: a 7-digit code after the password; "Resend code" replaces it; the old one is refused', async () => {
    const before = sent(digits).length;
    const { rp, challenge, finish } = await smsChallenge(user);
    expectKind(challenge, 'challenge');
    expect(challenge.html).toContain('•••• 3456');
    expect(challenge.html).toMatch(/<button[^>]*>\s*Resend code\s*<\/button>/);
    expect(sent(digits)).toHaveLength(before + 1);
    const first = latestCode(digits, 7);
    expect(sent(digits).at(-1)!.from).toBe('Twofold');

    let resent = await rp.agent.submit(challenge, '/mfa/resend');
    expectKind(resent, 'challenge');
    expect(resent.html).toContain('We sent a new code.');
    while (latestCode(digits, 7) === first) resent = await rp.agent.submit(resent, '/mfa/resend');
    const second = latestCode(digits, 7);

    const old = await rp.agent.submit(resent, '/mfa', { code: first });
    expectKind(old, 'challenge');
    expect(old.status).toBe(401);
    expect(alert(old)).toBe('Invalid code');

    const tokens = await finish(callbackOf(await rp.agent.submit(old, '/mfa', { code: second })));
    const claims = await rp.verifyIdToken(tokens.id_token!);
    expect(claims.amr).toEqual(['pwd', 'sms', 'mfa']);
    expect(claims.acr).toBe('aal2');
    expect((await mfaCounters(db.url, user.userId)).failed).toBe(0);
  });

  test('a code sent for one sign-in does not work in another one of the same user', async () => {
    const a = await smsChallenge(user);
    const codeA = latestCode(digits, 7);
    const b = await smsChallenge(user);
    const codeB = latestCode(digits, 7);
    if (codeA !== codeB) {
      const cross = await b.rp.agent.submit(b.challenge, '/mfa', { code: codeA });
      expect(alert(cross)).toBe('Invalid code');
    }
    await a.finish(callbackOf(await a.rp.agent.submit(a.challenge, '/mfa', { code: codeA })));
    await b.finish(callbackOf(await b.rp.agent.submit(b.challenge, '/mfa', { code: codeB })));
  });
});

describe('default method and "Use another method"', () => {
  test('SMS verified first is the default and is challenged; switching to the mobile passcode sends no SMS', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const digits = '447400123456';
    numbers.add(digits);

    // Two browsers enrol at the same time: A starts a mobile passcode, B enrols SMS and
    // finishes first. A's enrolment began before the user had a device; it cannot add a second
    // one now: A must pass the challenge of B's device (and its code is sent).
    const a = await newRp();
    const startA = await a.start();
    const { page: qr, app: staleApp } = await beginTotpEnrolment(a.agent, await submitPassword(a.agent, startA.page, user), 'Stale phone');
    const claimsB = await enrolSms(user, '07400 123456', digits);
    expect(claimsB.amr).toEqual(['pwd', 'sms', 'mfa']);
    const beforeStale = sent(digits).length;
    const staleVerify = await a.agent.submit(qr, '/enrol/verify', { code: await staleApp.next() });
    expectKind(staleVerify, 'challenge');
    expect(staleVerify.html).toContain('•••• 3456');
    expect(sent(digits)).toHaveLength(beforeStale + 1);
    const tokensA = await startA.finish(callbackOf(await a.agent.submit(staleVerify, '/mfa', { code: latestCode(digits, 7) })));
    expect((await a.verifyIdToken(tokensA.id_token!)).amr).toEqual(['pwd', 'sms', 'mfa']);
    expect(await sql(db.url, 'SELECT id FROM mfa_devices WHERE user_id = $1 AND verified_at IS NOT NULL', [user.userId])).toHaveLength(1);

    // A second device the way a person adds one: on /account, not as the default.
    const browser = new UserAgent();
    const accountChallenge = await submitPassword(browser, await browser.request(`${server.url}/account`), user);
    expectKind(accountChallenge, 'challenge');
    expectAccountPage(await browser.submit(accountChallenge, '/mfa', { code: latestCode(digits, 7) }));
    const added = await addTotpDevice(browser, server.url, 'Work phone');
    const app = added.app;
    expect(pathOf(await verifyDevice(browser, added.page, await app.next(), false))).toBe('/account');

    // The first verified device (SMS) stays the default.
    const devices = await sql<{ id: string; kind: string; isDefault: boolean }>(
      db.url,
      'SELECT id, kind, is_default AS "isDefault" FROM mfa_devices WHERE user_id = $1 AND verified_at IS NOT NULL ORDER BY kind',
      [user.userId],
    );
    expect(devices.map((d) => [d.kind, d.isDefault])).toEqual([
      ['sms', true],
      ['totp', false],
    ]);
    const totpId = devices.find((d) => d.kind === 'totp')!.id;
    const smsId = devices.find((d) => d.kind === 'sms')!.id;

    // The default device is challenged: an SMS goes out at once.
    const before = sent(digits).length;
    const { rp, challenge, finish } = await smsChallenge(user);
    expectKind(challenge, 'challenge');
    expect(challenge.html).toContain('•••• 3456');
    expect(sent(digits)).toHaveLength(before + 1);
    expect(challenge.html).toMatch(/<summary>\s*Use another method\s*<\/summary>/);
    expect(challenge.html).toContain(`name="deviceId" value="${totpId}"`);
    expect(challenge.html).toMatch(/<button[^>]*>\s*Mobile Passcode: Work phone\s*<\/button>/);

    // Switching to the mobile passcode sends nothing.
    const passcode = await rp.agent.submit(challenge, '/mfa/switch', { deviceId: totpId });
    expectKind(passcode, 'challenge');
    expect(passcode.html).toContain('authenticator app');
    expect(passcode.html).not.toMatch(/<button[^>]*>\s*Resend code\s*<\/button>/);
    expect(sent(digits)).toHaveLength(before + 1);

    // Back to SMS: a new code is sent, and the first one is no longer valid.
    const firstSms = latestCode(digits, 7);
    const backToSms = await rp.agent.submit(passcode, '/mfa/switch', { deviceId: smsId });
    expectKind(backToSms, 'challenge');
    expect(sent(digits)).toHaveLength(before + 2);
    let onSms = backToSms;
    if (latestCode(digits, 7) !== firstSms) {
      onSms = await rp.agent.submit(backToSms, '/mfa', { code: firstSms });
      expect(alert(onSms)).toBe('Invalid code');
    }
    // And to the passcode again, which finishes the sign-in.
    const again = await rp.agent.submit(onSms, '/mfa/switch', { deviceId: totpId });
    expect(sent(digits)).toHaveLength(before + 2);
    const tokens = await finish(callbackOf(await rp.agent.submit(again, '/mfa', { code: await app.next() })));
    const claims = await rp.verifyIdToken(tokens.id_token!);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe('aal2');

    // A device id of another user is refused, not challenged.
    const other = await accountWithUser(db.url, { mfaRequired: true });
    const otherDigits = '447400654321';
    await enrolSms(other, '07400 654321', otherDigits);
    const next = await smsChallenge(user);
    const foreignId = (await sql<{ id: string }>(db.url, 'SELECT id FROM mfa_devices WHERE user_id = $1', [other.userId]))[0]!.id;
    const otherBefore = sent(otherDigits).length;
    const refused = await next.rp.agent.submit(next.challenge, '/mfa/switch', { deviceId: foreignId });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    expect(sent(otherDigits)).toHaveLength(otherBefore);
  });
});

describe('lockout and provider failures', () => {
  test('7 wrong SMS codes lock the user (a resend does not reset the count)', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const digits = '447400111222';
    await enrolSms(user, '07400 111222', digits);

    const { rp, challenge } = await smsChallenge(user);
    let page = challenge;
    for (let i = 1; i <= 3; i++) {
      page = await rp.agent.submit(page, '/mfa', { code: wrong(latestCode(digits, 7)) });
      expect(alert(page)).toBe('Invalid code');
    }
    page = await rp.agent.submit(page, '/mfa/resend');
    expectKind(page, 'challenge');
    for (let i = 4; i <= 6; i++) {
      page = await rp.agent.submit(page, '/mfa', { code: wrong(latestCode(digits, 7)) });
      expectKind(page, 'challenge');
    }
    expect((await mfaCounters(db.url, user.userId)).failed).toBe(6);
    const locked = await rp.agent.submit(page, '/mfa', { code: wrong(latestCode(digits, 7)) });
    expectKind(locked, 'locked');
    expect(locked.status).toBe(423);
    expect(locked.html).toMatch(/locked/i);
    expect(locked.html).toMatch(/contact support/i);
    expect((await mfaCounters(db.url, user.userId)).lockedAt).not.toBeNull();

    // Even the right code no longer helps, and a new sign-in stops at the lock without an SMS.
    const right = await rp.agent.submit(page, '/mfa', { code: latestCode(digits, 7) });
    expect(kindOf(right)).not.toBe('callback');
    const before = sent(digits).length;
    const fresh = await newRp();
    const again = await submitPassword(fresh.agent, (await fresh.start()).page, user);
    expectKind(again, 'locked');
    expect(sent(digits)).toHaveLength(before);
  });

  test('Vonage failing at sign-in: "We could not send the code, try again" on the challenge page; a resend works later', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const digits = '447400333444';
    await enrolSms(user, '07400 333444', digits);

    fake.setMode('fail');
    let challenge: Page;
    let rp: RelyingParty;
    let finish: Awaited<ReturnType<typeof smsChallenge>>['finish'];
    const before = sent(digits).length;
    try {
      ({ rp, challenge, finish } = await smsChallenge(user));
      expectKind(challenge, 'challenge');
      expect(challenge.status).toBeLessThan(500);
      expect(alert(challenge)).toContain('We could not send the code, try again');
      const retry = await rp.agent.submit(challenge, '/mfa/resend');
      expect(retry.status).toBeLessThan(500);
      expect(alert(retry)).toContain('We could not send the code, try again');
      challenge = retry;
    } finally {
      fake.setMode('ok');
    }
    expect(sent(digits)).toHaveLength(before);

    const resent = await rp.agent.submit(challenge, '/mfa/resend');
    expectKind(resent, 'challenge');
    expect(alert(resent)).toBeUndefined();
    expect(sent(digits)).toHaveLength(before + 1);
    const tokens = await finish(callbackOf(await rp.agent.submit(resent, '/mfa', { code: latestCode(digits, 7) })));
    expect((await rp.verifyIdToken(tokens.id_token!)).amr).toEqual(['pwd', 'sms', 'mfa']);

    const failures = await sql<{ details: Record<string, unknown> }>(db.url, "SELECT details FROM audit_events WHERE subject_user_id = $1 AND type = 'sms.send_failed'", [
      user.userId,
    ]);
    expect(failures).toHaveLength(2);
    for (const f of failures) expect(f.details.to).toBe('•••• 3444');
  });

  test('Vonage failing at enrolment: the error on the same page (form kept), no device; then it works', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const digits = '447400555666';
    numbers.add(digits);
    const rp = await newRp();
    const { page, finish } = await rp.start();
    const form = await toSmsForm(rp.agent, await submitPassword(rp.agent, page, user));
    fake.setMode('fail');
    let failed: Page;
    try {
      failed = await rp.agent.submit(form, '/enrol/begin', { method: 'sms', country: 'GB', phone: '07400 555666' });
    } finally {
      fake.setMode('ok');
    }
    expectKind(failed, 'enrol-start');
    expect(failed.status).toBeLessThan(500);
    expect(alert(failed)).toContain('We could not send the code, try again');
    expect(failed.html).toContain('value="07400 555666"');
    expect(await sql(db.url, 'SELECT id FROM mfa_devices WHERE user_id = $1', [user.userId])).toHaveLength(0);

    const enrol = await rp.agent.submit(failed, '/enrol/begin', { method: 'sms', country: 'GB', phone: '07400 555666' });
    expectKind(enrol, 'enrol');
    const tokens = await finish(callbackOf(await rp.agent.submit(enrol, '/enrol/verify', { code: latestCode(digits, 4) })));
    expect((await rp.verifyIdToken(tokens.id_token!)).amr).toEqual(['pwd', 'sms', 'mfa']);
  });
});

describe('phone number privacy', () => {
  test('no page after enrolment and no log line carries a full phone number, nor a code', async () => {
    expect(pagesAfterEnrolment.length).toBeGreaterThan(20);
    expect(numbers.size).toBeGreaterThanOrEqual(6);
    const output = server.output();
    expect(output).toContain('•••• 3456');
    for (const digits of numbers) {
      const national = digits.slice(2); // e.g. 7911123456
      const spaced = `0${national.slice(0, 4)} ${national.slice(4)}`; // as typed: 07911 123456
      for (const form of [digits, national, spaced]) {
        expect(output).not.toContain(form);
        for (const page of pagesAfterEnrolment) {
          if (page.html.includes(form)) throw new Error(`${page.url} shows the full number ${form}`);
        }
      }
    }
    for (const m of fake.messages) expect(output).not.toContain(m.text);
  });
});
