import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oidc from 'openid-client';
import { adminParams, api, enrolAndSignIn, expectStatus, type SignedIn } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { enrolThroughSignIn, expectKind, kindOf, mfaCounters, submitPassword, toCallback, type Authenticator } from '../helpers/mfa.js';
import { accountWithUser, cli, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { totp } from '../helpers/rfc6238.js';
import { inBatches, moreUsers, percentile, PIN_HEADER, startBalancer, type Balancer } from '../helpers/reliability.js';
import { clusterSecrets, freePort, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

/**
 * Three Twofold processes on one Postgres database and one Redis, with the same operator
 * secrets and one public ISSUER: the address of a small round-robin load balancer written for
 * this test (node:http on 127.0.0.1), which forwards each request to the next node, so every
 * sign-in's steps land on different nodes. Tests that need a given node pin a request to it
 * with a header the balancer strips.
 *
 *  - 200 concurrent sign-ins (password + TOTP) through openid-client, one pre-enrolled user
 *    each (a TOTP time step is single-use per device): no errors; count, errors and p99 printed;
 *  - lockout is exact across nodes: 20 parallel wrong codes spread over the 3 nodes leave
 *    failed_mfa_attempts at exactly 7 (6 "Invalid code", 14 locked);
 *  - a policy change made through one node signs users out on all of them.
 */

const LOAD = 200;
const STEP_MS = 30_000;
let db: TestDatabase;
let nodes: TwofoldProcess[];
let balancer: Balancer;
let issuer: string;
let client: { clientId: string; clientSecret: string };
const figures: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase('twofold_rel_nodes');
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const env = { DATABASE_URL: db.url, REDIS_URL, ISSUER: issuer, ...clusterSecrets(), ENTRY_RATE_LIMIT: '1000000', LOG_LEVEL: 'warn' };
  // Started together on an empty database: all three migrate and agree on the signing keys.
  nodes = await Promise.all([startTwofold(env), startTwofold(env), startTwofold(env)]);
  balancer = await startBalancer(
    nodes.map((n) => n.port),
    port,
  );
  client = await confidentialClient(db.url, { firstParty: true });
}, 60_000);

afterAll(async () => {
  await balancer?.close();
  await Promise.all((nodes ?? []).map((n) => n.stop()));
  await db?.drop();
  if (figures.length > 0) console.log(figures.join('\n'));
});

const rpFor = () => RelyingParty.create(issuer, client.clientId, client.clientSecret);

/** Every request of this browser (and of its RP's token calls) goes to node `index`. */
function pin(rp: RelyingParty, index: number): void {
  rp.agent.headers[PIN_HEADER] = String(index);
}

/** An openid-client configuration whose token endpoint calls go to node `index`. */
function tokenCallsTo(rp: RelyingParty, index: number): oidc.Configuration {
  const config = new oidc.Configuration(rp.config.serverMetadata(), client.clientId, undefined, oidc.ClientSecretBasic(client.clientSecret));
  oidc.allowInsecureRequests(config);
  config[oidc.customFetch] = (url, options) => fetch(url, { ...options, headers: { ...(options.headers as Record<string, string>), [PIN_HEADER]: String(index) } });
  return config;
}

