import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { beginTotpEnrolment, enrolThroughSignIn, expectKind, kindOf, sql, submitPassword, toCallback } from '../helpers/mfa.js';
import { accountWithUser, cli, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { addTotpDevice, afterPassword, devicesOf, expectAccountPage, openAccount, sleep, verifyDevice } from '../helpers/self-service.js';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../helpers/smtp-sink.js';
import { clusterSecrets, freePort, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js';
import { csrfToken, UserAgent } from '../helpers/user-agent.js';

/**
 * Security notices end to end: a real server (MAIL_PROVIDER=smtp) sends to a real SMTP server
 * in this process. Each event is one mail to the user's verified address, saying what happened
 * and when and what to do, with no code, password or secret the test knows.
 */

let db: TestDatabase;
let sink: SmtpSink;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
const secrets = clusterSecrets();
const CODE = /\b[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}\b/g;

const env = (smtpUrl: string) => ({
  DATABASE_URL: db.url,
  REDIS_URL,
  ...secrets,
  MAIL_PROVIDER: 'smtp',
  SMTP_URL: smtpUrl,
  MAIL_FROM: 'Twofold Security <security@twofold.test>',
  MAIL_TIMEOUT_MS: '3000',
});

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_notices');
  sink = await startSmtpSink();
  server = await startTwofold(env(sink.url));
  client = await confidentialClient(db.url);
});

afterAll(async () => {
  await server?.stop();
  await sink?.close();
  await db?.drop();
});

const newRp = (issuer = server.url) => RelyingParty.create(issuer, client.clientId, client.clientSecret);
let n = 0;

/** Waits until `addr` has `count` mails, then a little longer, so that one too many shows. */
async function mailsTo(addr: string, count: number): Promise<ReceivedMail[]> {
  const deadline = Date.now() + 10_000;
  while (sink.to(addr).length < count && Date.now() < deadline) await sleep(25);
  await sleep(500);
  return sink.to(addr);
}

