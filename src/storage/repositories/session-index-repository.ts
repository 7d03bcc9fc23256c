import type { Redis } from 'ioredis';
import type { MemoryStore } from '../memory-store.js';
import { RedisStore } from '../redis-store.js';

/** What the index keeps about one provider session of a user. */
export interface SessionIndexEntry {
  /** The user agent that signed in (cut to a sane length). */
  userAgent: string;
  /** Epoch seconds of the sign-in. */
  loginTs: number;
  /** Epoch seconds the session was last used. */
  lastActive: number;
  /** Epoch seconds the session expires. */
  exp: number;
}

const MAX_USER_AGENT = 300;
/** An ended session's field holds this and its expiry, so that a late save cannot revive it. */
const ENDED = '!';

/**
 * Every provider session of a user, by session uid, in one hash per user: a sign-in costs one
 * HSET and the key lives as long as the user's longest session. Entries are only hints (a
 * session may have ended meanwhile): readers check each against the session itself and prune
 * what is gone. A session ended from the list keeps an "ended" field until it would have
 * expired. All keys of a user share the hash tag `{user:<id>}`.
 */
export class SessionIndexRepository {
  private readonly hashes: Hashes;

  constructor(store: RedisStore | MemoryStore) {
    this.hashes = store instanceof RedisStore ? new RedisHashes(store) : new MemoryHashes();
  }

  /**
   * Records a save of session `uid` (`entry` undefined: only asks). True when the session was
   * ended from the list: then nothing is written, and the caller ends it again.
   */
  async record(userId: string, uid: string, entry: SessionIndexEntry | undefined): Promise<{ ended: boolean }> {
    const value = entry && JSON.stringify({ ...entry, userAgent: entry.userAgent.slice(0, MAX_USER_AGENT) });
    return { ended: await this.hashes.putUnlessEnded(keyOf(userId), uid, value, entry ? ttlUntil(entry.exp) : 0) };
  }

  /** Marks sessions ended until `exp` (epoch seconds; their latest expiry). */
  async markEnded(userId: string, uids: string[], exp: number): Promise<void> {
    if (uids.length > 0) await this.hashes.putMany(keyOf(userId), uids, `${ENDED}${exp}`, ttlUntil(exp));
  }

  /** The user's entries of sessions not ended nor expired; expired ones are pruned. */
  async list(userId: string): Promise<Map<string, SessionIndexEntry>> {
    const now = Math.floor(Date.now() / 1000);
    const live = new Map<string, SessionIndexEntry>();
    const stale: string[] = [];
    for (const [uid, raw] of await this.hashes.all(keyOf(userId))) {
      const entry = parse(raw);
      if (entry && !entry.ended && entry.exp > now) live.set(uid, entry);
      else if (!entry || entry.exp <= now) stale.push(uid);
    }
    await this.remove(userId, stale);
    return live;
  }

  async has(userId: string, uid: string): Promise<boolean> {
    const raw = await this.hashes.get(keyOf(userId), uid);
    const entry = raw === null ? undefined : parse(raw);
    return Boolean(entry && !entry.ended && entry.exp > Date.now() / 1000);
  }

  async remove(userId: string, uids: string[]): Promise<void> {
    if (uids.length > 0) await this.hashes.remove(keyOf(userId), uids);
  }
}

const keyOf = (userId: string) => `{user:${userId}}:sessions`;
const ttlUntil = (exp: number) => Math.max(1, exp - Math.floor(Date.now() / 1000));

function parse(raw: string): (SessionIndexEntry & { ended?: true }) | undefined {
  if (raw.startsWith(ENDED)) {
    const exp = Number(raw.slice(ENDED.length));
    return Number.isFinite(exp) ? { ended: true, exp, userAgent: '', loginTs: 0, lastActive: 0 } : undefined;
  }
  try {
    const v = JSON.parse(raw) as Partial<SessionIndexEntry>;
    if (typeof v.exp !== 'number' || typeof v.loginTs !== 'number' || typeof v.lastActive !== 'number') return undefined;
    return { userAgent: typeof v.userAgent === 'string' ? v.userAgent : '', loginTs: v.loginTs, lastActive: v.lastActive, exp: v.exp };
  } catch {
    return undefined;
  }
}

