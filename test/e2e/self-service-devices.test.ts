import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFakeVonage, type FakeVonage } from '../helpers/fake-vonage.js';
import { enrolThroughSignIn, expectKind, submitPassword, toCallback } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import {
  addTotpDevice,
  afterPassword,
  alertOf,
  devicesOf,
  expectAccountPage,
  openAccount,
  pathOf,
  postAccount,
  refreshFails,
  refreshWorks,
  sleep,
  unusedRecoveryCodes,
  verifyDevice,
} from '../helpers/self-service.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * "My Multi-Factor Devices" in /account, end to end: add, verify (make default or not),
 * remove one, remove all, change the default (TOTP and SMS through a fake Vonage), and the
 * re-authentication that sensitive pages demand. Other sessions are a refresh token obtained
 * by openid-client with a confidential client.
 */

let db: TestDatabase;
let fake: FakeVonage;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
const secrets = clusterSecrets();

function serverEnv(): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    REDIS_URL,
    ...secrets,
    SMS_PROVIDER: 'vonage',
    VONAGE_API_KEY: 'key',
    VONAGE_API_SECRET: 'secret',
    VONAGE_FROM: 'Twofold',
    VONAGE_REST_HOST: fake.url,
    SMS_RESEND_COOLDOWN: '0',
    // The Redis server is shared by every suite: keep the toll-fraud caps out of the way.
    SMS_LIMIT_USER_HOURLY: '1000',
    SMS_LIMIT_PHONE_HOURLY: '1000000',
    SMS_LIMIT_IP_HOURLY: '1000000',
    SMS_LIMIT_GLOBAL_HOURLY: '10000000',
  };
}

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_selfdev');
  fake = await startFakeVonage();
  server = await startTwofold(serverEnv());
  client = await confidentialClient(db.url);
});

afterAll(async () => {
  await server?.stop();
  await fake?.close();
  await db?.drop();
});

const newRp = (issuer = server.url) => RelyingParty.create(issuer, client.clientId, client.clientSecret);

/**
 * A user of an account that requires MFA, enrolled with a mobile passcode ("Work phone") in an
 * app's sign-in (whose refresh token is the "other session"), then signed in to /account in
 * another browser with password and code.
 */
async function userWithSessions() {
  const user = await accountWithUser(db.url, { mfaRequired: true });
  const rp = await newRp();
  const { app, tokens } = await enrolThroughSignIn(rp, user);
  // The other session's refresh token works before any change (so a failure later is the change's doing).
  const refreshToken = await refreshWorks(rp, tokens.refresh_token!);
  const browser = new UserAgent();
  const { page } = await openAccount(browser, server.url, user, { app });
  expectAccountPage(page);
  const [device] = await devicesOf(db.url, user.userId);
  return { user, rp, app, refreshToken, browser, firstDeviceId: device!.id };
}

/** The label of the device the challenge page asks for. */
function challengedDevice(page: Page): string {
  expectKind(page, 'challenge');
  const m = page.html.match(/<p class="lead">[\s\S]*?<strong>([\s\S]*?)<\/strong>/);
  if (!m) throw new Error(`no device named on the challenge page\n${page.html.slice(0, 1500)}`);
  return m[1]!.trim();
}

async function newSignInChallenge(user: Fixture) {
  const rp = await newRp();
  const { page, finish } = await afterPassword(rp, user);
  return { rp, page, finish, device: challengedDevice(page) };
}

