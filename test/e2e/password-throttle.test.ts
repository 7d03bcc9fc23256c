import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { sql } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import type { Page } from '../helpers/user-agent.js';

/**
 * The password throttle attacked the way it would be: many guesses in parallel, and look-alike
 * spellings of a username. Each browser comes from its own address (X-Forwarded-For behind
 * TRUST_PROXY), so the tests' per-IP buckets never meet.
 */
let db: TestDatabase;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };

const USERNAME_LIMIT = 10;
const IP_LIMIT = 100;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_throttle');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, TRUST_PROXY: 'true', ...clusterSecrets() });
  client = await confidentialClient(db.url, { firstParty: true });
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

const newIp = () => `10.${crypto.randomInt(256)}.${crypto.randomInt(256)}.${crypto.randomInt(1, 255)}`;

/** A user named like the demo's (`admin-…@example.com`), in an account without the MFA requirement. */
async function admin(): Promise<Fixture> {
  return accountWithUser(db.url, { mfaRequired: false, username: `admin-${crypto.randomBytes(3).toString('hex')}@example.com` });
}

/** The sign-in page of a new browser at `ip`, and a way to submit its form (any number of times, at once). */
async function signInPage(ip: string): Promise<{ rp: RelyingParty; page: Page; attempt: (username: string, password: string) => Promise<Page> }> {
  const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
  rp.agent.headers['x-forwarded-for'] = ip;
  const { page } = await rp.start();
  expect(page.html).toContain('<label for="password">Password</label>');
  return { rp, page, attempt: (username, password) => rp.agent.submit(page, '/login', { username, password }) };
}

const auditCount = async (type: string, where: { ip?: string; subject?: string }) =>
  (
    await sql<{ n: number }>(
      db.url,
      'SELECT count(*)::int AS n FROM audit_events WHERE type = $1 AND ($2::text IS NULL OR ip = $2) AND ($3::uuid IS NULL OR subject_user_id = $3)',
      [type, where.ip ?? null, where.subject ?? null],
    )
  )[0]!.n;

const tally = (pages: Page[]) => ({
  judged: pages.filter((p) => p.status === 401).length,
  refused: pages.filter((p) => p.status === 429).length,
});

/** Fullwidth forms of printable ASCII (U+FF01–U+FF5E). */
const fullwidth = (s: string) => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0x21 + 0xff01));