interface Hashes {
  /**
   * Unless `field` holds an ended marker (then true, nothing written): sets it to `value` (if
   * given), the key then living at least `ttlSeconds` (never shortened).
   */
  putUnlessEnded(key: string, field: string, value: string | undefined, ttlSeconds: number): Promise<boolean>;
  putMany(key: string, fields: string[], value: string, ttlSeconds: number): Promise<void>;
  get(key: string, field: string): Promise<string | null>;
  all(key: string): Promise<[string, string][]>;
  remove(key: string, fields: string[]): Promise<void>;
}

// KEYS[1] the hash. ARGV: field, value ('' to only ask), TTL seconds, the ended prefix.
// EXPIRE GT alone never arms a key without TTL, hence NX first.
const PUT_UNLESS_ENDED = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and string.sub(current, 1, #ARGV[4]) == ARGV[4] then return 1 end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3], 'NX')
  redis.call('EXPIRE', KEYS[1], ARGV[3], 'GT')
end
return 0`;

interface Scripts {
  twofoldSessionIndexPut(key: string, field: string, value: string, ttl: number, ended: string): Promise<number>;
}

class RedisHashes implements Hashes {
  private readonly redis: Redis & Scripts;

  constructor(private readonly store: RedisStore) {
    if (!('twofoldSessionIndexPut' in store.redis)) store.redis.defineCommand('twofoldSessionIndexPut', { lua: PUT_UNLESS_ENDED, numberOfKeys: 1 });
    this.redis = store.redis as Redis & Scripts;
  }

  async putUnlessEnded(key: string, field: string, value: string | undefined, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.twofoldSessionIndexPut(this.store.key(key), field, value ?? '', ttlSeconds, ENDED)) === 1;
  }

  async putMany(key: string, fields: string[], value: string, ttlSeconds: number): Promise<void> {
    const k = this.store.key(key);
    await this.redis
      .multi()
      .hset(k, Object.fromEntries(fields.map((f) => [f, value])))
      .expire(k, ttlSeconds, 'NX')
      .expire(k, ttlSeconds, 'GT')
      .exec();
  }

  async get(key: string, field: string): Promise<string | null> {
    return this.redis.hget(this.store.key(key), field);
  }

  async all(key: string): Promise<[string, string][]> {
    return Object.entries(await this.redis.hgetall(this.store.key(key)));
  }

  async remove(key: string, fields: string[]): Promise<void> {
    await this.redis.hdel(this.store.key(key), ...fields);
  }
}

const SWEEP_EVERY_MS = 60_000;

/** The same for one process (no REDIS_URL): keys expire like Redis keys, swept once a minute at most. */
class MemoryHashes implements Hashes {
  private readonly hashes = new Map<string, { fields: Map<string, string>; expiresAt: number }>();
  private nextSweep = Date.now() + SWEEP_EVERY_MS;

  async putUnlessEnded(key: string, field: string, value: string | undefined, ttlSeconds: number): Promise<boolean> {
    if (this.live(key)?.fields.get(field)?.startsWith(ENDED)) return true;
    if (value !== undefined) await this.putMany(key, [field], value, ttlSeconds);
    return false;
  }

  async putMany(key: string, fields: string[], value: string, ttlSeconds: number): Promise<void> {
    this.sweep();
    const hash = this.live(key) ?? { fields: new Map<string, string>(), expiresAt: 0 };
    for (const field of fields) hash.fields.set(field, value);
    hash.expiresAt = Math.max(hash.expiresAt, Date.now() + ttlSeconds * 1000);
    this.hashes.set(key, hash);
  }

  async get(key: string, field: string): Promise<string | null> {
    return this.live(key)?.fields.get(field) ?? null;
  }

  async all(key: string): Promise<[string, string][]> {
    return [...(this.live(key)?.fields ?? [])];
  }

  async remove(key: string, fields: string[]): Promise<void> {
    const hash = this.live(key);
    if (!hash) return;
    for (const field of fields) hash.fields.delete(field);
    if (hash.fields.size === 0) this.hashes.delete(key);
  }

  private live(key: string) {
    const hash = this.hashes.get(key);
    if (hash && hash.expiresAt <= Date.now()) {
      this.hashes.delete(key);
      return undefined;
    }
    return hash;
  }

  private sweep(): void {
    const now = Date.now();
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_EVERY_MS;
    for (const [key, hash] of this.hashes) if (hash.expiresAt <= now) this.hashes.delete(key);
  }
}