describe('adding a mobile passcode device in /account', () => {
  test('"Make this my default authentication method" checked: every session of the user ends; the next sign-in asks for the new device', async () => {
    const { user, rp, refreshToken, browser, firstDeviceId } = await userWithSessions();
    const { page, deviceId, app: second } = await addTotpDevice(browser, server.url, 'Second phone');
    // Not verified yet: nothing changed.
    expect((await devicesOf(db.url, user.userId)).map((d) => [d.id, d.verified, d.isDefault])).toEqual([
      [firstDeviceId, true, true],
      [deviceId, false, false],
    ]);

    // A wrong code first: the form comes back with "Invalid code", nothing ends.
    const wrong = await verifyDevice(browser, page, second.wrongCode(), true);
    expect(wrong.status).toBe(401);
    expect(alertOf(wrong)).toBe('Invalid code');
    const stillGood = await refreshWorks(rp, refreshToken);

    const done = await verifyDevice(browser, wrong, await second.next(), true);
    expect(done.status).toBe(200);
    expect(pathOf(done)).toBe('/account/signed-out');
    expect(done.html).toContain('signed out everywhere');
    expect((await devicesOf(db.url, user.userId)).map((d) => [d.id, d.verified, d.isDefault])).toEqual([
      [firstDeviceId, true, false],
      [deviceId, true, true],
    ]);

    // The other session's refresh token is dead.
    await refreshFails(rp, stillGood);
    // The /account session ended too: /account sends the browser to sign in with the password...
    const again = await browser.request(`${server.url}/account`);
    expectKind(again, 'login');
    // ...and the challenge is for the new default device, whose code completes the sign-in.
    const challenge = await submitPassword(browser, again, user);
    expect(challengedDevice(challenge)).toBe('Mobile Passcode: Second phone');
    expectAccountPage(await browser.submit(challenge, '/mfa', { code: await second.next() }));
    // Any other browser too.
    expect((await newSignInChallenge(user)).device).toBe('Mobile Passcode: Second phone');
  });

  test('unchecked: the /account session and the refresh token survive; then removing a device ends the other sessions while /account still works', async () => {
    const { user, rp, refreshToken, browser, firstDeviceId } = await userWithSessions();
    const { page, deviceId, app: tablet } = await addTotpDevice(browser, server.url, 'Tablet');
    const done = await verifyDevice(browser, page, await tablet.next(), false);
    expectAccountPage(done);
    expect(done.url).toContain('done=verified');
    expect(done.html).toContain('Your device is verified.');
    expect((await devicesOf(db.url, user.userId)).map((d) => [d.id, d.verified, d.isDefault])).toEqual([
      [firstDeviceId, true, true],
      [deviceId, true, false],
    ]);
    // Still signed in, and the other session's refresh token still works.
    expectAccountPage(await browser.request(`${server.url}/account`));
    const rotated = await refreshWorks(rp, refreshToken);
    // The default did not change.
    expect((await newSignInChallenge(user)).device).toBe('Mobile Passcode: Work phone');

    // Manage → Remove device.
    const manage = await browser.request(`${server.url}/account/devices/${deviceId}`);
    expect(manage.status).toBe(200);
    expect(manage.html).toContain('Tablet');
    expect(manage.html).toMatch(/<button[^>]*>\s*Remove device\s*<\/button>/);
    const removed = await browser.submit(manage, `/account/devices/${deviceId}/remove`);
    expectAccountPage(removed);
    expect(removed.url).toContain('done=removed');
    expect((await devicesOf(db.url, user.userId)).map((d) => d.id)).toEqual([firstDeviceId]);
    await refreshFails(rp, rotated);
    // This /account session carries on.
    const after = await browser.request(`${server.url}/account`);
    expectAccountPage(after);
    expect(after.html).not.toContain('Tablet');
  });
});

