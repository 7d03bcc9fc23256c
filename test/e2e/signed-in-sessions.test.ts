import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import * as oidc from 'openid-client';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { expectKind, sql, submitPassword, toCallback } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { expectAccountPage, openAccount, pathOf, postAccount, refreshWorks, sleep, submitForm } from '../helpers/self-service.js';
import { clusterSecrets, freePort, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import type { Page } from '../helpers/user-agent.js';

/**
 * "Where you're signed in" on /account: each browser is its own cookie jar with its own User-Agent,
 * signed in to an app (a refresh token) and, through the same Twofold session, to /account. Two
 * Twofold processes share Postgres and Redis behind one ISSUER; the test routes each browser's
 * requests to the process it chooses, as a load balancer would.
 */
let db: TestDatabase;
let a: TwofoldProcess;
let b: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
let redis: Redis;
let prefix: string;

const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_signed_in');
  const portA = await freePort();
  const secrets = clusterSecrets();
  prefix = secrets.REDIS_KEY_PREFIX!;
  const env = { DATABASE_URL: db.url, REDIS_URL, ISSUER: `http://127.0.0.1:${portA}`, TRUST_PROXY: 'true', ...secrets };
  [a, b] = await Promise.all([startTwofold(env, { port: portA }), startTwofold(env)]);
  client = await confidentialClient(db.url);
  redis = new Redis(REDIS_URL);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  redis?.disconnect();
  await db?.drop();
});

interface Browser {
  rp: RelyingParty;
  refreshToken: string;
  /** Sends the following requests to this process. */
  via(node: TwofoldProcess): Browser;
}

/** A browser with its own cookies and User-Agent, signed in with the password to the app on `node`. */
async function signIn(user: Fixture, userAgent: string, node: TwofoldProcess): Promise<Browser> {
  const rp = await RelyingParty.create(a.url, client.clientId, client.clientSecret);
  const browser: Browser = {
    rp,
    refreshToken: '',
    via(target) {
      Object.assign(rp.agent.headers, { 'user-agent': userAgent, 'x-forwarded-host': new URL(a.url).host, 'x-forwarded-proto': 'http' });
      rp.agent.route = (url) => {
        if (url.origin !== a.url) return url;
        const routed = new URL(url);
        routed.port = String(target.port);
        return routed;
      };
      return browser;
    },
  };
  browser.via(node);
  const { page, finish } = await rp.start();
  const tokens = await finish(await toCallback(rp.agent, await submitPassword(rp.agent, page, user)));
  expect(tokens.refresh_token).toBeDefined();
  browser.refreshToken = tokens.refresh_token!;
  return browser;
}

interface Row {
  browser: string;
  system: string;
  signedIn: string;
  lastActive: string;
  current: boolean;
  /** The session the row's Sign out button posts (none on This browser). */
  uid?: string;
}

function sessionRows(page: Page): Row[] {
  const section = page.html.match(/<section[^>]*aria-labelledby="sessions-heading">([\s\S]*?)<\/section>/)?.[1];
  if (!section) throw new Error(`no "Where you're signed in" section on ${page.url}`);
  expect(section).toMatch(/<h2 id="sessions-heading">Where you're signed in<\/h2>/);
  const body = section.match(/<tbody>([\s\S]*?)<\/tbody>/)?.[1] ?? '';
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => {
    const cells = [...m[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) =>
      c[1]!
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim(),
    );
    const uid = m[1]!.match(/name="session" value="([^"]+)"/)?.[1];
    if (uid) expect(m[1]).toMatch(/<button[^>]*>\s*Sign out\s*<\/button>/);
    return { browser: cells[0]!, system: cells[1]!, signedIn: cells[2]!, lastActive: cells[3]!, current: /<span class="badge[^"]*">This browser<\/span>/.test(m[1]!), uid };
  });
}

