import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import type { Config } from '../config/config-schema.js';
import { sha256Hex } from '../crypto/random-codes.js';
import { AppError } from '../http/app-error.js';
import type { EphemeralStore } from '../storage/ephemeral-store.js';
import type { User } from '../storage/repositories/users-repository.js';
import { callingCodeOf, isCallingCodeAllowed, maskPhone } from './phone-number.js';

const HOUR = 3600;

/** What an SMS is for: each has its own per-number cap and its own resend cooldowns. */
export type SmsPurpose = 'login' | 'enrolment';

/**
 * Limits against SMS pumping (toll fraud), checked before every send: a country allow-list,
 * a resend cooldown that doubles with each send of the user in the hour, and hourly caps per
 * user, per number, per IP and overall. Counters are atomic increments in the ephemeral store;
 * phone numbers appear in keys only as hashes.
 *
 * The cooldown holds back resends within one scope (one sign-in, or one device's enrolment),
 * so the first code of a new sign-in is never held back by an earlier PIN or sign-in. Login
 * codes and enrolment PINs are capped per number separately: others enrolling someone's
 * number cannot use up the codes its owner signs in with.
 */
export class SmsLimits {
  constructor(
    private readonly store: EphemeralStore,
    private readonly settings: Config['sms'],
    private readonly audit: AuditLog,
  ) {}

  /** Reserves one send or throws rate_limited (with an audit event). Returns a release for a failed send. */
  async reserve(user: User, phoneE164: string, origin: RequestOrigin, purpose: SmsPurpose, scope: string): Promise<() => Promise<void>> {
    const s = this.settings;
    if (!isCallingCodeAllowed(callingCodeOf(phoneE164), s.allowedCallingCodes)) {
      await this.refuse(user, phoneE164, origin, 'country');
      throw new AppError('invalid_phone_number', { key: 'sms.countryNotEnabled' });
    }
    const sentThisHour = Number((await this.store.get(`sms:limit:user:${user.id}`)) ?? 0);
    const cooldown = s.resendCooldownSeconds * 2 ** Math.min(Math.max(sentThisHour - 1, 0), 6);
    const cooldownKey = `sms:cooldown:${purpose}:${sha256Hex(scope)}`;
    if (cooldown > 0 && !(await this.store.setIfAbsent(cooldownKey, '1', cooldown))) {
      const wait = Math.ceil((await this.store.ttlMs(cooldownKey)) / 1000);
      await this.refuse(user, phoneE164, origin, 'cooldown');
      throw new AppError('rate_limited', { key: 'sms.wait', values: { seconds: Math.max(wait, 1) } }, { retryAfterSeconds: Math.max(wait, 1) });
    }
    const caps: [string, number][] = [
      [`sms:limit:user:${user.id}`, s.maxPerUserPerHour],
      [`sms:limit:phone-${purpose}:${sha256Hex(phoneE164)}`, purpose === 'login' ? s.maxPerPhonePerHour : s.maxPinsPerPhonePerHour],
      [`sms:limit:ip:${origin.ip ?? 'unknown'}`, s.maxPerIpPerHour],
      ['sms:limit:global', s.maxGlobalPerHour],
    ];
    for (const [key, limit] of caps) {
      const { count, ttlMs } = await this.store.increment(key, HOUR);
      if (count > limit) {
        await this.store.del(cooldownKey);
        await this.refuse(user, phoneE164, origin, key.split(':')[2]!);
        throw new AppError(
          'rate_limited',
          { key: 'sms.tooMany' },
          {
            retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)),
          },
        );
      }
    }
    // A send that failed should not make the user wait.
    return () => this.store.del(cooldownKey);
  }

  private async refuse(user: User, phoneE164: string, origin: RequestOrigin, limit: string): Promise<void> {
    await this.audit.record('sms.limit_hit', { accountId: user.accountId, subjectUserId: user.id, origin, details: { limit, to: maskPhone(phoneE164) } });
  }
}
