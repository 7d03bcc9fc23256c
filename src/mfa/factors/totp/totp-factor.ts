import crypto from 'node:crypto';
import QRCode from 'qrcode';
import type { SecretBox } from '../../../crypto/secret-box.js';
import type { DevicesRepository, Device, PendingLimits } from '../../../storage/repositories/devices-repository.js';
import type { User } from '../../../storage/repositories/users-repository.js';
import { AppError } from '../../../http/app-error.js';
import { generateTotpSecret, totpUri, verifyTotp } from '../../totp.js';
import { enrolmentBindingOf, type CountedUse, type EnrolmentView, type FactorContext, type MfaFactor } from '../../mfa-factor.js';

export const NICKNAME_MAX = 64;

/** What the TOTP enrolment fragment shows: the secret, or (another flow's secret) a way to renew it. */
export type TotpEnrolmentView =
  | (EnrolmentView & { kind: 'totp'; secret: string; uri: string; qrDataUrl: string; renewable?: undefined })
  /** The secret belongs to another sign-in or session: a new one must be asked for. */
  | (EnrolmentView & { kind: 'totp'; secret?: undefined; renewable: true });

/** Binds a sealed secret to its device row: a ciphertext copied to another row does not open. */
const aadFor = (deviceId: string) => `totp-secret:${deviceId}`;

/** "Mobile Passcode": RFC 6238 TOTP (SHA1, 6 digits, 30 s), secrets encrypted at rest. */
export class TotpFactor implements MfaFactor {
  readonly kind = 'totp' as const;
  readonly amr = 'otp' as const;

  constructor(
    private readonly devices: DevicesRepository,
    private readonly box: SecretBox,
    private readonly issuer: string,
    private readonly pendingLimits: PendingLimits,
  ) {}

  async beginEnrolment(user: User, input: Record<string, unknown>, ctx: FactorContext): Promise<Device> {
    const nickname = typeof input.nickname === 'string' ? input.nickname.trim() : '';
    if (!nickname) throw new AppError('validation_failed', { key: 'totp.nicknameMissing' });
    if (nickname.length > NICKNAME_MAX || /[\p{Cc}]/u.test(nickname)) {
      throw new AppError('validation_failed', { key: 'totp.nicknameInvalid', values: { max: NICKNAME_MAX } });
    }
    const id = crypto.randomUUID();
    const sealedSecret = this.box.seal(generateTotpSecret(), aadFor(id));
    return this.devices.createPending(
      { id, userId: user.id, kind: 'totp', nickname, sealedSecret, phoneE164: null, enrolmentBinding: enrolmentBindingOf(ctx) },
      this.pendingLimits,
    );
  }

  /** The secret is shown only to the flow that created (or last renewed) it. */
  async describeEnrolment(user: User, device: Device, ctx: FactorContext): Promise<TotpEnrolmentView> {
    if (device.verifiedAt || device.enrolmentBinding !== enrolmentBindingOf(ctx)) return { kind: 'totp', renewable: true };
    const secret = this.secretOf(device);
    const uri = totpUri({ issuer: this.issuer, accountName: user.username, secret });
    const qrDataUrl = await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 1, width: 220 });
    return { kind: 'totp', secret, uri, qrDataUrl };
  }

  /** "Show a new QR code" from another session: a fresh secret, which only that session sees. */
  async renewEnrolment(user: User, device: Device, ctx: FactorContext): Promise<void> {
    const sealedSecret = this.box.seal(generateTotpSecret(), aadFor(device.id));
    if (!(await this.devices.renewEnrolment(user.id, device.id, sealedSecret, enrolmentBindingOf(ctx)))) {
      throw new AppError('not_found', { key: 'device.notFound' });
    }
  }

  async confirmEnrolment(_user: User, device: Device, code: unknown): Promise<boolean> {
    const step = this.timeStepOf(device, code);
    return step !== undefined && this.devices.acceptTimeStep(device.id, step);
  }

  async beginChallenge(): Promise<void> {}

  async verify(_user: User, device: Device, code: unknown): Promise<boolean | CountedUse> {
    const step = this.timeStepOf(device, code);
    if (step === undefined) return false;
    const use = await this.devices.useTimeStep(device.id, step);
    return use.accepted && { unlocked: use.unlocked };
  }

  /** The code's time step when it is right and newer than the last one used. */
  private timeStepOf(device: Device, code: unknown): number | undefined {
    const result = verifyTotp({ secret: this.secretOf(device), token: code, afterTimeStep: device.lastTimeStep });
    return result.valid ? result.timeStep : undefined;
  }

  private secretOf(device: Device): string {
    if (!device.sealedSecret) throw new AppError('internal_error', 'TOTP device without a secret');
    return this.box.open(device.sealedSecret, aadFor(device.id)).toString('utf8');
  }
}