async function accountPage(browser: Browser, user: Fixture): Promise<Page> {
  const { page } = await openAccount(browser.rp.agent, a.url, user);
  expectAccountPage(page);
  return page;
}

async function expectRefreshRefused(browser: Browser): Promise<void> {
  await expect(oidc.refreshTokenGrant(browser.rp.config, browser.refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
}

/** The browser's Twofold session is gone: the app's next sign-in asks for the password again. */
async function expectSignedOutAtTwofold(browser: Browser): Promise<void> {
  const { page } = await browser.rp.start();
  expectKind(page, 'login');
}

const indexKey = (user: Fixture) => `${prefix}{user:${user.userId}}:sessions`;

describe("Where you're signed in", () => {
  test('two browsers: both listed with browser, system and times, This browser on the asking one; Sign out (on the other node) ends the other session and its refresh token', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const firefox = await signIn(user, FIREFOX_WINDOWS, a);
    const chrome = await signIn(user, CHROME_MAC, b);

    const page = await accountPage(firefox.via(a), user);
    const rows = sessionRows(page);
    expect(rows).toHaveLength(2);
    const [mine, other] = rows;
    expect(mine).toMatchObject({ browser: 'Firefox 133', system: 'Windows', current: true, uid: undefined });
    expect(other).toMatchObject({ browser: 'Chrome 131', system: 'macOS', current: false });
    expect(other!.uid).toMatch(/^[A-Za-z0-9_-]{10,}$/);
    for (const r of rows) {
      expect(r.signedIn).toMatch(/^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{2}:\d{2} [AP]M UTC$/);
      expect(r.lastActive).toMatch(/^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{2}:\d{2} [AP]M UTC$/);
    }
    expect(page.html).toMatch(/<button[^>]*>\s*Sign out everywhere else\s*<\/button>/);
    // The form never carries the session cookie's value, only the public handle.
    const chromeCookie = chrome.rp.agent.cookiesFor(`${a.url}/auth`).match(/(?:^|; )_session=([^;]+)/)?.[1];
    expect(chromeCookie).toBeDefined();
    expect(page.html).not.toContain(chromeCookie!);

    // Chrome also has /account open: it ends with its Twofold session.
    expectAccountPage(await accountPage(chrome, user));

    // Firefox signs the other out through the other process.
    const done = await submitForm(firefox.via(b).rp.agent, page, '/account/sessions/sign-out');
    expectAccountPage(done);
    expect(pathOf(done)).toBe('/account');
    expect(done.html).toContain('That session was signed out.');
    expect(sessionRows(done)).toEqual([expect.objectContaining({ browser: 'Firefox 133', current: true })]);

    await expectRefreshRefused(chrome);
    firefox.refreshToken = await refreshWorks(firefox.rp, firefox.refreshToken);
    // Chrome's /account session went with it: the next page asks to sign in.
    const again = await chrome.via(a).rp.agent.request(`${a.url}/account`);
    expectKind(again, 'login');
    await expectSignedOutAtTwofold(chrome);

    const audit = await sql<{ details: Record<string, unknown> }>(db.url, "SELECT details FROM audit_events WHERE type = 'sessions.revoked' AND subject_user_id = $1", [
      user.userId,
    ]);
    expect(audit.map((e) => e.details)).toEqual([expect.objectContaining({ scope: 'session', reason: 'signed_out' })]);
  });

  test('Sign out everywhere else ends every other session and refresh token on both nodes, and keeps this one', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const mine = await signIn(user, FIREFOX_WINDOWS, a);
    const others = [await signIn(user, CHROME_MAC, b), await signIn(user, SAFARI_IPHONE, a), await signIn(user, CHROME_MAC, b)];
    const someoneElse = await accountWithUser(db.url, { mfaRequired: false });
    const theirs = await signIn(someoneElse, CHROME_MAC, a);

    const page = await accountPage(mine.via(b), user);
    const rows = sessionRows(page);
    expect(rows).toHaveLength(4);
    expect(rows.filter((r) => r.current)).toEqual([expect.objectContaining({ browser: 'Firefox 133' })]);
    expect(rows.map((r) => `${r.browser} / ${r.system}`).sort()).toEqual(['Chrome 131 / macOS', 'Chrome 131 / macOS', 'Firefox 133 / Windows', 'Safari 17 / iOS']);

    const done = await submitForm(mine.via(a).rp.agent, page, '/account/sessions/sign-out-others');
    expectAccountPage(done);
    expect(done.html).toContain('You were signed out everywhere else.');
    expect(sessionRows(done)).toEqual([expect.objectContaining({ current: true })]);
    expect(done.html).not.toMatch(/Sign out everywhere else\s*<\/button>/);

    for (const other of others) {
      await expectRefreshRefused(other);
      await expectSignedOutAtTwofold(other);
    }
    mine.refreshToken = await refreshWorks(mine.rp, mine.refreshToken);
    // This browser is still signed in at Twofold: the app signs in again without a password.
    const { page: silent } = await mine.rp.start();
    expect(silent.status).toBe(0);
    // Another user's session was never touched.
    theirs.refreshToken = await refreshWorks(theirs.rp, theirs.refreshToken);
    // Under the user's hash tag, expiring with the sessions: one live entry, and the three ended
    // ones kept as such until they would have expired (so a late save cannot revive them).
    const fields = Object.values(await redis.hgetall(indexKey(user)));
    expect(fields.filter((v) => v.startsWith('{'))).toHaveLength(1);
    expect(fields.filter((v) => v.startsWith('!'))).toHaveLength(3);
    const ttl = await redis.ttl(indexKey(user));
    expect(ttl).toBeGreaterThan(13 * 86400);
    expect(ttl).toBeLessThanOrEqual(14 * 86400 + 60);
  });

  test("a user cannot end another user's session: their uid, a made-up one and a malformed one are refused, and the session lives on", async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const victim = await accountWithUser(db.url, { mfaRequired: false });
    const mine = await signIn(user, FIREFOX_WINDOWS, a);
    const myOther = await signIn(user, CHROME_MAC, b);
    const victimPhone = await signIn(victim, SAFARI_IPHONE, b);
    const victimLaptop = await signIn(victim, CHROME_MAC, a);
    const victimUid = sessionRows(await accountPage(victimLaptop, victim)).find((r) => !r.current)!.uid!;
    expect(victimUid).toBeDefined();

    const page = await accountPage(mine, user);
    const theirs = await postAccount(mine.rp.agent, page, '/account/sessions/sign-out', { session: victimUid });
    const madeUp = await postAccount(mine.rp.agent, page, '/account/sessions/sign-out', { session: 'AAAAAAAAAAAAAAAAAAAAA' });
    // The same answer whether or not the id exists: nothing to learn by guessing.
    expect(theirs.status).toBe(404);
    expect(madeUp.status).toBe(404);
    expect(theirs.html).toBe(madeUp.html);
    expect(theirs.html).toContain('This session is not signed in any more.');
    for (const bad of ['', '../x', 'a'.repeat(65), 'x y']) {
      const res = await postAccount(mine.rp.agent, page, '/account/sessions/sign-out', { session: bad });
      expect(res.status).toBe(422);
    }
    // Without the CSRF token nothing happens either.
    const noCsrf = await postAccount(mine.rp.agent, page, '/account/sessions/sign-out', { session: victimUid }, false);
    expect(noCsrf.status).toBe(403);

    // "Sign out everywhere else" reaches only the caller's own sessions.
    const others = await submitForm(mine.rp.agent, page, '/account/sessions/sign-out-others');
    expectAccountPage(others);
    await expectRefreshRefused(myOther);
    victimPhone.refreshToken = await refreshWorks(victimPhone.rp, victimPhone.refreshToken);
    victimLaptop.refreshToken = await refreshWorks(victimLaptop.rp, victimLaptop.refreshToken);
    expect(sessionRows(await accountPage(victimLaptop, victim))).toHaveLength(2);
  });

  test('the other browser keeps making requests on the other node while it is signed out: it still ends', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const mine = await signIn(user, FIREFOX_WINDOWS, a);
    const other = await signIn(user, CHROME_MAC, b);
    const page = await accountPage(mine, user);

    // Silent sign-ins in a loop: each loads the session and saves it again when it ends.
    let stop = false;
    let requests = 0;
    const busy = Array.from({ length: 3 }, async () => {
      while (!stop) {
        await other.rp.start({ prompt: 'none' });
        requests++;
      }
    });
    await sleep(150);
    const done = await submitForm(mine.rp.agent, page, '/account/sessions/sign-out');
    expectAccountPage(done);
    await sleep(300);
    stop = true;
    await Promise.all(busy);
    expect(requests).toBeGreaterThan(5);

    await expectRefreshRefused(other);
    await expectSignedOutAtTwofold(other);
    expect(sessionRows(await accountPage(mine, user))).toEqual([expect.objectContaining({ current: true })]);
  });

  test('a session ended elsewhere (signed out through an app) leaves the list, and its index entry is pruned', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    const mine = await signIn(user, FIREFOX_WINDOWS, a);
    const other = await signIn(user, CHROME_MAC, b);
    expect(sessionRows(await accountPage(mine, user))).toHaveLength(2);
    expect(await redis.hlen(indexKey(user))).toBe(2);

    // The other browser signs out of Twofold through the app (RP-initiated logout).
    const logout = await other.rp.agent.request(oidc.buildEndSessionUrl(other.rp.config, { client_id: client.clientId }).toString());
    expect((await submitForm(other.rp.agent, logout, '/session/end/confirm', { logout: 'yes' })).status).toBe(200);
    await expectSignedOutAtTwofold(other);

    expect(sessionRows(await accountPage(mine, user))).toEqual([expect.objectContaining({ current: true })]);
    expect(await redis.hlen(indexKey(user))).toBe(1);
  });
});

