import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFakeVonage, type FakeVonage } from '../helpers/fake-vonage.js';
import { expectKind, sql } from '../helpers/mfa.js';
import { accountWithUser, cli, confidentialClient, type Fixture } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import {
  addTotpDevice,
  afterPassword,
  devicesOf,
  expectAccountPage,
  openAccount,
  pathOf,
  postAccount,
  recoveryRowsOf,
  refreshWorks,
  sessionsValidAfter,
  submitForm,
  verifyDevice,
} from '../helpers/self-service.js';
import { totp } from '../helpers/rfc6238.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { csrfToken, UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * No /account route lets one user (an account admin included) see, add, verify, resend to,
 * remove or make default another user's device. User B of the same account has a verified
 * mobile passcode, an unverified mobile passcode, an unverified SMS device and recovery codes;
 * A and the admin try every route with B's ids (taken from Postgres). Each refusal has a
 * control: the same request with the caller's own id works.
 */

let db: TestDatabase;
let fake: FakeVonage;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };

let b: Fixture;
let bDevices: { verifiedTotp: string; unverifiedTotp: string; unverifiedSms: string };
let bUnverifiedSecret: string;
let bPin: string;
const B_DIGITS = '447911123461';
let bRp: RelyingParty;
let bRefresh: string;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_isolation');
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
    SMS_RESEND_COOLDOWN: '0',
    SMS_LIMIT_USER_HOURLY: '1000',
    SMS_LIMIT_PHONE_HOURLY: '1000000',
    SMS_LIMIT_IP_HOURLY: '1000000',
    SMS_LIMIT_GLOBAL_HOURLY: '10000000',
  });
  client = await confidentialClient(db.url, { firstParty: true });

  // B: enrols a mobile passcode while signing in to /account, then adds an unverified mobile
  // passcode and an unverified SMS device, and generates recovery codes.
  b = await accountWithUser(db.url, { mfaRequired: true });
  const bBrowser = new UserAgent();
  await openAccount(bBrowser, server.url, b);
  const unverified = await addTotpDevice(bBrowser, server.url, 'B tablet');
  bUnverifiedSecret = unverified.app.secret;
  const smsForm = await bBrowser.request(`${server.url}/account/devices/new/sms`);
  const smsPage = await bBrowser.submit(smsForm, '/account/devices/new/sms', { country: 'GB', phone: '07911 123461' });
  expect(smsPage.status).toBe(200);
  bPin = latestCode(B_DIGITS, 4);
  const codesForm = await bBrowser.request(`${server.url}/account/recovery-codes`);
  const codesPage = await bBrowser.submit(codesForm, '/account/recovery-codes', { quantity: '3' });
  const recoveryCode = codesPage.html.match(/<code>([A-Z0-9-]{19})<\/code>/)![1]!;

  const rows = await devicesOf(db.url, b.userId);
  bDevices = {
    verifiedTotp: rows.find((d) => d.kind === 'totp' && d.verified)!.id,
    unverifiedTotp: rows.find((d) => d.kind === 'totp' && !d.verified)!.id,
    unverifiedSms: rows.find((d) => d.kind === 'sms')!.id,
  };

  // B's "other session": an app's sign-in with a recovery code, with a refresh token.
  bRp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
  const { page, finish } = await afterPassword(bRp, b);
  const done = await bRp.agent.submit(page, '/recovery', { code: recoveryCode });
  bRefresh = (await finish(callbackOf(done))).refresh_token!;
  expect(bRefresh).toBeDefined();
});

afterAll(async () => {
  await server?.stop();
  await fake?.close();
  await db?.drop();
});

function latestCode(digits: string, length: number): string {
  const msgs = fake.messages.filter((m) => m.to === digits);
  const m = msgs.at(-1)?.text.match(new RegExp(`\\b(\\d{${length}})\\b`));
  if (!m) throw new Error(`no ${length}-digit code sent to ${digits}`);
  return m[1]!;
}

const smsCount = (digits: string) => fake.messages.filter((m) => m.to === digits).length;

/** Everything of B that an attack could change. */
async function snapshotOfB() {
  return {
    devices: await devicesOf(db.url, b.userId),
    recovery: await recoveryRowsOf(db.url, b.userId),
    sessionsValidAfter: await sessionsValidAfter(db.url, b.userId),
    user: await sql(db.url, 'SELECT failed_mfa_attempts, locked_at FROM users WHERE id = $1', [b.userId]),
    sms: smsCount(B_DIGITS),
  };
}

/** A user of B's account (a plain user or an admin) with a known password. */
async function colleague(role: 'user' | 'admin'): Promise<Fixture> {
  const username = `${role}-${Math.random().toString(36).slice(2, 8)}`;
  const password = `correct horse ${username}`;
  const created = await cli(db.url, ['user', 'create', '--account', b.accountId, '--username', username, '--role', role, '--password-stdin'], `${password}\n`);
  return { accountId: b.accountId, userId: String(created.userId), username, password };
}

