import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import * as oidc from 'openid-client';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { enrolThroughSignIn, submitPassword, toCallback } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { startPrivateRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

/**
 * One Twofold process on a Redis Cluster of three masters that this file starts itself (it
 * kills one of them): a password + TOTP sign-in and refresh through openid-client, keys spread
 * over the masters, and a master's outage (503 from /readyz and from pages) and recovery.
 */

let cluster: TestRedisCluster;
let db: TestDatabase;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
let prefix: string;
let plain: Fixture;

beforeAll(async () => {
  [cluster, db] = await Promise.all([startPrivateRedisCluster(), createTestDatabase('twofold_rel_cluster')]);
  const secrets = clusterSecrets();
  prefix = secrets.REDIS_KEY_PREFIX!;
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL: cluster.url, ...secrets, LOG_LEVEL: 'warn' });
  client = await confidentialClient(db.url, { firstParty: true });
  plain = await accountWithUser(db.url, { mfaRequired: false });
}, 60_000);

/** A failed outage test must not leave a master down for the next one. */
afterEach(async () => {
  for (const [i, port] of cluster.ports.entries()) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const up = await probe.connect().then(
      () => true,
      () => false,
    );
    probe.disconnect();
    if (!up) await cluster.startMaster(i);
  }
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
  await cluster?.close();
});

const newRp = () => RelyingParty.create(server.url, client.clientId, client.clientSecret);
const readyz = async () => (await fetch(`${server.url}/readyz`)).status;

/** A password sign-in through openid-client, to the ID token. */
async function passwordSignIn(): Promise<void> {
  const rp = await newRp();
  const { page, finish } = await rp.start();
  const done = await submitPassword(rp.agent, page, plain);
  const tokens = await finish(await toCallback(rp.agent, done));
  expect((await rp.verifyIdToken(tokens.id_token!)).sub).toBe(plain.userId);
}

/** Our keys on each master. */
async function keysPerMaster(): Promise<number[]> {
  return Promise.all(
    cluster.ports.map(async (port) => {
      const node = new Redis(port, '127.0.0.1');
      try {
        return (await node.keys(`${prefix}*`)).length;
      } finally {
        node.disconnect();
      }
    }),
  );
}

async function until(what: string, limitMs: number, ok: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await ok().catch(() => false))) {
    if (Date.now() - started > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

describe('Twofold on a Redis Cluster', () => {
  test('password + TOTP sign-in, refresh, and a replayed refresh token ends the grant', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: true });
    const rp = await newRp();
    const { tokens } = await enrolThroughSignIn(rp, user);
    const claims = await rp.verifyIdToken(tokens.id_token!);
    expect(claims.sub).toBe(user.userId);
    expect(claims.acr).toBe('aal2');

    const first = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
    const second = await oidc.refreshTokenGrant(rp.config, first.refresh_token!);
    expect(second.access_token).toBeDefined();
    expect((await oidc.fetchUserInfo(rp.config, second.access_token, user.userId)).sub).toBe(user.userId);

    // Reuse of a rotated refresh token revokes the grant: every token of it, wherever it is stored.
    await expect(oidc.refreshTokenGrant(rp.config, first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(rp.config, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(rp.config, second.access_token, user.userId)).rejects.toBeDefined();
  });

  test('keys land on more than one master', async () => {
    await Promise.all(Array.from({ length: 5 }, () => passwordSignIn()));
    const counts = await keysPerMaster();
    expect(counts.filter((n) => n > 0).length).toBeGreaterThan(1);
  });

  test('a master down: /readyz answers 503, and requests that need its keys 503, never 500; after it is back, sign-ins work again', async () => {
    expect(await readyz()).toBe(200);
    await cluster.stopMaster(1);
    const noticed = await until('/readyz answering 503', 3_000, async () => (await readyz()) === 503);
    // A third of the slots are unreachable: a sign-in whose keys land there answers 503; one
    // whose keys live elsewhere may still be served.
    const statuses: number[] = [];
    let unavailable = '';
    await until('ten sign-in pages, one of them a 503', 20_000, async () => {
      const { page } = await (await newRp()).start();
      statuses.push(page.status);
      if (page.status === 503) unavailable = page.html;
      return statuses.length >= 10 && unavailable !== '';
    });
    if (statuses.some((s) => s !== 200 && s !== 503)) throw new Error(`statuses during the outage: ${statuses.join(' ')}\n${server.output().slice(-3000)}`);
    expect(unavailable).toMatch(/temporarily unavailable/i);

    await cluster.startMaster(1);
    const ms = await until('/readyz answering 200', 10_000, async () => (await readyz()) === 200);
    console.log(`Redis Cluster master down → /readyz 503 after ${(noticed / 1000).toFixed(2)} s; master back → 200 after ${(ms / 1000).toFixed(2)} s`);
    for (let i = 0; i < 5; i++) await passwordSignIn();
  });
});