/** What every notice says, and what none ever holds (each secret also without dashes and in lower case). */
function expectNotice(mail: ReceivedMail, subject: RegExp, forbidden: string[]): void {
  expect(mail.from).toBe('security@twofold.test');
  expect(mail.subject).toMatch(subject);
  for (const body of [mail.text, mail.html]) {
    expect(body).toMatch(/When:(<\/strong>)? \d{1,2} [A-Z][a-z]+ 20\d\d, \d\d:\d\d UTC/);
    expect(body).toMatch(/If this wasn(&#39;|')t you, contact support\./);
    expect(body).toContain(`${server.url}/account`);
  }
  for (const secret of forbidden.filter((s) => s.length >= 4)) {
    for (const v of new Set([secret, secret.replace(/-/g, ''), secret.toLowerCase()])) expect(mail.raw).not.toContain(v);
  }
  expect(mail.raw).not.toMatch(CODE);
}

/** A user of an MFA-required account; with an address set by the operator (verified) unless told otherwise. */
async function newUser(options: { email?: 'verified' | 'unverified' | 'none' } = {}): Promise<Fixture & { email: string }> {
  const email = `notice-${Date.now().toString(36)}-${n++}@Example.test`;
  const user = await accountWithUser(db.url, { mfaRequired: true, ...(options.email === 'none' ? {} : { email }) });
  if (options.email === 'unverified') await sql(db.url, 'UPDATE users SET email_verified = false WHERE id = $1', [user.userId]);
  return { ...user, email: email.toLowerCase() };
}

describe('one mail per event, to the verified address', () => {
  test('device added (forced enrolment: on verification), added and removed in /account, recovery codes generated and used, all removed', async () => {
    const user = await newUser();
    const forbidden = [user.password];

    // Forced enrolment: the unverified device sends nothing; its verification sends one mail.
    const rp = await newRp();
    const { page, finish } = await rp.start();
    const { page: enrol, app } = await beginTotpEnrolment(rp.agent, await submitPassword(rp.agent, page, user), 'Work phone');
    forbidden.push(app.secret);
    await sleep(500);
    expect(sink.to(user.email)).toHaveLength(0);
    const code = await app.next();
    forbidden.push(code);
    await finish(await toCallback(rp.agent, await rp.agent.submit(enrol, '/enrol/verify', { code })));
    let mails = await mailsTo(user.email, 1);
    expect(mails).toHaveLength(1);
    expectNotice(mails[0]!, /device was added/i, forbidden);
    expect(mails[0]!.to).toEqual([user.email]);
    expect(mails[0]!.text).toContain(`Hello ${user.username},`);
    expect(mails[0]!.text).toContain('A new multi-factor device, Mobile Passcode ("Work phone"), was added to your account.');

    // /account: signing in sends nothing; adding an unverified device sends nothing; verifying it sends one.
    const browser = new UserAgent();
    await openAccount(browser, server.url, user, { app });
    const { page: devicePage, deviceId, app: tablet } = await addTotpDevice(browser, server.url, 'Tablet');
    forbidden.push(tablet.secret);
    expect(await mailsTo(user.email, 1)).toHaveLength(1);
    expectAccountPage(await verifyDevice(browser, devicePage, await tablet.next(), false));
    mails = await mailsTo(user.email, 2);
    expect(mails).toHaveLength(2);
    expectNotice(mails[1]!, /device was added/i, forbidden);
    expect(mails[1]!.text).toContain('Mobile Passcode ("Tablet")');

    // Remove it: one mail.
    const manage = await browser.request(`${server.url}/account/devices/${deviceId}`);
    expectAccountPage(await browser.submit(manage, `/account/devices/${deviceId}/remove`));
    mails = await mailsTo(user.email, 3);
    expect(mails).toHaveLength(3);
    expectNotice(mails[2]!, /device was removed/i, forbidden);
    expect(mails[2]!.text).toContain('The multi-factor device Mobile Passcode ("Tablet") was removed from your account.');

    // Generate 4 recovery codes: one mail (not one per code), no code in it.
    const form = await browser.request(`${server.url}/account/recovery-codes`);
    const shown = await browser.submit(form, '/account/recovery-codes', { quantity: '4' });
    const codes = [...new Set(shown.html.match(CODE) ?? [])];
    expect(codes).toHaveLength(4);
    forbidden.push(...codes);
    mails = await mailsTo(user.email, 4);
    expect(mails).toHaveLength(4);
    expectNotice(mails[3]!, /recovery codes were generated/i, forbidden);
    expect(mails[3]!.text).toContain('4 new recovery codes were generated for your account.');

    // Sign in with one of them: one mail with how many are left.
    const signIn = await newRp();
    const { page: challenge } = await afterPassword(signIn, user);
    expectKind(challenge, 'challenge');
    const used = await signIn.agent.submit(challenge, '/recovery', { code: codes[1]! });
    expect(await toCallback(signIn.agent, used)).toContain('code=');
    mails = await mailsTo(user.email, 5);
    expect(mails).toHaveLength(5);
    expectNotice(mails[4]!, /recovery code was used/i, forbidden);
    expect(mails[4]!.text).toContain('You have 3 recovery codes left.');

    // Remove all devices: one mail for all of them.
    const confirm = await browser.request(`${server.url}/account/devices-remove-all`);
    expectAccountPage(await browser.submit(confirm, '/account/devices-remove-all'));
    mails = await mailsTo(user.email, 6);
    expect(mails).toHaveLength(6);
    expectNotice(mails[5]!, /all sign-in devices were removed/i, forbidden);
    expect(mails[5]!.text).toContain('All multi-factor devices (1) and your recovery codes were removed');
    expect(sink.mails.filter((m) => m.to.includes(user.email))).toHaveLength(6);
  });

  test('a passkey added and removed on /account: each mail names it as a passkey, by its name', async () => {
    const user = await newUser();
    const browser = new UserAgent();
    const { app } = await openAccount(browser, server.url, user);
    expect(await mailsTo(user.email, 1)).toHaveLength(1); // the forced enrolment's device
    const forbidden = [user.password, app!.secret];

    // The one-page add as its script does it: the creation request, the ceremony, the answer.
    const addPage = await browser.request(`${server.url}/account/devices/new/passkey`);
    const asked = await browser.request(`${server.url}/account/devices/new/passkey/options`, {
      form: { _csrf: csrfToken(addPage), nickname: 'Work laptop' },
      headers: { accept: 'application/json' },
    });
    const { deviceId, verifyAction, options } = JSON.parse(asked.html) as { deviceId: string; verifyAction: string; options: { challenge: string } };
    const key = new SoftwareAuthenticator({ rpId: new URL(server.url).hostname, origin: server.url });
    forbidden.push(key.id);
    const verified = await browser.request(`${server.url}${verifyAction}`, { form: { _csrf: csrfToken(addPage), code: key.register(options.challenge) } });
    expectAccountPage(verified);
    let mails = await mailsTo(user.email, 2);
    expect(mails).toHaveLength(2);
    expectNotice(mails[1]!, /device was added/i, forbidden);
    expect(mails[1]!.text).toContain('A new multi-factor device, Passkey ("Work laptop"), was added to your account.');
    expect(mails[1]!.raw).not.toMatch(/SMS|PIN|Mobile Passcode/);

    const manage = await browser.request(`${server.url}/account/devices/${deviceId}`);
    expectAccountPage(await browser.submit(manage, `/account/devices/${deviceId}/remove`));
    mails = await mailsTo(user.email, 3);
    expect(mails).toHaveLength(3);
    expectNotice(mails[2]!, /device was removed/i, forbidden);
    expect(mails[2]!.text).toContain('The multi-factor device Passkey ("Work laptop") was removed from your account.');
  });

  test('account locked: one mail, even when the failing codes race past the limit', async () => {
    const user = await newUser();
    const { app } = await enrolThroughSignIn(await newRp(), user);
    await mailsTo(user.email, 1);
    const rp = await newRp();
    const challenge = await submitPassword(rp.agent, (await rp.start()).page, user);
    expectKind(challenge, 'challenge');
    let page = challenge;
    for (let i = 0; i < 4; i++) page = await rp.agent.submit(page, '/mfa', { code: app.wrongCode() });
    // The last ones in parallel: only the one that locks sends the mail.
    const pages = await Promise.all(Array.from({ length: 6 }, () => rp.agent.submit(page, '/mfa', { code: app.wrongCode() })));
    expect(pages.some((p) => kindOf(p) === 'locked')).toBe(true);
    const mails = await mailsTo(user.email, 2);
    expect(mails).toHaveLength(2);
    expectNotice(mails[1]!, /account was locked/i, [user.password]);
    expect(mails[1]!.text).toContain('Contact support to unlock it.');
  });

  test('MFA reset by support (CLI) and email changed (CLI, to the old address only)', async () => {
    const user = await newUser();
    await enrolThroughSignIn(await newRp(), user);
    await mailsTo(user.email, 1);
    // The CLI reads the same settings as the server.
    const { MAIL_PROVIDER, SMTP_URL, MAIL_FROM } = env(sink.url);
    const mailEnv = { MAIL_PROVIDER, SMTP_URL, MAIL_FROM, ISSUER: server.url };
    await cli(db.url, ['user', 'reset-mfa', user.username], undefined, mailEnv);
    let mails = await mailsTo(user.email, 2);
    expect(mails).toHaveLength(2);
    expectNotice(mails[1]!, /multi-factor authentication was reset/i, [user.password]);

    const newAddress = `changed-${n++}@example.test`;
    await cli(db.url, ['user', 'set-email', user.username, newAddress], undefined, mailEnv);
    mails = await mailsTo(user.email, 3);
    expect(mails).toHaveLength(3);
    expectNotice(mails[2]!, /email address of your account was changed/i, [user.password]);
    // The old mailbox is not told the new address.
    expect(mails[2]!.raw).not.toContain(newAddress);
    expect(sink.to(newAddress)).toHaveLength(0);
  });
});

describe('no verified address: no mail', () => {
  test.each(['unverified', 'none'] as const)('address %s: enrolment and removing every device send nothing', async (email) => {
    const user = await newUser({ email });
    const before = sink.mails.length;
    const { app } = await enrolThroughSignIn(await newRp(), user);
    const browser = new UserAgent();
    await openAccount(browser, server.url, user, { app });
    const confirm = await browser.request(`${server.url}/account/devices-remove-all`);
    expectAccountPage(await browser.submit(confirm, '/account/devices-remove-all'));
    await sleep(800);
    expect(sink.mails.length).toBe(before);
    expect(await devicesOf(db.url, user.userId)).toEqual([]);
  });
});

describe('mail server down', () => {
  test('the actions complete and the pages work; each lost notice is audited as mail.send_failed', async () => {
    const down = await startTwofold(env(`smtp://127.0.0.1:${await freePort()}`));
    try {
      const user = await newUser();
      const rp = await newRp(down.url);
      const { app, tokens } = await enrolThroughSignIn(rp, user);
      expect(tokens.id_token).toBeTruthy();
      const browser = new UserAgent();
      await openAccount(browser, down.url, user, { app });
      const confirm = await browser.request(`${down.url}/account/devices-remove-all`);
      const done = await browser.submit(confirm, '/account/devices-remove-all');
      expectAccountPage(done);
      expect(done.html).toContain('You have no multi-factor devices.');
      expect(await devicesOf(db.url, user.userId)).toEqual([]);
      let failed: { details: Record<string, unknown> }[] = [];
      for (let i = 0; i < 100 && failed.length < 2; i++) {
        failed = await sql(db.url, "SELECT details FROM audit_events WHERE type = 'mail.send_failed' AND subject_user_id = $1", [user.userId]);
        if (failed.length < 2) await sleep(50);
      }
      expect(failed).toHaveLength(2);
      for (const f of failed) expect(f.details).toMatchObject({ template: 'security-notice', provider: 'smtp' });
      expect(sink.to(user.email)).toHaveLength(0);
      expect(down.output()).not.toContain(user.password);
    } finally {
      await down.stop();
    }
  });
});
