import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { verifyPassword } from '../../src/accounts/password-hasher.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { enrolThroughSignIn, expectKind, mfaCounters, sql, submitPassword, toCallback } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { alertOf, devicesOf, pathOf, recoveryRowsOf, refreshFails, refreshWorks, sessionsValidAfter, submitForm } from '../helpers/self-service.js';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../helpers/smtp-sink.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * "Forgot password?" end to end, with mail through a real SMTP server: the request page answers
 * alike for every address, the link works once, only the latest, until PASSWORD_RESET_TTL, only
 * for its own user; setting the password ends every session and refresh token and keeps the
 * second factor, the lock and forced enrolment.
 */

let db: TestDatabase;
let sink: SmtpSink;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
const secrets = clusterSecrets();
const ANSWER = 'If an account uses that address, we sent a link to it.';
const LINK = /\/password-reset\/([A-Za-z0-9_-]{43})\b/;

const serverEnv = (extra: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  REDIS_URL,
  ...secrets,
  MAIL_PROVIDER: 'smtp',
  SMTP_URL: sink.url,
  // Each test's browser has its own address (X-Forwarded-For), so the per-IP limit is its own.
  TRUST_PROXY: 'true',
  ...extra,
});

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_pwreset');
  sink = await startSmtpSink();
  server = await startTwofold(serverEnv());
  client = await confidentialClient(db.url);
});

afterAll(async () => {
  await server?.stop();
  await sink?.close();
  await db?.drop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const newRp = (issuer = server.url) => RelyingParty.create(issuer, client.clientId, client.clientSecret);
const address = (label: string) => `${label}-${randomBytes(4).toString('hex')}@example.com`;
let ipCounter = 0;
/** A browser with its own client address. */
function browser(): UserAgent {
  const agent = new UserAgent();
  ipCounter += 1;
  agent.headers['x-forwarded-for'] = `198.51.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
  return agent;
}

/** Mails to `to` with `subject` (security notices of other events go to the same address). */
const mailsOf = (to: string, subject: string) => sink.to(to).filter((m) => m.subject === subject);

async function mailsTo(to: string, count: number, subject = 'Reset your password', timeoutMs = 10_000): Promise<ReceivedMail[]> {
  const deadline = Date.now() + timeoutMs;
  while (mailsOf(to, subject).length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} mails "${subject}" to ${to}, got ${mailsOf(to, subject).length}`);
    await sleep(25);
  }
  return mailsOf(to, subject);
}

/** The page of a request for `email`: the forgot-password form submitted by a browser. */
async function requestReset(agent: UserAgent, email: string, issuer = server.url): Promise<Page> {
  const form = await agent.request(`${issuer}/password-reset`);
  expect(form.status).toBe(200);
  return submitForm(agent, form, '/password-reset', { email });
}

/** Requests a link for `email` and returns the token of the mail that arrives. */
async function linkFor(agent: UserAgent, email: string, issuer = server.url): Promise<string> {
  const before = mailsOf(email, 'Reset your password').length;
  const page = await requestReset(agent, email, issuer);
  expect(page.status).toBe(200);
  const mails = await mailsTo(email, before + 1);
  const m = mails[before]!.text.match(LINK);
  if (!m) throw new Error(`no reset link in the mail:\n${mails[before]!.text}`);
  expect(mails[before]!.text).toContain(`${issuer}/password-reset/${m[1]}`);
  return m[1]!;
}

const setPassword = (agent: UserAgent, page: Page, password: string, confirm = password) =>
  submitForm(agent, page, page.url.slice(page.url.indexOf('/password-reset/')), { newPassword: password, confirmPassword: confirm });

async function resetPage(agent: UserAgent, token: string): Promise<Page> {
  const page = await agent.request(`${server.url}/password-reset/${token}`);
  expect(page.status).toBe(200);
  expect(page.html).toContain('<label for="newPassword">New password</label>');
  expect(page.html).toContain('<label for="confirmPassword">Confirm new password</label>');
  expect(page.html).toMatch(/<button[^>]*>\s*Set Password\s*<\/button>/);
  return page;
}

const hashOf = async (userId: string) => (await sql<{ h: string }>(db.url, 'SELECT password_hash AS h FROM users WHERE id = $1', [userId]))[0]!.h;

/** A mail decoded and raw (quoted-printable may split a string across lines in the raw form). */
const everything = (m: ReceivedMail) => [m.subject, m.text, m.html, m.raw].join('\n');

/** The page without what differs between any two requests (the CSRF token). */
const comparable = (page: Page) => page.html.replace(/name="_csrf" value="[^"]*"/g, '');

