import type { EphemeralStore } from '../ephemeral-store.js';

/** Progress of one sign-in, kept server-side under its interaction id (never in the browser). */
export interface SignInState {
  userId: string;
  /** MFA is needed before the sign-in may finish (account policy or acr_values=aal2). */
  mfaRequired: boolean;
  stage: 'challenge' | 'enrol';
  /** Device being challenged or enrolled. */
  deviceId?: string;
  /** The relying party asked for acr phr: only a phishing-resistant factor may answer. */
  phr?: boolean;
  /** A step-up of a session: its sign-in time (epoch seconds), which the result keeps. */
  stepUpOf?: number;
}

export class SignInStateRepository {
  constructor(
    private readonly store: EphemeralStore,
    private readonly ttlSeconds = 3600,
  ) {}

  async get(flowId: string): Promise<SignInState | undefined> {
    const raw = await this.store.get(`signin:${flowId}`);
    return raw ? (JSON.parse(raw) as SignInState) : undefined;
  }

  async save(flowId: string, state: SignInState): Promise<void> {
    await this.store.set(`signin:${flowId}`, JSON.stringify(state), this.ttlSeconds);
  }

  async clear(flowId: string): Promise<void> {
    await this.store.del(`signin:${flowId}`);
  }
}
