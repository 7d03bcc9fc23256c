import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFakeVonage, vonageSettings, type FakeVonage } from '../helpers/fake-vonage.js';
import { expectKind, interactionUid, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { alertOf, openAccount, pathOf, sleep, submitForm } from '../helpers/self-service.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * The SMS journeys walked as a person walks them, with the real resend cooldown on:
 * add an SMS device, verify its PIN, then sign in again at once with the 7-digit code, then ask
 * for a new code after the cooldown. No page may say a code was sent when none was.
 */

const COOLDOWN = 2;
let db: TestDatabase;
let fake: FakeVonage;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_sms_journeys');
  fake = await startFakeVonage();
  server = await startTwofold({
    DATABASE_URL: db.url,
    REDIS_URL,
    ...clusterSecrets(),
    ...vonageSettings(fake),
    SMS_RESEND_COOLDOWN: String(COOLDOWN),
    SMS_LIMIT_USER_HOURLY: '6',
    SMS_LIMIT_PHONE_HOURLY: '1000',
    SMS_LIMIT_IP_HOURLY: '1000',
  });
  client = await confidentialClient(db.url, { firstParty: true });
});

afterAll(async () => {
  await server?.stop();
  await fake?.close();
  await db?.drop();
});

const sent = (digits: string) => fake.messages.filter((m) => m.to === digits);

function latestCode(digits: string, length: number): string {
  const text = sent(digits).at(-1)?.text ?? '';
  const m = text.match(new RegExp(`\\b(\\d{${length}})\\b`));
  if (!m) throw new Error(`no ${length}-digit code in the latest SMS to ${digits}: "${text}"`);
  return m[1]!;
}

const SENT_CLAIM = /We sent a code by SMS to/;
const RESENT_CLAIM = /We sent a new code\./;

/** Signs in at once after enrolling: the first code must arrive and the page must say so. */
async function signInWithSms(user: Fixture, digits: string): Promise<Record<string, unknown>> {
  const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
  const { page, finish } = await rp.start();
  const before = sent(digits).length;
  const challenge = await submitPassword(rp.agent, page, user);
  expectKind(challenge, 'challenge');
  expect(sent(digits)).toHaveLength(before + 1);
  expect(challenge.html).toMatch(SENT_CLAIM);
  const first = latestCode(digits, 7);

  // "Resend code" inside the cooldown: refused, and the page does not claim a new code.
  const early = await rp.agent.submit(challenge, '/mfa/resend');
  expectKind(early, 'challenge');
  expect(alertOf(early)).toMatch(/^Wait \d+ seconds? before requesting another code\.$/);
  expect(early.html).not.toMatch(RESENT_CLAIM);
  expect(sent(digits)).toHaveLength(before + 1);

  // After the cooldown: a new code, and only the new one works.
  await sleep(COOLDOWN * 1000 + 200);
  const resent = await rp.agent.submit(early, '/mfa/resend');
  expectKind(resent, 'challenge');
  expect(resent.html).toMatch(RESENT_CLAIM);
  expect(sent(digits)).toHaveLength(before + 2);
  const second = latestCode(digits, 7);
  const old = await rp.agent.submit(resent, '/mfa', { code: first === second ? '0000000' : first });
  expect(old.status).toBe(401);
  const tokens = await finish(callbackOf(await rp.agent.submit(old, '/mfa', { code: second })));
  return rp.verifyIdToken(tokens.id_token!);
}

describe('SMS journeys with the resend cooldown on', () => {
  test('forced enrolment, then sign in again at once with the 7-digit code, then a resend after the cooldown', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const digits = '447400100001';
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page, finish } = await rp.start();
    const notice = await submitPassword(rp.agent, page, user);
    expectKind(notice, 'notice');
    const choose = await rp.agent.submit(notice, '/enrol');
    const form = await rp.agent.submit(choose, '/enrol/method', { method: 'sms' });
    const enrol = await rp.agent.submit(form, '/enrol/begin', { method: 'sms', country: 'GB', phone: '07400 100001' });
    expectKind(enrol, 'enrol');
    expect(enrol.html).toContain('We sent a 4-digit PIN to');
    const enrolled = await finish(callbackOf(await rp.agent.submit(enrol, '/enrol/verify', { code: latestCode(digits, 4) })));
    expect((await rp.verifyIdToken(enrolled.id_token!)).amr).toEqual(['pwd', 'sms', 'mfa']);

    const claims = await signInWithSms(user, digits);
    expect(claims).toMatchObject({ acr: 'aal2', amr: ['pwd', 'sms', 'mfa'] });
  });

  test('self-service: add an SMS device on /account, verify the PIN (signed out), then sign in again at once', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const digits = '447400100002';
    const agent = new UserAgent();
    await openAccount(agent, server.url, user);
    const form = await agent.request(`${server.url}/account/devices/new/sms`);
    const devicePage = await submitForm(agent, form, '/account/devices/new/sms', { country: 'GB', phone: '07400 100002' });
    expect(pathOf(devicePage)).toMatch(/^\/account\/devices\//);
    expect(devicePage.html).toContain('We sent a 4-digit PIN to');
    const signedOut = await submitForm(agent, devicePage, '/verify', { code: latestCode(digits, 4), makeDefault: '1' });
    expect(pathOf(signedOut)).toBe('/account/signed-out');

    const claims = await signInWithSms(user, digits);
    expect(claims).toMatchObject({ acr: 'aal2', amr: ['pwd', 'sms', 'mfa'] });
  });

  test('when a real limit refuses the first code of a sign-in, the page says so and claims no code', async () => {
    // SMS_LIMIT_USER_HOURLY is 6: one PIN, then sign-ins until the cap is used up.
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const digits = '447400100003';
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page, finish } = await rp.start();
    const notice = await submitPassword(rp.agent, page, user);
    const form = await rp.agent.submit(await rp.agent.submit(notice, '/enrol'), '/enrol/method', { method: 'sms' });
    const enrol = await rp.agent.submit(form, '/enrol/begin', { method: 'sms', country: 'GB', phone: '07400 100003' });
    await finish(callbackOf(await rp.agent.submit(enrol, '/enrol/verify', { code: latestCode(digits, 4) })));

    let refused: { page: Page; agent: UserAgent } | undefined;
    for (let i = 0; i < 8 && !refused; i++) {
      const next = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
      const before = sent(digits).length;
      const challenge = await submitPassword(next.agent, (await next.start()).page, user);
      expectKind(challenge, 'challenge');
      if (sent(digits).length === before) refused = { page: challenge, agent: next.agent };
      else expect(challenge.html).toMatch(SENT_CLAIM);
    }
    expect(refused).toBeDefined();
    expect(alertOf(refused!.page)).toBe('Too many codes were requested. Try again later or use another method.');
    expect(refused!.page.html).not.toMatch(SENT_CLAIM);
    expect(refused!.page.html).toContain('No code has been sent to');
    // Opening the sign-in page again does not claim a code either.
    const again = await refused!.agent.request(`${server.url}/interaction/${interactionUid(refused!.page)}`);
    expectKind(again, 'challenge');
    expect(again.html).not.toMatch(SENT_CLAIM);
  });
});
