import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFakeVonage, vonageSettings, type FakeVonage } from '../helpers/fake-vonage.js';
import { Authenticator, beginTotpEnrolment, enrolThroughSignIn, expectKind, interactionUid, kindOf, sql, submitPassword, toCallback } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { addTotpDevice, alertOf, devicesOf, expectAccountPage, openAccount, pathOf, refreshFails, refreshWorks, sleep, submitForm, verifyDevice } from '../helpers/self-service.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js';
import { csrfToken, otpauthUri, UserAgent } from '../helpers/user-agent.js';

/**
 * Rules around devices being enrolled, each tried the way an intruder would: a secret shown to
 * one session only, stale enrolments, MFA turned on ending password-only sessions, number
 * changes signing out, and the bounds on pending devices.
 */

// Long enough for a whole test on a busy machine, short enough to wait out once.
const REAUTH = 10;
let db: TestDatabase;
let fake: FakeVonage;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };

const secrets = clusterSecrets();
const env = (extra: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  REDIS_URL,
  ...secrets,
  ...vonageSettings(fake),
  SMS_RESEND_COOLDOWN: '0',
  SMS_LIMIT_USER_HOURLY: '1000',
  SMS_LIMIT_PHONE_HOURLY: '1000',
  SMS_LIMIT_PHONE_PIN_HOURLY: '1000',
  SMS_LIMIT_IP_HOURLY: '100000',
  REAUTH_MAX_AGE: String(REAUTH),
  ...extra,
});

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_enrolment_security');
  fake = await startFakeVonage();
  server = await startTwofold(env());
  client = await confidentialClient(db.url, { firstParty: true });
});

afterAll(async () => {
  await server?.stop();
  await fake?.close();
  await db?.drop();
});

const newRp = () => RelyingParty.create(server.url, client.clientId, client.clientSecret);
const latestPin = (digits: string) =>
  fake.messages
    .filter((m) => m.to === digits)
    .at(-1)!
    .text.match(/\b(\d{4})\b/)![1]!;
const hasSecret = (html: string) => /otpauth:\/\/|alt="QR code"|data-secret=/.test(html);

/** A user with a mobile passcode, signed in to /account in a browser of their own. */
async function userAtAccount() {
  const user = await accountWithUser(db.url, { mfaRequired: true });
  const { app } = await enrolThroughSignIn(await newRp(), user);
  const browser = new UserAgent();
  expectAccountPage((await openAccount(browser, server.url, user, { app })).page);
  return { user, app, browser };
}

describe('the secret of a device being enrolled', () => {
  test('only the session that added it sees it; another session asks for a new QR code with a POST, which voids the old secret', async () => {
    const { user, app, browser: a } = await userAtAccount();
    const added = await addTotpDevice(a, server.url, 'Tablet');
    const oldSecret = added.app;

    // Another browser of the same user, signed in with MFA a moment ago.
    const b = new UserAgent();
    await openAccount(b, server.url, user, { app });
    const seen = await b.request(`${server.url}/account/devices/${added.deviceId}`);
    expect(seen.status).toBe(200);
    expect(hasSecret(seen.html)).toBe(false);
    expect(seen.html).toMatch(/<button[^>]*>\s*Show a new QR code\s*<\/button>/);
    expect(seen.html).not.toContain('<label for="code">Verification Code</label>');
    // A GET changes nothing: the stored secret is the same after any number of them.
    const [before] = (await devicesOf(db.url, user.userId)).filter((d) => d.id === added.deviceId);
    await b.request(`${server.url}/account/devices/${added.deviceId}`);
    const [after] = (await devicesOf(db.url, user.userId)).filter((d) => d.id === added.deviceId);
    expect(after!.secret).toBe(before!.secret);

    // The POST issues a fresh secret to b alone; a's page no longer shows one, and its secret is void.
    const renewed = await submitForm(b, seen, '/renew');
    expect(pathOf(renewed)).toBe(`/account/devices/${added.deviceId}`);
    const fresh = Authenticator.fromUri(otpauthUri(renewed));
    expect(fresh.secret).not.toBe(oldSecret.secret);
    expect(hasSecret((await a.request(`${server.url}/account/devices/${added.deviceId}`)).html)).toBe(false);
    const stale = await verifyDevice(a, added.page, await oldSecret.next(), false);
    expect(stale.status).toBe(401);
    expect(pathOf(await verifyDevice(b, renewed, await fresh.next(), false))).toBe('/account');
    expect((await devicesOf(db.url, user.userId)).find((d) => d.id === added.deviceId)!.verified).toBe(true);
  });

  test('not even the session that added it sees the secret once its sign-in is older than REAUTH_MAX_AGE', async () => {
    const { browser } = await userAtAccount();
    const added = await addTotpDevice(browser, server.url, 'Old tablet');
    await sleep(REAUTH * 1000 + 1500);
    // Sent to sign in again (password and code), never shown the secret.
    const page = await browser.request(`${server.url}/account/devices/${added.deviceId}`);
    expectKind(page, 'login');
    expect(hasSecret(page.html)).toBe(false);
  });
});

