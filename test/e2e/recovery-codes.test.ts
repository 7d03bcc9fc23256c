import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { expectKind, kindOf, mfaCounters, type Authenticator } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { testRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { afterPassword, alertOf, expectAccountPage, openAccount, pathOf, postAccount, recoveryRowsOf, submitForm, unusedRecoveryCodes } from '../helpers/self-service.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * Recovery ("bypass") codes end to end: generated and downloaded in /account (itself an OIDC
 * sign-in of Twofold), used at sign-in through openid-client, checked in Postgres.
 */

let db: TestDatabase;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
let user: Fixture;
/** The browser signed in to /account. */
let account: UserAgent;
let app: Authenticator;
let env: Record<string, string>;

/** 32 symbols (5 bits each), no look-alikes (I, L, O, U). */
const ALPHABET = 'ABCDEFGHJKMNPQRSTVWXYZ0123456789';
const CODE_FORMAT = /^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_recovery');
  env = { DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets() };
  server = await startTwofold(env);
  client = await confidentialClient(db.url, { firstParty: true });
  // An account that requires MFA: the user enrols a mobile passcode while signing in to /account.
  user = await accountWithUser(db.url, { mfaRequired: true });
  account = new UserAgent();
  const opened = await openAccount(account, server.url, user);
  expectAccountPage(opened.page);
  app = opened.app!;
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

const newRp = (on: TwofoldProcess = server) => RelyingParty.create(on.url, client.clientId, client.clientSecret);

/** The codes listed on the "Your recovery codes" page. */
function codesShown(page: Page): string[] {
  const list = page.html.match(/<ul[^>]*aria-label="Recovery codes"[^>]*>([\s\S]*?)<\/ul>/);
  if (!list) throw new Error(`no list of recovery codes on ${page.url} (${page.status})\n${page.html.slice(0, 1500)}`);
  return [...list[1]!.matchAll(/<code>([^<]+)<\/code>/g)].map((m) => m[1]!.trim());
}

/** "Generate Recovery Codes" in /account with a quantity; returns the page after Generate Codes. */
async function generate(quantity: string): Promise<Page> {
  const form = await account.request(`${server.url}/account/recovery-codes`);
  expect(form.status).toBe(200);
  return account.submit(form, '/account/recovery-codes', { quantity });
}

/** "N left" as the /account page shows it. */
async function leftOnAccountPage(): Promise<number> {
  const page = await account.request(`${server.url}/account`);
  expectAccountPage(page);
  const m = page.html.match(/Recovery codes: <strong>(\d+) left<\/strong>/);
  if (!m) throw new Error(`no recovery code count on /account\n${page.html}`);
  return Number(m[1]);
}

/** A new browser: password, then the MFA challenge with its "Use a recovery code" form. */
async function challenge(on: TwofoldProcess = server) {
  const rp = await newRp(on);
  const { page, finish } = await afterPassword(rp, user);
  expectKind(page, 'challenge');
  return { rp, page, finish };
}

/** A whole sign-in with a recovery code; returns the page after Verify. */
async function useCode(code: string) {
  const c = await challenge();
  expect(c.page.html).toContain('Use a recovery code');
  expect(c.page.html).toContain('<label for="recovery-code">Recovery Code</label>');
  const after = await c.rp.agent.submit(c.page, '/recovery', { code });
  return { ...c, after };
}

async function expectCodeWorks(code: string) {
  const { rp, after, finish } = await useCode(code);
  if (kindOf(after) !== 'callback') throw new Error(`recovery code ${code} refused: ${after.status} ${alertOf(after)}`);
  const tokens = await finish(callbackOf(after));
  const claims = await rp.verifyIdToken(tokens.id_token!);
  expect(claims.sub).toBe(user.userId);
  return claims;
}

async function expectCodeRefused(code: string) {
  const { after } = await useCode(code);
  expectKind(after, 'challenge');
  expect(after.status).toBe(401);
  expect(alertOf(after)).toBe('Invalid code');
}