describe('three nodes behind a round-robin balancer', () => {
  test(`${LOAD} concurrent sign-ins with password + TOTP through openid-client: no errors`, async () => {
    const template = await accountWithUser(db.url, { mfaRequired: true });
    const users = await moreUsers(db.url, template, LOAD - 1, 'load');
    users.unshift(template);
    // Each user enrols a Mobile Passcode through the real forced enrolment (through the balancer).
    const apps: Authenticator[] = [];
    const enrolledAt: number[] = [];
    const enrolStart = Date.now();
    await inBatches(users, 25, async (user, i) => {
      apps[i] = (await enrolThroughSignIn(await rpFor(), user)).app;
      enrolledAt[i] = Date.now();
    });
    const enrolSeconds = (Date.now() - enrolStart) / 1000;

    const rps = await Promise.all(users.map(() => rpFor()));
    const before = [...balancer.forwarded];
    const latencies: number[] = [];
    const errors: string[] = [];
    const idTokens: string[] = [];
    const started = Date.now();
    await Promise.all(
      users.map(async (user, i) => {
        const t0 = Date.now();
        try {
          const rp = rps[i]!;
          const { page, finish } = await rp.start();
          const challenge = await submitPassword(rp.agent, page, user);
          expectKind(challenge, 'challenge');
          // The code an authenticator app shows now (a later step than the enrolment's), so that
          // a request queued for many seconds under this load still lands within the ±1 window.
          const step = Math.max(Math.floor(enrolledAt[i]! / STEP_MS) + 1, Math.floor(Date.now() / STEP_MS));
          const done = await rp.agent.submit(challenge, '/mfa', { code: totp(apps[i]!.secret, step * STEP_MS) });
          const tokens = await finish(await toCallback(rp.agent, done));
          latencies.push(Date.now() - t0);
          idTokens.push(tokens.id_token!);
        } catch (err) {
          const cause = (err as { cause?: { code?: string; message?: string } }).cause;
          errors.push(`${user.username}: ${(err as Error).message.slice(0, 300)}${cause ? ` (${cause.code ?? cause.message})` : ''} after ${Date.now() - t0} ms`);
        }
      }),
    );
    const wallSeconds = (Date.now() - started) / 1000;
    const perNode = balancer.forwarded.map((n, i) => n - before[i]!);
    figures.push(
      `three-node load: ${LOAD} concurrent sign-ins (password + TOTP, openid-client): ${latencies.length} ok, ${errors.length} errors; ` +
        `p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${Math.max(...latencies)} ms; ${wallSeconds.toFixed(1)} s in all; ` +
        `requests per node ${perNode.join(' / ')}; enrolment of ${LOAD} users took ${enrolSeconds.toFixed(1)} s`,
    );
    if (balancer.failureCodes.length > 0) console.log(balancer.failureCodes.join('\n'));
    expect(errors).toEqual([]);
    expect(latencies).toHaveLength(LOAD);
    expect(balancer.failures).toBe(0);
    // The balancer really spread the load.
    for (const n of perNode) expect(n).toBeGreaterThan(LOAD);
    // Every ID token is aal2, for its own user, and verifies with the keys every node publishes.
    const jwks = await Promise.all(nodes.map(async (n) => (await (await fetch(`${n.url}/jwks`)).json()) as JSONWebKeySet));
    expect(jwks[1]).toEqual(jwks[0]);
    expect(jwks[2]).toEqual(jwks[0]);
    const keys = createLocalJWKSet(jwks[0]!);
    const subjects = new Set<string>();
    for (const token of idTokens) {
      const { payload } = await jwtVerify(token, keys, { issuer, audience: client.clientId });
      expect(payload.acr).toBe('aal2');
      subjects.add(String(payload.sub));
    }
    expect(subjects.size).toBe(LOAD);
  }, 110_000);

  test('lockout is exact across nodes: 20 parallel wrong codes over 3 nodes → failed_mfa_attempts exactly 7', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const { app } = await enrolThroughSignIn(await rpFor(), user);
    // 20 browsers at the MFA challenge (each its own interaction).
    const racers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const rp = await rpFor();
        const { page } = await rp.start();
        const challenge = await submitPassword(rp.agent, page, user);
        expectKind(challenge, 'challenge');
        pin(rp, i % 3);
        return { rp, challenge };
      }),
    );
    const before = [...balancer.forwarded];
    const wrong = app.wrongCode();
    const results = await Promise.all(racers.map((r) => r.rp.agent.submit(r.challenge, '/mfa', { code: wrong })));
    const perNode = balancer.forwarded.map((n, i) => n - before[i]!);
    expect(perNode).toEqual([7, 7, 6]);
    const statuses = results.map((p) => p.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(6);
    expect(statuses.filter((s) => s === 423)).toHaveLength(14);
    for (const p of results.filter((r) => r.status === 401)) expect(p.html).toContain('Invalid code');
    for (const p of results.filter((r) => r.status === 423)) expect(p.html).toMatch(/locked/i);
    const counters = await mfaCounters(db.url, user.userId);
    expect(counters.failed).toBe(7);
    expect(counters.lockedAt).toBeInstanceOf(Date);
    figures.push(
      `lockout across nodes: 20 parallel wrong codes (${perNode.join(' / ')} per node) → failed_mfa_attempts ${counters.failed}, ${statuses.filter((s) => s === 401).length} × 401, ${statuses.filter((s) => s === 423).length} × 423`,
    );
  }, 60_000);

  test('a policy change through one node signs users out on all of them', async () => {
    // The admin enrolled while the account required MFA; then the operator turned it off.
    const admin = await accountWithUser(db.url, { mfaRequired: true, role: 'admin' });
    const adminSession: SignedIn = await enrolAndSignIn(issuer, client, admin, adminParams(issuer));
    await cli(db.url, ['account', 'set-mfa-required', admin.accountId, 'false']);
    const users: Fixture[] = await moreUsers(db.url, admin, 3, 'policy');

    // User i signs in (password only) entirely on node i: a browser session and a refresh token made there.
    const sessions = await Promise.all(
      users.map(async (user, i) => {
        const rp = await rpFor();
        pin(rp, i);
        const { page, finish } = await rp.start();
        const done = await submitPassword(rp.agent, page, user);
        const tokens = await finish(await toCallback(rp.agent, done));
        expect(tokens.refresh_token).toBeDefined();
        return { user, rp, refreshToken: tokens.refresh_token };
      }),
    );
    // Before: every node knows every session (a silent sign-in goes straight back to the RP),
    // and a refresh token made on one node refreshes on another (it rotates: keep the new one).
    for (const [i, s] of sessions.entries()) {
      for (let node = 0; node < 3; node++) {
        pin(s.rp, node);
        expect({ node, kind: kindOf((await s.rp.start()).page) }).toEqual({ node, kind: 'callback' });
      }
      s.refreshToken = (await oidc.refreshTokenGrant(tokenCallsTo(s.rp, (i + 1) % 3), s.refreshToken!)).refresh_token;
      expect(s.refreshToken).toBeDefined();
    }

    // The admin turns the requirement on through node 1.
    const changed = await api(issuer, adminSession.accessToken, 'PUT', `/accounts/${admin.accountId}/mfa-policy`, {
      json: { mfaRequired: true },
      headers: { [PIN_HEADER]: '1' },
    });
    expectStatus(changed, 200);

    // After: each user's browser is sent back to sign in, on a node other than its own first,
    // then on every node; refresh tokens fail on every node.
    for (const [i, s] of sessions.entries()) {
      for (const node of [(i + 1) % 3, (i + 2) % 3, i]) {
        pin(s.rp, node);
        const { page } = await s.rp.start();
        expect({ user: i, node, kind: kindOf(page), status: page.status }).toEqual({ user: i, node, kind: 'login', status: 200 });
      }
      for (let node = 0; node < 3; node++) {
        await expect(oidc.refreshTokenGrant(tokenCallsTo(s.rp, node), s.refreshToken!)).rejects.toMatchObject({ error: 'invalid_grant' });
      }
    }
    // And the admin's own token (issued before the change) is refused by every node.
    for (let node = 0; node < 3; node++) {
      const res = await api(issuer, adminSession.accessToken, 'GET', `/accounts/${admin.accountId}/mfa-policy`, { headers: { [PIN_HEADER]: String(node) } });
      expect({ node, status: res.status }).toEqual({ node, status: 401 });
    }
  }, 60_000);
});
