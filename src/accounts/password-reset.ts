import crypto from 'node:crypto';
import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import { randomToken, sha256Hex } from '../crypto/random-codes.js';
import { AppError } from '../http/app-error.js';
import type { Message } from '../i18n/translator.js';
import type { Throttle, ThrottleRule } from '../http/throttle.js';
import type { Logger } from '../logger.js';
import type { MailService } from '../mail/mail-service.js';
import type { SecurityNotices } from '../mail/security-notices.js';
import { signOutMark } from '../oidc/session-validity.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { User } from '../storage/repositories/users-repository.js';
import { normaliseEmail } from './email-address.js';
import { hashPassword } from './password-hasher.js';
import { confirmNewPassword } from './password-change.js';

export const RESETS_PER_ADDRESS: ThrottleRule = { name: 'reset-address', limit: 5, windowSeconds: 60 * 60 };
export const RESETS_PER_IP: ThrottleRule = { name: 'reset-ip', limit: 50, windowSeconds: 60 * 60 };

export const RESET_ANSWER: Message = { key: 'passwordReset.answer' };
export const LINK_INVALID: Message = { key: 'passwordReset.linkInvalid' };
const THROTTLED = 'Too many password reset requests. Wait a while and try again.';

/** 256 random bits, 43 base64url characters in the link. */
const TOKEN_BYTES = 32;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** The mails this sends: the link, and the "password was reset" notice. Neither ever throws. */
export type ResetMail = Pick<MailService, 'send'>;
export type PasswordNotices = Pick<SecurityNotices, 'passwordChanged'>;

/**
 * "Forgot password?": a link to the user's verified address that sets a new password once.
 * The answer to a request never depends on the address: the same text and status, and the
 * same work before the answer (throttles, a token and its hash); finding the user, storing
 * the link and sending the mail happen after it, for every address alike.
 */
export class PasswordReset {
  private readonly key: Buffer;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      data: DataStore;
      throttle: Throttle;
      audit: AuditLog;
      mail: ResetMail;
      notices: PasswordNotices;
      logger: Logger;
      issuer: string;
      ttlSeconds: number;
      secret: Buffer;
    },
  ) {
    this.key = crypto.createHmac('sha256', deps.secret).update('twofold password reset token hashing').digest();
  }

  private hash(token: string): string {
    return crypto.createHmac('sha256', this.key).update(token).digest('hex');
  }

  /** Validates and throttles, then answers; the link is issued and mailed in the background. */
  async request(emailInput: unknown, origin: RequestOrigin): Promise<void> {
    const email = normaliseEmail(emailInput);
    if (!email) throw new AppError('validation_failed', { key: 'passwordReset.enterEmail' });
    const { throttle } = this.deps;
    // Counted whether or not the address is known: the limit says nothing about who exists.
    await throttle.consume(RESETS_PER_IP, origin.ip ?? 'unknown', THROTTLED);
    await throttle.consume(RESETS_PER_ADDRESS, sha256Hex(email), THROTTLED);
    const token = randomToken(TOKEN_BYTES);
    const tokenHash = this.hash(token);
    const task = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.deliver(email, token, tokenHash, origin))
      .catch((err: unknown) => this.deps.logger.error({ err: (err as Error).message }, 'password reset request failed'));
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  private async deliver(email: string, token: string, tokenHash: string, origin: RequestOrigin): Promise<void> {
    const { data, audit, mail, issuer, ttlSeconds } = this.deps;
    const recipient = await data.passwordResets.issueForVerifiedEmail(email, tokenHash, ttlSeconds);
    if (!recipient) return;
    await audit.record('password.reset_requested', { accountId: recipient.accountId, subjectUserId: recipient.userId, origin });
    const minutes = Math.max(1, Math.round(ttlSeconds / 60));
    await mail.send(
      recipient.email,
      'password-reset',
      { link: `${issuer}/password-reset/${token}`, minutes },
      { accountId: recipient.accountId, userId: recipient.userId, origin, locale: recipient.locale },
    );
  }

  /** Settles when every request taken so far has been handled (graceful shutdown, tests). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Whether a link can still be used (looking does not use it). */
  async isValid(token: string): Promise<boolean> {
    return TOKEN.test(token) && (await this.deps.data.passwordResets.findValid(this.hash(token))) !== undefined;
  }

  /**
   * Sets the new password of the link's user, once: the link is used and the password set in
   * one transaction, and every session and refresh token of the user ends. Devices, recovery
   * codes, the MFA failure counter and the lock are left alone: the next sign-in still needs
   * the second factor, and a locked user stays locked.
   */
  async complete(token: string, newPassword: unknown, confirmation: unknown, origin: RequestOrigin): Promise<User> {
    if (!(await this.isValid(token))) throw new AppError('not_found', LINK_INVALID);
    const password = confirmNewPassword(newPassword, confirmation);
    const passwordHash = await hashPassword(password);
    const { data, audit, notices } = this.deps;
    const userId = await data.transaction(async (tx) => {
      const id = await tx.passwordResets.consume(this.hash(token));
      if (!id) throw new AppError('not_found', LINK_INVALID);
      await tx.users.setPassword(id, passwordHash, signOutMark());
      return id;
    });
    const user = (await data.users.findById(userId))!;
    const who = { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin };
    await audit.recordAll([
      ['password.reset', who],
      ['sessions.revoked', { ...who, details: { scope: 'user', reason: 'password_reset' } }],
    ]);
    // Not waited for: a slow mail server never slows the page.
    void notices.passwordChanged(user, 'reset', origin);
    return user;
  }
}