describe('enrolment decided on fresh state', () => {
  test('two sign-ins of a user without a device enrol at once: exactly one device is verified, the other must pass its challenge', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const browsers = await Promise.all([newRp(), newRp(), newRp()]);
    const started = await Promise.all(
      browsers.map(async (rp) => {
        const { page, finish } = await rp.start();
        const { page: qr, app } = await beginTotpEnrolment(rp.agent, await submitPassword(rp.agent, page, user));
        return { rp, qr, app, finish };
      }),
    );
    const codes = await Promise.all(started.map((s) => s.app.next()));
    const results = await Promise.all(started.map((s, i) => s.rp.agent.submit(s.qr, '/enrol/verify', { code: codes[i]! })));
    expect(results.filter((p) => kindOf(p) === 'callback')).toHaveLength(1);
    for (const p of results.filter((r) => kindOf(r) !== 'callback')) expectKind(p, 'challenge');
    expect(await sql(db.url, 'SELECT id FROM mfa_devices WHERE user_id = $1 AND verified_at IS NOT NULL', [user.userId])).toHaveLength(1);

    // The losers cannot enrol another device either: a new enrolment gets the challenge, and nothing is created.
    const devicesBefore = (await devicesOf(db.url, user.userId)).length;
    for (const [i, s] of started.entries()) {
      if (kindOf(results[i]!) === 'callback') continue;
      const again = await s.rp.agent.request(`${server.url}/interaction/${interactionUid(results[i]!)}/enrol/begin`, {
        form: { _csrf: csrfToken(results[i]!), method: 'totp', nickname: 'Another' },
      });
      expectKind(again, 'challenge');
    }
    expect((await devicesOf(db.url, user.userId)).length).toBe(devicesBefore);
  });
});