describe('the password throttle under parallel guessing', () => {
  test(`${USERNAME_LIMIT * 3} parallel wrong passwords for one username: at most ${USERNAME_LIMIT} are judged, the rest get 429 + Retry-After`, async () => {
    const user = await admin();
    const { attempt } = await signInPage(newIp());
    const pages = await Promise.all(Array.from({ length: USERNAME_LIMIT * 3 }, (_, i) => attempt(user.username, `wrong password ${i}`)));
    expect(tally(pages)).toEqual({ judged: USERNAME_LIMIT, refused: USERNAME_LIMIT * 2 });
    expect(await auditCount('login.password_failed', { subject: user.userId })).toBe(USERNAME_LIMIT);
    for (const p of pages.filter((x) => x.status === 429)) {
      expect(Number(p.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(p.html).toContain('Too many failed sign-in attempts.');
    }
    // The username is now throttled, even with the right password, from anywhere.
    const later = await (await signInPage(newIp())).attempt(user.username, user.password);
    expect(later.status).toBe(429);
  });

  test(`${IP_LIMIT + 30} parallel guesses at different usernames from one address: at most ${IP_LIMIT} are judged`, async () => {
    const ip = newIp();
    const { attempt } = await signInPage(ip);
    const tag = crypto.randomBytes(3).toString('hex');
    const pages = await Promise.all(Array.from({ length: IP_LIMIT + 30 }, (_, i) => attempt(`nobody-${tag}-${i}@example.com`, 'wrong password')));
    expect(tally(pages)).toEqual({ judged: IP_LIMIT, refused: 30 });
    expect(await auditCount('login.password_failed', { ip })).toBe(IP_LIMIT);
    expect(await auditCount('login.throttled', { ip })).toBe(30);
  }, 120_000);

  test('a success clears the username bucket: the real user is not throttled by the guesses made before', async () => {
    const user = await admin();
    const { attempt } = await signInPage(newIp());
    for (const p of await Promise.all(Array.from({ length: USERNAME_LIMIT - 1 }, () => attempt(user.username, 'wrong password')))) expect(p.status).toBe(401);
    const ok = await (await signInPage(newIp())).attempt(user.username, user.password);
    expect(callbackOf(ok)).toContain('code=');
    // A fresh window: as many guesses as the limit are judged again, then 429.
    const again = await signInPage(newIp());
    const pages = await Promise.all(Array.from({ length: USERNAME_LIMIT + 5 }, () => again.attempt(user.username, 'wrong password')));
    expect(tally(pages)).toEqual({ judged: USERNAME_LIMIT, refused: 5 });
  });

  test('a burst of genuine sign-ins, more than the limit at once, waits for its places instead of being refused', async () => {
    const user = await admin();
    const browsers = await Promise.all(Array.from({ length: USERNAME_LIMIT * 2 }, () => signInPage(newIp())));
    const pages = await Promise.all(browsers.map((b) => b.attempt(user.username, user.password)));
    for (const p of pages) expect(new URL(callbackOf(p)).searchParams.get('code')).toBeTruthy();
  });
});

describe('one canonical username', () => {
  test("look-alike spellings (İ, fullwidth, combining marks, case) share the real username's bucket", async () => {
    const user = await admin();
    const upper = user.username.toUpperCase();
    const variants = [
      upper.replace('I', '\u0130'), // ADMİN-…@EXAMPLE.COM
      fullwidth(user.username),
      user.username.replace('a', 'a\u0301').replace('e', 'e\u0308'),
      upper,
      `${fullwidth('ADM')}\u0130${user.username.slice(4)}`,
    ];
    const { attempt } = await signInPage(newIp());
    // Two wrong passwords through each spelling: ten in all, none with the real one.
    for (const name of [...variants, ...variants]) expect((await attempt(name, 'wrong password')).status).toBe(401);
    expect(await auditCount('login.password_failed', { subject: user.userId })).toBe(USERNAME_LIMIT);
    const real = await (await signInPage(newIp())).attempt(user.username, user.password);
    expect(real.status).toBe(429);
    expect(Number(real.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  test('a look-alike with the right password signs in as that same user, not as anyone else', async () => {
    const user = await admin();
    const ip = newIp();
    const { attempt } = await signInPage(ip);
    const done = await attempt(fullwidth(user.username.toUpperCase()).replace('\uff29', '\u0130'), user.password);
    expect(new URL(callbackOf(done)).searchParams.get('code')).toBeTruthy();
    const rows = await sql<{ subject_user_id: string }>(db.url, "SELECT subject_user_id FROM audit_events WHERE type = 'login.password_ok' AND ip = $1", [ip]);
    expect(rows).toEqual([{ subject_user_id: user.userId }]);
  });

  test('input that folds to no valid username names nobody and shares one bucket, still with the generic 401', async () => {
    const { attempt } = await signInPage(newIp());
    // Cyrillic а, a zero-width joiner, a dotless ı: none is a username, each in its own spelling.
    const names = Array.from({ length: USERNAME_LIMIT }, (_, i) => [`\u0430dmin${i}`, `ad\u200dmin${i}`, `adm\u0131n${i}`][i % 3]!);
    for (const name of names) {
      const p = await attempt(name, 'wrong password');
      expect(p.status).toBe(401);
      expect(p.html).toContain('Invalid username or password.');
    }
    const p = await attempt('\u0430nother-one', 'wrong password');
    expect(p.status).toBe(429);
  });
});

describe('the request id', () => {
  test('the audit line of a failed sign-in carries the id the response was given', async () => {
    const user = await admin();
    const { attempt } = await signInPage(newIp());
    const failed = await attempt(user.username, 'wrong password');
    expect(failed.status).toBe(401);
    const id = failed.headers.get('x-request-id');
    expect(id).toBeTruthy();
    const auditLine = async () => {
      for (let i = 0; i < 50; i++) {
        const line = server
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.audit === 'login.password_failed' && l.subject === user.userId);
        if (line) return line;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no audit line for ${user.userId} in the output:\n${server.output().slice(-3000)}`);
    };
    expect((await auditLine()).reqId).toBe(id);
  });
});
