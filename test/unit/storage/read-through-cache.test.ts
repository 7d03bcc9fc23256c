import { describe, expect, it } from '@jest/globals';
import { ReadThroughCache } from '../../../src/storage/read-through-cache.js';
import { parseChange } from '../../../src/storage/change-feed.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ReadThroughCache', () => {
  it('keeps a value read while live, and reads again after it is deleted', async () => {
    const cache = new ReadThroughCache<string>(() => true, { maxEntries: 10, ttlMs: 60_000 });
    let reads = 0;
    const load = async () => `v${++reads}`;
    expect(await cache.get('a', load)).toBe('v1');
    expect(await cache.get('a', load)).toBe('v1');
    cache.delete('a');
    expect(await cache.get('a', load)).toBe('v2');
  });

  it('a read that raced a change does not keep the value it read before the change', async () => {
    const cache = new ReadThroughCache<string>(() => true, { maxEntries: 10, ttlMs: 60_000 });
    const slow = deferred<string>();
    const racing = cache.get('a', () => slow.promise);
    cache.delete('a'); // the change is announced while the old row is on its way
    slow.resolve('old');
    expect(await racing).toBe('old');
    expect(await cache.get('a', async () => 'new')).toBe('new');
  });

  it('keeps nothing while not live, nor a row that was not found', async () => {
    let live = false;
    const cache = new ReadThroughCache<string>(() => live, { maxEntries: 10, ttlMs: 60_000 });
    await cache.get('a', async () => 'x');
    expect(cache.size).toBe(0);
    live = true;
    await cache.get('b', async () => undefined);
    expect(cache.size).toBe(0);
    expect(await cache.get('b', async () => 'created')).toBe('created');
  });

  it('drops the oldest entry when full, expires entries, and deleteWhere / clear remove them', async () => {
    const cache = new ReadThroughCache<{ account: string }>(() => true, { maxEntries: 2, ttlMs: 60_000 });
    await cache.get('a', async () => ({ account: 'x' }));
    await cache.get('b', async () => ({ account: 'y' }));
    await cache.get('c', async () => ({ account: 'x' }));
    expect(cache.size).toBe(2);
    expect(await cache.get('a', async () => ({ account: 'reread' }))).toEqual({ account: 'reread' });
    cache.deleteWhere((v) => v.account === 'x');
    expect(cache.size).toBe(1);
    cache.clear();
    expect(cache.size).toBe(0);
    const expiring = new ReadThroughCache<string>(() => true, { maxEntries: 2, ttlMs: 0 });
    await expiring.get('a', async () => 'first');
    expect(await expiring.get('a', async () => 'second')).toBe('second');
  });
});

describe('change payloads', () => {
  it('names a row, or anything when unknown or truncated', () => {
    expect(parseChange('user:123')).toEqual({ kind: 'user', id: '123' });
    expect(parseChange('client:a:b')).toEqual({ kind: 'client', id: 'a:b' });
    for (const payload of [undefined, '', 'user:', 'user:*', 'nonsense', 'group:1']) expect(parseChange(payload)).toEqual({ kind: 'reset' });
  });
});
