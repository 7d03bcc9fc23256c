import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { beginTotpEnrolment, expectTwofoldPage, kindOf, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, freePort, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

/**
 * Two Twofold processes on different ports behind one public ISSUER (A's address), sharing
 * Postgres, Redis and the operator's secrets, as N nodes behind a load balancer. The user
 * agent addresses the ISSUER (so cookies and redirects are those of one site) and `route`
 * plays the load balancer: it sends each request to the process the test chooses, with
 * X-Forwarded-Host naming the public host (TRUST_PROXY=true, as behind a real one).
 */
let db: TestDatabase;
let a: TwofoldProcess;
let b: TwofoldProcess;
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_nodes');
  const portA = await freePort();
  const issuer = `http://127.0.0.1:${portA}`;
  const env = { DATABASE_URL: db.url, REDIS_URL, ISSUER: issuer, TRUST_PROXY: 'true', ...clusterSecrets() };
  // Started together on an empty database: both migrate and agree on the signing keys.
  [a, b] = await Promise.all([startTwofold(env, { port: portA }), startTwofold(env)]);
  console.log(`Twofold cold start: process A ${a.coldStartMs} ms, process B ${b.coldStartMs} ms (started together on an empty database)`);
  client = await confidentialClient(db.url, { firstParty: true });
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await db?.drop();
});

const publicHost = () => new URL(a.url).host;
const asBalanced = { 'x-forwarded-host': '', 'x-forwarded-proto': 'http' };

/** The load balancer: a request for the ISSUER goes to `target`'s port. */
function routeTo(rp: RelyingParty, target: TwofoldProcess, log?: string[]) {
  Object.assign(rp.agent.headers, asBalanced, { 'x-forwarded-host': publicHost() });
  rp.agent.route = (url) => {
    if (url.origin !== a.url) return url;
    const routed = new URL(url);
    routed.port = String(target.port);
    log?.push(`${target === a ? 'A' : 'B'} ${url.pathname.replace(/\/interaction\/[^/]+/, '/interaction/:uid').replace(/\/auth\/[^/]+$/, '/auth/:uid')}`);
    return routed;
  };
}

describe('two processes sharing Postgres and Redis', () => {
  test('both serve the same JWKS and discovery', async () => {
    const [jwksA, jwksB] = await Promise.all([fetch(`${a.url}/jwks`), fetch(`${b.url}/jwks`)]);
    expect(jwksA.status).toBe(200);
    expect(jwksB.status).toBe(200);
    const [bodyA, bodyB] = [await jwksA.json(), await jwksB.json()] as Array<{ keys: Array<{ kid: string; d?: string }> }>;
    expect(bodyA.keys.length).toBeGreaterThan(0);
    expect(bodyB).toEqual(bodyA);
    // Public keys only.
    for (const key of bodyA.keys) expect(key.d).toBeUndefined();
    // Discovery through the balancer (the public host) is the same whichever process answers.
    const discovery = (p: TwofoldProcess) =>
      fetch(`${p.url}/.well-known/openid-configuration`, { headers: { ...asBalanced, 'x-forwarded-host': publicHost() } }).then((r) => r.json());
    const [discoA, discoB] = await Promise.all([discovery(a), discovery(b)]);
    expect((discoA as { issuer: string }).issuer).toBe(a.url);
    expect(discoB).toEqual(discoA);
  });

  test('an interaction started on A finishes on B (password and forced enrolment), and the ID token verifies with either JWKS', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const rp = await RelyingParty.create(a.url, client.clientId, client.clientSecret);
    const log: string[] = [];

    routeTo(rp, a, log);
    const { page: login, finish } = await rp.start();
    expectTwofoldPage(login, a.url, 'login');

    // Every later step of the sign-in is served by B.
    routeTo(rp, b, log);
    const notice = await submitPassword(rp.agent, login, user);
    expectTwofoldPage(notice, a.url, 'notice');
    const { page: enrol, app } = await beginTotpEnrolment(rp.agent, notice);
    const done = await rp.agent.submit(enrol, '/enrol/verify', { code: await app.next() });
    expect(log.slice(0, 2)).toEqual(['A /auth', 'A /interaction/:uid']);
    expect(log.slice(2).every((l) => l.startsWith('B '))).toBe(true);
    expect(log).toContain('B /auth/:uid');
    // The token request goes to A (openid-client talks to the ISSUER).
    const tokens = await finish(callbackOf(done));
    const claims = await rp.verifyIdToken(tokens.id_token!);
    expect(claims.sub).toBe(user.userId);
    expect(claims.acr).toBe('aal2');
    // The ID token verifies against B's JWKS as well.
    const jwksB = (await (await fetch(`${b.url}/jwks`)).json()) as JSONWebKeySet;
    const verified = await jwtVerify(tokens.id_token!, createLocalJWKSet(jwksB), { issuer: a.url, audience: client.clientId });
    expect(verified.payload.sub).toBe(user.userId);

    // A later sign-in alternating between the processes request by request.
    const next = await RelyingParty.create(a.url, client.clientId, client.clientSecret);
    let turn = 0;
    const hits = { A: 0, B: 0 };
    Object.assign(next.agent.headers, asBalanced, { 'x-forwarded-host': publicHost() });
    next.agent.route = (url) => {
      if (url.origin !== a.url) return url;
      const target = turn++ % 2 === 0 ? a : b;
      hits[target === a ? 'A' : 'B']++;
      const routed = new URL(url);
      routed.port = String(target.port);
      return routed;
    };
    const second = await next.start();
    const challenge = await submitPassword(next.agent, second.page, user);
    expect(kindOf(challenge)).toBe('challenge');
    const tokens2 = await second.finish(callbackOf(await next.agent.submit(challenge, '/mfa', { code: await app.next() })));
    expect((await next.verifyIdToken(tokens2.id_token!)).acr).toBe('aal2');
    expect(hits.A).toBeGreaterThan(0);
    expect(hits.B).toBeGreaterThan(0);
  });
});
