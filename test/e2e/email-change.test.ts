import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { sql } from '../helpers/mfa.js';
import { accountWithUser, cli, type Fixture } from '../helpers/provision.js';
import { alertOf, expectAccountPage, openAccount, sleep } from '../helpers/self-service.js';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../helpers/smtp-sink.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * "Change email" on /account: a link to the new address, and only following it (signed in as
 * that user, once, the latest link, within 24 hours) changes the address; the old one is told.
 */

let db: TestDatabase;
let sink: SmtpSink;
let server: TwofoldProcess;
const secrets = clusterSecrets();
let n = 0;
const LINK = /\/account\/email\/verify\/([A-Za-z0-9_-]+)/;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_email');
  sink = await startSmtpSink();
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...secrets, MAIL_PROVIDER: 'smtp', SMTP_URL: sink.url });
});

afterAll(async () => {
  await server?.stop();
  await sink?.close();
  await db?.drop();
});

const fresh = (label = 'u') => `${label}-${Date.now().toString(36)}-${n++}@example.test`;

/** A user (no MFA required, so /account needs the password only) with a verified address, signed in to /account. */
async function signedInUser(): Promise<Fixture & { email: string; browser: UserAgent; accountPage: Page }> {
  const email = fresh('old');
  const user = await accountWithUser(db.url, { mfaRequired: false, email });
  const browser = new UserAgent();
  const { page } = await openAccount(browser, server.url, user);
  return { ...user, email, browser, accountPage: page };
}

async function mailsTo(addr: string, count: number): Promise<ReceivedMail[]> {
  const deadline = Date.now() + 10_000;
  while (sink.to(addr).length < count && Date.now() < deadline) await sleep(25);
  await sleep(300);
  return sink.to(addr);
}

const emailOf = async (userId: string) =>
  (await sql<{ email: string | null; email_verified: boolean }>(db.url, 'SELECT email, email_verified FROM users WHERE id = $1', [userId]))[0];

/** Change email → New email → Send verification link. */
async function requestChange(browser: UserAgent, newEmail: string): Promise<Page> {
  const form = await browser.request(`${server.url}/account/email`);
  expect(form.status).toBe(200);
  expect(form.html).toContain('<label for="email">New email</label>');
  expect(form.html).toMatch(/<button[^>]*>\s*Send verification link\s*<\/button>/);
  return browser.submit(form, '/account/email', { email: newEmail });
}

/** The token of the one verification link mailed to `addr`, waiting for the `count`th mail. */
async function linkSentTo(addr: string, count = 1): Promise<string> {
  const mails = await mailsTo(addr, count);
  expect(mails).toHaveLength(count);
  const mail = mails[count - 1]!;
  expect(mail.subject).toBe('Confirm your new email address');
  const token = LINK.exec(mail.text)?.[1];
  expect(mail.text).toContain(`${server.url}/account/email/verify/${token}`);
  expect(mail.html).toContain(`href="${server.url}/account/email/verify/${token}"`);
  return token!;
}

/** Opens the link and presses Confirm email address. */
async function follow(browser: UserAgent, token: string): Promise<{ opened: Page; confirmed?: Page }> {
  const opened = await browser.request(`${server.url}/account/email/verify/${token}`);
  if (opened.status !== 200) return { opened };
  return { opened, confirmed: await browser.submit(opened, `/account/email/verify/${token}`) };
}

