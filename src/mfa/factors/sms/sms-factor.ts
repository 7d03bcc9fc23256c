import crypto from 'node:crypto';
import type { AuditLog } from '../../../audit/audit-log.js';
import type { Config } from '../../../config/config-schema.js';
import { constantTimeEqual, randomDigits } from '../../../crypto/random-codes.js';
import { AppError } from '../../../http/app-error.js';
import type { Logger } from '../../../logger.js';
import { maskPhone, parsePhoneNumber } from '../../../sms/phone-number.js';
import type { SmsLimits, SmsPurpose } from '../../../sms/sms-limits.js';
import { isSmsSendError, type SmsSender } from '../../../sms/sms-sender.js';
import type { Device, DevicesRepository, PendingLimits } from '../../../storage/repositories/devices-repository.js';
import type { SmsCodeRepository } from '../../../storage/repositories/sms-code-repository.js';
import type { User } from '../../../storage/repositories/users-repository.js';
import { MFA_FAILURE_LIMIT } from '../../lockout.js';
import type { MessageKey } from '../../../i18n/catalogues/en.js';
import { translatorFor, type Message, type MessageValues } from '../../../i18n/translator.js';
import { languageForUser } from '../../../i18n/user-language.js';
import { enrolmentBindingOf, type CountedUse, type EnrolmentView, type FactorContext, type MfaFactor } from '../../mfa-factor.js';

/** Wrong PINs allowed before a PIN is void (the user requests a new one). */
export const PIN_ATTEMPTS = 5;

/** What the SMS enrolment fragment shows: where the PIN went, and whether one is waiting. */
export interface SmsEnrolmentView extends EnrolmentView {
  kind: 'sms';
  maskedPhone: string;
  pinSent: boolean;
}

export const SEND_FAILED: Message = { key: 'sms.sendFailed' };

/**
 * SMS: a 4-digit PIN verifies a new number; a 7-digit code is sent at each sign-in. Codes are
 * kept only as keyed hashes, expire, are single use, and are bound to the device and the
 * sign-in they were sent for.
 */
export class SmsFactor implements MfaFactor {
  readonly kind = 'sms' as const;
  readonly amr = 'sms' as const;
  private readonly hashKey: Buffer;

  constructor(
    private readonly deps: {
      devices: DevicesRepository;
      codes: SmsCodeRepository;
      sender: SmsSender;
      limits: SmsLimits;
      audit: AuditLog;
      logger: Logger;
      settings: Config['sms'];
      /** DEFAULT_LOCALE: the texts' language when neither the page nor the user decides. */
      defaultLanguage: string;
      pendingLimits: PendingLimits;
      /** Keys the code hashes, so a leaked store does not give the codes away. */
      secret: Buffer;
    },
  ) {
    this.hashKey = crypto.createHmac('sha256', deps.secret).update('twofold sms code hashing').digest();
  }

  private hash(scope: string, code: string): string {
    return crypto.createHmac('sha256', this.hashKey).update(`${scope}:${code}`).digest('hex');
  }

  async beginEnrolment(user: User, input: Record<string, unknown>, ctx: FactorContext): Promise<Device> {
    const { e164 } = parsePhoneNumber(String(input.country ?? ''), String(input.phone ?? ''));
    // The bounds on pending devices (per user, users per number) are checked before any SMS.
    const device = await this.deps.devices.createPending(
      { id: crypto.randomUUID(), userId: user.id, kind: 'sms', nickname: null, sealedSecret: null, phoneE164: e164, enrolmentBinding: enrolmentBindingOf(ctx) },
      this.deps.pendingLimits,
    );
    try {
      await this.sendPin(user, device.id, e164, ctx);
    } catch (err) {
      // A number that cannot receive the PIN (or may not now) leaves nothing behind.
      await this.deps.devices.removePending(user.id, device.id);
      throw err;
    }
    return device;
  }

  /** "Verify" on an unverified SMS device, or "request a new PIN". */
  async beginEnrolmentResend(user: User, device: Device, ctx: FactorContext): Promise<void> {
    await this.sendPin(user, device.id, device.phoneE164!, ctx);
  }

  async describeEnrolment(_user: User, device: Device): Promise<SmsEnrolmentView> {
    return { kind: 'sms', maskedPhone: maskPhone(device.phoneE164!), pinSent: Boolean(await this.deps.codes.get('pin', device.id)) };
  }

