import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Throttle, type ThrottleRule } from '../../../src/http/throttle.js';
import { isAppError } from '../../../src/http/app-error.js';
import { storeFactories, type Store } from '../../helpers/ephemeral-stores.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(storeFactories)('Throttle.acquireAll on %s', (_name, factory) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let throttle: Throttle;
  beforeAll(async () => {
    ({ store, cleanup } = await factory());
    throttle = new Throttle(store);
  });
  afterAll(() => cleanup());

  const rules = () => {
    const run = randomBytes(4).toString('hex');
    const user: ThrottleRule = { name: `user-${run}`, limit: 3, windowSeconds: 60 };
    const ip: ThrottleRule = { name: `ip-${run}`, limit: 100, windowSeconds: 60 };
    const count = async (rule: ThrottleRule, subject: string) => Number((await store.get(`throttle:${rule.name}:${subject}`)) ?? 0);
    return { user, ip, count };
  };

  it('of 12 parallel attempts only the limit get places; the refused ones give back the place they took in the other bucket', async () => {
    const { user, ip, count } = rules();
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () =>
        throttle.acquireAll(
          [
            [user, 'alice'],
            [ip, '192.0.2.1'],
          ],
          'slow down',
          0,
        ),
      ),
    );
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(results.length - refused.length).toBe(3);
    for (const r of refused) {
      expect(isAppError(r.reason) && r.reason.code).toBe('rate_limited');
      expect(isAppError(r.reason) && r.reason.details.retryAfterSeconds).toBeGreaterThan(0);
    }
    expect(await count(user, 'alice')).toBe(3);
    expect(await count(ip, '192.0.2.1')).toBe(3);
  });

  it('waits for a place given back while it holds its place in the other bucket, then takes it', async () => {
    const { user, ip, count } = rules();
    const both = [
      [user, 'bob'],
      [ip, '192.0.2.2'],
    ] as const;
    // A place taken at once says it did not wait (a sign-in may then use what it read meanwhile)...
    for (let i = 0; i < 3; i++) expect(await throttle.acquireAll(both, 'slow down', 0)).toBe(false);
    const waiting = throttle.acquireAll(both, 'slow down', 2000);
    await sleep(80);
    expect(await count(ip, '192.0.2.2')).toBe(4); // held while the user bucket is full
    await throttle.refund(user, 'bob'); // a sign-in being checked turned out right
    // ...one that waited says so (what it read before is old by now).
    await expect(waiting).resolves.toBe(true);
    expect(await count(user, 'bob')).toBe(3);
    expect(await count(ip, '192.0.2.2')).toBe(4);
  });
});
