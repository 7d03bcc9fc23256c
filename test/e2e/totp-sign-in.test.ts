import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import {
  Authenticator,
  beginTotpEnrolment,
  enrolThroughSignIn,
  expectKind,
  kindOf,
  expectTwofoldPage,
  interactionUid,
  type PageKind,
  postTo,
  sql,
  submitPassword,
  toCallback,
} from '../helpers/mfa.js';
import { accountWithUser, confidentialClient } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { base32Decode, totp } from '../helpers/rfc6238.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { csrfToken, decodeEntities, type Page } from '../helpers/user-agent.js';

let db: TestDatabase;
let server: TwofoldProcess;
let firstParty: { clientId: string; clientSecret: string };
let thirdParty: { clientId: string; clientSecret: string };

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_totp');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets() });
  firstParty = await confidentialClient(db.url, { firstParty: true });
  thirdParty = await confidentialClient(db.url);
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

const newRp = () => RelyingParty.create(server.url, firstParty.clientId, firstParty.clientSecret);
/** A user of a new account: MFA required (the default), no device. */
const newUser = () => accountWithUser(db.url, { mfaRequired: true });

const MALFORMED = ['', 'abcdef', '12345', '1234567', '9'.repeat(500)];

async function expectAal2(rp: RelyingParty, idToken: string, userId: string, notBefore: number) {
  const claims = await rp.verifyIdToken(idToken);
  expect(claims.sub).toBe(userId);
  expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
  expect(claims.acr).toBe('aal2');
  expect(typeof claims.auth_time).toBe('number');
  expect(claims.auth_time as number).toBeGreaterThanOrEqual(Math.floor(notBefore / 1000));
  expect(claims.auth_time as number).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 1);
  return claims;
}

