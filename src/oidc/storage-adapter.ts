import { MemoryStore, type ModelRecord, type SaveRecordInput } from '../storage/memory-store.js';
import { RedisStore, execResults } from '../storage/redis-store.js';

/** What oidc-provider hands to / expects from an adapter. */
export type AdapterPayload = Record<string, unknown>;

/** oidc-provider's adapter contract (it has no TypeScript types of its own). */
export interface OidcAdapter {
  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<AdapterPayload | undefined>;
  findByUid(uid: string): Promise<AdapterPayload | undefined>;
  findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

export type OidcAdapterClass = new (model: string) => OidcAdapter;

export interface AdapterOptions {
  /** Clients live in Postgres; the adapter only reads them through this. */
  findClient?: (id: string) => Promise<Record<string, unknown> | undefined>;
}

/** Models that revokeByGrantId must reach (oidc-provider 9.13's own list). */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/** The record operations both stores provide; MemoryStore implements them natively. */
type ModelRecords = Pick<
  MemoryStore,
  'saveRecord' | 'loadRecord' | 'loadRecordByIndex' | 'consumeRecord' | 'revokeGrant' | 'del'
>;

export function createAdapterClass(store: RedisStore | MemoryStore, options: AdapterOptions = {}): OidcAdapterClass {
  const records: ModelRecords = store instanceof RedisStore ? new RedisRecords(store) : store;
  const { findClient } = options;

  return class StorageAdapter implements OidcAdapter {
    constructor(readonly model: string) {}

    private key(id: string): string {
      return `${this.model}:${id}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      if (this.model === 'Client') return; // clients are managed in Postgres, never by the provider
      const indexKeys: string[] = [];
      if (this.model === 'Session' && typeof payload.uid === 'string') indexKeys.push(uidKey(payload.uid));
      if (typeof payload.userCode === 'string') indexKeys.push(userCodeKey(payload.userCode));
      const grantId = GRANTABLE.has(this.model) && typeof payload.grantId === 'string' ? payload.grantId : undefined;
      await records.saveRecord({
        key: this.key(id),
        payload: JSON.stringify(payload),
        ttlSeconds: toTtl(expiresIn),
        indexKeys,
        grantKey: grantId && grantKey(grantId),
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return findClient?.(id);
      return decode(await records.loadRecord(this.key(id)));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const payload = decode(await records.loadRecordByIndex(uidKey(uid)));
      // An index can outlive a re-keyed record; only trust it when the payload agrees.
      return payload?.uid === uid ? payload : undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const payload = decode(await records.loadRecordByIndex(userCodeKey(userCode)));
      return payload?.userCode === userCode ? payload : undefined;
    }

    async consume(id: string): Promise<void> {
      if (this.model === 'Client') return;
      await records.consumeRecord(this.key(id), Math.floor(Date.now() / 1000));
    }

    /** Index keys and grant-list entries are left to expire: lookups through them re-check the record. */
    async destroy(id: string): Promise<void> {
      if (this.model === 'Client') return;
      await records.del(this.key(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await records.revokeGrant(grantKey(grantId));
    }
  };
}

const uidKey = (uid: string) => `sessionUid:${uid}`;
const userCodeKey = (userCode: string) => `userCode:${userCode}`;
const grantKey = (grantId: string) => `grant:${grantId}`;

/** oidc-provider passes seconds left (possibly fractional or already <= 0); Redis wants a positive integer. */
function toTtl(expiresIn: number | undefined): number | undefined {
  return typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? Math.max(1, Math.ceil(expiresIn)) : undefined;
}

function decode(record: ModelRecord | null): AdapterPayload | undefined {
  if (!record) return undefined;
  const payload = JSON.parse(record.payload) as AdapterPayload;
  return record.consumed === undefined ? payload : { ...payload, consumed: record.consumed };
}

// Redis: a record is a hash {payload, consumed} so that consume() is one HSET, not a JSON rewrite.
// Index values and grant-list members are unprefixed model keys; the scripts add the prefix.
// The Lua scripts touch keys they only learn at run time, so they need a single Redis (not Cluster).

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

class RedisRecords implements ModelRecords {
  constructor(private readonly store: RedisStore) {}

  private get redis() {
    return this.store.redis;
  }

  /** One MULTI: replace the record, point its indexes at it, and append it to its grant list. */
  async saveRecord({ key, payload, ttlSeconds, indexKeys, grantKey }: SaveRecordInput): Promise<void> {
    const k = this.store.key(key);
    const tx = this.redis.multi().del(k).hset(k, 'payload', payload);
    if (ttlSeconds !== undefined) tx.expire(k, ttlSeconds);
    for (const indexKey of indexKeys) {
      if (ttlSeconds === undefined) tx.set(this.store.key(indexKey), key);
      else tx.set(this.store.key(indexKey), key, 'EX', ttlSeconds);
    }
    if (grantKey) {
      const g = this.store.key(grantKey);
      tx.rpush(g, key);
      // NX arms a fresh list, GT extends it: the list outlives its longest-lived member.
      if (ttlSeconds === undefined) tx.persist(g);
      else tx.expire(g, ttlSeconds, 'NX').expire(g, ttlSeconds, 'GT');
    }
    execResults(await tx.exec());
  }

  async loadRecord(key: string): Promise<ModelRecord | null> {
    return toRecord(await this.redis.hmget(this.store.key(key), 'payload', 'consumed'));
  }

  async loadRecordByIndex(indexKey: string): Promise<ModelRecord | null> {
    const reply = (await this.redis.eval(LOAD_BY_INDEX, 1, this.store.key(indexKey), this.store.prefix)) as
      | (string | null)[]
      | null;
    return reply ? toRecord(reply) : null;
  }

  async consumeRecord(key: string, at: number): Promise<void> {
    await this.redis.eval(CONSUME, 1, this.store.key(key), at);
  }

  async revokeGrant(grantKey: string): Promise<void> {
    await this.redis.eval(REVOKE_GRANT, 1, this.store.key(grantKey), this.store.prefix);
  }

  async del(...keys: string[]): Promise<void> {
    await this.store.del(...keys);
  }
}

function toRecord([payload, consumed]: (string | null)[]): ModelRecord | null {
  if (payload == null) return null;
  return consumed == null ? { payload } : { payload, consumed: Number(consumed) };
}