describe('"Remove all devices"', () => {
  test('devices and recovery codes are gone, other sessions end, and the next sign-in forces enrolment', async () => {
    const { user, rp, refreshToken, browser } = await userWithSessions();
    // A second, unverified device and a set of recovery codes.
    await addTotpDevice(browser, server.url, 'Unfinished');
    const codesForm = await browser.request(`${server.url}/account/recovery-codes`);
    const codes = await browser.submit(codesForm, '/account/recovery-codes', { quantity: '4' });
    expect(codes.status).toBe(200);
    expect(await devicesOf(db.url, user.userId)).toHaveLength(2);
    expect(await unusedRecoveryCodes(db.url, user.userId)).toBe(4);
    // Generating codes ended the other sessions: sign in the app again for a live refresh token.
    await refreshFails(rp, refreshToken);

    const accountPage = await browser.request(`${server.url}/account`);
    const confirm = await browser.request(new URL('/account/devices-remove-all', accountPage.url).toString());
    expect(confirm.status).toBe(200);
    expect(accountPage.html).toMatch(/href="\/account\/devices-remove-all"[^>]*>\s*Remove all devices\s*</);
    expect(confirm.html).toMatch(/<button[^>]*>\s*Remove all devices\s*<\/button>/);
    const done = await browser.submit(confirm, '/account/devices-remove-all');
    expectAccountPage(done);
    expect(done.url).toContain('done=removed-all');
    expect(done.html).toContain('You have no multi-factor devices.');
    expect(await devicesOf(db.url, user.userId)).toEqual([]);
    expect(await unusedRecoveryCodes(db.url, user.userId)).toBe(0);

    // The account requires MFA: a new sign-in shows the required-MFA notice (forced enrolment).
    const next = await newRp();
    const { page } = await afterPassword(next, user);
    expectKind(page, 'notice');
    expect(page.html).toMatch(/<button[^>]*>\s*Set Up Multi-Factor Authentication\s*<\/button>/);
  });

  test('ends a session obtained before it (refresh token fails)', async () => {
    const { user, rp, refreshToken, browser } = await userWithSessions();
    const confirm = await browser.request(`${server.url}/account/devices-remove-all`);
    expectAccountPage(await browser.submit(confirm, '/account/devices-remove-all'));
    expect(await devicesOf(db.url, user.userId)).toEqual([]);
    await refreshFails(rp, refreshToken);
  });
});

describe('changing the default method (Edit → Save) between Mobile Passcode and SMS', () => {
  test('the sign-in challenges the chosen kind', async () => {
    const { user, browser, firstDeviceId } = await userWithSessions();
    const digits = '447911123457';

    // Add an SMS device: Country code + Phone number → Next → the PIN → Verify (not made default).
    const form = await browser.request(`${server.url}/account/devices/new/sms`);
    expect(form.html).toContain('<label for="country">Country code</label>');
    expect(form.html).toContain('<label for="phone">Phone number</label>');
    const before = fake.messages.length;
    const pinPage = await browser.submit(form, '/account/devices/new/sms', { country: 'GB', phone: '07911 123457' });
    expect(pinPage.status).toBe(200);
    expect(fake.messages.length).toBe(before + 1);
    expect(fake.messages.at(-1)!.to).toBe(digits);
    const pin = fake.messages.at(-1)!.text.match(/\b(\d{4})\b/)![1]!;
    const verified = await verifyDevice(browser, pinPage, pin, false);
    expectAccountPage(verified);
    expect(verified.html).toMatch(/currently set as <strong>Mobile Passcode Application<\/strong>/);
    const smsDevice = (await devicesOf(db.url, user.userId)).find((d) => d.kind === 'sms')!;
    expect(smsDevice).toMatchObject({ verified: true, isDefault: false, phone: `+${digits}` });

    // Edit → SMS → Save.
    expect(verified.html).toMatch(/<a href="\/account\/default"[^>]*>\s*Edit\s*<\/a>/);
    const edit = await browser.request(`${server.url}/account/default`);
    expect(edit.html).toMatch(/<label for="method-totp">Mobile Passcode Application<\/label>/);
    expect(edit.html).toMatch(/<label for="method-sms">SMS<\/label>/);
    expect(edit.html).toMatch(/<button[^>]*>\s*Save\s*<\/button>/);
    const toSms = await browser.submit(edit, '/account/default', { method: 'sms' });
    expectAccountPage(toSms);
    expect(toSms.html).toMatch(/currently set as <strong>SMS<\/strong>/);
    expect((await devicesOf(db.url, user.userId)).map((d) => [d.id, d.isDefault])).toEqual([
      [firstDeviceId, false],
      [smsDevice.id, true],
    ]);
    const sentBefore = fake.messages.length;
    const smsChallenge = await newSignInChallenge(user);
    expect(smsChallenge.page.html).toContain('We sent a code by SMS to');
    expect(smsChallenge.device).toBe('•••• 3457');
    expect(fake.messages.length).toBe(sentBefore + 1);
    // The challenged SMS code completes the sign-in.
    const code = fake.messages.at(-1)!.text.match(/\b(\d{7})\b/)![1]!;
    const tokens = await smsChallenge.finish(await toCallback(smsChallenge.rp.agent, await smsChallenge.rp.agent.submit(smsChallenge.page, '/mfa', { code })));
    expect((await smsChallenge.rp.verifyIdToken(tokens.id_token!)).amr).toEqual(['pwd', 'sms', 'mfa']);

    // And back: Edit → Mobile Passcode Application → Save.
    const editAgain = await browser.request(`${server.url}/account/default`);
    expectAccountPage(await browser.submit(editAgain, '/account/default', { method: 'totp' }));
    expect((await devicesOf(db.url, user.userId)).map((d) => [d.id, d.isDefault])).toEqual([
      [firstDeviceId, true],
      [smsDevice.id, false],
    ]);
    expect((await newSignInChallenge(user)).device).toBe('Mobile Passcode: Work phone');

    // A method the user has no verified device of is refused, with no change.
    const bad = await postAccount(browser, editAgain, '/account/default', { method: 'email' });
    expect(bad.status).toBe(422);
    expect(alertOf(bad)).toBe('Choose a method you have a verified device for.');
    expect((await devicesOf(db.url, user.userId)).find((d) => d.isDefault)!.id).toBe(firstDeviceId);
  });
});

