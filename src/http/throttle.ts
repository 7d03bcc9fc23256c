import type { EphemeralStore } from '../storage/ephemeral-store.js';
import type { Message } from '../i18n/translator.js';
import { AppError } from './app-error.js';

export interface ThrottleRule {
  /** Name of the bucket family, e.g. "login:user". */
  name: string;
  limit: number;
  windowSeconds: number;
}

/**
 * Fixed-window counters in the ephemeral store (atomic INCR). `check` refuses when a bucket is
 * already full; `hit` counts an event. Keys are hashed elsewhere when they carry personal data.
 */
export class Throttle {
  constructor(private readonly store: EphemeralStore) {}

  private key(rule: ThrottleRule, subject: string): string {
    return `throttle:${rule.name}:${subject}`;
  }

  /** Refuses when the bucket is full; else returns its count. */
  async check(rule: ThrottleRule, subject: string, message: string | Message): Promise<number> {
    const count = Number((await this.store.get(this.key(rule, subject))) ?? 0);
    if (count >= rule.limit) {
      const ttl = await this.store.ttlMs(this.key(rule, subject));
      throw new AppError('rate_limited', message, { retryAfterSeconds: Math.max(1, Math.ceil(ttl / 1000)) });
    }
    return count;
  }

  async hit(rule: ThrottleRule, subject: string): Promise<number> {
    return (await this.store.increment(this.key(rule, subject), rule.windowSeconds)).count;
  }

  /** Counts and refuses in one step: the call that goes over the limit is refused. */
  async consume(rule: ThrottleRule, subject: string, message: string | Message): Promise<void> {
    await this.consumeAll([[rule, subject]], message);
  }

  /** `consume` of several buckets, counted together: every bucket counts the call, the first full one refuses it. */
  async consumeAll(buckets: readonly (readonly [ThrottleRule, string])[], message: string | Message): Promise<void> {
    const counted = await this.store.incrementEach(buckets.map(([rule, subject]) => ({ key: this.key(rule, subject), ttlSeconds: rule.windowSeconds })));
    const over = counted.find(({ count }, i) => count > buckets[i]![0].limit);
    if (over) throw new AppError('rate_limited', message, { retryAfterSeconds: Math.max(1, Math.ceil(over.ttlMs / 1000)) });
  }

  /**
   * For attempts whose outcome is known only after the work (a password check): takes a place
   * in every bucket in one atomic step per bucket (one round trip for all where the store can),
   * so parallel attempts never get more than `limit` places. A full bucket may be full of
   * attempts still being checked, whose places the successful ones give back: a refused bucket
   * returns its place and tries again with back-off for up to `waitMs` (places held in the
   * others are kept), so a burst of genuine sign-ins is delayed rather than refused. A call
   * refused in the end gives back every place it took: it counts nothing. True when it waited.
   */
  async acquireAll(buckets: readonly (readonly [ThrottleRule, string])[], message: string | Message, waitMs: number): Promise<boolean> {
    const deadline = Date.now() + waitMs;
    let waiting = buckets.map(([rule, subject]) => ({ rule, key: this.key(rule, subject) }));
    const held: string[] = [];
    let waited = false;
    for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
      const counted = await this.store.incrementEach(waiting.map(({ rule, key }) => ({ key, ttlSeconds: rule.windowSeconds })));
      const full = waiting.filter((b, i) => counted[i]!.count > b.rule.limit);
      for (const b of waiting) if (!full.includes(b)) held.push(b.key);
      if (full.length === 0) return waited;
      await Promise.all(full.map((b) => this.store.decrement(b.key)));
      if (Date.now() + delay > deadline) {
        await Promise.all(held.map((key) => this.store.decrement(key)));
        const ttlMs = Math.max(...waiting.map((b, i) => (full.includes(b) ? counted[i]!.ttlMs : 0)));
        throw new AppError('rate_limited', message, { retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) });
      }
      waiting = full;
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Gives back a place taken by `acquireAll` or `consume` (an attempt that turned out not to count). */
  async refund(rule: ThrottleRule, subject: string): Promise<void> {
    await this.store.decrement(this.key(rule, subject));
  }

  async reset(rule: ThrottleRule, subject: string): Promise<void> {
    await this.store.del(this.key(rule, subject));
  }
}
