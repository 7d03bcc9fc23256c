import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import { AppError, isAppError } from '../http/app-error.js';
import type { Message } from '../i18n/translator.js';
import { signOutMark } from '../oidc/session-validity.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { User } from '../storage/repositories/users-repository.js';
import { hashPassword } from './password-hasher.js';
import type { PasswordLogin } from './password-login.js';
import type { PasswordNotices } from './password-reset.js';
import { acceptNewPassword } from './password-rules.js';

export const WRONG_CURRENT_PASSWORD: Message = { key: 'pw.wrongCurrent' };
export const PASSWORDS_DIFFER: Message = { key: 'pw.mismatch' };

/** The confirmation field names the same password as the new one (both normalised). */
export function confirmNewPassword(newPassword: unknown, confirmation: unknown): string {
  const password = acceptNewPassword(newPassword);
  let confirmed: string | undefined;
  try {
    confirmed = acceptNewPassword(confirmation);
  } catch {
    confirmed = undefined;
  }
  if (confirmed !== password) throw new AppError('validation_failed', PASSWORDS_DIFFER);
  return password;
}

/**
 * "Change password" of a signed-in user: the current password is checked as at sign-in (the
 * same throttle per username and IP, so a stolen session cannot guess it at leisure), then the
 * new one is set and every other session and refresh token of the user ends. Factors, the MFA
 * failure counter and the lock are left alone.
 */
export class PasswordChange {
  constructor(
    private readonly data: DataStore,
    private readonly login: PasswordLogin,
    private readonly audit: AuditLog,
    private readonly notices: PasswordNotices,
  ) {}

  /** Returns the sign-out mark (the caller's own session is carried past it). */
  async change(user: User, current: unknown, newPassword: unknown, confirmation: unknown, origin: RequestOrigin): Promise<Date> {
    const password = confirmNewPassword(newPassword, confirmation);
    try {
      const { auth } = await this.login.verify(user.username, current, origin);
      if (auth.user.id !== user.id) throw new AppError('invalid_credentials', WRONG_CURRENT_PASSWORD);
    } catch (err) {
      if (isAppError(err) && err.code === 'invalid_credentials') throw new AppError('invalid_credentials', WRONG_CURRENT_PASSWORD);
      throw err;
    }
    const passwordHash = await hashPassword(password);
    const mark = await this.data.transaction(async (tx) => {
      const set = await tx.users.setPassword(user.id, passwordHash, signOutMark());
      if (!set) throw new AppError('not_found', { key: 'support.noSuchUser' });
      return set;
    });
    const who = { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin };
    await this.audit.recordAll([
      ['password.changed', who],
      ['sessions.revoked', { ...who, details: { scope: 'user', reason: 'password_changed' } }],
    ]);
    // Not waited for: a slow mail server never slows the page.
    void this.notices.passwordChanged(user, 'changed', origin);
    return mark;
  }
}