describe('forced enrolment of a mobile passcode, then sign-in with it', () => {
  test('new account, no device: password → notice → Mobile Passcode → QR code → code → aal2; later sign-in is challenged', async () => {
    const user = await newUser();
    const started = Date.now();
    const rp = await newRp();
    const { page: login, finish } = await rp.start();

    const notice = await submitPassword(rp.agent, login, user);
    expectTwofoldPage(notice, server.url, 'notice');
    expect(notice.status).toBe(200);
    expect(notice.html).toMatch(/<button[^>]*>\s*Set Up Multi-Factor Authentication\s*<\/button>/);

    const choose = await rp.agent.submit(notice, '/enrol');
    expect(choose.html).toMatch(/<button[^>]*>\s*Mobile Passcode\s*<\/button>/);
    const start = await rp.agent.submit(choose, '/enrol/method', { method: 'totp' });
    expect(start.html).toContain('<label for="nickname">Device Nickname</label>');
    expect(start.html).toMatch(/<button[^>]*>\s*Add Device\s*<\/button>/);

    const enrol = await rp.agent.submit(start, '/enrol/begin', { method: 'totp', nickname: 'Work phone' });
    expectKind(enrol, 'enrol');
    // The QR code: an inline PNG with the accessible name "QR code".
    const img = enrol.html.match(/<img[^>]*alt="QR code"[^>]*>/)?.[0];
    expect(img).toBeDefined();
    const src = decodeEntities(img!.match(/src="([^"]+)"/)![1]!);
    expect(src.startsWith('data:image/png;base64,')).toBe(true);
    expect(Buffer.from(src.slice('data:image/png;base64,'.length), 'base64').subarray(1, 4).toString('latin1')).toBe('PNG');

    // The otpauth:// link with every parameter an authenticator app needs.
    const link = decodeEntities(enrol.html.match(/href="(otpauth:\/\/[^"]+)"/)![1]!);
    const uri = new URL(link);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe(`/Twofold:${user.username}`);
    expect(uri.searchParams.get('issuer')).toBe('Twofold');
    expect(uri.searchParams.get('algorithm')).toBe('SHA1');
    expect(uri.searchParams.get('digits')).toBe('6');
    expect(uri.searchParams.get('period')).toBe('30');
    const secret = uri.searchParams.get('secret')!;
    expect(base32Decode(secret)).toHaveLength(20);
    // The same key shown as text for manual entry (grouped by four for reading).
    const shown = enrol.html.match(/<code[^>]*>([^<]+)<\/code>/)?.[1]?.replace(/\s+/g, '');
    expect(shown).toBe(secret);
    expect(enrol.html).toContain('<label for="code">Verification Code</label>');

    // Before the code: the device exists but is not verified, and no token was issued.
    const [device] = await sql<{ verified_at: Date | null; nickname: string }>(db.url, 'SELECT verified_at, nickname FROM mfa_devices WHERE user_id = $1', [user.userId]);
    expect(device).toEqual({ verified_at: null, nickname: 'Work phone' });

    const app = new Authenticator(secret);
    const done = await rp.agent.submit(enrol, '/enrol/verify', { code: await app.next() });
    const tokens = await finish(callbackOf(done));
    await expectAal2(rp, tokens.id_token!, user.userId, started);
    const [verified] = await sql<{ verified_at: Date | null }>(db.url, 'SELECT verified_at FROM mfa_devices WHERE user_id = $1', [user.userId]);
    expect(verified!.verified_at).not.toBeNull();

    // A later sign-in in a fresh browser: password, then the challenge for the device.
    const later = await newRp();
    const second = await later.start();
    const challenge = await submitPassword(later.agent, second.page, user);
    expectTwofoldPage(challenge, server.url, 'challenge');
    expect(challenge.status).toBe(200);
    expect(challenge.html).toContain('<label for="code">MFA Code</label>');
    expect(challenge.html).toMatch(/<button[^>]*>\s*Verify\s*<\/button>/);
    const laterStart = Date.now();
    // The next time step's code: the enrolment used an earlier step, and each step works once.
    const code = totp(secret, Date.now() + 30_000);
    const tokens2 = await second.finish(callbackOf(await later.agent.submit(challenge, '/mfa', { code })));
    await expectAal2(later, tokens2.id_token!, user.userId, laterStart - 1000);
  });

  test('an abandoned enrolment leaves an unverified device that never counts: the next sign-in resumes at enrolment', async () => {
    const user = await newUser();
    const rp = await newRp();
    const first = await rp.start();
    const notice = await submitPassword(rp.agent, first.page, user);
    const { app: abandoned } = await beginTotpEnrolment(rp.agent, notice, 'Old phone');
    // The user leaves here: one unverified device.
    const devices = await sql<{ verified_at: Date | null }>(db.url, 'SELECT verified_at FROM mfa_devices WHERE user_id = $1', [user.userId]);
    expect(devices).toEqual([{ verified_at: null }]);

    // A new sign-in (new browser): the unverified device is no factor, so no challenge.
    const again = await newRp();
    const { page, finish } = await again.start();
    const next = await submitPassword(again.agent, page, user);
    expectTwofoldPage(next, server.url, 'notice');
    // Its code posted to the challenge endpoint of this interaction does not log in either.
    const sneaky = await postTo(again.agent, next, '/mfa', { code: await abandoned.next() });
    expectTwofoldPage(sneaky, server.url, 'choose');

    // The user can enrol now and is signed in with MFA.
    const { page: enrol, app } = await beginTotpEnrolment(again.agent, next, 'New phone');
    const tokens = await finish(callbackOf(await again.agent.submit(enrol, '/enrol/verify', { code: await app.next() })));
    const claims = await again.verifyIdToken(tokens.id_token!);
    expect(claims.acr).toBe('aal2');
  });

  test('restarting the interaction, the back button and another client never yield a token without MFA', async () => {
    const user = await newUser();
    const rp = await newRp();
    const other = await rp.withClient(thirdParty.clientId, thirdParty.clientSecret);
    const { page: login1 } = await rp.start();
    const notice1 = await submitPassword(rp.agent, login1, user);
    expectTwofoldPage(notice1, server.url, 'notice');
    const uid1 = interactionUid(notice1);

    // Each path, and the Twofold page it must end on (the callback is never among them).
    const paths: Array<[string, PageKind, () => Promise<Page>]> = [
      // The interaction page again (reload): still enrolment (the list of methods).
      ['reload', 'choose', () => rp.agent.request(`${server.url}/interaction/${uid1}`)],
      // Back to the old login form and post the password again: the notice again.
      ['back', 'notice', () => rp.agent.submit(login1, '/login', { username: user.username, password: user.password })],
      // Skipping ahead to consent while the login prompt is pending.
      ['consent', 'choose', () => postTo(rp.agent, notice1, '/consent')],
      // A code for a device the user does not have, straight to the challenge endpoint.
      ['mfa', 'choose', () => postTo(rp.agent, notice1, '/mfa', { code: '123456' })],
      // Resuming the authorization without a result: oidc-provider asks for a login again.
      ['resume', 'login', () => rp.agent.request(`${server.url}/auth/${uid1}`)],
      // A new /auth in the same browser: the password alone created no session.
      ['restart', 'login', async () => (await rp.start()).page],
      // Another client sharing the browser.
      ['other client', 'login', async () => (await other.start()).page],
      ['other client + password', 'notice', async () => submitPassword(other.agent, (await other.start()).page, user)],
    ];
    for (const [name, kind, go] of paths) {
      const page = await go();
      try {
        expectTwofoldPage(page, server.url, kind);
      } catch (err) {
        throw new Error(`path "${name}": ${(err as Error).message}`, { cause: err });
      }
    }

    // Each of those ended on a Twofold page; verifying a device is what reaches the callback.
    const fresh = await rp.start();
    expectKind(fresh.page, 'login');
    const notice = await submitPassword(rp.agent, fresh.page, user);
    const { page: enrol, app } = await beginTotpEnrolment(rp.agent, notice);
    const tokens = await fresh.finish(callbackOf(await rp.agent.submit(enrol, '/enrol/verify', { code: await app.next() })));
    expect((await rp.verifyIdToken(tokens.id_token!)).acr).toBe('aal2');
    // Now the session has MFA: the other client gets it (after its consent) with aal2 too.
    const viaOther = await other.start();
    const otherTokens = await viaOther.finish(await toCallback(other.agent, viaOther.page));
    const otherClaims = await other.verifyIdToken(otherTokens.id_token!);
    expect(otherClaims.acr).toBe('aal2');
    expect(otherClaims.amr).toEqual(['pwd', 'otp', 'mfa']);
  });

  test('malformed codes are "Invalid code" on the same page (401), never a server error', async () => {
    const user = await newUser();
    const rp = await newRp();
    const { page, finish } = await rp.start();
    const notice = await submitPassword(rp.agent, page, user);
    const { page: enrol, app } = await beginTotpEnrolment(rp.agent, notice);

    let current = enrol;
    for (const code of MALFORMED) {
      current = await rp.agent.submit(current, '/enrol/verify', { code });
      expect({ code: code.slice(0, 10), status: current.status }).toEqual({ code: code.slice(0, 10), status: 401 });
      expectKind(current, 'enrol');
      expect(current.html).toContain('Invalid code');
      expect(current.html).toMatch(/<img[^>]*alt="QR code"/);
    }
    // Spaces around the right code are forgiven.
    await finish(callbackOf(await rp.agent.submit(current, '/enrol/verify', { code: `  ${await app.next()} ` })));

    const later = await newRp();
    const second = await later.start();
    let challenge = await submitPassword(later.agent, second.page, user);
    expectKind(challenge, 'challenge');
    for (const code of MALFORMED) {
      challenge = await later.agent.submit(challenge, '/mfa', { code });
      expect({ code: code.slice(0, 10), status: challenge.status }).toEqual({ code: code.slice(0, 10), status: 401 });
      expectKind(challenge, 'challenge');
      expect(challenge.html).toContain('Invalid code');
    }
    // No code field at all is the same.
    const missing = await postTo(later.agent, challenge, '/mfa');
    expect(missing.status).toBe(401);
    expect(missing.html).toContain('Invalid code');
    // The page still works: the right code signs in (and resets the counter).
    const tokens = await second.finish(callbackOf(await later.agent.submit(missing, '/mfa', { code: await app.next() })));
    expect((await later.verifyIdToken(tokens.id_token!)).acr).toBe('aal2');
  });
});

