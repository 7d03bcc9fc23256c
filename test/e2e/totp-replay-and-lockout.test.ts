import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { enrolThroughSignIn, expectKind, expectTwofoldPage, kindOf, mfaCounters, submitPassword, type Authenticator } from '../helpers/mfa.js';
import { accountWithUser, cli, confidentialClient, type Fixture } from '../helpers/provision.js';
import { testRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import type { Page } from '../helpers/user-agent.js';

let db: TestDatabase;
let serverA: TwofoldProcess;
let serverB: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
let env: Record<string, string>;
/**
 * Every browser of this file comes from its own address (X-Forwarded-For behind TRUST_PROXY),
 * so the per-IP password throttle, shared through Redis with other suites, never interferes.
 */
const ip = `10.${crypto.randomInt(256)}.${crypto.randomInt(256)}.${crypto.randomInt(1, 255)}`;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_lockout');
  const secrets = clusterSecrets();
  env = { DATABASE_URL: db.url, REDIS_URL, TRUST_PROXY: 'true', ...secrets };
  // Two processes on one database and one Redis, as behind a load balancer.
  [serverA, serverB] = await Promise.all([startTwofold(env), startTwofold(env)]);
  client = await confidentialClient(db.url, { firstParty: true });
});

afterAll(async () => {
  await Promise.all([serverA?.stop(), serverB?.stop()]);
  await db?.drop();
});

async function browser(server: TwofoldProcess = serverA): Promise<RelyingParty> {
  const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
  rp.agent.headers['x-forwarded-for'] = ip;
  return rp;
}

/** A user (MFA required) enrolled with one mobile passcode device. */
async function enrolledUser(): Promise<{ user: Fixture; app: Authenticator }> {
  const user = await accountWithUser(db.url, { mfaRequired: true });
  const { app } = await enrolThroughSignIn(await browser(), user);
  return { user, app };
}

/** A new browser that signed in with the password and now sees the MFA challenge. */
async function atChallenge(user: Fixture, server: TwofoldProcess = serverA) {
  const rp = await browser(server);
  const { page, finish } = await rp.start();
  const challenge = await submitPassword(rp.agent, page, user);
  expectTwofoldPage(challenge, server.url, 'challenge');
  return { rp, challenge, finish };
}

function expectInvalidCode(page: Page): void {
  expect(page.status).toBe(401);
  expectKind(page, 'challenge');
  expect(page.html).toContain('Invalid code');
}

function expectLockedPage(page: Page): void {
  expect(page.status).toBe(423);
  expect(page.html).toMatch(/locked/i);
  expect(page.html).toMatch(/contact support/i);
  // The locked page offers nothing to type a code or password into.
  expect(page.html).not.toContain('name="code"');
  expect(page.html).not.toContain('name="password"');
}

describe('replay: each time step of a device is accepted once', () => {
  test('the same code twice, one after the other: the second is refused', async () => {
    const { user, app } = await enrolledUser();
    const code = await app.next();
    const first = await atChallenge(user);
    const tokens = await first.finish(callbackOf(await first.rp.agent.submit(first.challenge, '/mfa', { code })));
    expect((await first.rp.verifyIdToken(tokens.id_token!)).acr).toBe('aal2');

    const second = await atChallenge(user);
    const replay = await second.rp.agent.submit(second.challenge, '/mfa', { code });
    expectInvalidCode(replay);
    // A fresh code in the same interaction still works.
    const ok = await second.rp.agent.submit(replay, '/mfa', { code: await app.next() });
    expect(kindOf(ok)).toBe('callback');
  });

  test('the same code in parallel from several interactions (both processes): exactly one succeeds', async () => {
    // Two rounds, each with its own user and six sign-ins racing with one code. Every loser is
    // a wrong code (five per user: below the lock).
    for (let round = 0; round < 2; round++) {
      const { user, app } = await enrolledUser();
      const racers = await Promise.all(Array.from({ length: 6 }, (_, i) => atChallenge(user, i % 2 === 0 ? serverA : serverB)));
      const code = await app.next();
      const results = await Promise.all(racers.map((r) => r.rp.agent.submit(r.challenge, '/mfa', { code })));
      const kinds = results.map(kindOf).sort();
      expect({ round, kinds }).toEqual({ round, kinds: ['callback', 'challenge', 'challenge', 'challenge', 'challenge', 'challenge'] });
      for (const page of results.filter((p) => kindOf(p) === 'challenge')) expectInvalidCode(page);
      expect(await mfaCounters(db.url, user.userId)).toMatchObject({ lockedAt: null });
    }
  });
});

