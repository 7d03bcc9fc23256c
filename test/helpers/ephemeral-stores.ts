import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { RedisStore } from '../../src/storage/redis-store.js';

export type Store = RedisStore | MemoryStore;

/**
 * The two ephemeral stores, for contract tests that must hold on both: the shared Redis under
 * a fresh prefix, and the in-process store. Each factory returns a fresh store and a cleanup
 * that removes everything it wrote.
 */
export const storeFactories: [string, () => { store: Store; cleanup: () => Promise<void> }][] = [
  [
    'RedisStore',
    () => {
      const prefix = `test:${randomBytes(6).toString('hex')}:`;
      const store = new RedisStore(new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 }), prefix);
      const cleanup = async () => {
        const keys = await store.redis.keys(`${prefix}*`);
        if (keys.length) await store.redis.del(...keys);
        await store.close();
      };
      return { store, cleanup };
    },
  ],
  [
    'MemoryStore',
    () => {
      const store = new MemoryStore();
      return { store, cleanup: () => store.close() };
    },
  ],
];