describe('turning MFA on ends password-only sessions', () => {
  async function passwordOnly() {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const rp = await newRp();
    const { page, finish } = await rp.start({ scope: 'openid offline_access' });
    const tokens = await finish(callbackOf(await submitPassword(rp.agent, page, user)));
    expect((await rp.verifyIdToken(tokens.id_token!)).acr).toBe('aal1');
    return { user, rp, accessToken: tokens.access_token, refreshToken: await refreshWorks(rp, tokens.refresh_token!) };
  }

  async function userinfoStatus(accessToken: string): Promise<number> {
    const res = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    await res.arrayBuffer();
    return res.status;
  }

  async function promptNone(rp: RelyingParty): Promise<string | null> {
    const { page } = await rp.start({ prompt: 'none' });
    return new URL(callbackOf(page)).searchParams.get('error');
  }

  test('a first device verified on /account without "make default": other aal1 sessions and refresh tokens end; /account stays', async () => {
    const { user, rp, accessToken, refreshToken } = await passwordOnly();
    expect(await promptNone(rp)).toBeNull();
    expect(await userinfoStatus(accessToken)).toBe(200);
    const browser = new UserAgent();
    await openAccount(browser, server.url, user);
    const added = await addTotpDevice(browser, server.url, 'First phone');
    expect(pathOf(await verifyDevice(browser, added.page, await added.app.next(), false))).toBe('/account');

    await refreshFails(rp, refreshToken);
    expect(await userinfoStatus(accessToken)).toBe(401);
    expect(await promptNone(rp)).toBe('login_required');
    expectAccountPage(await browser.request(`${server.url}/account`));
  });

  test('a first device verified in a sign-in (step-up enrolment): the other aal1 sessions end', async () => {
    const { user, rp, refreshToken } = await passwordOnly();
    const other = await newRp();
    const { page, finish } = await other.start({ acr_values: 'aal2' });
    const { page: qr, app } = await beginTotpEnrolment(other.agent, await submitPassword(other.agent, page, user));
    const tokens = await finish(callbackOf(await other.agent.submit(qr, '/enrol/verify', { code: await app.next() })));
    expect((await other.verifyIdToken(tokens.id_token!)).acr).toBe('aal2');

    await refreshFails(rp, refreshToken);
    expect(await promptNone(rp)).toBe('login_required');
    // The new MFA session itself lives on.
    expect(await promptNone(other)).toBeNull();
  });
});

describe('every removal signs out', () => {
  test('changing an SMS number (not as default) removes the old device and ends the other sessions', async () => {
    const { user, app, browser } = await userAtAccount();
    // An SMS device besides the passcode, not the default.
    const smsForm = await browser.request(`${server.url}/account/devices/new/sms`);
    const smsPage = await submitForm(browser, smsForm, '/account/devices/new/sms', { country: 'GB', phone: '07400 200001' });
    expect(pathOf(await verifyDevice(browser, smsPage, latestPin('447400200001'), false))).toBe('/account');
    const oldSms = (await devicesOf(db.url, user.userId)).find((d) => d.kind === 'sms')!;

    // Another session, after that.
    const rp = await newRp();
    const { page, finish } = await rp.start({ scope: 'openid offline_access' });
    const next = await rp.agent.submit(await submitPassword(rp.agent, page, user), '/mfa', { code: await app.next() });
    const refreshToken = await refreshWorks(rp, (await finish(callbackOf(next))).refresh_token!);

    const change = await browser.request(`${server.url}/account/devices/new/sms?replaces=${oldSms.id}`);
    const newPage = await submitForm(browser, change, '/account/devices/new/sms', { country: 'GB', phone: '07400 200002' });
    expect(newPage.html).toContain('it replaces your old one');
    expect(pathOf(await submitForm(browser, newPage, '/verify', { code: latestPin('447400200002') }))).toBe('/account');
    const sms = (await devicesOf(db.url, user.userId)).filter((d) => d.kind === 'sms');
    expect(sms.map((d) => d.phone)).toEqual(['+447400200002']);
    await refreshFails(rp, refreshToken);
    expectAccountPage(await browser.request(`${server.url}/account`));
  });
});