const bIds = () => [bDevices.verifiedTotp, bDevices.unverifiedTotp, bDevices.unverifiedSms];

function expectNotFound(page: Page): void {
  if (page.status !== 404) throw new Error(`expected 404, got ${page.status} ${page.url}\n${page.html.slice(0, 1200)}`);
  expect(page.html).not.toContain('B tablet');
  expect(page.html).not.toContain('3461');
}

/** Every /account route, tried with B's ids by `actor`; each refusal followed by its control. */
async function tryEverything(actor: Fixture, digits: string, phone: string) {
  const browser = new UserAgent();
  const { page: home } = await openAccount(browser, server.url, actor);
  expectAccountPage(home);
  const before = await snapshotOfB();
  const own = () => devicesOf(db.url, actor.userId);

  // The actor's own unverified mobile passcode (a control for verify and remove).
  const ownTotp = await addTotpDevice(browser, server.url, 'Own tablet');

  // GET /account/devices/:id — B's ids are not found; the own one is shown.
  for (const id of bIds()) expectNotFound(await browser.request(`${server.url}/account/devices/${id}`));
  expect((await browser.request(`${server.url}/account/devices/${ownTotp.deviceId}`)).status).toBe(200);

  // POST /devices/:id/verify with B's right codes (makeDefault and replaces too).
  const bCode = totp(bUnverifiedSecret, Date.now());
  expectNotFound(await postAccount(browser, home, `/account/devices/${bDevices.unverifiedTotp}/verify`, { code: bCode, makeDefault: '1' }));
  expectNotFound(await postAccount(browser, home, `/account/devices/${bDevices.unverifiedSms}/verify`, { code: bPin, makeDefault: '1' }));
  expectNotFound(await postAccount(browser, home, `/account/devices/${bDevices.verifiedTotp}/verify`, { code: bCode, makeDefault: '1' }));
  expect(await snapshotOfB()).toEqual(before);
  // Control: the own device verifies with the same request (its own code, not made default).
  expectAccountPage(await verifyDevice(browser, ownTotp.page, await ownTotp.app.next(), false));
  expect((await own()).find((d) => d.id === ownTotp.deviceId)).toMatchObject({ verified: true, isDefault: false });

  // POST /devices/:id/resend — no PIN goes to B's phone.
  for (const id of bIds()) expectNotFound(await postAccount(browser, home, `/account/devices/${id}/resend`));
  expect(await snapshotOfB()).toEqual(before);
  // Control: the actor's own new SMS device (added with replaces=B's SMS device) gets a new PIN.
  const smsForm = await browser.request(`${server.url}/account/devices/new/sms?replaces=${bDevices.unverifiedSms}`);
  expect(smsForm.status).toBe(200);
  expect(smsForm.html).toContain(`name="replaces" value="${bDevices.unverifiedSms}"`);
  const smsPage = await submitForm(browser, smsForm, '/account/devices/new/sms', { country: 'GB', phone });
  expect(smsPage.status).toBe(200);
  const ownSmsId = pathOf(smsPage).split('/').pop()!;
  expect((await own()).find((d) => d.id === ownSmsId)).toMatchObject({ kind: 'sms', verified: false });
  const sent = smsCount(digits);
  const resent = await postAccount(browser, home, `/account/devices/${ownSmsId}/resend`);
  expect(resent.status).toBe(200);
  expect(resent.html).toContain('We sent a new PIN.');
  expect(smsCount(digits)).toBe(sent + 1);
  // Verifying the own number "replacing" B's SMS device verifies the own one and leaves B's alone.
  expectAccountPage(await postAccount(browser, home, `/account/devices/${ownSmsId}/verify`, { code: latestCode(digits, 4), replaces: bDevices.unverifiedSms }));
  expect((await own()).find((d) => d.id === ownSmsId)).toMatchObject({ verified: true });
  expect(await snapshotOfB()).toEqual(before);

  // POST /default — only ever the actor's own devices, whatever ids or users are added.
  for (const method of ['sms', 'totp']) {
    const res = await postAccount(browser, home, '/account/default', { method, deviceId: bDevices.verifiedTotp, userId: b.userId, user: b.username });
    expectAccountPage(res);
    expect((await own()).find((d) => d.isDefault)!.kind).toBe(method);
  }
  expect(await snapshotOfB()).toEqual(before);

  // POST /devices/new/:kind with B's user id: the device is the actor's.
  const ownCount = (await own()).length;
  const added = await postAccount(browser, home, '/account/devices/new/totp', { nickname: 'Planted', userId: b.userId, user: b.username, accountId: b.accountId });
  expect(added.status).toBe(200);
  expect((await own()).length).toBe(ownCount + 1);
  expect(await snapshotOfB()).toEqual(before);

  // POST /recovery-codes with B's user id: the actor's codes.
  const codes = await postAccount(browser, home, '/account/recovery-codes', { quantity: '2', userId: b.userId });
  expect(codes.html).toContain('aria-label="Recovery codes"');
  expect(await recoveryRowsOf(db.url, actor.userId)).toHaveLength(2);
  expect(await snapshotOfB()).toEqual(before);

  // POST /devices/:id/remove — B's ids are not found; the own one goes.
  for (const id of bIds()) expectNotFound(await postAccount(browser, home, `/account/devices/${id}/remove`));
  expect(await snapshotOfB()).toEqual(before);
  expectAccountPage(await postAccount(browser, home, `/account/devices/${ownTotp.deviceId}/remove`));
  expect((await own()).some((d) => d.id === ownTotp.deviceId)).toBe(false);

  // Unknown and malformed ids: not found, never a server error.
  for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', `${bDevices.verifiedTotp}'--`]) {
    expectNotFound(await browser.request(`${server.url}/account/devices/${encodeURIComponent(id)}`));
    expectNotFound(await postAccount(browser, home, `/account/devices/${encodeURIComponent(id)}/remove`));
  }

  // POST /devices-remove-all with B's ids: only the actor's devices and codes go.
  const all = await postAccount(browser, home, '/account/devices-remove-all', { userId: b.userId, deviceId: bDevices.verifiedTotp });
  expectAccountPage(all);
  expect(await own()).toEqual([]);
  expect(await recoveryRowsOf(db.url, actor.userId)).toEqual([]);
  expect(await snapshotOfB()).toEqual(before);
}

describe("one user cannot touch another user's devices through /account", () => {
  test("a plain user of the same account: every route with B's ids is 404 or changes only their own devices", async () => {
    await tryEverything(await colleague('user'), '447911123462', '07911 123462');
  });

  test('an account admin of the same account: the same', async () => {
    await tryEverything(await colleague('admin'), '447911123463', '07911 123463');
  });

  test("B was never signed out: B's refresh token still works and B's devices are as B left them", async () => {
    await refreshWorks(bRp, bRefresh);
    const rows = await devicesOf(db.url, b.userId);
    expect(rows.map((d) => [d.id, d.verified, d.isDefault])).toEqual([
      [bDevices.verifiedTotp, true, true],
      [bDevices.unverifiedTotp, false, false],
      [bDevices.unverifiedSms, false, false],
    ]);
  });
});

describe('CSRF', () => {
  let actor: Fixture;
  let browser: UserAgent;
  let home: Page;

  beforeAll(async () => {
    actor = await accountWithUser(db.url, { mfaRequired: true });
    browser = new UserAgent();
    ({ page: home } = await openAccount(browser, server.url, actor));
  });

  test("a POST without _csrf, or with another browser's token, is 403 and changes nothing", async () => {
    const ownTotp = await addTotpDevice(browser, server.url, 'CSRF tablet');
    const codes = await postAccount(browser, home, '/account/recovery-codes', { quantity: '3' });
    expect(codes.html).toContain('aria-label="Recovery codes"');
    const [verified] = (await devicesOf(db.url, actor.userId)).filter((d) => d.verified);
    const state = async () => ({
      devices: await devicesOf(db.url, actor.userId),
      recovery: await recoveryRowsOf(db.url, actor.userId),
      mark: await sessionsValidAfter(db.url, actor.userId),
    });
    const before = await state();

    // Another browser's valid token (B's browser, here a fresh one) is no good in this one.
    const other = new UserAgent();
    const otherPage = await other.request(`${server.url}/account`);
    expectKind(otherPage, 'login');
    const foreignToken = csrfToken(otherPage);
    expect(foreignToken).not.toBe(csrfToken(home));

    const attempts: [string, Record<string, string>][] = [
      [`/account/devices/${ownTotp.deviceId}/verify`, { code: await ownTotp.app.next(), makeDefault: '1' }],
      [`/account/devices/${verified!.id}/remove`, {}],
      ['/account/devices-remove-all', {}],
      ['/account/default', { method: 'totp' }],
      ['/account/recovery-codes', { quantity: '10' }],
      ['/account/devices/new/totp', { nickname: 'Forged' }],
      ['/account/recovery-codes/download', { codes: 'ABCD-EFGH-JKMN-PQRS' }],
    ];
    for (const [path, fields] of attempts) {
      for (const token of [undefined, foreignToken, '']) {
        const res = await browser.request(`${server.url}${path}`, {
          form: { ...(token !== undefined ? { _csrf: token } : {}), ...fields },
          // A browser sends the form's content type even when the form is empty.
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        if (res.status !== 403) throw new Error(`${path} with _csrf=${token ?? '(none)'}: expected 403, got ${res.status}`);
        expect(res.headers.get('content-disposition')).toBeNull();
      }
    }
    expect(await state()).toEqual(before);

    // Control: the same verify with the page's token works.
    const done = await verifyDevice(browser, ownTotp.page, await ownTotp.app.next(), false);
    expectAccountPage(done);
    expect((await devicesOf(db.url, actor.userId)).find((d) => d.id === ownTotp.deviceId)).toMatchObject({ verified: true });
  });
});
