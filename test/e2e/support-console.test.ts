import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { beginTotpEnrolment, sql, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, type Fixture } from '../helpers/provision.js';
import { alertOf, devicesOf, openAccount, pathOf, postAccount, sleep } from '../helpers/self-service.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { csrfToken, UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * The support console (/support): only support staff signed in with MFA; Find user across
 * accounts; a user's page; Unlock; Reset MFA with a reason and proof of identity (a mailed code
 * with 5 tries, single use, bound to its user; or an attestation without a verified address).
 */

let db: TestDatabase;
let sink: SmtpSink;
let server: TwofoldProcess;
const secrets = clusterSecrets();
let support: Fixture;
let supportAgent: UserAgent;
let n = 0;

const unique = (label: string) => `${label}-${Date.now().toString(36)}-${n++}`;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_support');
  sink = await startSmtpSink();
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...secrets, MAIL_PROVIDER: 'smtp', SMTP_URL: sink.url });
  support = await accountWithUser(db.url, { mfaRequired: true, support: true });
  supportAgent = new UserAgent();
  await openAccount(supportAgent, server.url, support, { path: '/support' });
});

afterAll(async () => {
  await server?.stop();
  await sink?.close();
  await db?.drop();
});

/** A user with a verified address (unless `email: null`) and one Mobile Passcode device. */
async function target(options: { email?: string | null; device?: boolean } = {}): Promise<Fixture & { email: string | null }> {
  const email = options.email === null ? null : (options.email ?? `${unique('t')}@example.test`);
  const user = await accountWithUser(db.url, { mfaRequired: options.device !== false, ...(email ? { email } : {}) });
  if (options.device !== false) await openAccount(new UserAgent(), server.url, user);
  return { ...user, email };
}

const open = (path: string, agent = supportAgent) => agent.request(`${server.url}${path}`);

async function resetPage(userId: string): Promise<Page> {
  const page = await open(`/support/users/${userId}/reset-mfa`);
  expect(page.status).toBe(200);
  return page;
}

const codeMailsTo = (email: string, mails = sink) => mails.to(email).filter((m) => m.subject === 'Your verification code for Support');

/** The code of the `count`th verification mail to `email`, once it arrived. */
async function codeMailed(email: string, count: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (codeMailsTo(email).length < count && Date.now() < deadline) await sleep(25);
  const mail = codeMailsTo(email)[count - 1];
  expect(mail).toBeDefined();
  const code = /\b(\d{6})\b/.exec(mail!.text)?.[1];
  expect(code).toBeDefined();
  return code!;
}

/** Send verification code; returns the code mailed to `email`. */
async function sendCode(userId: string, email: string): Promise<string> {
  const before = codeMailsTo(email).length;
  const sent = await postAccount(supportAgent, await resetPage(userId), `/support/users/${userId}/reset-mfa/code`);
  expect(sent.status).toBe(200);
  expect(sent.html).toContain('A verification code was sent to');
  return codeMailed(email, before + 1);
}

const confirm = async (userId: string, fields: Record<string, string>, agent = supportAgent) =>
  postAccount(agent, await resetPage(userId), `/support/users/${userId}/reset-mfa`, fields);

const auditOf = (userId: string, type: string) =>
  sql<{ actor_user_id: string | null; details: Record<string, unknown> }>(
    db.url,
    'SELECT actor_user_id, details FROM audit_events WHERE subject_user_id = $1 AND type = $2 ORDER BY id',
    [userId, type],
  );

const noticesTo = (email: string) => sink.to(email).filter((m) => m.subject === 'Multi-factor authentication was reset on your account');