describe('lockout after the 7th consecutive wrong code', () => {
  test('6 wrong codes then the right one: signed in, and the counter is reset', async () => {
    const { user, app } = await enrolledUser();
    let { rp, challenge, finish } = await atChallenge(user);
    for (let i = 1; i <= 6; i++) {
      challenge = await rp.agent.submit(challenge, '/mfa', { code: app.wrongCode() });
      expectInvalidCode(challenge);
    }
    expect(await mfaCounters(db.url, user.userId)).toMatchObject({ failed: 6, lockedAt: null });
    const tokens = await finish(callbackOf(await rp.agent.submit(challenge, '/mfa', { code: await app.next() })));
    expect((await rp.verifyIdToken(tokens.id_token!)).acr).toBe('aal2');
    expect(await mfaCounters(db.url, user.userId)).toMatchObject({ failed: 0, lockedAt: null });

    // The counter starts again from zero: six more wrong codes still do not lock.
    ({ rp, challenge } = await atChallenge(user));
    for (let i = 1; i <= 6; i++) challenge = await rp.agent.submit(challenge, '/mfa', { code: app.wrongCode() });
    expectInvalidCode(challenge);
    expect(await mfaCounters(db.url, user.userId)).toMatchObject({ failed: 6, lockedAt: null });
  });

  test('7 wrong codes lock the user; password + right code are refused until `twofold user unlock`', async () => {
    const { user, app } = await enrolledUser();

    // Wrong passwords never feed the MFA counter.
    const probe = await browser();
    let login = (await probe.start()).page;
    for (let i = 0; i < 3; i++) {
      login = await probe.agent.submit(login, '/login', { username: user.username, password: `wrong password ${i}` });
      expect(login.status).toBe(401);
      expectKind(login, 'login');
    }
    expect(await mfaCounters(db.url, user.userId)).toMatchObject({ failed: 0, lockedAt: null });

    let { rp, challenge } = await atChallenge(user);
    for (let i = 1; i <= 6; i++) {
      challenge = await rp.agent.submit(challenge, '/mfa', { code: app.wrongCode() });
      expectInvalidCode(challenge);
    }
    const locked = await rp.agent.submit(challenge, '/mfa', { code: app.wrongCode() });
    expectLockedPage(locked);
    const counters = await mfaCounters(db.url, user.userId);
    expect(counters.failed).toBe(7);
    expect(counters.lockedAt).toBeInstanceOf(Date);

    // The right code in the same interaction is refused too (the locked sign-in is over).
    const after = await rp.agent.submit(challenge, '/mfa', { code: await app.next() });
    expectTwofoldPage(after, serverA.url);
    expect([400, 423]).toContain(after.status);

    // A new sign-in: a wrong password gives the generic error (the lock is not revealed)...
    const next = await browser();
    const { page } = await next.start();
    const wrong = await next.agent.submit(page, '/login', { username: user.username, password: 'not the password' });
    expect(wrong.status).toBe(401);
    expectKind(wrong, 'login');
    expect(wrong.html).toContain('Invalid username or password.');
    expect(wrong.html).not.toMatch(/locked/i);
    // ...and the right password shows the locked page right away, with no code field.
    expectLockedPage(await submitPassword(next.agent, wrong, user));
    expect(await mfaCounters(db.url, user.userId)).toMatchObject({ failed: 7 });

    // Support unlocks: the counter is reset and the user signs in with password + code.
    await cli(db.url, ['user', 'unlock', user.username]);
    expect(await mfaCounters(db.url, user.userId)).toEqual({ failed: 0, lockedAt: null, lockedReason: null });
    const again = await atChallenge(user);
    const tokens = await again.finish(callbackOf(await again.rp.agent.submit(again.challenge, '/mfa', { code: await app.next() })));
    expect((await again.rp.verifyIdToken(tokens.id_token!)).acr).toBe('aal2');
  });

  // The same race with both processes on a Redis Cluster (sign-in state spread over its masters).
  describe.each(['one Redis', 'a Redis Cluster'])('on %s', (target) => {
    let cluster: TestRedisCluster | undefined;
    let nodes: [TwofoldProcess, TwofoldProcess];
    beforeAll(async () => {
      if (target === 'one Redis') nodes = [serverA, serverB];
      else {
        cluster = await testRedisCluster();
        const onCluster = { ...env, REDIS_URL: cluster.url };
        nodes = await Promise.all([startTwofold(onCluster), startTwofold(onCluster)]);
      }
    });
    afterAll(async () => {
      if (cluster) await Promise.all(nodes.map((n) => n.stop()));
      await cluster?.close();
    });

    test('20 wrong codes in parallel across two processes: locked at exactly the 7th; a right code afterwards is refused', async () => {
      const { user, app } = await enrolledUser();
      // 21 sign-ins at the challenge step, spread over both processes.
      const sessions = await Promise.all(Array.from({ length: 21 }, (_, i) => atChallenge(user, nodes[i % 2]!)));
      const late = sessions.pop()!;
      const wrong = app.wrongCode();
      const results = await Promise.all(sessions.map((s) => s.rp.agent.submit(s.challenge, '/mfa', { code: wrong })));
      const statuses = results.map((p) => p.status);
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      // Six "Invalid code" pages, then the lock for the 7th and for everything after it.
      expect(statuses.filter((s) => s === 401)).toHaveLength(6);
      expect(statuses.filter((s) => s === 423)).toHaveLength(14);
      const counters = await mfaCounters(db.url, user.userId);
      expect(counters.failed).toBe(7);
      expect(counters.lockedAt).toBeInstanceOf(Date);
      expect(counters.lockedReason).toBeTruthy();

      // A right code from a sign-in that reached the challenge before the lock: refused.
      const refused = await late.rp.agent.submit(late.challenge, '/mfa', { code: await app.next() });
      expectLockedPage(refused);
      expect(await mfaCounters(db.url, user.userId)).toMatchObject({ failed: 7 });
    });
  });

  test('refresh tokens of a user who is then locked stop working', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const rp = await browser();
    const { app, tokens } = await enrolThroughSignIn(rp, user);
    expect(tokens.refresh_token).toBeDefined();
    // Refresh works while the user is not locked.
    const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeDefined();

    let { rp: other, challenge } = await atChallenge(user, serverB);
    for (let i = 0; i < 7; i++) challenge = await other.agent.submit(challenge, '/mfa', { code: app.wrongCode() });
    expectLockedPage(challenge);

    await expect(oidc.refreshTokenGrant(rp.config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The browser session that had MFA is over as well: back to a Twofold page, not the RP.
    const again = await rp.start();
    expectTwofoldPage(again.page, serverA.url);
  });
});
