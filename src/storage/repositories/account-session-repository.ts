import type { EphemeralStore } from '../ephemeral-store.js';

/** A signed-in /account session (the self-service app is a relying party of Twofold). */
export interface AccountSession {
  userId: string;
  /** auth_time of the sign-in, in seconds. */
  authTime: number;
  acr: string;
  idToken: string;
  /** Seconds; the session is dead when the user's sign-out mark is later than this. */
  validFrom: number;
  /** uid of the browser's session at Twofold it was made through; it ends with that one. */
  browserSessionUid?: string;
}

export class AccountSessionRepository {
  constructor(
    private readonly store: EphemeralStore,
    private readonly ttlSeconds = 3600,
  ) {}

  async get(id: string): Promise<AccountSession | undefined> {
    const [raw, kept] = await Promise.all([this.store.get(`account-session:${id}`), this.store.get(`account-session:${id}:kept-from`)]);
    if (!raw) return undefined;
    const session = JSON.parse(raw) as AccountSession;
    return kept && Number(kept) > session.validFrom ? { ...session, validFrom: Number(kept) } : session;
  }

  async save(id: string, session: AccountSession): Promise<void> {
    await this.store.set(`account-session:${id}`, JSON.stringify(session), this.ttlSeconds);
  }

  /**
   * The session carries on past a sign-out mark its own change set. Only ever moved forward:
   * two changes at once (a double-click) each keep the session, whichever finishes last.
   */
  async keepFrom(id: string, validFrom: number): Promise<void> {
    await this.store.raise(`account-session:${id}:kept-from`, validFrom, this.ttlSeconds);
  }

  async destroy(id: string): Promise<void> {
    // Two commands: on a Redis Cluster the keys may live on different masters.
    await Promise.all([this.store.del(`account-session:${id}`), this.store.del(`account-session:${id}:kept-from`)]);
  }
}