describe('recovery codes', () => {
  let codes: string[];
  let downloaded: string[];

  test('Generate Recovery Codes: 10 by default, 80-bit codes in groups, stored only as hashes, shown once', async () => {
    const form = await account.request(`${server.url}/account/recovery-codes`);
    expect(form.status).toBe(200);
    expect(form.html).toContain('<label for="quantity">Quantity</label>');
    expect(form.html).toMatch(/<option value="10" selected>10<\/option>/);
    expect(form.html).toMatch(/<button[^>]*>\s*Generate Codes\s*<\/button>/);
    expect(await unusedRecoveryCodes(db.url, user.userId)).toBe(0);

    const shown = await account.submit(form, '/account/recovery-codes', { quantity: '10' });
    expect(shown.status).toBe(200);
    expect(shown.headers.get('cache-control')).toContain('no-store');
    codes = codesShown(shown);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) {
      expect(code).toMatch(CODE_FORMAT);
      for (const ch of code.replace(/-/g, '')) expect(ALPHABET).toContain(ch);
    }
    // 16 symbols of a 32-symbol alphabet = 80 bits. 160 random symbols show nearly all 32;
    // a smaller alphabet (or a fixed part) would show far fewer.
    const symbols = new Set(codes.join('').replace(/-/g, ''));
    expect(symbols.size).toBeGreaterThanOrEqual(24);
    expect(16 * Math.log2(symbols.size)).toBeGreaterThanOrEqual(64);
    expect(shown.html).toMatch(/<button[^>]*>\s*Save Your Codes\s*<\/button>/);

    // Stored only as hashes: no column holds a code in any spelling.
    const rows = await recoveryRowsOf(db.url, user.userId);
    expect(rows).toHaveLength(10);
    const dump = JSON.stringify(rows).toUpperCase();
    for (const code of codes) {
      expect(dump).not.toContain(code);
      expect(dump).not.toContain(code.replace(/-/g, ''));
    }

    // Shown once: neither the form nor the /account page shows them again.
    const again = await account.request(`${server.url}/account/recovery-codes`);
    const accountPage = await account.request(`${server.url}/account`);
    for (const code of codes) {
      expect(again.html).not.toContain(code);
      expect(accountPage.html).not.toContain(code);
    }
    expect(await leftOnAccountPage()).toBe(10);

    // "Save Your Codes": a plain-text attachment, a header naming the user, one code a line.
    const file = await submitForm(account, shown, '/account/recovery-codes/download');
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toMatch(/^text\/plain\b/);
    expect(file.headers.get('content-disposition')).toBe('attachment; filename="recovery-codes.txt"');
    const lines = file.html.split(/\r?\n/);
    const codeLines = lines.filter((l) => CODE_FORMAT.test(l.trim()));
    downloaded = codeLines.map((l) => l.trim());
    expect(downloaded).toEqual(codes);
    // Code lines hold exactly one code and nothing else.
    for (const l of codeLines) expect(l).toMatch(CODE_FORMAT);
    const header = lines.slice(0, lines.indexOf(codeLines[0]!));
    expect(header.join('\n')).toContain(user.username);
    expect(header.join('\n')).toMatch(/\d{4}-\d{2}-\d{2}/);
  });

  test('a downloaded code signs in: amr has otp and mfa, acr aal2; reusing it fails and counts as a failure', async () => {
    expect((await mfaCounters(db.url, user.userId)).failed).toBe(0);
    const claims = await expectCodeWorks(downloaded[3]!);
    expect(claims.acr).toBe('aal2');
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    expect(await unusedRecoveryCodes(db.url, user.userId)).toBe(9);
    expect(await leftOnAccountPage()).toBe(9);

    await expectCodeRefused(downloaded[3]!);
    expect((await mfaCounters(db.url, user.userId)).failed).toBe(1);
    expect(await unusedRecoveryCodes(db.url, user.userId)).toBe(9);
    // A wrong code counts too.
    await expectCodeRefused('ABCD-EFGH-JKMN-PQRS');
    expect((await mfaCounters(db.url, user.userId)).failed).toBe(2);
  });

  test('codes work in any order (lower case and without dashes too), each once', async () => {
    await expectCodeWorks(downloaded[9]!);
    // A success resets the failure counter.
    expect((await mfaCounters(db.url, user.userId)).failed).toBe(0);
    await expectCodeWorks(downloaded[0]!);
    await expectCodeWorks(downloaded[6]!.toLowerCase().replace(/-/g, ''));
    await expectCodeRefused(downloaded[6]!);
    expect(await unusedRecoveryCodes(db.url, user.userId)).toBe(6);
  });

  // The same race with the process on a Redis Cluster (each sign-in's state on its own master).
  describe.each([
    ['one Redis', 7],
    ['a Redis Cluster', 8],
  ])('on %s', (target, codeIndex) => {
    let cluster: TestRedisCluster | undefined;
    let on: TwofoldProcess;
    beforeAll(async () => {
      if (target === 'one Redis') on = server;
      else {
        cluster = await testRedisCluster();
        on = await startTwofold({ ...env, REDIS_URL: cluster.url });
      }
    });
    afterAll(async () => {
      if (cluster) await on.stop();
      await cluster?.close();
    });

    test('two parallel uses of one code from two sign-ins: exactly one succeeds', async () => {
      const failedBefore = (await mfaCounters(db.url, user.userId)).failed;
      const unusedBefore = await unusedRecoveryCodes(db.url, user.userId);
      const [a, b] = await Promise.all([challenge(on), challenge(on)]);
      const code = downloaded[codeIndex]!;
      const results = await Promise.all([a.rp.agent.submit(a.page, '/recovery', { code }), b.rp.agent.submit(b.page, '/recovery', { code })]);
      const kinds = results.map(kindOf).sort();
      expect(kinds).toEqual(['callback', 'challenge']);
      const loser = results.find((p) => kindOf(p) === 'challenge')!;
      expect(loser.status).toBe(401);
      expect(alertOf(loser)).toBe('Invalid code');
      expect(await unusedRecoveryCodes(db.url, user.userId)).toBe(unusedBefore - 1);
      // The loser counted as a failure unless the winner's reset came after it.
      expect((await mfaCounters(db.url, user.userId)).failed).toBeLessThanOrEqual(failedBefore + 1);
    });
  });

  test('quantity 0, 11 and "abc" posted directly: 422 with a clear message, the stored set unchanged', async () => {
    const before = await recoveryRowsOf(db.url, user.userId);
    const form = await account.request(`${server.url}/account/recovery-codes`);
    for (const quantity of ['0', '11', 'abc', '', '-1', '2.5']) {
      const page = await postAccount(account, form, '/account/recovery-codes', { quantity });
      expect(page.status).toBe(422);
      expect(pathOf(page)).toBe('/account/recovery-codes');
      expect(alertOf(page)).toBe('Choose a quantity from 1 to 10.');
      expect(page.html).not.toMatch(/aria-label="Recovery codes"/);
      expect(await recoveryRowsOf(db.url, user.userId)).toEqual(before);
    }
    // The control: the same request with a valid quantity is accepted (see the next test).
  });

  test('regenerating (quantity 3) replaces the whole set; with two or fewer left the sign-in says so', async () => {
    const shown = await generate('3');
    expect(shown.status).toBe(200);
    const fresh = codesShown(shown);
    expect(fresh).toHaveLength(3);
    const rows = await recoveryRowsOf(db.url, user.userId);
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => !r.used)).toBe(true);
    expect(await leftOnAccountPage()).toBe(3);

    // Unused codes of the old set are dead.
    await expectCodeRefused(downloaded[1]!);
    await expectCodeRefused(downloaded[4]!);

    // Three left: no warning on the challenge page.
    const { page: three } = await challenge();
    expect(three.html).not.toMatch(/recovery codes? left/);
    await expectCodeWorks(fresh[1]!);
    expect(await unusedRecoveryCodes(db.url, user.userId)).toBe(2);
    expect(await leftOnAccountPage()).toBe(2);
    const { page: two } = await challenge();
    expect(two.html).toContain('You have 2 recovery codes left.');
    await expectCodeWorks(fresh[2]!);
    const { page: one } = await challenge();
    expect(one.html).toContain('You have 1 recovery code left.');
    expect(await leftOnAccountPage()).toBe(1);

    // The mobile passcode still works alongside (the codes did not replace the device).
    const { rp, page, finish } = await challenge();
    const done = await rp.agent.submit(page, '/mfa', { code: await app.next() });
    const claims = await rp.verifyIdToken((await finish(callbackOf(done))).id_token!);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
  });
});
