/**
 * Short-lived state with TTLs: oidc-provider models, pending SMS codes, rate-limit buckets.
 * Redis in production; an in-process store (one node only) in the embedded default.
 * Every method is atomic on its own, so callers never read-then-write.
 */
export interface EphemeralStore {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  /** Sets a value; with ttlSeconds it expires. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Sets only when absent (SET NX); true when this call set it. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Returns and deletes in one step (GETDEL): a value can be taken once. */
  getDel(key: string): Promise<string | null>;
  del(...keys: string[]): Promise<void>;
  /**
   * Adds one to a counter; the first increment starts its TTL (fixed window).
   * Returns the new count and the milliseconds until the window ends.
   */
  increment(key: string, ttlSeconds: number): Promise<{ count: number; ttlMs: number }>;
  /** `increment` of several counters, each atomic on its own, in as few round trips as the store allows. */
  incrementEach(counters: readonly { key: string; ttlSeconds: number }[]): Promise<{ count: number; ttlMs: number }[]>;
  /** Sets a number unless the key holds a larger one (its TTL renewed either way); returns what it holds. */
  raise(key: string, value: number, ttlSeconds: number): Promise<number>;
  /** Takes one off a live counter, keeping its window; an absent key stays absent. */
  decrement(key: string): Promise<void>;
  /** Remaining time to live in ms; -1 without expiry; -2 when absent. */
  ttlMs(key: string): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
