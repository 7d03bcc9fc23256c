import { AppError } from '../http/app-error.js';
import { Throttle, type ThrottleRule } from '../http/throttle.js';
import { sha256Hex } from '../crypto/random-codes.js';
import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import type { UsersRepository, User } from '../storage/repositories/users-repository.js';
import { verifyPassword } from './password-hasher.js';

export const LOGIN_FAILURES_PER_USERNAME: ThrottleRule = { name: 'login-user', limit: 10, windowSeconds: 15 * 60 };
export const LOGIN_FAILURES_PER_IP: ThrottleRule = { name: 'login-ip', limit: 100, windowSeconds: 15 * 60 };

export const INVALID_CREDENTIALS = 'Invalid username or password.';
const THROTTLED = 'Too many failed sign-in attempts. Wait a few minutes and try again.';

/**
 * Username + password. Unknown users and wrong passwords give one message and cost one argon2
 * verification each (no user enumeration). Failures are throttled per username and per IP;
 * they never feed the MFA lockout counter.
 */
export class PasswordLogin {
  constructor(
    private readonly users: UsersRepository,
    private readonly throttle: Throttle,
    private readonly audit: AuditLog,
  ) {}

  async verify(usernameInput: unknown, passwordInput: unknown, origin: RequestOrigin): Promise<User> {
    const username = typeof usernameInput === 'string' ? usernameInput.trim() : '';
    const password = typeof passwordInput === 'string' ? passwordInput : '';
    if (!username || !password || username.length > 200) throw new AppError('invalid_credentials', INVALID_CREDENTIALS);

    const userKey = sha256Hex(username.toLowerCase());
    const ipKey = origin.ip ?? 'unknown';
    let failuresOfUsername: number;
    try {
      [failuresOfUsername] = await Promise.all([
        this.throttle.check(LOGIN_FAILURES_PER_USERNAME, userKey, THROTTLED),
        this.throttle.check(LOGIN_FAILURES_PER_IP, ipKey, THROTTLED),
      ]);
    } catch (err) {
      await this.audit.record('login.throttled', { details: { ip: origin.ip }, origin });
      throw err;
    }

    const user = await this.users.findByUsername(username);
    const ok = await verifyPassword(user?.passwordHash ?? null, password);
    if (!user || !ok) {
      await Promise.all([this.throttle.hit(LOGIN_FAILURES_PER_USERNAME, userKey), this.throttle.hit(LOGIN_FAILURES_PER_IP, ipKey)]);
      await this.audit.record('login.password_failed', {
        accountId: user?.accountId ?? null,
        subjectUserId: user?.id ?? null,
        origin,
      });
      throw new AppError('invalid_credentials', INVALID_CREDENTIALS);
    }
    if (failuresOfUsername > 0) await this.throttle.reset(LOGIN_FAILURES_PER_USERNAME, userKey);
    await this.audit.record('login.password_ok', { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin });
    return user;
  }
}
