import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisStore } from '../../../src/storage/redis-store.js';
import { createAdapterClass, type OidcAdapterClass } from '../../../src/oidc/storage-adapter.js';
import { storeFactories, type Store } from '../../helpers/ephemeral-stores.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const id = () => randomBytes(8).toString('hex');

describe.each(storeFactories)('storage contract: %s', (_name, factory) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let Adapter: OidcAdapterClass;
  const clients: Record<string, Record<string, unknown>> = { 'client-1': { client_id: 'client-1', redirect_uris: [] } };
  const findClient = jest.fn(async (clientId: string) => clients[clientId]);

  beforeAll(async () => {
    ({ store, cleanup } = await factory());
    Adapter = createAdapterClass(store, { findClient });
  });
  afterAll(() => cleanup());

  describe('EphemeralStore', () => {
    it('set / get / ttlMs', async () => {
      expect(await store.get('k:absent')).toBeNull();
      expect(await store.ttlMs('k:absent')).toBe(-2);

      await store.set('{k}:plain', 'v1');
      expect(await store.get('{k}:plain')).toBe('v1');
      expect(await store.ttlMs('{k}:plain')).toBe(-1);

      await store.set('{k}:ttl', 'v2', 30);
      expect(await store.get('{k}:ttl')).toBe('v2');
      const ttl = await store.ttlMs('{k}:ttl');
      expect(ttl).toBeGreaterThan(29_000);
      expect(ttl).toBeLessThanOrEqual(30_000);

      // A plain SET drops the previous expiry, as in Redis.
      await store.set('{k}:ttl', 'v3');
      expect(await store.ttlMs('{k}:ttl')).toBe(-1);

      // Deleting two keys in one command: on a cluster they share a hash tag.
      await store.del('{k}:plain', '{k}:ttl');
      expect(await store.get('{k}:plain')).toBeNull();
      expect(await store.get('{k}:ttl')).toBeNull();
    });

    it('expires values', async () => {
      await store.set('k:short', 'v', 1);
      await sleep(1100);
      expect(await store.get('k:short')).toBeNull();
      expect(await store.ttlMs('k:short')).toBe(-2);
    });

    it('setIfAbsent sets once', async () => {
      expect(await store.setIfAbsent('k:nx', 'first', 30)).toBe(true);
      expect(await store.setIfAbsent('k:nx', 'second', 30)).toBe(false);
      expect(await store.get('k:nx')).toBe('first');
      expect(await store.ttlMs('k:nx')).toBeGreaterThan(0);
    });

    it('raise only moves a number forward, also when raised in parallel', async () => {
      expect(await store.raise('k:raise', 5, 30)).toBe(5);
      expect(await store.raise('k:raise', 3, 30)).toBe(5);
      expect(await store.get('k:raise')).toBe('5');
      const held = await Promise.all([9, 7, 12, 8, 11].map((n) => store.raise('k:raise', n, 30)));
      expect(Math.max(...held)).toBe(12);
      expect(await store.get('k:raise')).toBe('12');
      expect(await store.ttlMs('k:raise')).toBeGreaterThan(0);
    });

    it('getDel takes a value once', async () => {
      await store.set('k:once', 'secret', 30);
      expect(await store.getDel('k:once')).toBe('secret');
      expect(await store.getDel('k:once')).toBeNull();
    });

    it('increment starts at 1 and sets the TTL only once', async () => {
      const first = await store.increment('k:counter', 10);
      expect(first.count).toBe(1);
      expect(first.ttlMs).toBeGreaterThan(9_000);
      expect(first.ttlMs).toBeLessThanOrEqual(10_000);

      await sleep(60);
      const second = await store.increment('k:counter', 10);
      expect(second.count).toBe(2);
      expect(second.ttlMs).toBeLessThan(first.ttlMs); // the window was not restarted
    });

    it('50 parallel increments each see a distinct count', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, () => store.increment('k:parallel', 30)));
      expect(results.map((r) => r.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(await store.get('k:parallel')).toBe('50');
    });

    it('incrementEach counts every key in its own window, atomically under parallel calls', async () => {
      await store.increment('k:each:a', 10);
      const [a, b] = await store.incrementEach([
        { key: 'k:each:a', ttlSeconds: 10 },
        { key: 'k:each:b', ttlSeconds: 60 },
      ]);
      expect(a!.count).toBe(2);
      expect(a!.ttlMs).toBeLessThanOrEqual(10_000);
      expect(b!.count).toBe(1);
      expect(b!.ttlMs).toBeGreaterThan(10_000);
      expect(b!.ttlMs).toBeLessThanOrEqual(60_000);

      const results = await Promise.all(
        Array.from({ length: 30 }, () =>
          store.incrementEach([
            { key: 'k:each:a', ttlSeconds: 10 },
            { key: 'k:each:b', ttlSeconds: 60 },
          ]),
        ),
      );
      expect(results.map(([x]) => x!.count).sort((p, q) => p - q)).toEqual(Array.from({ length: 30 }, (_, i) => i + 3));
      expect(results.map(([, y]) => y!.count).sort((p, q) => p - q)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
      await expect(store.incrementEach([{ key: 'k:each:c', ttlSeconds: 0 }])).rejects.toThrow(RangeError);
    });

    it('ping answers', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });

  describe('oidc-provider adapter', () => {
    it('upsert then find returns the payload', async () => {
      const adapter = new Adapter('AuthorizationCode');
      const jti = id();
      const payload = { jti, kind: 'AuthorizationCode', scope: 'openid', claims: [], nested: { a: [1, 2] } };
      await adapter.upsert(jti, payload, 60);
      expect(await adapter.find(jti)).toEqual(payload);
      expect(await store.ttlMs(`AuthorizationCode:${jti}`)).toBeGreaterThan(59_000);
      expect(await adapter.find(id())).toBeUndefined();
      // Same id under another model is a different record.
      expect(await new Adapter('AccessToken').find(jti)).toBeUndefined();
    });

    it('upsert replaces a previous payload', async () => {
      const adapter = new Adapter('Interaction');
      const jti = id();
      await adapter.upsert(jti, { jti, step: 1 }, 60);
      await adapter.upsert(jti, { jti, step: 2 }, 60);
      expect(await adapter.find(jti)).toEqual({ jti, step: 2 });
    });

    it('records expire after expiresIn', async () => {
      const adapter = new Adapter('AccessToken');
      const jti = id();
      await adapter.upsert(jti, { jti }, 1);
      expect(await adapter.find(jti)).toBeDefined();
      await sleep(1100);
      expect(await adapter.find(jti)).toBeUndefined();
    });

    it('findByUid finds a Session', async () => {
      const adapter = new Adapter('Session');
      const [sid, uid] = [id(), id()];
      const payload = { jti: sid, uid, accountId: 'acc-1' };
      await adapter.upsert(sid, payload, 60);
      expect(await adapter.findByUid(uid)).toEqual(payload);
      expect(await adapter.findByUid(id())).toBeUndefined();
      expect(await store.ttlMs(`sessionUid:${uid}`)).toBeGreaterThan(59_000);

      await adapter.destroy(sid);
      expect(await adapter.findByUid(uid)).toBeUndefined();
    });

    it('findByUserCode finds a DeviceCode', async () => {
      const adapter = new Adapter('DeviceCode');
      const [jti, userCode] = [id(), 'ABCD-EFGH'];
      const payload = { jti, userCode, grantId: id() };
      await adapter.upsert(jti, payload, 60);
      expect(await adapter.findByUserCode(userCode)).toEqual(payload);
      expect(await adapter.findByUserCode('ZZZZ-ZZZZ')).toBeUndefined();
    });

    it('consume marks the record consumed and keeps its TTL', async () => {
      const adapter = new Adapter('AuthorizationCode');
      const jti = id();
      await adapter.upsert(jti, { jti, grantId: id() }, 60);
      const before = Math.floor(Date.now() / 1000);
      await adapter.consume(jti);
      const found = await adapter.find(jti);
      expect(found?.consumed).toEqual(expect.any(Number));
      expect(found!.consumed as number).toBeGreaterThanOrEqual(before);
      expect(found!.consumed as number).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
      expect(await store.ttlMs(`AuthorizationCode:${jti}`)).toBeGreaterThan(0);

      // Consuming something absent must not create it.
      const ghost = id();
      await adapter.consume(ghost);
      expect(await adapter.find(ghost)).toBeUndefined();
      expect(await store.ttlMs(`AuthorizationCode:${ghost}`)).toBe(-2);
    });

    it('destroy removes the record', async () => {
      const adapter = new Adapter('RefreshToken');
      const jti = id();
      await adapter.upsert(jti, { jti }, 60);
      await adapter.destroy(jti);
      expect(await adapter.find(jti)).toBeUndefined();
    });

    it('revokeByGrantId removes every token of that grant and nothing else', async () => {
      const [grantA, grantB] = [id(), id()];
      const code = new Adapter('AuthorizationCode');
      const access = new Adapter('AccessToken');
      const refresh = new Adapter('RefreshToken');
      const grant = new Adapter('Grant');
      const [codeA, accessA, refreshA, accessB] = [id(), id(), id(), id()];
      await code.upsert(codeA, { jti: codeA, grantId: grantA }, 60);
      await access.upsert(accessA, { jti: accessA, grantId: grantA }, 60);
      await refresh.upsert(refreshA, { jti: refreshA, grantId: grantA }, 300);
      await access.upsert(accessB, { jti: accessB, grantId: grantB }, 60);
      await grant.upsert(grantA, { jti: grantA }, 300);

      // The grant list lives as long as its longest-lived member.
      expect(await store.ttlMs(`{grant:${grantA}}:tokens`)).toBeGreaterThan(299_000);

      await access.revokeByGrantId(grantA);
      expect(await code.find(codeA)).toBeUndefined();
      expect(await access.find(accessA)).toBeUndefined();
      expect(await refresh.find(refreshA)).toBeUndefined();
      expect(await store.ttlMs(`{grant:${grantA}}:tokens`)).toBe(-2);

      expect(await access.find(accessB)).toEqual({ jti: accessB, grantId: grantB });
      // Grant itself is not grantable; oidc-provider destroys it separately.
      expect(await grant.find(grantA)).toEqual({ jti: grantA });
    });

    it('Client reads go to findClient; writes are ignored', async () => {
      const adapter = new Adapter('Client');
      expect(await adapter.find('client-1')).toEqual(clients['client-1']);
      expect(findClient).toHaveBeenCalledWith('client-1');
      expect(await adapter.find('nope')).toBeUndefined();

      await adapter.upsert('client-2', { client_id: 'client-2' }, 60);
      expect(await store.ttlMs('Client:client-2')).toBe(-2);
      expect(await adapter.find('client-2')).toBeUndefined();

      await adapter.destroy('client-1');
      expect(await adapter.find('client-1')).toEqual(clients['client-1']);
    });

    it('a grant whose tokens come and go keeps a short list, and revoking it still reaches every live token', async () => {
      const refresh = new Adapter('RefreshToken');
      const access = new Adapter('AccessToken');
      const grantId = id();
      let current = id();
      await refresh.upsert(current, { jti: current, grantId }, 3600);
      // 40 short-lived access tokens, all expired by the next save.
      for (let i = 0; i < 40; i++) await access.upsert(`short-${i}`, { jti: `short-${i}`, grantId }, 1);
      await sleep(1100);
      // Rotations as oidc-provider does them: the old refresh token is consumed and stays
      // (a replay of it revokes the grant), so it must stay listed.
      const rotated: string[] = [];
      const accessTokens: string[] = [];
      for (let i = 0; i < 20; i++) {
        const [next, at] = [id(), id()];
        await refresh.upsert(next, { jti: next, grantId }, 3600);
        await access.upsert(at, { jti: at, grantId }, 600);
        await refresh.consume(current);
        rotated.push(current);
        accessTokens.push(at);
        current = next;
      }
      if (store instanceof RedisStore) {
        // 21 refresh and 20 access tokens are live; the 40 expired ones were dropped.
        expect(await store.redis.zcard(store.key(`{grant:${grantId}}:tokens`))).toBe(41);
        expect(await store.ttlMs(`{grant:${grantId}}:tokens`)).toBeGreaterThan(3_590_000);
      }
      await refresh.revokeByGrantId(grantId);
      for (const rt of [...rotated, current]) expect(await refresh.find(rt)).toBeUndefined();
      for (const at of accessTokens) expect(await access.find(at)).toBeUndefined();
    });

    it('parallel revocations of one grant (one per model, as oidc-provider sends them) remove every token', async () => {
      const grantId = id();
      const models = ['AccessToken', 'RefreshToken', 'AuthorizationCode'];
      const ids = models.map(() => Array.from({ length: 10 }, id));
      await Promise.all(models.flatMap((m, i) => ids[i]!.map((jti) => new Adapter(m).upsert(jti, { jti, grantId }, 300))));
      await Promise.all(models.map((m) => new Adapter(m).revokeByGrantId(grantId)));
      for (const [i, m] of models.entries()) for (const jti of ids[i]!) expect(await new Adapter(m).find(jti)).toBeUndefined();
    });
  });
});

