import crypto from 'node:crypto';
import type { AccountAdmin, MfaReset, ResetJustification } from '../accounts/account-admin.js';
import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import { constantTimeEqual, randomDigits } from '../crypto/random-codes.js';
import { AppError } from '../http/app-error.js';
import { originForAnother } from '../i18n/user-language.js';
import type { MailService } from '../mail/mail-service.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { SupportCodeRepository } from '../storage/repositories/support-code-repository.js';
import type { User } from '../storage/repositories/users-repository.js';

export const SUPPORT_CODE_TRIES = 5;
export const REASON_MAX_LENGTH = 500;
/** Codes mailed to one user per hour: each one is a mail in their inbox. */
const SENDS_PER_HOUR = 5;
/** How long a confirmation without a code holds the user's reset claim. */
const RESET_CLAIM_SECONDS = 60;

export interface ResetInput {
  reason: string;
  code: string;
  attested: boolean;
}

/** The user's address, for support's screen: enough to confirm it with the caller, not to copy it. */
export function maskEmail(email: string): string {
  const at = email.indexOf('@');
  const local = email.slice(0, at);
  return `${local.slice(0, 1)}${'•'.repeat(Math.max(1, Math.min(local.length - 1, 6)))}${email.slice(at)}`;
}

const hasVerifiedEmail = (user: User): user is User & { email: string } => Boolean(user.email && user.emailVerified);

/**
 * Support's "Reset MFA" with proof that the caller is the user: a 6-digit code mailed to the
 * user's verified address (keyed hash, one per user, 5 tries, single use), or, for a user
 * without one, support's statement that they verified the identity another way. Every reset
 * carries the reason and the method into the audit trail; the user gets the usual notice.
 */
export class SupportMfaReset {
  private readonly key: Buffer;

  constructor(
    private readonly deps: { data: DataStore; codes: SupportCodeRepository; admin: AccountAdmin; audit: AuditLog; mail: MailService; ttlSeconds: number },
    secret: Buffer,
  ) {
    this.key = crypto.createHmac('sha256', secret).update('twofold support verification code hashing').digest();
  }

  /** The code is bound to the user it was sent for: another user's code never matches. */
  private hash(userId: string, code: string): string {
    return crypto.createHmac('sha256', this.key).update(`${userId}\0${code}`).digest('hex');
  }

  private async target(userId: string): Promise<User> {
    const user = await this.deps.data.users.findById(userId);
    if (!user) throw new AppError('not_found', { key: 'support.noSuchUser' });
    return user;
  }

  /** What the reset dialog offers: a code to the (masked) verified address, or the attestation. */
  async proofOf(user: User): Promise<{ maskedEmail: string | null; codeSent: boolean }> {
    if (!hasVerifiedEmail(user)) return { maskedEmail: null, codeSent: false };
    return { maskedEmail: maskEmail(user.email), codeSent: (await this.deps.codes.get(user.id)) !== undefined };
  }

  /** Mails a new code (the previous one stops working). */
  async sendCode(actor: User, userId: string, origin?: RequestOrigin): Promise<void> {
    const user = await this.target(userId);
    if (!hasVerifiedEmail(user)) throw new AppError('validation_failed', { key: 'support.codeNeedsEmail' });
    if ((await this.deps.codes.countSend(user.id, 3600)) > SENDS_PER_HOUR) {
      throw new AppError('rate_limited', { key: 'support.tooManyCodes' }, { retryAfterSeconds: 3600 });
    }
    const code = randomDigits(6);
    await this.deps.codes.replace(user.id, this.hash(user.id, code), this.deps.ttlSeconds);
    // The mail speaks the user's language, not the one of support's page.
    const context = { accountId: user.accountId, userId: user.id, origin: originForAnother(origin), locale: user.locale };
    await this.deps.audit.record('support.code_sent', { accountId: user.accountId, actorUserId: actor.id, subjectUserId: user.id, origin });
    void this.deps.mail.send(user.email, 'support-verification', { username: user.username, code, minutes: Math.max(1, Math.round(this.deps.ttlSeconds / 60)) }, context);
  }

  /** Checks the proof and resets; of parallel confirmations, one resets and the others are refused. */
  async confirm(actor: User, userId: string, input: ResetInput, origin?: RequestOrigin): Promise<MfaReset> {
    const user = await this.target(userId);
    const reason = input.reason.trim();
    if (!reason) throw new AppError('validation_failed', { key: 'support.giveReason' });
    if (reason.length > REASON_MAX_LENGTH) throw new AppError('validation_failed', { key: 'support.reasonTooLong', values: { max: REASON_MAX_LENGTH } });
    const verification = hasVerifiedEmail(user) ? await this.checkCode(actor, user, input.code, origin) : await this.checkAttested(user, input.attested);
    const why: ResetJustification = { reason, verification };
    return this.deps.admin.resetMfa(user.id, actor.id, origin, why);
  }

  private async checkCode(actor: User, user: User, typed: string, origin?: RequestOrigin): Promise<'email_code'> {
    const code = typed.replace(/\s+/g, '');
    if (!code) throw new AppError('validation_failed', { key: 'support.enterCode' });
    const { codes } = this.deps;
    // Every try counts, right or wrong, before anything is compared: a 6th try never gets a comparison.
    const tries = await codes.countTry(user.id, this.deps.ttlSeconds);
    if (tries > SUPPORT_CODE_TRIES) {
      await codes.discard(user.id);
      throw new AppError('rate_limited', { key: 'support.tooManyTries' });
    }
    const stored = await codes.get(user.id);
    if (!stored) throw new AppError('invalid_pin', { key: 'support.noValidCode' });
    if (!/^\d{6}$/.test(code) || !constantTimeEqual(this.hash(user.id, code), stored)) {
      await this.deps.audit.record('support.code_failed', { accountId: user.accountId, actorUserId: actor.id, subjectUserId: user.id, origin, details: { tries } });
      throw new AppError('invalid_pin', { key: 'support.wrongCode', values: { left: SUPPORT_CODE_TRIES - tries } });
    }
    if ((await codes.take(user.id)) !== stored) throw new AppError('invalid_pin', { key: 'support.noValidCode' });
    return 'email_code';
  }

  private async checkAttested(user: User, attested: boolean): Promise<'attested'> {
    if (!attested) throw new AppError('validation_failed', { key: 'support.attestRequired' });
    if (!(await this.deps.codes.claimReset(user.id, RESET_CLAIM_SECONDS))) throw new AppError('conflict', { key: 'support.justReset' });
    return 'attested';
  }
}