describe('without Redis (one process)', () => {
  let single: TwofoldProcess;
  let singleClient: { clientId: string; clientSecret: string };
  let singleDb: TestDatabase;

  beforeAll(async () => {
    singleDb = await createTestDatabase('twofold_e2e_signed_in_memory');
    // No REDIS_URL: the in-process store.
    single = await startTwofold({ DATABASE_URL: singleDb.url, ...clusterSecrets() });
    singleClient = await confidentialClient(singleDb.url);
  });

  afterAll(async () => {
    await single?.stop();
    await singleDb?.drop();
  });

  test('the list and Sign out work from the in-process store', async () => {
    const user = await accountWithUser(singleDb.url, { mfaRequired: false });
    const browsers: RelyingParty[] = [];
    const refresh: string[] = [];
    for (const ua of [FIREFOX_WINDOWS, CHROME_MAC]) {
      const rp = await RelyingParty.create(single.url, singleClient.clientId, singleClient.clientSecret);
      rp.agent.headers['user-agent'] = ua;
      const { page, finish } = await rp.start();
      refresh.push((await finish(await toCallback(rp.agent, await submitPassword(rp.agent, page, user)))).refresh_token!);
      browsers.push(rp);
    }
    const { page } = await openAccount(browsers[0]!.agent, single.url, user);
    const rows = sessionRows(page);
    expect(rows.map((r) => [r.browser, r.current])).toEqual([
      ['Firefox 133', true],
      ['Chrome 131', false],
    ]);
    expectAccountPage(await submitForm(browsers[0]!.agent, page, '/account/sessions/sign-out'));
    await expect(oidc.refreshTokenGrant(browsers[1]!.config, refresh[1]!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await refreshWorks(browsers[0]!, refresh[0]!);
  });
});
