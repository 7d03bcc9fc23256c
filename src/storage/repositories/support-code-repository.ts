import type { EphemeralStore } from '../ephemeral-store.js';

/**
 * The verification code support sends to a user before resetting their MFA: only its keyed
 * hash is kept, one per user (sending again replaces it), with a counter of tries that lives
 * as long as the code.
 */
export class SupportCodeRepository {
  constructor(private readonly store: EphemeralStore) {}

  private key(userId: string): string {
    return `support-code:{${userId}}`;
  }

  /** Replaces the user's code, and starts its tries from zero. */
  async replace(userId: string, hash: string, ttlSeconds: number): Promise<void> {
    await this.store.del(`${this.key(userId)}:tries`);
    await this.store.set(this.key(userId), hash, ttlSeconds);
  }

  async get(userId: string): Promise<string | undefined> {
    return (await this.store.get(this.key(userId))) ?? undefined;
  }

  /** Counts one try at the user's code (atomic: parallel tries each get their own number). */
  async countTry(userId: string, ttlSeconds: number): Promise<number> {
    return (await this.store.increment(`${this.key(userId)}:tries`, ttlSeconds)).count;
  }

  /** Takes the code once: of two parallel right answers, only one gets it. */
  async take(userId: string): Promise<string | undefined> {
    return (await this.store.getDel(this.key(userId))) ?? undefined;
  }

  async discard(userId: string): Promise<void> {
    await this.store.del(this.key(userId), `${this.key(userId)}:tries`);
  }

  /** Counts a code sent for the user in the current window (a limit on mails to one user). */
  async countSend(userId: string, windowSeconds: number): Promise<number> {
    return (await this.store.increment(`${this.key(userId)}:sends`, windowSeconds)).count;
  }

  /**
   * One reset of the user at a time: true for the caller that got the claim. Confirmations
   * without a code have nothing else to take once, so parallel ones reset once.
   */
  async claimReset(userId: string, ttlSeconds: number): Promise<boolean> {
    return this.store.setIfAbsent(`${this.key(userId)}:reset`, '1', ttlSeconds);
  }
}