  async confirmEnrolment(user: User, device: Device, code: unknown, ctx: FactorContext): Promise<boolean> {
    const s = this.deps.settings;
    const pending = await this.deps.codes.get('pin', device.id);
    if (!pending) throw new AppError('invalid_pin', { key: 'sms.pinExpired' });
    // Count the attempt before judging it (one atomic increment): parallel guesses cannot get
    // more than PIN_ATTEMPTS answers, however many arrive before the PIN is voided.
    const failures = await this.deps.codes.recordFailure('pin', device.id, s.pinTtlSeconds);
    if (failures > PIN_ATTEMPTS) {
      await this.deps.codes.discard('pin', device.id);
      throw new AppError('invalid_pin', { key: 'sms.tooManyPins' });
    }
    const input = typeof code === 'string' ? code.replace(/\s+/g, '') : '';
    if (/^\d+$/.test(input) && input.length === s.pinLength && constantTimeEqual(pending.hash, this.hash(device.id, input))) {
      return Boolean(await this.deps.codes.take('pin', device.id));
    }
    await this.deps.audit.record('sms.pin_failed', { accountId: user.accountId, subjectUserId: user.id, origin: ctx.origin, details: { deviceId: device.id, failures } });
    if (failures >= PIN_ATTEMPTS) {
      await this.deps.codes.discard('pin', device.id);
      throw new AppError('invalid_pin', { key: 'sms.tooManyPins' });
    }
    return false;
  }

  async beginChallenge(user: User, device: Device, ctx: FactorContext): Promise<void> {
    const s = this.deps.settings;
    const code = randomDigits(s.codeLength);
    const text = this.textFor(user, ctx, 'sms.loginText', { code, minutes: Math.max(1, Math.round(s.codeTtlSeconds / 60)) });
    await this.send(user, device.phoneE164!, text, 'login', ctx.flowId, ctx);
    // Replaces any earlier code of this sign-in: only the latest one is valid.
    await this.deps.codes.put('login', ctx.flowId, { deviceId: device.id, hash: this.hash(ctx.flowId, code) }, s.codeTtlSeconds);
  }

  async challengeCodeSent(device: Device, flowId: string): Promise<boolean> {
    return (await this.deps.codes.get('login', flowId))?.deviceId === device.id;
  }

  async verify(_user: User, device: Device, code: unknown, ctx: FactorContext): Promise<boolean | CountedUse> {
    const pending = await this.deps.codes.get('login', ctx.flowId);
    if (!pending || pending.deviceId !== device.id) return false;
    // The sign-in's lockout counts a failure only after the answer; counting attempts here first
    // (atomically) keeps parallel guesses at one code within the lockout's limit.
    const attempts = await this.deps.codes.recordFailure('login', ctx.flowId, this.deps.settings.codeTtlSeconds);
    if (attempts > MFA_FAILURE_LIMIT) {
      await this.deps.codes.discard('login', ctx.flowId);
      return false;
    }
    const input = typeof code === 'string' ? code.replace(/\s+/g, '') : '';
    if (!/^\d+$/.test(input) || input.length !== this.deps.settings.codeLength) return false;
    if (!constantTimeEqual(pending.hash, this.hash(ctx.flowId, input))) return false;
    const taken = await this.deps.codes.take('login', ctx.flowId);
    if (!taken || taken.hash !== pending.hash) return false;
    const use = await this.deps.devices.touchInSignIn(device.id);
    return use.accepted && { unlocked: use.unlocked };
  }

  private async sendPin(user: User, deviceId: string, e164: string, ctx: FactorContext): Promise<void> {
    const s = this.deps.settings;
    const pin = randomDigits(s.pinLength);
    const text = this.textFor(user, ctx, 'sms.pinText', { pin, minutes: Math.max(1, Math.round(s.pinTtlSeconds / 60)) });
    await this.send(user, e164, text, 'enrolment', deviceId, ctx);
    await this.deps.codes.put('pin', deviceId, { deviceId, hash: this.hash(deviceId, pin) }, s.pinTtlSeconds);
  }

  /** An SMS in the user's language (see languageForUser). */
  private textFor(user: User, ctx: FactorContext, key: MessageKey, values: MessageValues): string {
    return translatorFor(languageForUser(user, ctx.origin, this.deps.defaultLanguage)).t(key, values);
  }

  /** `scope` is what a resend cooldown is counted within: the sign-in, or the device being enrolled. */
  private async send(user: User, e164: string, text: string, purpose: SmsPurpose, scope: string, ctx: FactorContext): Promise<void> {
    const release = await this.deps.limits.reserve(user, e164, ctx.origin, purpose, scope);
    const to = maskPhone(e164);
    try {
      await this.deps.sender.send(e164, text);
    } catch (err) {
      await release();
      const reason = isSmsSendError(err) ? err.reason : 'unexpected error';
      this.deps.logger.warn({ provider: this.deps.sender.name, reason, to, purpose }, 'SMS could not be sent');
      await this.deps.audit.record('sms.send_failed', { accountId: user.accountId, subjectUserId: user.id, origin: ctx.origin, details: { to, purpose, reason } });
      throw new AppError('sms_send_failed', SEND_FAILED, { cause: err });
    }
    await this.deps.audit.record('sms.sent', { accountId: user.accountId, subjectUserId: user.id, origin: ctx.origin, details: { to, purpose } });
  }
}
