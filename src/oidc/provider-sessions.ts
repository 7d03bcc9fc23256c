import type { MemoryStore } from '../storage/memory-store.js';
import type { RedisStore } from '../storage/redis-store.js';
import { createAdapterClass, type OidcAdapter } from './storage-adapter.js';

/** A provider (browser) session as stored by oidc-provider. */
export interface ProviderSession {
  /** The record id: the value of the browser's session cookie. Never shown to anyone. */
  id: string;
  /** The stable public handle of the session. */
  uid: string;
  accountId?: string;
  loginTs?: number;
  acr?: string;
  exp?: number;
  /** grantId of every app the session signed in to. */
  grantIds: string[];
}

/** Token models a grant's tokens live in (what oidc-provider's own revocation reaches for our clients). */
const TOKEN_MODELS = ['AccessToken', 'RefreshToken', 'AuthorizationCode'];

/**
 * Reads and ends oidc-provider sessions straight in the shared store (so it holds on every
 * node). Ending one removes the session record, its grants and every token of those grants.
 */
export class ProviderSessions {
  private readonly sessions: OidcAdapter;
  private readonly grants: OidcAdapter;
  private readonly tokens: OidcAdapter[];

  constructor(store: RedisStore | MemoryStore) {
    const Adapter = createAdapterClass(store);
    this.sessions = new Adapter('Session');
    this.grants = new Adapter('Grant');
    this.tokens = TOKEN_MODELS.map((model) => new Adapter(model));
  }

  async findById(id: string): Promise<ProviderSession | undefined> {
    return toSession(await this.sessions.find(id));
  }

  async findByUid(uid: string): Promise<ProviderSession | undefined> {
    return toSession(await this.sessions.findByUid(uid));
  }

  async end(session: ProviderSession): Promise<void> {
    // The session first: from then on it cannot start new sign-ins to any app.
    await this.sessions.destroy(session.id);
    await Promise.all(session.grantIds.flatMap((grantId) => [this.grants.destroy(grantId), ...this.tokens.map((t) => t.revokeByGrantId(grantId))]));
  }
}

/** The session a stored payload describes; undefined for anything else or an expired one. */
export function toSession(payload: Record<string, unknown> | undefined): ProviderSession | undefined {
  if (!payload || typeof payload.jti !== 'string' || typeof payload.uid !== 'string') return undefined;
  if (typeof payload.exp === 'number' && payload.exp <= Date.now() / 1000) return undefined;
  const authorizations = (payload.authorizations ?? {}) as Record<string, { grantId?: unknown }>;
  const grantIds = Object.values(authorizations)
    .map((a) => a?.grantId)
    .filter((g): g is string => typeof g === 'string' && g.length > 0);
  return {
    id: payload.jti,
    uid: payload.uid,
    accountId: typeof payload.accountId === 'string' ? payload.accountId : undefined,
    loginTs: typeof payload.loginTs === 'number' ? payload.loginTs : undefined,
    acr: typeof payload.acr === 'string' ? payload.acr : undefined,
    exp: typeof payload.exp === 'number' ? payload.exp : undefined,
    grantIds,
  };
}
