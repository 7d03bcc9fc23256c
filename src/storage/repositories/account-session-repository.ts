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
    const raw = await this.store.get(`account-session:${id}`);
    return raw ? (JSON.parse(raw) as AccountSession) : undefined;
  }

  async save(id: string, session: AccountSession): Promise<void> {
    await this.store.set(`account-session:${id}`, JSON.stringify(session), this.ttlSeconds);
  }

  async destroy(id: string): Promise<void> {
    await this.store.del(`account-session:${id}`);
  }
}
