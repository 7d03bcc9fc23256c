import type { MemoryStore, ModelRecord, SaveRecordInput } from './memory-store.js';
import { decodePayload, encodePayload } from './payload-codec.js';
import type { RedisClient, RedisStore } from './redis-store.js';

/** The record operations of oidc-provider's models; MemoryStore implements them natively. */
export type ModelRecords = Pick<MemoryStore, 'saveRecord' | 'loadRecord' | 'loadRecordByIndex' | 'consumeRecord' | 'revokeGrant' | 'del'>;

// A record is a hash {payload, consumed} so that consume() is one HSET, not a rewrite; the
// payload is compressed (payload-codec). Index values and grant-list members are unprefixed
// model keys. Every script touches exactly one key, so each works on a Redis Cluster: a
// record, its index keys and its grant list live in different slots and are written by
// separate commands, sent together (one round trip on one server).

/** KEYS[1] the record. ARGV: payload, TTL seconds (0: none). */
const SAVE = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'payload', ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/**
 * KEYS[1] a grant's token list: a sorted set of model keys scored by when each expires (ms), so
 * it can be trimmed without looking at other keys. ARGV: the model key, TTL seconds (0: none).
 * Each append drops the members already expired; the set lives as long as its longest-lived
 * member. A grant refreshed every few minutes for weeks keeps only its live tokens.
 */
const GRANT_ADD = `
local ttl = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local before = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('ZADD', KEYS[1], now + ttl * 1000, ARGV[1]) else redis.call('ZADD', KEYS[1], '+inf', ARGV[1]) end
if ttl == 0 then redis.call('PERSIST', KEYS[1])
elseif before == -2 or (before > 0 and before < ttl * 1000) then redis.call('PEXPIRE', KEYS[1], ttl * 1000) end
return 0`;

// Only an existing record may be marked: HSET alone would resurrect an expired one without a TTL.
const CONSUME = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'consumed', ARGV[1]) end
return 0`;

/** Takes a grant's token list in one step: a token added later starts a new list. */
const GRANT_TAKE = `
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return members`;

interface Scripts {
  twofoldSave(key: string, payload: Buffer, ttlSeconds: number): Promise<unknown>;
  twofoldGrantAdd(key: string, member: string, ttlSeconds: number): Promise<unknown>;
  twofoldConsume(key: string, at: number): Promise<unknown>;
  twofoldGrantTake(key: string): Promise<string[]>;
}

function withScripts(redis: RedisClient): RedisClient & Scripts {
  if (!('twofoldSave' in redis)) {
    redis.defineCommand('twofoldSave', { lua: SAVE, numberOfKeys: 1 });
    redis.defineCommand('twofoldGrantAdd', { lua: GRANT_ADD, numberOfKeys: 1 });
    redis.defineCommand('twofoldConsume', { lua: CONSUME, numberOfKeys: 1 });
    redis.defineCommand('twofoldGrantTake', { lua: GRANT_TAKE, numberOfKeys: 1 });
  }
  return redis as RedisClient & Scripts;
}

export class RedisModelRecords implements ModelRecords {
  private readonly redis: RedisClient & Scripts;

  constructor(private readonly store: RedisStore) {
    this.redis = withScripts(store.redis);
  }

  /**
   * Sent grant list first: on one server it is written before the record, so a live token is
   * always listed. On a cluster the writes reach different masters, and a revocation racing
   * the save may miss the new token, as it would miss one saved just after it; revoking also
   * destroys the grant, without which such a token is refused.
   */
  async saveRecord({ key, payload, ttlSeconds, indexKeys, grantKey }: SaveRecordInput): Promise<void> {
    const ttl = ttlSeconds ?? 0;
    await Promise.all([
      grantKey ? this.redis.twofoldGrantAdd(this.store.key(grantKey), key, ttl) : undefined,
      this.redis.twofoldSave(this.store.key(key), encodePayload(payload), ttl),
      ...indexKeys.map((indexKey) => this.store.set(indexKey, key, ttlSeconds)),
    ]);
  }

  async loadRecord(key: string): Promise<ModelRecord | null> {
    return toRecord(await this.redis.hmgetBuffer(this.store.key(key), 'payload', 'consumed'));
  }

  /** Two reads: the index and its record may live on different masters. */
  async loadRecordByIndex(indexKey: string): Promise<ModelRecord | null> {
    const target = await this.store.get(indexKey);
    return target ? this.loadRecord(target) : null;
  }

  async consumeRecord(key: string, at: number): Promise<void> {
    await this.redis.twofoldConsume(this.store.key(key), at);
  }

  async revokeGrant(grantKey: string): Promise<void> {
    const members = await this.redis.twofoldGrantTake(this.store.key(grantKey));
    // One DEL per token: on a cluster they live in different slots.
    await Promise.all(members.map((member) => this.store.del(member)));
  }

  async del(...keys: string[]): Promise<void> {
    await this.store.del(...keys);
  }
}

function toRecord([payload, consumed]: (Buffer | null)[]): ModelRecord | null {
  if (payload == null) return null;
  const json = decodePayload(payload);
  return consumed == null ? { payload: json } : { payload: json, consumed: Number(consumed.toString()) };
}
