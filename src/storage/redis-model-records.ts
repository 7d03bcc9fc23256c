import type { Redis } from 'ioredis';
import type { MemoryStore, ModelRecord, SaveRecordInput } from './memory-store.js';
import { decodePayload, encodePayload } from './payload-codec.js';
import type { RedisStore } from './redis-store.js';

/** The record operations of oidc-provider's models; MemoryStore implements them natively. */
export type ModelRecords = Pick<MemoryStore, 'saveRecord' | 'loadRecord' | 'loadRecordByIndex' | 'consumeRecord' | 'revokeGrant' | 'del'>;

// A record is a hash {payload, consumed} so that consume() is one HSET, not a rewrite; the
// payload is compressed (payload-codec). Index values and grant-list members are unprefixed
// model keys; the scripts add the prefix. Each operation is one script (EVALSHA): one round
// trip, atomic. The scripts touch keys they only learn at run time: a single Redis, not Cluster.

/**
 * KEYS[1] the record, KEYS[2..] its index keys. ARGV: payload, TTL seconds (0: none), the
 * unprefixed record key, the grant list key ('' for none), the key prefix.
 * A grant list lives as long as its longest-lived member. Each append also looks at the two
 * oldest entries: gone ones (expired access tokens, destroyed codes) are dropped, live ones go
 * to the back. A grant refreshed every few minutes for weeks keeps a short list, at a constant
 * cost per save.
 */
const SAVE = `
local ttl = tonumber(ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'payload', ARGV[1])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
for i = 2, #KEYS do
  if ttl > 0 then redis.call('SET', KEYS[i], ARGV[3], 'EX', ttl) else redis.call('SET', KEYS[i], ARGV[3]) end
end
local g = ARGV[4]
if g == '' then return 0 end
local before = redis.call('PTTL', g)
if redis.call('RPUSH', g, ARGV[3]) > 4 then
  for _ = 1, 2 do
    local head = redis.call('LPOP', g)
    if redis.call('EXISTS', ARGV[5] .. head) == 1 then redis.call('RPUSH', g, head) end
  end
end
if ttl == 0 then redis.call('PERSIST', g)
elseif before == -2 or (before > 0 and before < ttl * 1000) then redis.call('EXPIRE', g, ttl) end
return 0`;

const LOAD_BY_INDEX = `
local target = redis.call('GET', KEYS[1])
if not target then return false end
return redis.call('HMGET', ARGV[1] .. target, 'payload', 'consumed')`;

// Only an existing record may be marked: HSET alone would resurrect an expired one without a TTL.
const CONSUME = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'consumed', ARGV[1]) end
return 0`;

const REVOKE_GRANT = `
for _, key in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do redis.call('DEL', ARGV[1] .. key) end
redis.call('DEL', KEYS[1])
return 0`;

type Arg = string | number | Buffer;
interface Scripts {
  twofoldSaveRecord(numKeys: number, ...args: Arg[]): Promise<unknown>;
  twofoldLoadByIndexBuffer(key: string, prefix: string): Promise<(Buffer | null)[] | null>;
  twofoldConsume(key: string, at: number): Promise<unknown>;
  twofoldRevokeGrant(key: string, prefix: string): Promise<unknown>;
}

function withScripts(redis: Redis): Redis & Scripts {
  if (!('twofoldSaveRecord' in redis)) {
    redis.defineCommand('twofoldSaveRecord', { lua: SAVE });
    redis.defineCommand('twofoldLoadByIndex', { lua: LOAD_BY_INDEX, numberOfKeys: 1 });
    redis.defineCommand('twofoldConsume', { lua: CONSUME, numberOfKeys: 1 });
    redis.defineCommand('twofoldRevokeGrant', { lua: REVOKE_GRANT, numberOfKeys: 1 });
  }
  return redis as Redis & Scripts;
}

export class RedisModelRecords implements ModelRecords {
  private readonly redis: Redis & Scripts;

  constructor(private readonly store: RedisStore) {
    this.redis = withScripts(store.redis);
  }

  async saveRecord({ key, payload, ttlSeconds, indexKeys, grantKey }: SaveRecordInput): Promise<void> {
    const keys = [key, ...indexKeys].map((k) => this.store.key(k));
    await this.redis.twofoldSaveRecord(keys.length, ...keys, encodePayload(payload), ttlSeconds ?? 0, key, grantKey ? this.store.key(grantKey) : '', this.store.prefix);
  }

  async loadRecord(key: string): Promise<ModelRecord | null> {
    return toRecord(await this.redis.hmgetBuffer(this.store.key(key), 'payload', 'consumed'));
  }

  async loadRecordByIndex(indexKey: string): Promise<ModelRecord | null> {
    const reply = await this.redis.twofoldLoadByIndexBuffer(this.store.key(indexKey), this.store.prefix);
    return reply ? toRecord(reply) : null;
  }

  async consumeRecord(key: string, at: number): Promise<void> {
    await this.redis.twofoldConsume(this.store.key(key), at);
  }

  async revokeGrant(grantKey: string): Promise<void> {
    await this.redis.twofoldRevokeGrant(this.store.key(grantKey), this.store.prefix);
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
