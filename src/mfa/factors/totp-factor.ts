import crypto from 'node:crypto';
import QRCode from 'qrcode';
import type { SecretBox } from '../../crypto/secret-box.js';
import type { DevicesRepository, Device } from '../../storage/repositories/devices-repository.js';
import type { User } from '../../storage/repositories/users-repository.js';
import { AppError } from '../../http/app-error.js';
import { generateTotpSecret, totpUri, verifyTotp } from '../totp.js';
import type { EnrolmentView, MfaFactor } from '../mfa-factor.js';

export const NICKNAME_MAX = 64;

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
  ) {}

  async beginEnrolment(user: User, input: Record<string, unknown>): Promise<Device> {
    const nickname = typeof input.nickname === 'string' ? input.nickname.trim() : '';
    if (!nickname) throw new AppError('validation_failed', 'Enter a device nickname.');
    if (nickname.length > NICKNAME_MAX || /[\p{Cc}]/u.test(nickname)) {
      throw new AppError('validation_failed', `The nickname must be at most ${NICKNAME_MAX} characters, without control characters.`);
    }
    const id = crypto.randomUUID();
    const sealedSecret = this.box.seal(generateTotpSecret(), aadFor(id));
    return this.devices.create({ id, userId: user.id, kind: 'totp', nickname, sealedSecret, phoneE164: null });
  }

  async describeEnrolment(user: User, device: Device): Promise<EnrolmentView> {
    const secret = this.secretOf(device);
    const uri = totpUri({ issuer: this.issuer, accountName: user.username, secret });
    const qrDataUrl = await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 1, width: 220 });
    return { kind: 'totp', secret, uri, qrDataUrl };
  }

  confirmEnrolment(user: User, device: Device, code: unknown): Promise<boolean> {
    return this.verify(user, device, code);
  }

  async beginChallenge(): Promise<void> {}

  async verify(_user: User, device: Device, code: unknown): Promise<boolean> {
    const result = verifyTotp({ secret: this.secretOf(device), token: code, afterTimeStep: device.lastTimeStep });
    if (!result.valid) return false;
    // The atomic compare-and-set is the real replay guard: of two parallel uses, one wins.
    return this.devices.acceptTimeStep(device.id, result.timeStep);
  }

  private secretOf(device: Device): string {
    if (!device.sealedSecret) throw new AppError('internal_error', 'TOTP device without a secret');
    return this.box.open(device.sealedSecret, aadFor(device.id)).toString('utf8');
  }
}
