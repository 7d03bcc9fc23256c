import type { EphemeralStore } from '../ephemeral-store.js';

/** A pending SMS code: only its hash is kept, with the device and purpose it belongs to. */
export interface PendingSmsCode {
  deviceId: string;
  hash: string;
}

/**
 * Pending SMS codes in the ephemeral store, keyed by what they are for: a device's enrolment
 * PIN, or the login code of one sign-in (so a code works only for the interaction it was sent
 * for, and a resend replaces it: only the latest code is valid).
 */
export class SmsCodeRepository {
  constructor(private readonly store: EphemeralStore) {}

  /** The code and its failure counter share a hash tag: `discard` deletes both in one command. */
  private key(purpose: 'pin' | 'login', scope: string): string {
    return `sms:{${purpose}:${scope}}`;
  }

  async put(purpose: 'pin' | 'login', scope: string, code: PendingSmsCode, ttlSeconds: number): Promise<void> {
    await this.store.set(this.key(purpose, scope), JSON.stringify(code), ttlSeconds);
    await this.store.del(`${this.key(purpose, scope)}:failures`);
  }

  async get(purpose: 'pin' | 'login', scope: string): Promise<PendingSmsCode | undefined> {
    const raw = await this.store.get(this.key(purpose, scope));
    return raw ? (JSON.parse(raw) as PendingSmsCode) : undefined;
  }

  /** Takes the code once: of two parallel right answers, only one gets it. */
  async take(purpose: 'pin' | 'login', scope: string): Promise<PendingSmsCode | undefined> {
    const raw = await this.store.getDel(this.key(purpose, scope));
    return raw ? (JSON.parse(raw) as PendingSmsCode) : undefined;
  }

  /** Counts a wrong answer for this code; returns the count so far. */
  async recordFailure(purpose: 'pin' | 'login', scope: string, ttlSeconds: number): Promise<number> {
    return (await this.store.increment(`${this.key(purpose, scope)}:failures`, ttlSeconds)).count;
  }

  async discard(purpose: 'pin' | 'login', scope: string): Promise<void> {
    await this.store.del(this.key(purpose, scope), `${this.key(purpose, scope)}:failures`);
  }
}