describe('adding a passkey on one page', () => {
  const optionsPath = '/account/devices/new/passkey/options';
  const asJson = { accept: 'application/json' };
  const pendingOf = async (userId: string) => (await devicesOf(db.url, userId)).filter((d) => !d.verified);

  async function addPage(browser: UserAgent) {
    const page = await browser.request(`${server.url}/account/devices/new/passkey`);
    expect(page.status).toBe(200);
    return page;
  }

  function askOptions(browser: UserAgent, page: Awaited<ReturnType<typeof addPage>>, fields: Record<string, string>, withCsrf = true) {
    return browser.request(`${server.url}${optionsPath}`, { form: { ...(withCsrf ? { _csrf: csrfToken(page) } : {}), ...fields }, headers: asJson });
  }

  test('the page has the name, the default choice and Create passkey, and says without JavaScript that it needs it', async () => {
    const { browser } = await userAtAccount();
    const page = await addPage(browser);
    expect(page.html).toContain('<label for="nickname">Passkey name</label>');
    expect(page.html).toContain('<label for="makeDefault">Make this my default authentication method</label>');
    expect(page.html).toMatch(/<button[^>]*data-passkey="add"[^>]*>\s*Create passkey\s*<\/button>/);
    expect(page.html).toMatch(/<noscript>[\s\S]*Passkeys need JavaScript[\s\S]*<\/noscript>/);
    expect(page.html).not.toMatch(/>\s*Continue\s*</);
  });

  test('the creation request: the name checked on the server, CSRF required, a retry replaces its own unfinished try only', async () => {
    const { user, browser } = await userAtAccount();
    const page = await addPage(browser);

    const noCsrf = await askOptions(browser, page, { nickname: 'Laptop' }, false);
    expect(noCsrf.status).toBe(403);
    expect(JSON.parse(noCsrf.html)).toMatchObject({ error: 'csrf_failed' });
    for (const nickname of ['', '   ', 'x'.repeat(65), 'tab\u0007bell']) {
      const bad = await askOptions(browser, page, { nickname });
      expect(bad.status).toBe(422);
      expect(JSON.parse(bad.html)).toMatchObject({ error: 'validation_failed' });
    }
    expect(await pendingOf(user.userId)).toEqual([]);

    const first = await askOptions(browser, page, { nickname: 'Laptop' });
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    const answer = JSON.parse(first.html) as { deviceId: string; verifyAction: string; options: { challenge: unknown } };
    expect(answer.verifyAction).toBe(`/account/devices/${answer.deviceId}/verify`);
    expect(answer.options).toMatchObject({
      rp: { id: '127.0.0.1', name: 'Twofold' },
      user: { name: user.username },
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
    expect(typeof answer.options.challenge).toBe('string');
    expect((await pendingOf(user.userId)).map((d) => [d.id, d.kind, d.nickname])).toEqual([[answer.deviceId, 'passkey', 'Laptop']]);

    // A retry naming the unfinished try replaces it; another user's pending device is untouched.
    const retry = JSON.parse((await askOptions(browser, page, { nickname: 'Work laptop', previous: answer.deviceId })).html) as { deviceId: string };
    expect((await pendingOf(user.userId)).map((d) => [d.id, d.nickname])).toEqual([[retry.deviceId, 'Work laptop']]);
    const other = await userAtAccount();
    const theirs = JSON.parse((await askOptions(other.browser, await addPage(other.browser), { nickname: 'Theirs' })).html) as { deviceId: string };
    await askOptions(browser, page, { nickname: 'Mine', previous: theirs.deviceId });
    expect((await pendingOf(other.user.userId)).map((d) => d.id)).toEqual([theirs.deviceId]);

    // A ceremony answer that is not one: "Passkey not recognised", nothing verified.
    const refused = await browser.request(`${server.url}${answer.verifyAction.replace(answer.deviceId, retry.deviceId)}`, {
      form: { _csrf: csrfToken(page), code: '{"id":"x","response":{}}', makeDefault: '1' },
    });
    expect(refused.status).toBe(401);
    expect(alertOf(refused)).toBe('Passkey not recognised');
    expect((await devicesOf(db.url, user.userId)).filter((d) => d.kind === 'passkey' && d.verified)).toEqual([]);
  });

  test('forced enrolment: the same one page; a retry replaces its own try, and the creation request ends once the sign-in moved on', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const rp = await newRp();
    const { page, finish } = await rp.start();
    const choose = await rp.agent.submit(await submitPassword(rp.agent, page, user), '/enrol');
    const start = await rp.agent.submit(choose, '/enrol/method', { method: 'passkey' });
    expectKind(start, 'enrol-start');
    expect(start.html).toMatch(/<button[^>]*data-passkey="add"[^>]*>\s*Create passkey\s*<\/button>/);
    expect(start.html).toMatch(/<noscript>[\s\S]*Passkeys need JavaScript[\s\S]*<\/noscript>/);
    const uid = interactionUid(start);
    const ask = (fields: Record<string, string>) =>
      rp.agent.request(`${server.url}/interaction/${uid}/enrol/options`, {
        form: { _csrf: csrfToken(start), method: 'passkey', ...fields },
        headers: { accept: 'application/json' },
      });

    const bad = await ask({ nickname: '' });
    expect(bad.status).toBe(422);
    expect(JSON.parse(bad.html)).toMatchObject({ error: 'validation_failed', message: 'Enter a passkey name.' });
    expect((await ask({ nickname: 'Laptop', _csrf: 'forged' })).status).toBe(403);
    await ask({ nickname: 'First try' });
    const answer = JSON.parse((await ask({ nickname: 'Laptop' })).html) as { verifyAction: string; options: { challenge: string; rp: { id: string } } };
    expect(answer.verifyAction).toBe(`/interaction/${uid}/enrol/verify`);
    expect((await devicesOf(db.url, user.userId)).map((d) => [d.kind, d.nickname, d.verified])).toEqual([['passkey', 'Laptop', false]]);

    const key = new SoftwareAuthenticator({ rpId: answer.options.rp.id, origin: server.url });
    const done = await rp.agent.request(`${server.url}${answer.verifyAction}`, { form: { _csrf: csrfToken(start), code: key.register(answer.options.challenge) } });
    const tokens = await finish(await toCallback(rp.agent, done));
    expect(tokens.claims()).toMatchObject({ acr: 'aal2', amr: ['pwd', 'hwk', 'mfa'] });
    expect((await devicesOf(db.url, user.userId)).map((d) => [d.kind, d.nickname, d.verified])).toEqual([['passkey', 'Laptop', true]]);
    // The sign-in is over: no more creation requests from its page.
    expect((await ask({ nickname: 'Late' })).status).toBeGreaterThanOrEqual(400);
    expect(await devicesOf(db.url, user.userId)).toHaveLength(1);
  });

  test('a sign-in older than REAUTH_MAX_AGE gets no creation request: it is sent to sign in again', async () => {
    const { user, browser } = await userAtAccount();
    const page = await addPage(browser);
    await sleep(REAUTH * 1000 + 1500);
    const late = await askOptions(browser, page, { nickname: 'Late' });
    expectKind(late, 'login');
    expect(await pendingOf(user.userId)).toEqual([]);
  });
});

describe('pending devices are bounded', () => {
  test('at most 5 unverified devices per user: the 6th is refused with a clear message, and parallel adds cannot pass the bound', async () => {
    const { user, browser } = await userAtAccount();
    const form = await browser.request(`${server.url}/account/devices/new/totp`);
    const results = await Promise.all(Array.from({ length: 7 }, (_, i) => submitForm(browser, form, '/account/devices/new/totp', { nickname: `Spare ${i}` })));
    const refused = results.filter((p) => p.status === 429);
    expect(results.length - refused.length).toBe(5);
    expect(alertOf(refused[0]!)).toBe('You have 5 devices waiting for verification. Verify or remove one first.');
    expect((await devicesOf(db.url, user.userId)).filter((d) => !d.verified)).toHaveLength(5);
  });

  test('starting enrolments is rate-limited per IP, in the sign-in and on /account', async () => {
    const limited = await startTwofold({ ...env({ ENTRY_RATE_LIMIT: '40' }), REDIS_KEY_PREFIX: `${secrets.REDIS_KEY_PREFIX}limited:` });
    try {
      const user = await accountWithUser(db.url, { mfaRequired: true });
      const rp = await RelyingParty.create(limited.url, client.clientId, client.clientSecret);
      const notice = await submitPassword(rp.agent, (await rp.start()).page, user);
      const form = await rp.agent.submit(await rp.agent.submit(notice, '/enrol'), '/enrol/method', { method: 'totp' });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await rp.agent.submit(form, '/enrol/begin', { method: 'totp', nickname: `Try ${i}` })).status);
      // 40 per minute at the code forms is 2 per minute for starting an enrolment.
      expect(statuses.slice(0, 2)).toEqual([200, 200]);
      expect(statuses.slice(2)).toEqual([429, 429]);
    } finally {
      await limited.stop();
    }
  });
});
