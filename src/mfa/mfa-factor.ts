import crypto from 'node:crypto';
import type { RequestOrigin } from '../audit/audit-log.js';
import type { SecondFactorAmr } from '../oidc/authentication-context.js';
import type { Device, DeviceKind } from '../storage/repositories/devices-repository.js';
import type { User } from '../storage/repositories/users-repository.js';

/** Where a challenge or enrolment happens: binds codes and enrolment secrets to one flow. */
export interface FactorContext {
  /** The interaction, or `account:<session id>` for self-service: secret to its browser. */
  flowId: string;
  origin: RequestOrigin;
}

/**
 * What a device being enrolled records of the flow that created it: only that flow is shown
 * its secret. The flow id is itself unguessable; the hash keeps it out of the database.
 */
export function enrolmentBindingOf(ctx: FactorContext): string {
  return crypto.createHash('sha256').update(`enrolment:${ctx.flowId}`).digest('base64url');
}

/** What the enrolment page shows for a device not yet verified. */
export type EnrolmentView =
  | { kind: 'totp'; secret: string; uri: string; qrDataUrl: string }
  /** The secret belongs to another sign-in or session: a new one must be asked for. */
  | { kind: 'totp'; secret?: undefined; renewable: true }
  | { kind: 'sms'; maskedPhone: string; pinSent: boolean };

/**
 * One second factor. A new factor (WebAuthn, say) implements this and registers itself;
 * the sign-in flow and the self-service pages never branch on the kind beyond views.
 */
export interface MfaFactor {
  readonly kind: DeviceKind;
  /** The RFC 8176 amr value a successful verification proves. */
  readonly amr: SecondFactorAmr;
  /** Creates an unverified device from the user's input (nickname, phone…), bound to ctx's flow. */
  beginEnrolment(user: User, input: Record<string, unknown>, ctx: FactorContext): Promise<Device>;
  /** What the user needs to finish enrolment (QR code, masked number) in this flow. */
  describeEnrolment(user: User, device: Device, ctx: FactorContext): Promise<EnrolmentView>;
  /** Sends a new enrolment code where the factor has one (SMS PIN). */
  beginEnrolmentResend?(user: User, device: Device, ctx: FactorContext): Promise<void>;
  /** Issues fresh enrolment material (a new TOTP secret) to ctx's flow. */
  renewEnrolment?(user: User, device: Device, ctx: FactorContext): Promise<void>;
  /** Checks the enrolment code; the device is marked verified by the caller. */
  confirmEnrolment(user: User, device: Device, code: unknown, ctx: FactorContext): Promise<boolean>;
  /** Prepares a sign-in challenge (sends an SMS; nothing for TOTP). */
  beginChallenge(user: User, device: Device, ctx: FactorContext): Promise<void>;
  /** For factors that send a code: whether one is waiting for this flow (what the page may claim). */
  challengeCodeSent?(device: Device, flowId: string): Promise<boolean>;
  /** True when the code is right; single use (a replayed code is false). */
  verify(user: User, device: Device, code: unknown, ctx: FactorContext): Promise<boolean>;
}