describe('re-authentication for sensitive pages (REAUTH_MAX_AGE=1)', () => {
  let short: TwofoldProcess;

  beforeAll(async () => {
    short = await startTwofold({ ...serverEnv(), REAUTH_MAX_AGE: '1' });
  });

  afterAll(async () => {
    await short?.stop();
  });

  /** Waits, when needed, until early in a second: auth_time has whole seconds and the window is 1 s. */
  async function earlyInSecond() {
    const ms = Date.now() % 1000;
    if (ms > 250) await sleep(1000 - ms + 20);
  }

  test('a sign-in older than the window: password and MFA again (max_age), then back to the page asked for', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const visited: URL[] = [];
    const browser = new UserAgent((url) => {
      visited.push(url);
      return false;
    });
    const { page, app } = await openAccount(browser, short.url, user);
    expectAccountPage(page);
    const devices = await devicesOf(db.url, user.userId);
    expect(devices).toHaveLength(1);
    await sleep(2100);

    // A sensitive POST with a stale sign-in changes nothing and asks for a sign-in.
    const post = await postAccount(browser, page, '/account/devices-remove-all');
    expectKind(post, 'login');
    expect(await devicesOf(db.url, user.userId)).toEqual(devices);

    visited.length = 0;
    const login = await browser.request(`${short.url}/account/recovery-codes`);
    // The sign-in demanded by /account asks for a fresh authentication (max_age=0)...
    const auth = visited.find((u) => u.pathname === '/auth');
    expect(auth).toBeDefined();
    expect(auth!.searchParams.get('max_age')).toBe('0');
    expect(auth!.searchParams.get('client_id')).toBe('twofold-account');
    // ...so the password is asked although the browser has a session, then the MFA code.
    expectKind(login, 'login');
    const challenge = await submitPassword(browser, login, user);
    expectKind(challenge, 'challenge');
    await earlyInSecond();
    const back = await browser.submit(challenge, '/mfa', { code: await app!.next() });
    expect(back.status).toBe(200);
    expect(pathOf(back)).toBe('/account/recovery-codes');
    expect(back.html).toMatch(/<h1[^>]*>\s*Generate Recovery Codes\s*<\/h1>/);
  });
});
