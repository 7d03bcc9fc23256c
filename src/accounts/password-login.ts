import { AppError, isAppError } from '../http/app-error.js';
import { Throttle, type ThrottleRule } from '../http/throttle.js';
import { sha256Hex } from '../crypto/random-codes.js';
import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import type { UsersRepository, UserAuthState } from '../storage/repositories/users-repository.js';
import { verifyPassword } from './password-hasher.js';
import type { Message } from '../i18n/translator.js';
import { usernameKeyOf } from './username.js';

export const LOGIN_FAILURES_PER_USERNAME: ThrottleRule = { name: 'login-user', limit: 10, windowSeconds: 15 * 60 };
export const LOGIN_FAILURES_PER_IP: ThrottleRule = { name: 'login-ip', limit: 100, windowSeconds: 15 * 60 };

export const INVALID_CREDENTIALS: Message = { key: 'login.invalid' };
const THROTTLED: Message = { key: 'login.throttled' };
/** How long an attempt may wait for a place held by attempts still being checked. */
const WAIT_FOR_PLACE_MS = 3000;
/** The bucket of every input that is no valid username (not a hex digest, so it meets no real one). */
const NOT_A_USERNAME = 'not-a-username';

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

  /**
   * The user's state (a sign-in's read: with the devices and recovery codes) once the password
   * is right, and `then` of it: the caller's next step, run together with the success's own
   * writes (one wait, not two); a failure of either fails the call.
   */
  async verify<T = undefined>(
    usernameInput: unknown,
    passwordInput: unknown,
    origin: RequestOrigin,
    then?: (auth: UserAuthState) => Promise<T>,
  ): Promise<{ auth: UserAuthState; next: T | undefined }> {
    const username = typeof usernameInput === 'string' ? usernameInput.trim() : '';
    const password = typeof passwordInput === 'string' ? passwordInput : '';
    if (!username || !password || username.length > 200) throw new AppError('invalid_credentials', INVALID_CREDENTIALS);

    // Every look-alike of a username folds to its key; text that folds to no valid username
    // names nobody, and all of it shares one bucket (it still costs the argon2 verification).
    const key = usernameKeyOf(username);
    const userKey = key === null ? NOT_A_USERNAME : sha256Hex(key);
    const ipKey = origin.ip ?? 'unknown';
    // Counted before the verification, one atomic increment per bucket: parallel guesses
    // cannot all pass a check before any of them is counted. The user is read meanwhile (a
    // read only: nothing is decided on it before the count is in), and again if the count
    // had to wait for a place, so that the password is checked against the row as it is.
    const buckets = [
      [LOGIN_FAILURES_PER_USERNAME, userKey],
      [LOGIN_FAILURES_PER_IP, ipKey],
    ] as const;
    const read = () => (key === null ? Promise.resolve(undefined) : this.users.findAuthStateByUsernameKey(key));
    const early = read();
    // A refused attempt does not wait for (nor fail on) its read.
    early.catch(() => undefined);
    let waited: boolean;
    try {
      waited = await this.throttle.acquireAll(buckets, THROTTLED, WAIT_FOR_PLACE_MS);
    } catch (err) {
      if (isAppError(err) && err.code === 'rate_limited') await this.audit.record('login.throttled', { details: { ip: origin.ip }, origin });
      throw err;
    }

    const auth = await (waited ? read() : early);
    const ok = await verifyPassword(auth?.user.passwordHash ?? null, password);
    if (!auth || !ok) {
      await this.audit.record('login.password_failed', {
        accountId: auth?.user.accountId ?? null,
        subjectUserId: auth?.user.id ?? null,
        origin,
      });
      throw new AppError('invalid_credentials', INVALID_CREDENTIALS);
    }
    const { user } = auth;
    // Only failures count: a success clears the username's bucket (the real user is not locked
    // out by guesses made before) and gives back its own place in the IP's.
    const [next] = await Promise.all([
      then?.(auth),
      this.throttle.reset(LOGIN_FAILURES_PER_USERNAME, userKey),
      this.throttle.refund(LOGIN_FAILURES_PER_IP, ipKey),
      this.audit.record('login.password_ok', { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin }),
    ]);
    return { auth, next };
  }
}