describe('Change email', () => {
  test('the link goes to the new address; the address changes only when it is followed; the old address is told; the link works once', async () => {
    const u = await signedInUser();
    expect(u.accountPage.html).toMatch(/<h2[^>]*>\s*Email\s*<\/h2>/);
    expect(u.accountPage.html).toContain(`<strong>${u.email}</strong>`);
    expect(u.accountPage.html).toMatch(/badge-ok">Verified</);
    expect(u.accountPage.html).toMatch(/href="\/account\/email"[^>]*>\s*Change email\s*</);

    const newEmail = fresh('new');
    const sent = await requestChange(u.browser, newEmail.toUpperCase());
    expect(sent.status).toBe(200);
    expect(sent.html).toContain(`We sent a verification link to <strong>${newEmail}</strong>`);
    const token = await linkSentTo(newEmail);
    // 256 bits, base64url; stored only as a keyed hash.
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [row] = await sql<{ token_hash: string; new_email: string }>(db.url, 'SELECT token_hash, new_email FROM email_changes WHERE user_id = $1', [u.userId]);
    expect(row!.new_email).toBe(newEmail);
    expect(row!.token_hash).not.toContain(token);
    expect(row!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    // Nothing changed yet, and opening the link (a mail scanner does) changes nothing either.
    expect(await emailOf(u.userId)).toEqual({ email: u.email, email_verified: true });
    const opened = await u.browser.request(`${server.url}/account/email/verify/${token}`);
    expect(opened.status).toBe(200);
    expect(opened.html).toMatch(/<button[^>]*>\s*Confirm email address\s*<\/button>/);
    expect(await emailOf(u.userId)).toEqual({ email: u.email, email_verified: true });
    expect(sink.to(u.email)).toHaveLength(0);

    const confirmed = await u.browser.submit(opened, `/account/email/verify/${token}`);
    expect(confirmed.status).toBe(200);
    expect(confirmed.html).toContain(`Your email address is now <strong>${newEmail}</strong> (verified).`);
    expect(await emailOf(u.userId)).toEqual({ email: newEmail, email_verified: true });
    expectAccountPage(await u.browser.request(`${server.url}/account`));

    const [notice] = await mailsTo(u.email, 1);
    expect(sink.to(u.email)).toHaveLength(1);
    expect(notice!.subject).toBe('The email address of your account was changed');
    expect(notice!.text).toMatch(/When: \d{1,2} [A-Z][a-z]+ 20\d\d, \d\d:\d\d UTC/);
    expect(notice!.text).toContain("If this wasn't you, contact support.");
    expect(notice!.raw).not.toContain(newEmail);
    expect(notice!.raw).not.toContain(token);
    expect(notice!.raw).not.toContain(u.password);

    // Once only.
    const again = await follow(u.browser, token);
    expect(again.opened.status).toBe(400);
    expect(alertOf(again.opened)).toMatch(/not valid/);
    const replay = await u.browser.request(`${server.url}/account/email/verify/${token}`, { form: { _csrf: /name="_csrf" value="([^"]+)"/.exec(opened.html)![1]! } });
    expect(replay.status).toBe(400);
    expect(await emailOf(u.userId)).toEqual({ email: newEmail, email_verified: true });
  });

  test('only the latest link works', async () => {
    const u = await signedInUser();
    const first = fresh('first');
    const second = fresh('second');
    await requestChange(u.browser, first);
    const firstToken = await linkSentTo(first);
    await requestChange(u.browser, second);
    const secondToken = await linkSentTo(second);
    expect((await follow(u.browser, firstToken)).opened.status).toBe(400);
    expect(await emailOf(u.userId)).toEqual({ email: u.email, email_verified: true });
    expect((await follow(u.browser, secondToken)).confirmed?.status).toBe(200);
    expect(await emailOf(u.userId)).toEqual({ email: second, email_verified: true });
  });

  test('an expired link is refused', async () => {
    const u = await signedInUser();
    const target = fresh('late');
    await requestChange(u.browser, target);
    const token = await linkSentTo(target);
    const opened = await u.browser.request(`${server.url}/account/email/verify/${token}`);
    expect(opened.status).toBe(200);
    await sql(db.url, "UPDATE email_changes SET expires_at = now() - interval '1 second' WHERE user_id = $1", [u.userId]);
    const confirmed = await u.browser.submit(opened, `/account/email/verify/${token}`);
    expect(confirmed.status).toBe(400);
    expect(alertOf(confirmed)).toMatch(/expired/);
    expect(await emailOf(u.userId)).toEqual({ email: u.email, email_verified: true });
  });

  test("another user's link is refused, and still works for its owner", async () => {
    const owner = await signedInUser();
    const other = await signedInUser();
    const target = fresh('owned');
    await requestChange(owner.browser, target);
    const token = await linkSentTo(target);
    const stolen = await follow(other.browser, token);
    expect(stolen.opened.status).toBe(400);
    expect(stolen.opened.html).not.toContain(target);
    // Posting straight away with the other user's own CSRF token: refused too.
    const csrf = /name="_csrf" value="([^"]+)"/.exec((await other.browser.request(`${server.url}/account/email`)).html)![1]!;
    const posted = await other.browser.request(`${server.url}/account/email/verify/${token}`, { form: { _csrf: csrf } });
    expect(posted.status).toBe(400);
    expect(await emailOf(other.userId)).toEqual({ email: other.email, email_verified: true });
    expect(await emailOf(owner.userId)).toEqual({ email: owner.email, email_verified: true });
    expect((await follow(owner.browser, token)).confirmed?.status).toBe(200);
    expect(await emailOf(owner.userId)).toEqual({ email: target, email_verified: true });
  });

  test('an address taken between the request and the link: a clear error, nothing changes', async () => {
    const u = await signedInUser();
    const target = fresh('contested');
    await requestChange(u.browser, target);
    const token = await linkSentTo(target);
    const rival = await accountWithUser(db.url, { mfaRequired: false });
    await cli(db.url, ['user', 'set-email', rival.username, target]);
    const { confirmed } = await follow(u.browser, token);
    expect(confirmed!.status).toBe(409);
    expect(alertOf(confirmed!)).toBe('That email address is now used by another account, so it cannot be yours. Your address was not changed.');
    expect(await emailOf(u.userId)).toEqual({ email: u.email, email_verified: true });
    expect(await emailOf(rival.userId)).toEqual({ email: target, email_verified: true });
  });

  test('no enumeration: an address another user has gets the same answer, but no link (its owner is told instead)', async () => {
    const u = await signedInUser();
    const holder = await signedInUser();
    const free = fresh('free');
    const answerFree = await requestChange(u.browser, free);
    const answerTaken = await requestChange(u.browser, holder.email);
    expect(answerTaken.status).toBe(answerFree.status);
    const normalise = (p: Page, addr: string) => p.html.replaceAll(addr, 'ADDRESS').replace(/name="_csrf" value="[^"]*"/g, '');
    expect(normalise(answerTaken, holder.email)).toBe(normalise(answerFree, free));
    const [toHolder] = await mailsTo(holder.email, 1);
    expect(sink.to(holder.email)).toHaveLength(1);
    expect(toHolder!.subject).toBe('Your email address is already in use');
    expect(toHolder!.raw).not.toMatch(LINK);
    expect(toHolder!.raw).not.toContain(u.username);
    // The pending change is still the free address's: the taken one never got a link.
    const rows = await sql<{ new_email: string }>(db.url, 'SELECT new_email FROM email_changes WHERE user_id = $1', [u.userId]);
    expect(rows).toEqual([{ new_email: free }]);
  });

  test('bad input is shown on the same page with the form kept; your own address is refused', async () => {
    const u = await signedInUser();
    for (const bad of ['not-an-address', 'a b@example.test', `${'x'.repeat(250)}@example.test`]) {
      const page = await requestChange(u.browser, bad);
      expect(page.status).toBe(422);
      expect(alertOf(page)).toBe('Enter a valid email address, e.g. name@example.com.');
      expect(page.html).toContain('<label for="email">New email</label>');
    }
    const own = await requestChange(u.browser, u.email.toUpperCase());
    expect(own.status).toBe(422);
    expect(alertOf(own)).toBe('That is already your email address.');
    expect(await sql(db.url, 'SELECT 1 FROM email_changes WHERE user_id = $1', [u.userId])).toEqual([]);
  });

  test('requests are capped: 5 an hour per user, 3 an hour per recipient; over it, a clear answer and no mail', async () => {
    const u = await signedInUser();
    const targets = Array.from({ length: 6 }, () => fresh('cap'));
    for (const t of targets.slice(0, 5)) expect((await requestChange(u.browser, t)).status).toBe(200);
    const refused = await requestChange(u.browser, targets[5]!);
    expect(refused.status).toBe(429);
    expect(alertOf(refused)).toBe('Too many verification links were requested. Try again later.');
    await mailsTo(targets[4]!, 1);
    expect(sink.to(targets[5]!)).toHaveLength(0);

    const victim = fresh('victim');
    const senders = await Promise.all([signedInUser(), signedInUser(), signedInUser(), signedInUser()]);
    const answers = [];
    for (const s of senders) answers.push((await requestChange(s.browser, victim)).status);
    expect(answers).toEqual([200, 200, 200, 429]);
    expect(await mailsTo(victim, 3)).toHaveLength(3);
  });

  test('20 parallel confirmations of one link: the address changes once, one notice', async () => {
    const u = await signedInUser();
    const target = fresh('race');
    await requestChange(u.browser, target);
    const token = await linkSentTo(target);
    const opened = await u.browser.request(`${server.url}/account/email/verify/${token}`);
    const results = await Promise.all(Array.from({ length: 20 }, () => u.browser.submit(opened, `/account/email/verify/${token}`)));
    expect(results.filter((p) => p.status === 200)).toHaveLength(1);
    expect(results.filter((p) => p.status === 400)).toHaveLength(19);
    expect(await mailsTo(u.email, 1)).toHaveLength(1);
    const changes = await sql(db.url, "SELECT 1 FROM audit_events WHERE type = 'user.email_changed' AND subject_user_id = $1", [u.userId]);
    expect(changes).toHaveLength(1);
  });
});
