import type { EphemeralStore } from '../ephemeral-store.js';

/** A WebAuthn challenge issued to one flow, for one ceremony. */
export interface PendingPasskeyChallenge {
  challenge: string;
  /** The device being enrolled (registration); absent for an assertion. */
  deviceId?: string;
}

export type PasskeyCeremony = 'register' | 'authenticate';

/** Seconds a WebAuthn challenge may be answered in. */
export const PASSKEY_CHALLENGE_TTL_SECONDS = 300;

/**
 * WebAuthn challenges in the ephemeral store, keyed by the flow (interaction, or /account
 * session) they were issued to: a newer page replaces the older challenge, and an answer takes
 * it once, so a replayed response finds nothing.
 */
export class PasskeyChallengeRepository {
  constructor(
    private readonly store: EphemeralStore,
    private readonly ttlSeconds = PASSKEY_CHALLENGE_TTL_SECONDS,
  ) {}

  private key(ceremony: PasskeyCeremony, flowId: string): string {
    return `passkey:${ceremony}:${flowId}`;
  }

  async put(ceremony: PasskeyCeremony, flowId: string, pending: PendingPasskeyChallenge): Promise<void> {
    await this.store.set(this.key(ceremony, flowId), JSON.stringify(pending), this.ttlSeconds);
  }

  /**
   * For challenges that are not stored (a passkey sign-in's, which carry their own proof): true
   * the first time `nonce` is answered, false ever after, however many answers race.
   */
  async markUsed(nonce: string, secondsLeft: number): Promise<boolean> {
    return this.store.setIfAbsent(`passkey:used:${nonce}`, '1', Math.max(1, Math.ceil(secondsLeft)));
  }

  /** Takes the challenge once: of two parallel answers, only one gets it. */
  async take(ceremony: PasskeyCeremony, flowId: string): Promise<PendingPasskeyChallenge | undefined> {
    const raw = await this.store.getDel(this.key(ceremony, flowId));
    return raw ? (JSON.parse(raw) as PendingPasskeyChallenge) : undefined;
  }
}