describe('who may use /support', () => {
  test('not signed in: sent to sign in, asking for MFA from the start', async () => {
    const agent = new UserAgent((url) => url.pathname === '/auth');
    const page = await agent.request(`${server.url}/support/users/${support.userId}`);
    const auth = new URL(page.url);
    expect(auth.pathname).toBe('/auth');
    expect(auth.searchParams.get('client_id')).toBe('twofold-support');
    expect(auth.searchParams.get('acr_values')).toBe('aal2');
    expect(auth.searchParams.get('redirect_uri')).toBe(`${server.url}/support/callback`);
  });

  test('a support user without a device must set one up before the console opens', async () => {
    const fresh = await accountWithUser(db.url, { mfaRequired: false, support: true });
    const agent = new UserAgent();
    const { page, app } = await openAccount(agent, server.url, fresh, { path: '/support' });
    expect(app).toBeDefined(); // the sign-in went through the enrolment
    expect(page.html).toContain('<label for="q">Find user</label>');
    expect((await devicesOf(db.url, fresh.userId)).filter((d) => d.verified)).toHaveLength(1);
  });

  test('a support session without MFA (its sign-in stripped of acr_values) is sent to sign in with MFA', async () => {
    const fresh = await accountWithUser(db.url, { mfaRequired: false, support: true });
    let stop = true;
    const browser = new UserAgent((url) => stop && url.pathname === '/auth');
    const start = new URL((await browser.request(`${server.url}/support`)).url);
    start.searchParams.delete('acr_values');
    stop = false;
    const login = await browser.request(start.toString());
    stop = true;
    const again = await submitPassword(browser, login, fresh);
    // The password-only session came back to /support and was sent straight on to a sign-in asking for MFA.
    const step = new URL(again.url);
    expect(step.pathname).toBe('/auth');
    expect(step.searchParams.get('client_id')).toBe('twofold-support');
    expect(step.searchParams.get('acr_values')).toBe('aal2');
    stop = false;
    const notice = await browser.request(step.toString());
    const { page: enrol, app } = await beginTotpEnrolment(browser, notice);
    const landed = await browser.submit(enrol, '/enrol/verify', { code: await app.next() });
    expect(pathOf(landed)).toBe('/support');
    expect(landed.html).toContain('<label for="q">Find user</label>');
  });

  test('a plain user and an account admin get 403 on every /support route; nothing changes', async () => {
    const victim = await target();
    await sql(db.url, "UPDATE users SET locked_at = now(), locked_reason = 'test' WHERE id = $1", [victim.userId]);
    for (const role of ['user', 'admin'] as const) {
      const someone = await accountWithUser(db.url, { mfaRequired: true, role });
      const agent = new UserAgent();
      // Signed in with MFA through the console's own sign-in, then refused.
      const notice = await submitPassword(agent, await agent.request(`${server.url}/support`), someone);
      const { page: enrol, app } = await beginTotpEnrolment(agent, notice);
      const refused = await agent.submit(enrol, '/enrol/verify', { code: await app.next() });
      expect(pathOf(refused)).toBe('/support');
      expect(refused.status).toBe(403);
      expect(alertOf(refused)).toBe('Only support staff can use the support console.');
      for (const path of ['/support', `/support?q=${victim.username}`, `/support/users/${victim.userId}`, `/support/users/${victim.userId}/reset-mfa`]) {
        const res = await agent.request(`${server.url}${path}`);
        expect([path, res.status]).toEqual([path, 403]);
        // (The page may repeat the address asked for; only the server knows the email.)
        expect(res.html).not.toContain(victim.email!);
      }
      for (const [path, fields] of [
        [`/support/users/${victim.userId}/unlock`, {}],
        [`/support/users/${victim.userId}/reset-mfa/code`, {}],
        [`/support/users/${victim.userId}/reset-mfa`, { reason: 'asked nicely', attested: '1', code: '000000' }],
      ] as const) {
        const res = await postAccount(agent, refused, path, fields);
        expect([path, res.status, alertOf(res)]).toEqual([path, 403, 'Only support staff can use the support console.']);
      }
    }
    const [row] = await sql<{ locked_at: Date | null }>(db.url, 'SELECT locked_at FROM users WHERE id = $1', [victim.userId]);
    expect(row!.locked_at).not.toBeNull();
    expect(await devicesOf(db.url, victim.userId)).toHaveLength(1);
    expect(codeMailsTo(victim.email!)).toHaveLength(0);
    expect(await auditOf(victim.userId, 'mfa.reset')).toHaveLength(0);
  });
});