describe("one sign-in's code step cannot be driven from another", () => {
  test("a code posted to another sign-in's address, with the poster's own cookies and token, is refused and leaves that sign-in (and the code) as they were", async () => {
    const victim = await newUser();
    const attacker = await newUser();
    const { app } = await enrolThroughSignIn(await newRp(), victim);
    await enrolThroughSignIn(await newRp(), attacker);

    // Both past their passwords, each at the code page of their own interaction.
    const v = await newRp();
    const { page: victimLogin, finish } = await v.start();
    const victimChallenge = await submitPassword(v.agent, victimLogin, victim);
    expectKind(victimChallenge, 'challenge');
    const a = await newRp();
    const { page: attackerLogin } = await a.start();
    const attackerChallenge = await submitPassword(a.agent, attackerLogin, attacker);
    expectKind(attackerChallenge, 'challenge');

    // The victim's code (shoulder-surfed), sent to the victim's interaction from the attacker's browser.
    const code = await app.next();
    const url = new URL(`/interaction/${interactionUid(victimChallenge)}/mfa`, victimChallenge.url).toString();
    const answer = await a.agent.request(url, { form: { _csrf: csrfToken(attackerChallenge), code } });
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(kindOf(answer)).not.toBe('callback');

    // Nothing of the victim's sign-in was used up: the same code completes it, as the victim.
    const tokens = await finish(await toCallback(v.agent, await v.agent.submit(victimChallenge, '/mfa', { code })));
    expect((await v.verifyIdToken(tokens.id_token!)).sub).toBe(victim.userId);
  });
});
