import type { EphemeralStore } from './ephemeral-store.js';

/** An oidc-provider model as stored: its JSON payload and, once consumed, the epoch second it was. */
export interface ModelRecord {
  payload: string;
  consumed?: number;
}

/** One adapter upsert; every key is unprefixed. */
export interface SaveRecordInput {
  key: string;
  payload: string;
  /** Undefined: no expiry. */
  ttlSeconds?: number;
  /** Index keys (sessionUid:…, userCode:…) whose value is `key`; they share its TTL. */
  indexKeys: string[];
  /** Grant list to append `key` to; the list lives as long as its longest-lived member. */
  grantKey?: string;
}

type Value = string | string[] | ModelRecord;
interface Entry {
  value: Value;
  /** Epoch ms; absent: no expiry. */
  expiresAt?: number;
}

const SWEEP_INTERVAL_MS = 30_000;

/**
 * EphemeralStore in process memory, for a single node. It mirrors Redis semantics (TTL rules,
 * WRONGTYPE errors, -1/-2 from ttlMs) so that the contract tests pass against both.
 * Expired entries vanish on read; a background sweep frees the ones nobody reads again.
 */
export class MemoryStore implements EphemeralStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor() {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref(); // never keeps the process alive
  }

  async get(key: string): Promise<string | null> {
    return this.string(key)?.value ?? null;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    this.put(key, value, ttlSeconds);
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    if (this.live(key)) return false;
    this.put(key, value, ttlSeconds);
    return true;
  }

  async getDel(key: string): Promise<string | null> {
    const entry = this.string(key);
    this.entries.delete(key);
    return entry?.value ?? null;
  }

  async del(...keys: string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key);
  }

  async increment(key: string, ttlSeconds: number): Promise<{ count: number; ttlMs: number }> {
    if (!(ttlSeconds > 0)) throw new RangeError('ttlSeconds must be positive');
    const entry = this.string(key) ?? { value: '0' };
    if (!/^-?\d+$/.test(entry.value)) throw new Error('ERR value is not an integer or out of range');
    const count = Number(entry.value) + 1;
    // Like PEXPIRE NX: only a key without expiry gets one, so the window is not extended.
    const expiresAt = entry.expiresAt ?? Date.now() + ttlSeconds * 1000;
    this.entries.set(key, { value: String(count), expiresAt });
    return { count, ttlMs: expiresAt - Date.now() };
  }

  async incrementEach(counters: readonly { key: string; ttlSeconds: number }[]): Promise<{ count: number; ttlMs: number }[]> {
    return Promise.all(counters.map(({ key, ttlSeconds }) => this.increment(key, ttlSeconds)));
  }

  async raise(key: string, value: number, ttlSeconds: number): Promise<number> {
    const held = Number(this.string(key)?.value);
    const raised = Number.isFinite(held) && held > value ? held : value;
    this.entries.set(key, { value: String(raised), expiresAt: Date.now() + Math.max(1, Math.ceil(ttlSeconds)) * 1000 });
    return raised;
  }

  async decrement(key: string): Promise<void> {
    const entry = this.string(key);
    if (!entry) return;
    if (!/^-?\d+$/.test(entry.value)) throw new Error('ERR value is not an integer or out of range');
    this.entries.set(key, { value: String(Number(entry.value) - 1), expiresAt: entry.expiresAt });
  }

  async ttlMs(key: string): Promise<number> {
    const entry = this.live(key);
    if (!entry) return -2;
    return entry.expiresAt === undefined ? -1 : entry.expiresAt - Date.now();
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  // ---- oidc-provider model records (same semantics as the Redis adapter's MULTI / Lua calls) ----

  async saveRecord(input: SaveRecordInput): Promise<void> {
    const { key, payload, ttlSeconds, indexKeys, grantKey } = input;
    this.put(key, { payload }, ttlSeconds);
    for (const indexKey of indexKeys) this.put(indexKey, key, ttlSeconds);
    if (grantKey) {
      const list = this.list(grantKey) ?? { value: [] };
      list.value.push(key);
      if (ttlSeconds === undefined) delete list.expiresAt;
      else {
        const expiresAt = Date.now() + ttlSeconds * 1000;
        list.expiresAt = list.expiresAt === undefined ? expiresAt : Math.max(list.expiresAt, expiresAt);
      }
      this.entries.set(grantKey, list);
    }
  }

  async loadRecord(key: string): Promise<ModelRecord | null> {
    const entry = this.live(key);
    if (!entry) return null;
    if (typeof entry.value === 'string' || Array.isArray(entry.value)) throw wrongType();
    return { ...entry.value };
  }

  async loadRecordByIndex(indexKey: string): Promise<ModelRecord | null> {
    const target = this.string(indexKey);
    return target ? this.loadRecord(target.value) : null;
  }

  async consumeRecord(key: string, at: number): Promise<void> {
    const entry = this.live(key);
    if (entry && typeof entry.value !== 'string' && !Array.isArray(entry.value)) entry.value.consumed = at;
  }

  async revokeGrant(grantKey: string): Promise<void> {
    const list = this.list(grantKey);
    if (list) for (const key of list.value) this.entries.delete(key);
    this.entries.delete(grantKey);
  }

  // ---- internals ----

  /** The entry if present and not expired; an expired one is dropped on the spot. */
  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private string(key: string): { value: string; expiresAt?: number } | undefined {
    const entry = this.live(key);
    if (entry && typeof entry.value !== 'string') throw wrongType();
    return entry as { value: string; expiresAt?: number } | undefined;
  }

  private list(key: string): { value: string[]; expiresAt?: number } | undefined {
    const entry = this.live(key);
    if (entry && !Array.isArray(entry.value)) throw wrongType();
    return entry as { value: string[]; expiresAt?: number } | undefined;
  }

  /** Replaces a key like SET: a new value without TTL clears any previous expiry. */
  private put(key: string, value: Value, ttlSeconds?: number): void {
    if (ttlSeconds === undefined) {
      this.entries.set(key, { value });
      return;
    }
    checkTtl(ttlSeconds);
    this.entries.set(key, { value, expiresAt: Date.now() + ttlSeconds * 1000 });
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.entries.delete(key);
    }
  }
}

/** Redis refuses zero, negative and fractional EX values; so do we, to keep behaviour identical. */
function checkTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new Error('ERR invalid expire time');
}

function wrongType(): Error {
  return new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
}
