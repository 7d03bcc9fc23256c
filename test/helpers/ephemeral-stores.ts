import { randomBytes } from 'node:crypto';
import { afterAll } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { RedisStore } from '../../src/storage/redis-store.js';
import { startPrivateRedis, startPrivateSentinel, type PrivateRedis, type PrivateSentinel } from './private-stores.js';
import { testRedisCluster, type TestRedisCluster } from './redis-cluster.js';

export type Store = RedisStore | MemoryStore;

/** Every key of `store` (on a cluster: of every master), then deletes them one by one. */
async function removeAll(store: RedisStore): Promise<void> {
  const pattern = `${store.prefix}*`;
  const nodes = store.redis instanceof Cluster ? store.redis.nodes('master') : [store.redis];
  for (const node of nodes) for (const key of await node.keys(pattern)) await node.del(key);
}

let cluster: TestRedisCluster | undefined;
let sentinel: { redis: PrivateRedis; sentinel: PrivateSentinel } | undefined;
afterAll(async () => {
  await cluster?.close();
  await sentinel?.sentinel.stop();
  await sentinel?.redis.stop();
});

/** Each factory returns a fresh store and a cleanup that removes everything it wrote. */
export const storeFactories: [string, () => Promise<{ store: Store; cleanup: () => Promise<void> }>][] = [
  [
    'RedisStore',
    async () => {
      const prefix = `test:${randomBytes(6).toString('hex')}:`;
      const store = new RedisStore(new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 }), prefix);
      return { store, cleanup: async () => (await removeAll(store), await store.close()) };
    },
  ],
  [
    'RedisStore on a Redis Cluster',
    async () => {
      cluster = await testRedisCluster();
      const store = RedisStore.connect(cluster.url, `test:${randomBytes(6).toString('hex')}:`);
      return { store, cleanup: async () => (await removeAll(store), await store.close()) };
    },
  ],
  [
    'RedisStore through Sentinel',
    async () => {
      const redis = await startPrivateRedis();
      sentinel = { redis, sentinel: await startPrivateSentinel(redis) };
      const store = RedisStore.connect(sentinel.sentinel.url, 'test:');
      return { store, cleanup: () => store.close() };
    },
  ],
  [
    'MemoryStore',
    async () => {
      const store = new MemoryStore();
      return { store, cleanup: () => store.close() };
    },
  ],
];