describe('Find user and the user page', () => {
  test('prefix of username or email, case-insensitive, across accounts; LIKE wildcards are plain characters', async () => {
    const stem = unique('find');
    const a = await accountWithUser(db.url, { mfaRequired: false, username: `${stem}.a_1`, email: `mail-${stem}@example.test` });
    const b = await accountWithUser(db.url, { mfaRequired: false, username: `${stem}.ab1` });
    expect(a.accountId).not.toBe(b.accountId);
    const search = async (q: string) => {
      const page = await open(`/support?q=${encodeURIComponent(q)}`);
      expect(page.status).toBe(200);
      return [...page.html.matchAll(/<a href="\/support\/users\/([0-9a-f-]{36})">([^<]+)<\/a>/g)].map((m) => m[2]);
    };
    const form = await open('/support');
    expect(form.html).toContain('<label for="q">Find user</label>');
    expect(form.html).toMatch(/<button[^>]*>\s*Search\s*<\/button>/);
    expect(await search(stem.toUpperCase())).toEqual([a.username, b.username]);
    expect(await search(`  ${stem}.A`)).toEqual([a.username, b.username]);
    expect(await search(`MAIL-${stem}`)).toEqual([a.username]);
    // "_" and "%" match themselves only.
    expect(await search(`${stem}.a_`)).toEqual([a.username]);
    expect(await search(`${stem}.a%`)).toEqual([]);
    expect(await search(`${stem.slice(0, 4)}_${stem.slice(5)}`)).toEqual([]);
    expect(await search('%')).toEqual([]);
    expect(await search('\\')).toEqual([]);
    // Not a prefix: nothing.
    expect(await search(stem.slice(1))).toEqual([]);
    expect((await open(`/support?q=${encodeURIComponent(stem.slice(1))}`)).html).toContain('No user');
  });

  test('at most 50 a page, Next page and Previous page', async () => {
    const stem = unique('many');
    const { accountId } = await accountWithUser(db.url, { mfaRequired: false, username: `${stem}-000` });
    await sql(
      db.url,
      `INSERT INTO users (account_id, username, username_key, password_hash)
       SELECT $1, $2 || '-' || lpad(i::text, 3, '0'), $2 || '-' || lpad(i::text, 3, '0'), 'x' FROM generate_series(1, 54) AS i`,
      [accountId, stem],
    );
    const names = (page: Page) => [...page.html.matchAll(/<a href="\/support\/users\/[0-9a-f-]{36}">([^<]+)<\/a>/g)].map((m) => m[1]);
    const first = await open(`/support?q=${stem}`);
    expect(names(first)).toHaveLength(50);
    expect(names(first)[0]).toBe(`${stem}-000`);
    expect(first.html).toContain('rel="next"');
    expect(first.html).not.toContain('rel="prev"');
    const second = await open(`/support?q=${stem}&page=2`);
    expect(names(second)).toEqual([`${stem}-050`, `${stem}-051`, `${stem}-052`, `${stem}-053`, `${stem}-054`]);
    expect(second.html).toContain('rel="prev"');
    expect(second.html).not.toContain('rel="next"');
    for (const bad of ['0', '-1', 'x', '1.5', '99999']) {
      expect((await open(`/support?q=${stem}&page=${bad}`)).status).toBe(422);
    }
    expect((await open(`/support?q=${'a'.repeat(255)}`)).status).toBe(422);
    expect((await open(`/support?q=a&q=b`)).status).toBe(422);
  });

  test('the user page: account, role, lock state, devices by kind and name, recovery codes left, last sign-in, events newest first; Unlock', async () => {
    const user = await target();
    await sql(db.url, "UPDATE users SET locked_at = now(), locked_reason = 'mfa_failures' WHERE id = $1", [user.userId]);
    const [account] = await sql<{ name: string }>(db.url, 'SELECT name FROM accounts WHERE id = $1', [user.accountId]);
    const page = await open(`/support/users/${user.userId}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain(`<h1 id="heading">${user.username}</h1>`);
    expect(page.html).toMatch(new RegExp(`<dt>Account</dt>\\s*<dd>${account!.name}</dd>`));
    expect(page.html).toMatch(/<dt>Role<\/dt>\s*<dd>user<\/dd>/);
    expect(page.html).toMatch(/<dt>Status<\/dt>\s*<dd><span class="badge badge-warn">Locked<\/span><\/dd>/);
    expect(page.html).toMatch(/<dt>Recovery codes left<\/dt>\s*<dd>0<\/dd>/);
    expect(page.html).toMatch(/<dt>Last sign-in<\/dt>\s*<dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/dd>/);
    expect(page.html).toMatch(/<td>Mobile Passcode<\/td>\s*<td>Enrolment phone<\/td>/);
    const events = [...page.html.matchAll(/<td class="nowrap">[^<]*<\/td>\s*<td>([a-z_.]+)/g)].map((m) => m[1]);
    const stored = await sql<{ type: string }>(db.url, 'SELECT type FROM audit_events WHERE subject_user_id = $1 ORDER BY id DESC LIMIT 20', [user.userId]);
    expect(events).toEqual(stored.map((e) => e.type));
    expect(events[0]).toBe('login.succeeded');
    expect(page.html).toMatch(/<button[^>]*>\s*Reset MFA\s*<\/button>/);

    const unlocked = await postAccount(supportAgent, page, `/support/users/${user.userId}/unlock`);
    expect(pathOf(unlocked)).toBe(`/support/users/${user.userId}`);
    expect(unlocked.html).toContain('The user was unlocked.');
    expect(unlocked.html).toMatch(/<dt>Status<\/dt>\s*<dd><span class="badge badge-ok">Active<\/span><\/dd>/);
    const [audit] = await auditOf(user.userId, 'user.unlocked');
    expect(audit!.actor_user_id).toBe(support.userId);

    expect((await open('/support/users/not-a-uuid')).status).toBe(404);
    expect((await open('/support/users/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  test('an SMS device shows its masked number only', async () => {
    const user = await target({ device: false });
    await sql(db.url, "INSERT INTO mfa_devices (user_id, kind, phone_e164, verified_at, is_default) VALUES ($1, 'sms', '+14155550123', now(), true)", [user.userId]);
    const page = await open(`/support/users/${user.userId}`);
    expect(page.html).toMatch(/<td>SMS<\/td>\s*<td>•••• 0123<\/td>/);
    expect(page.html).not.toContain('4155550123');
  });
});

describe('Reset MFA', () => {
  test('the dialog: Reason, Send verification code, Verification code, Confirm reset; the code reaches the verified address only', async () => {
    const user = await target();
    const page = await resetPage(user.userId);
    expect(page.html).toContain('<label for="reason">Reason</label>');
    expect(page.html).toContain('<label for="code">Verification code</label>');
    expect(page.html).toMatch(/<button[^>]*>\s*Send verification code\s*<\/button>/);
    expect(page.html).toMatch(/<button[^>]*>\s*Confirm reset\s*<\/button>/);
    expect(page.html).not.toContain('Identity verified another way');
    expect(page.html).not.toContain(user.email!);
    const code = await sendCode(user.userId, user.email!);
    expect(sink.mails.filter((m) => m.text.includes(code))).toHaveLength(1);
    const [sent] = await auditOf(user.userId, 'support.code_sent');
    expect(sent!.actor_user_id).toBe(support.userId);
    expect(JSON.stringify(await sql(db.url, 'SELECT details FROM audit_events WHERE subject_user_id = $1', [user.userId]))).not.toContain(code);
  });

  test('no reset without a reason; a wrong code is refused and counted; the right one resets, once, with the notice mail and an audit entry', async () => {
    const user = await target();
    const code = await sendCode(user.userId, user.email!);
    const noReason = await confirm(user.userId, { reason: '   ', code });
    expect(noReason.status).toBe(422);
    expect(alertOf(noReason)).toBe('Give the reason for the reset.');
    const wrong = await confirm(user.userId, { reason: 'Lost phone', code: code === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(401);
    expect(alertOf(wrong)).toBe('Wrong verification code (4 tries left).');
    expect((await auditOf(user.userId, 'support.code_failed')).map((e) => e.details.tries)).toEqual([1]);
    expect(await devicesOf(db.url, user.userId)).toHaveLength(1);

    const done = await confirm(user.userId, { reason: 'Lost phone, caller read the code', code });
    expect(pathOf(done)).toBe(`/support/users/${user.userId}`);
    expect(done.html).toContain('Multi-factor authentication was reset');
    expect(await devicesOf(db.url, user.userId)).toHaveLength(0);
    const [reset] = await auditOf(user.userId, 'mfa.reset');
    expect(reset!.actor_user_id).toBe(support.userId);
    expect(reset!.details).toMatchObject({ reason: 'Lost phone, caller read the code', verification: 'email_code', devicesRemoved: 1 });
    const deadline = Date.now() + 10_000;
    while (noticesTo(user.email!).length === 0 && Date.now() < deadline) await sleep(25);
    expect(noticesTo(user.email!)).toHaveLength(1);
    // Single use: the same code again is refused.
    const reused = await confirm(user.userId, { reason: 'again', code });
    expect(reused.status).toBe(401);
    expect(await auditOf(user.userId, 'mfa.reset')).toHaveLength(1);
  });

  test('the 6th try is refused even with the right code; sending again replaces the code', async () => {
    const user = await target();
    const code = await sendCode(user.userId, user.email!);
    const wrongCode = code === '123456' ? '654321' : '123456';
    for (let i = 0; i < 5; i++) expect((await confirm(user.userId, { reason: 'r', code: wrongCode })).status).toBe(401);
    const sixth = await confirm(user.userId, { reason: 'r', code });
    expect(sixth.status).toBe(429);
    expect(alertOf(sixth)).toBe('Too many tries: send a new verification code.');
    expect(await devicesOf(db.url, user.userId)).toHaveLength(1);
    // A new code: the old one no longer works, the new one does.
    const fresh = await sendCode(user.userId, user.email!);
    if (fresh !== code) expect((await confirm(user.userId, { reason: 'r', code })).status).toBe(401);
    expect(pathOf(await confirm(user.userId, { reason: 'second code', code: fresh }))).toBe(`/support/users/${user.userId}`);
    expect(await devicesOf(db.url, user.userId)).toHaveLength(0);
  });

  test('at most 5 codes an hour to one user: the 6th send is refused and mails nothing', async () => {
    const user = await target();
    for (let i = 1; i <= 5; i++) await sendCode(user.userId, user.email!);
    const sixth = await postAccount(supportAgent, await resetPage(user.userId), `/support/users/${user.userId}/reset-mfa/code`);
    expect(sixth.status).toBe(429);
    expect(alertOf(sixth)).toBe('Too many verification codes were sent to this user. Try again later.');
    await sleep(500);
    expect(codeMailsTo(user.email!)).toHaveLength(5);
    expect(await auditOf(user.userId, 'support.code_sent')).toHaveLength(5);
  });

  test("user A's code is refused for user B", async () => {
    const a = await target();
    const b = await target();
    const codeA = await sendCode(a.userId, a.email!);
    const codeB = await sendCode(b.userId, b.email!);
    // (Two equal random codes, one in a million, would prove nothing: send B another.)
    const forB = codeA === codeB ? await sendCode(b.userId, b.email!) : codeB;
    const refused = await confirm(b.userId, { reason: 'r', code: codeA });
    expect(refused.status).toBe(401);
    expect(alertOf(refused)).toBe('Wrong verification code (4 tries left).');
    expect(await devicesOf(db.url, b.userId)).toHaveLength(1);
    expect(await devicesOf(db.url, a.userId)).toHaveLength(1);
    // Each code still works for its own user.
    expect(pathOf(await confirm(b.userId, { reason: 'r', code: forB }))).toBe(`/support/users/${b.userId}`);
    expect(pathOf(await confirm(a.userId, { reason: 'r', code: codeA }))).toBe(`/support/users/${a.userId}`);
  });

  test('parallel Confirm reset with the right code: exactly one reset and one notice mail', async () => {
    const user = await target();
    const code = await sendCode(user.userId, user.email!);
    const page = await resetPage(user.userId);
    const results = await Promise.all(Array.from({ length: 5 }, () => postAccount(supportAgent, page, `/support/users/${user.userId}/reset-mfa`, { reason: 'race', code })));
    expect(results.filter((r) => pathOf(r) === `/support/users/${user.userId}` && r.status === 200)).toHaveLength(1);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401]);
    expect(await auditOf(user.userId, 'mfa.reset')).toHaveLength(1);
    await sleep(1500);
    expect(noticesTo(user.email!)).toHaveLength(1);
  });

  test('without a verified address: Identity verified another way must be ticked; audited as attested; parallel ones reset once', async () => {
    const user = await target({ email: null });
    const page = await resetPage(user.userId);
    expect(page.html).not.toContain('Send verification code');
    expect(page.html).toContain('<label for="attested">Identity verified another way</label>');
    expect((await postAccount(supportAgent, page, `/support/users/${user.userId}/reset-mfa/code`)).status).toBe(422);
    const unticked = await confirm(user.userId, { reason: 'Known caller' });
    expect(unticked.status).toBe(422);
    expect(await devicesOf(db.url, user.userId)).toHaveLength(1);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => postAccount(supportAgent, page, `/support/users/${user.userId}/reset-mfa`, { reason: 'Video call with ID', attested: '1' })),
    );
    expect(results.filter((r) => r.status === 200 && pathOf(r) === `/support/users/${user.userId}`)).toHaveLength(1);
    const resets = await auditOf(user.userId, 'mfa.reset');
    expect(resets).toHaveLength(1);
    expect(resets[0]!.details).toMatchObject({ reason: 'Video call with ID', verification: 'attested' });
    expect(await devicesOf(db.url, user.userId)).toHaveLength(0);
  });

  test('an expired code is refused; an action after REAUTH_MAX_AGE asks for a new sign-in first', async () => {
    // A server of its own (its own database: the first-party clients follow each server's issuer)
    // with 1-second codes and an 8-second window for actions.
    const shortDb = await createTestDatabase('twofold_e2e_support_ttl');
    const short = await startTwofold({ DATABASE_URL: shortDb.url, REDIS_URL, ...secrets, MAIL_PROVIDER: 'smtp', SMTP_URL: sink.url, SUPPORT_CODE_TTL: '1', REAUTH_MAX_AGE: '8' });
    try {
      const email = `${unique('late')}@example.test`;
      const user = await accountWithUser(shortDb.url, { mfaRequired: true, email });
      await openAccount(new UserAgent(), short.url, user);
      const agent = new UserAgent();
      const signedInAt = Date.now();
      await openAccount(agent, short.url, await accountWithUser(shortDb.url, { mfaRequired: true, support: true }), { path: '/support' });
      const page = await agent.request(`${short.url}/support/users/${user.userId}/reset-mfa`);
      expect((await postAccount(agent, page, `/support/users/${user.userId}/reset-mfa/code`)).status).toBe(200);
      const code = await codeMailed(email, 1);
      await sleep(2100);
      const late = await postAccount(agent, page, `/support/users/${user.userId}/reset-mfa`, { reason: 'late', code });
      expect(late.status).toBe(401);
      expect(alertOf(late)).toBe('There is no valid verification code: send a new one.');
      expect(await devicesOf(shortDb.url, user.userId)).toHaveLength(1);

      // Past the window: Unlock sends the browser to sign in again (password and MFA), and the user stays locked.
      await sql(shortDb.url, "UPDATE users SET locked_at = now(), locked_reason = 'test' WHERE id = $1", [user.userId]);
      await sleep(Math.max(0, signedInAt + 9_000 - Date.now()));
      const unlock = await fetch(`${short.url}/support/users/${user.userId}/unlock`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: agent.cookiesFor(`${short.url}/support/users/${user.userId}/unlock`), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrfToken(page) }),
      });
      expect(unlock.status).toBe(303);
      const to = new URL(unlock.headers.get('location')!);
      expect(to.pathname).toBe('/auth');
      expect(to.searchParams.get('max_age')).toBe('0');
      expect(to.searchParams.get('acr_values')).toBe('aal2');
      const [row] = await sql<{ locked_at: Date | null }>(shortDb.url, 'SELECT locked_at FROM users WHERE id = $1', [user.userId]);
      expect(row!.locked_at).not.toBeNull();
    } finally {
      await short.stop();
      await shortDb.drop();
    }
  });
});

describe('the demo', () => {
  test('has a support user in an account of its own, whose password is printed once and signs in to /support', async () => {
    const demoDb = await createTestDatabase('twofold_e2e_support_demo');
    const demo = await startTwofold({ DATABASE_URL: demoDb.url, REDIS_URL, ...secrets, DEMO: 'true' });
    try {
      const line = demo
        .output()
        .split('\n')
        .find((l) => l.trim().startsWith('support@example.com'));
      const password = line?.trim().split(/\s+/)[1];
      expect(password).toBeDefined();
      const [row] = await sql<{ is_support: boolean; name: string }>(
        demoDb.url,
        "SELECT u.is_support, a.name FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.username = 'support@example.com'",
      );
      expect(row).toEqual({ is_support: true, name: 'Example Support' });
      const { page } = await openAccount(new UserAgent(), demo.url, { username: 'support@example.com', password: password! }, { path: '/support' });
      expect(page.html).toContain('<label for="q">Find user</label>');
    } finally {
      await demo.stop();
    }
    // A second start prints no password.
    const again = await startTwofold({ DATABASE_URL: demoDb.url, REDIS_URL, ...secrets, DEMO: 'true' });
    try {
      expect(again.output()).not.toContain('support@example.com');
    } finally {
      await again.stop();
      await demoDb.drop();
    }
  });
});
