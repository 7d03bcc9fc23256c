import type { MemoryStore, ModelRecord } from '../storage/memory-store.js';
import { RedisStore } from '../storage/redis-store.js';
import { RedisModelRecords, type ModelRecords } from '../storage/redis-model-records.js';

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
  /**
   * Told of every Session as it is stored (the per-user session index), alongside the write
   * (one wait, not two); `saved` settles once the record is written.
   */
  onSessionSaved?: (payload: AdapterPayload, saved: Promise<void>) => Promise<void>;
}

/** Models that revokeByGrantId must reach (oidc-provider 9.13's own list). */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

export function createAdapterClass(store: RedisStore | MemoryStore, options: AdapterOptions = {}): OidcAdapterClass {
  const records: ModelRecords = store instanceof RedisStore ? new RedisModelRecords(store) : store;
  const { findClient, onSessionSaved } = options;

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
      const saved = records.saveRecord({
        key: this.key(id),
        payload: JSON.stringify(payload),
        ttlSeconds: toTtl(expiresIn),
        indexKeys,
        grantKey: grantId && grantKey(grantId),
      });
      await (this.model === 'Session' && onSessionSaved ? Promise.all([saved, onSessionSaved(payload, saved)]) : saved);
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

// Records (`<Model>:<id>`) and index keys are each read and written alone; a grant's token
// list carries the grant's hash tag, the one other keys of that grant would share.
const uidKey = (uid: string) => `sessionUid:${uid}`;
const userCodeKey = (userCode: string) => `userCode:${userCode}`;
const grantKey = (grantId: string) => `{grant:${grantId}}:tokens`;

/** oidc-provider passes seconds left (possibly fractional or already <= 0); Redis wants a positive integer. */
function toTtl(expiresIn: number | undefined): number | undefined {
  return typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? Math.max(1, Math.ceil(expiresIn)) : undefined;
}

function decode(record: ModelRecord | null): AdapterPayload | undefined {
  if (!record) return undefined;
  const payload = JSON.parse(record.payload) as AdapterPayload;
  return record.consumed === undefined ? payload : { ...payload, consumed: record.consumed };
}
