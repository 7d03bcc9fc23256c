import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import type { User, UsersRepository } from '../storage/repositories/users-repository.js';
import { signOutMark } from '../oidc/session-validity.js';
import type { SecurityNotices } from '../mail/security-notices.js';

/** More than six consecutive incorrect codes (the 7th) lock the user until support unlocks. */
export const MFA_FAILURE_LIMIT = 7;

export class Lockout {
  constructor(
    private readonly users: UsersRepository,
    private readonly audit: AuditLog,
    private readonly notices?: SecurityNotices,
  ) {}

  /** Counts one wrong code; returns true when this or an earlier failure locked the user. */
  async recordFailure(user: User, origin: RequestOrigin, method: string): Promise<boolean> {
    const { failedAttempts, locked, lockedNow } = await this.users.recordMfaFailure(user.id, MFA_FAILURE_LIMIT, signOutMark());
    await this.audit.record('mfa.failed', { accountId: user.accountId, subjectUserId: user.id, origin, details: { method, failedAttempts } });
    if (lockedNow) {
      await this.audit.record('user.locked', { accountId: user.accountId, subjectUserId: user.id, origin, details: { reason: 'too_many_mfa_failures' } });
      // Only the failure that locked sends it: one mail, however many requests race past the limit.
      void this.notices?.accountLocked(user, origin);
    }
    return locked;
  }

  /** A right code: resets the counter. False when the user is locked (the code does not count). */
  async recordSuccess(user: User): Promise<boolean> {
    return this.users.resetMfaFailures(user.id);
  }
}