async function user(options: { mfaRequired?: boolean; email?: string | null } = {}): Promise<Fixture & { email: string }> {
  const email = options.email === null ? undefined : (options.email ?? address('user'));
  const fixture = await accountWithUser(db.url, { mfaRequired: options.mfaRequired ?? true, ...(email ? { email } : {}) });
  return { ...fixture, email: email ?? '' };
}

describe('the forgot-password page', () => {
  test('the sign-in page links to it and back; the answer is the same page and status for known, unknown and unverified addresses; only the verified one gets a mail', async () => {
    const known = await user();
    const unverified = await user();
    await sql(db.url, 'UPDATE users SET email_verified = false WHERE id = $1', [unverified.userId]);
    const unknown = address('nobody');

    const rp = await newRp();
    const { page: login } = await rp.start();
    expectKind(login, 'login');
    const link = login.html.match(/<a href="([^"]*)"[^>]*>\s*Forgot password\?\s*<\/a>/);
    expect(link).not.toBeNull();
    const uid = new URL(login.url).pathname.split('/')[2]!;
    const form = await rp.agent.request(new URL(link![1]!.replace(/&amp;/g, '&'), login.url).toString());
    expect(form.status).toBe(200);
    expect(form.headers.get('cache-control')).toBe('no-store');
    expect(form.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(form.html).toContain('<label for="email">Email</label>');
    expect(form.html).toMatch(/<button[^>]*>\s*Send reset link\s*<\/button>/);
    expect(form.html).toContain(`href="/interaction/${uid}"`);

    const answers: Page[] = [];
    for (const email of [known.email, unknown, unverified.email, known.email.toUpperCase()]) {
      const agent = browser();
      const page = await agent.request(new URL(link![1]!.replace(/&amp;/g, '&'), login.url).toString());
      answers.push(await submitForm(agent, page, '/password-reset', { email }));
    }
    for (const page of answers) {
      expect(page.status).toBe(200);
      expect(page.html).toContain(ANSWER);
      expect(comparable(page)).toBe(comparable(answers[0]!));
      // "Back to sign in" returns to the same sign-in.
      expect(page.html).toContain(`href="/interaction/${uid}"`);
    }
    // The known address gets two mails (as typed in either case), nobody else any.
    await mailsTo(known.email, 2);
    await sleep(500);
    expect(sink.to(unknown)).toHaveLength(0);
    expect(sink.to(unverified.email)).toHaveLength(0);
    expect(sink.to(known.email)).toHaveLength(2);
    // Back on the sign-in page, still the same interaction.
    const back = await rp.agent.request(`${server.url}/interaction/${uid}`);
    expectKind(back, 'login');
  });

  test('a malformed address is a clear error, the form kept; a POST without the CSRF token is refused', async () => {
    const agent = browser();
    const page = await requestReset(agent, 'not an address');
    expect(page.status).toBe(422);
    expect(alertOf(page)).toBe('Enter the email address of your account.');
    expect(page.html).toContain('value="not an address"');
    const forged = await agent.request(`${server.url}/password-reset`, { form: { email: address('x') } });
    expect(forged.status).toBe(403);
  });

  test('throttled per address (whoever asks) and per IP, alike for known and unknown addresses', async () => {
    const known = await user();
    const unknown = address('nobody');
    for (const email of [known.email, unknown]) {
      const statuses: number[] = [];
      // Each from its own IP: the per-address limit is what stops the sixth.
      for (let i = 0; i < 6; i++) statuses.push((await requestReset(browser(), email)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    }
    const last = await requestReset(browser(), known.email);
    expect(last.status).toBe(429);
    expect(alertOf(last)).toMatch(/Too many password reset requests/);
    expect(last.headers.get('retry-after')).toMatch(/^\d+$/);
    // One IP, many addresses: 50 an hour.
    const agent = browser();
    const form = await agent.request(`${server.url}/password-reset`);
    const statuses = await Promise.all(Array.from({ length: 52 }, (_, i) => submitForm(agent, form, '/password-reset', { email: address(`many${i}`) }).then((p) => p.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
  });
});

describe('the reset link', () => {
  test('sets the password once, ends every session and refresh token, keeps the second factor and recovery codes; the mail holds the link and nothing else secret', async () => {
    const u = await user();
    const rp = await newRp();
    const { app, tokens } = await enrolThroughSignIn(rp, u);
    const refreshToken = await refreshWorks(rp, tokens.refresh_token!);
    await sql(db.url, "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, 'a-hash'), ($1, 'another-hash')", [u.userId]);
    await sql(db.url, 'UPDATE users SET failed_mfa_attempts = 2 WHERE id = $1', [u.userId]);
    const devicesBefore = await devicesOf(db.url, u.userId);
    const recoveryBefore = await recoveryRowsOf(db.url, u.userId);

    const agent = browser();
    const token = await linkFor(agent, u.email);
    const resetMail = mailsOf(u.email, 'Reset your password').at(-1)!;
    expect(resetMail.html).toContain(`${server.url}/password-reset/${token}`);
    expect(everything(resetMail)).not.toContain(u.password);

    // Opening the link (twice) uses nothing.
    await resetPage(browser(), token);
    let page = await resetPage(agent, token);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');

    // The rules, on the page, with the form empty again.
    const next = `a new tulip ledger ${u.username}`;
    page = await setPassword(agent, page, 'too short 1');
    expect(page.status).toBe(422);
    expect(alertOf(page)).toMatch(/at least 12 characters/);
    page = await setPassword(agent, page, '1qaz2wsx3edc');
    expect(page.status).toBe(422);
    expect(alertOf(page)).toMatch(/commonly used passwords/);
    page = await setPassword(agent, page, next, `${next}x`);
    expect(page.status).toBe(422);
    expect(alertOf(page)).toBe('The two new passwords do not match.');
    expect(page.html).not.toContain(next);
    // Without its CSRF token the form is refused.
    const forged = await agent.request(page.url, { form: { newPassword: next, confirmPassword: next } });
    expect(forged.status).toBe(403);
    // None of that used the link or ended anything.
    const rotated = await refreshWorks(rp, refreshToken);

    const done = await setPassword(agent, page, next);
    expect(done.status).toBe(200);
    expect(done.html).toContain('Your new password is set');
    expect(await verifyPassword(await hashOf(u.userId), next)).toBe(true);

    // Used: the link is dead, for a GET and a POST.
    const again = await agent.request(`${server.url}/password-reset/${token}`);
    expect(again.status).toBe(404);
    expect(again.html).toContain('This password reset link is no longer valid.');
    const reused = await setPassword(agent, page, 'another new password 1');
    expect(reused.status).toBe(404);
    expect(reused.html).toContain('This password reset link is no longer valid.');
    expect(await verifyPassword(await hashOf(u.userId), next)).toBe(true);

    // Factors, recovery codes and the MFA counter untouched.
    expect(await devicesOf(db.url, u.userId)).toEqual(devicesBefore);
    expect(await recoveryRowsOf(db.url, u.userId)).toEqual(recoveryBefore);
    expect(recoveryBefore).toHaveLength(2);
    expect((await mfaCounters(db.url, u.userId)).failed).toBe(2);

    // Every session and refresh token ended.
    await refreshFails(rp, rotated);
    expect(await sessionsValidAfter(db.url, u.userId)).not.toBeNull();
    // The old password is refused; the new one still needs the code of the same device.
    const oldRp = await newRp();
    const { page: oldLogin } = await oldRp.start();
    expect((await submitPassword(oldRp.agent, oldLogin, u)).status).toBe(401);
    const fresh = await newRp();
    const { page: login, finish } = await fresh.start();
    const challenge = await submitPassword(fresh.agent, login, { username: u.username, password: next });
    expectKind(challenge, 'challenge');
    const signedIn = await fresh.agent.submit(challenge, '/mfa', { code: await app.next() });
    const claims = await fresh.verifyIdToken((await finish(await toCallback(fresh.agent, signedIn))).id_token!);
    expect(claims.acr).toBe('aal2');

    const events = await sql<{ type: string }>(db.url, "SELECT type FROM audit_events WHERE subject_user_id = $1 AND type LIKE 'password.%' ORDER BY id", [u.userId]);
    expect(events.map((e) => e.type)).toEqual(['password.reset_requested', 'password.reset']);

    // The notice: "Your password was reset", without the token, the old or the new password.
    const [notice] = await mailsTo(u.email, 1, 'Your password was reset');
    expect(notice!.text).toContain('reset');
    const mails = sink.to(u.email);
    for (const m of mails) {
      expect(everything(m)).not.toContain(next);
      expect(everything(m)).not.toContain(u.password);
    }
    // The token appears in the reset mail only: not in another mail, not in the server's log.
    expect(mails.filter((m) => everything(m).includes(token))).toEqual([resetMail]);
    expect(server.output()).not.toContain(token);
  });

  test("only the latest link works; a link is its own user's; a made-up token is refused", async () => {
    const a = await user();
    const b = await user();
    const agent = browser();
    const first = await linkFor(agent, a.email);
    const second = await linkFor(agent, a.email);
    expect(second).not.toBe(first);
    expect((await agent.request(`${server.url}/password-reset/${first}`)).status).toBe(404);
    const bHash = await hashOf(b.userId);
    const bLink = await linkFor(browser(), b.email);

    const done = await setPassword(agent, await resetPage(agent, second), 'only for user a 1');
    expect(done.status).toBe(200);
    expect(await verifyPassword(await hashOf(a.userId), 'only for user a 1')).toBe(true);
    expect(await hashOf(b.userId)).toBe(bHash);
    // b's link still works, and sets b's password only.
    expect((await setPassword(agent, await resetPage(agent, bLink), 'only for user b 2')).status).toBe(200);
    expect(await verifyPassword(await hashOf(b.userId), 'only for user b 2')).toBe(true);
    expect(await verifyPassword(await hashOf(a.userId), 'only for user a 1')).toBe(true);

    for (const made of [randomBytes(32).toString('base64url'), 'short', `${second}x`, '%00']) {
      expect((await agent.request(`${server.url}/password-reset/${made}`)).status).toBe(404);
    }
  });

  test('20 parallel submissions of one link set the password exactly once; the others are told the link is no longer valid', async () => {
    const u = await user();
    const agent = browser();
    const token = await linkFor(agent, u.email);
    const page = await resetPage(agent, token);
    const candidates = Array.from({ length: 20 }, (_, i) => `parallel password ${i} ${u.username}`);
    const pages = await Promise.all(candidates.map((pw) => setPassword(agent, page, pw)));
    const won = pages.map((p, i) => [p.status, i] as const).filter(([status]) => status === 200);
    expect(won).toHaveLength(1);
    for (const p of pages.filter((x) => x.status !== 200)) {
      expect(p.status).toBe(404);
      expect(p.html).toContain('This password reset link is no longer valid.');
    }
    const hash = await hashOf(u.userId);
    const matching: number[] = [];
    for (const [i, pw] of candidates.entries()) if (await verifyPassword(hash, pw)) matching.push(i);
    expect(matching).toEqual([won[0]![1]]);
    const events = await sql(db.url, "SELECT 1 FROM audit_events WHERE subject_user_id = $1 AND type = 'password.reset'", [u.userId]);
    expect(events).toHaveLength(1);
  });

  test('a locked user stays locked; forced enrolment still applies', async () => {
    const locked = await user();
    const rp = await newRp();
    await enrolThroughSignIn(rp, locked);
    await sql(db.url, "UPDATE users SET failed_mfa_attempts = 10, locked_at = now(), locked_reason = 'too_many_mfa_failures' WHERE id = $1", [locked.userId]);
    const before = await mfaCounters(db.url, locked.userId);
    const agent = browser();
    const lockedPassword = `locked user new pw ${locked.username}`;
    expect((await setPassword(agent, await resetPage(agent, await linkFor(agent, locked.email)), lockedPassword)).status).toBe(200);
    expect(await mfaCounters(db.url, locked.userId)).toEqual(before);
    const r1 = await newRp();
    const { page: l1 } = await r1.start();
    expectKind(await submitPassword(r1.agent, l1, { username: locked.username, password: lockedPassword }), 'locked');

    // No device yet, account requires MFA: the new password leads to enrolment, not past it.
    const fresh = await user();
    const newPassword = `fresh user new pw ${fresh.username}`;
    expect((await setPassword(agent, await resetPage(agent, await linkFor(agent, fresh.email)), newPassword)).status).toBe(200);
    const r2 = await newRp();
    const { page: l2 } = await r2.start();
    expectKind(await submitPassword(r2.agent, l2, { username: fresh.username, password: newPassword }), 'notice');
  });

  test('a link stops working after PASSWORD_RESET_TTL', async () => {
    const short = await startTwofold(serverEnv({ PASSWORD_RESET_TTL: '2' }));
    try {
      const u = await user();
      const agent = browser();
      const token = await linkFor(agent, u.email, short.url);
      const page = await agent.request(`${short.url}/password-reset/${token}`);
      expect(page.status).toBe(200);
      await sleep(2500);
      expect((await agent.request(`${short.url}/password-reset/${token}`)).status).toBe(404);
      const late = await setPassword(agent, page, 'too late for this one');
      expect(late.status).toBe(404);
      expect(await verifyPassword(await hashOf(u.userId), u.password)).toBe(true);
    } finally {
      await short.stop();
    }
  });

  test('with the mail server down the page answers the same', async () => {
    const u = await user();
    sink.setHang(true);
    try {
      const page = await requestReset(browser(), u.email);
      expect(page.status).toBe(200);
      expect(page.html).toContain(ANSWER);
    } finally {
      sink.setHang(false);
    }
    expect(pathOf(await browser().request(`${server.url}/password-reset`))).toBe('/password-reset');
  });
});
