import type { EphemeralStore } from '../storage/ephemeral-store.js';
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
  async check(rule: ThrottleRule, subject: string, message: string): Promise<number> {
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
  async consume(rule: ThrottleRule, subject: string, message: string): Promise<void> {
    const { count, ttlMs } = await this.store.increment(this.key(rule, subject), rule.windowSeconds);
    if (count > rule.limit) {
      throw new AppError('rate_limited', message, { retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) });
    }
  }

  /** Gives back what one `consume` took (an attempt that turned out not to count). */
  async refund(rule: ThrottleRule, subject: string): Promise<void> {
    await this.store.decrement(this.key(rule, subject));
  }

  async reset(rule: ThrottleRule, subject: string): Promise<void> {
    await this.store.del(this.key(rule, subject));
  }
}
