import type { RequestOrigin } from '../audit/audit-log.js';
import type { SecondFactorAmr } from '../oidc/authentication-context.js';
import type { Device, DeviceKind } from '../storage/repositories/devices-repository.js';
import type { User } from '../storage/repositories/users-repository.js';

/** Where a challenge or enrolment happens: binds SMS codes to one sign-in. */
export interface FactorContext {
  /** The interaction (or self-service flow) a code is valid for. */
  flowId: string;
  origin: RequestOrigin;
}

/** What the enrolment page shows for a device not yet verified. */
export type EnrolmentView =
  | { kind: 'totp'; secret: string; uri: string; qrDataUrl: string }
  | { kind: 'sms'; maskedPhone: string };

/**
 * One second factor. A new factor (WebAuthn, say) implements this and registers itself;
 * the sign-in flow and the self-service pages never branch on the kind beyond views.
 */
export interface MfaFactor {
  readonly kind: DeviceKind;
  /** The RFC 8176 amr value a successful verification proves. */
  readonly amr: SecondFactorAmr;
  /** Creates an unverified device from the user's input (nickname, phone…). */
  beginEnrolment(user: User, input: Record<string, unknown>, ctx: FactorContext): Promise<Device>;
  /** What the user needs to finish enrolment (QR code, masked number). */
  describeEnrolment(user: User, device: Device): Promise<EnrolmentView>;
  /** Sends a new enrolment code where the factor has one (SMS PIN). */
  beginEnrolmentResend?(user: User, device: Device, ctx: FactorContext): Promise<void>;
  /** Checks the enrolment code; the device is marked verified by the caller. */
  confirmEnrolment(user: User, device: Device, code: unknown, ctx: FactorContext): Promise<boolean>;
  /** Prepares a sign-in challenge (sends an SMS; nothing for TOTP). */
  beginChallenge(user: User, device: Device, ctx: FactorContext): Promise<void>;
  /** True when the code is right; single use (a replayed code is false). */
  verify(user: User, device: Device, code: unknown, ctx: FactorContext): Promise<boolean>;
}