describe('Redis records', () => {
  const prefix = `test:${randomBytes(6).toString('hex')}:`;
  const store = new RedisStore(new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 }), prefix);
  const Adapter = createAdapterClass(store);
  afterAll(async () => {
    const keys = await store.redis.keys(`${prefix}*`);
    if (keys.length) await store.redis.del(...keys);
    await store.close();
  });

  const refreshToken = (jti: string) => ({
    iat: 1795850728,
    exp: 1797060328,
    accountId: '3dde25f4-b866-4093-a5f9-34d497b06a3a',
    acr: 'aal2',
    amr: ['pwd', 'otp', 'mfa'],
    authTime: 1795850728,
    grantId: randomBytes(32).toString('base64url'),
    gty: 'authorization_code',
    nonce: randomBytes(32).toString('base64url'),
    rotations: 0,
    scope: 'openid offline_access',
    sessionUid: randomBytes(32).toString('base64url'),
    kind: 'RefreshToken',
    jti,
    clientId: 'rp-pvvy68',
    iiat: 1795850728,
  });

  it('payloads are stored compressed (a refresh token in under 60% of its JSON) and read back exactly', async () => {
    const jti = randomBytes(32).toString('base64url');
    const payload = refreshToken(jti);
    await new Adapter('RefreshToken').upsert(jti, payload, 60);
    const stored = await store.redis.hgetBuffer(store.key(`RefreshToken:${jti}`), 'payload');
    expect(stored!.length).toBeLessThan(0.6 * JSON.stringify(payload).length);
    expect(await new Adapter('RefreshToken').find(jti)).toEqual(payload);
  });

  it('records written before compression (plain JSON) are still read', async () => {
    const jti = randomBytes(32).toString('base64url');
    const payload = refreshToken(jti);
    await store.redis.hset(store.key(`RefreshToken:${jti}`), 'payload', JSON.stringify(payload), 'consumed', '1795850800');
    expect(await new Adapter('RefreshToken').find(jti)).toEqual({ ...payload, consumed: 1795850800 });
  });
});
