import { storableText, type Queryable } from '../postgres.js';
import { isUuid } from './accounts-repository.js';
import { DevicesRepository, type Device, type ListedDevice } from './devices-repository.js';

export type Role = 'user' | 'admin';

export interface User {
  id: string;
  accountId: string;
  username: string;
  role: Role;
  isSupport: boolean;
  passwordHash: string;
  failedMfaAttempts: number;
  lockedAt: Date | null;
  lockedReason: string | null;
  /** Normalised (src/accounts/email-address.ts), unique; null when the user has none. */
  email: string | null;
  emailVerified: boolean;
  /** The language the user chose (a supported tag), or null: the deployment's default. */
  locale: string | null;
  createdAt: Date;
}

/** What decides whether a session or token of the user is still alive. */
export interface UserAuthState {
  user: User;
  accountMfaRequired: boolean;
  /** The later of the user's and the account's "sessions valid after" marks. */
  sessionsValidAfter: Date | null;
  /** The user has a verified MFA device (then a password-only session no longer suffices). */
  hasVerifiedDevice: boolean;
  /**
   * Unused recovery codes and the user's live devices, only in a sign-in's reads: the step that
   * follows needs no query of its own. Absent from the other reads, which are cached.
   */
  recoveryCodesLeft?: number;
  devices?: Device[];
}

const COLUMNS = `u.id, u.account_id AS "accountId", u.username, u.role, u.is_support AS "isSupport",
  u.password_hash AS "passwordHash", u.failed_mfa_attempts AS "failedMfaAttempts", u.locked_at AS "lockedAt",
  u.locked_reason AS "lockedReason", u.email, u.email_verified AS "emailVerified", u.locale, u.created_at AS "createdAt"`;

/**
 * A user's new "sessions valid after" mark, at least `at`. Sign-ins are stamped no earlier than
 * the marks in force (the user's and the account's), which may be ahead of the clock; a new
 * mark must pass them, or a sign-in stamped at one would outlive this sign-out.
 */
const nextMark = (at: string) => `GREATEST(${at}, users.sessions_valid_after + interval '1 second',
  (SELECT a.sessions_valid_after + interval '1 second' FROM accounts a WHERE a.id = users.account_id))`;

export class UsersRepository {
  constructor(
    private readonly db: Queryable,
    /** For a sign-in's reads: the user's devices in the same query. */
    private readonly devices?: Pick<DevicesRepository, 'listedSql' | 'pendingTtlSeconds'>,
  ) {}

  /** `usernameKey` is the canonical form (src/accounts/username.ts); its unique index refuses look-alikes. */
  async create(input: {
    accountId: string;
    username: string;
    usernameKey: string;
    role: Role;
    isSupport: boolean;
    passwordHash: string;
    email?: string | null;
    emailVerified?: boolean;
  }): Promise<User> {
    const { rows } = await this.db.query<User>(
      `INSERT INTO users AS u (account_id, username, username_key, role, is_support, password_hash, email, email_verified)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
      [input.accountId, input.username, input.usernameKey, input.role, input.isSupport, input.passwordHash, input.email ?? null, Boolean(input.email && input.emailVerified)],
    );
    return rows[0]!;
  }

  async findById(id: string): Promise<User | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await this.db.query<User>(`SELECT ${COLUMNS} FROM users u WHERE u.id = $1`, [id]);
    return rows[0];
  }

  /** By the canonical key of a username (usernameKeyOf), never by the text as typed. */
  async findByUsernameKey(key: string): Promise<User | undefined> {
    if (!storableText(key)) return undefined;
    const { rows } = await this.db.query<User>(`SELECT ${COLUMNS} FROM users u WHERE u.username_key = $1`, [key]);
    return rows[0];
  }

  /** By a normalised address (normaliseEmail). */
  async findByEmail(email: string): Promise<User | undefined> {
    if (!storableText(email)) return undefined;
    const { rows } = await this.db.query<User>(`SELECT ${COLUMNS} FROM users u WHERE u.email = $1`, [email]);
    return rows[0];
  }

  /**
   * Sets the user's address (normalised) and whether it is verified; returns the user as it was
   * before and after, or undefined when there is no such user. A taken address fails with the
   * unique violation (23505) of users_email.
   */
  async setEmail(id: string, email: string | null, verified: boolean): Promise<{ before: User; after: User } | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await this.db.query<User & { previousEmail: string | null; previousVerified: boolean }>(
      `WITH old AS (SELECT id, email, email_verified FROM users WHERE id = $1 FOR UPDATE)
       UPDATE users u SET email = $2, email_verified = $3 FROM old WHERE u.id = old.id
       RETURNING ${COLUMNS}, old.email AS "previousEmail", old.email_verified AS "previousVerified"`,
      [id, email, Boolean(email && verified)],
    );
    const row = rows[0];
    if (!row) return undefined;
    const { previousEmail, previousVerified, ...after } = row;
    return { before: { ...after, email: previousEmail, emailVerified: previousVerified }, after };
  }

  /** Remembers the user's language; true when it changed. */
  async setLocale(id: string, locale: string): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE users SET locale = $2 WHERE id = $1 AND locale IS DISTINCT FROM $2', [id, locale]);
    return (rowCount ?? 0) > 0;
  }

  /** `forSignIn`: with the recovery codes left and the devices (see UserAuthState). */
  async findAuthState(id: string, forSignIn = false): Promise<UserAuthState | undefined> {
    if (!isUuid(id)) return undefined;
    return this.authStateWhere('u.id = $1', id, forSignIn);
  }

  /** The state of the user a username names (by its canonical key): a sign-in's first read. */
  async findAuthStateByUsernameKey(key: string): Promise<UserAuthState | undefined> {
    if (!storableText(key)) return undefined;
    return this.authStateWhere('u.username_key = $1', key, true);
  }

  private async authStateWhere(where: 'u.id = $1' | 'u.username_key = $1', value: string, forSignIn: boolean): Promise<UserAuthState | undefined> {
    const devices = forSignIn ? this.devices : undefined;
    const { rows } = await this.db.query<User & Omit<UserAuthState, 'user' | 'devices'> & { devices?: ListedDevice[] }>(
      `SELECT ${COLUMNS}, a.mfa_required AS "accountMfaRequired",
         GREATEST(u.sessions_valid_after, a.sessions_valid_after) AS "sessionsValidAfter",
         EXISTS (SELECT 1 FROM mfa_devices d WHERE d.user_id = u.id AND d.verified_at IS NOT NULL) AS "hasVerifiedDevice"
         ${forSignIn ? `, (SELECT count(*)::int FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL) AS "recoveryCodesLeft"` : ''}
         ${devices ? `, ${devices.listedSql('u.id', '$2')} AS devices` : ''}
       FROM users u JOIN accounts a ON a.id = u.account_id WHERE ${where}`,
      devices ? [value, devices.pendingTtlSeconds] : [value],
    );
    const row = rows[0];
    if (!row) return undefined;
    const { accountMfaRequired, sessionsValidAfter, hasVerifiedDevice, recoveryCodesLeft, devices: listed, ...user } = row;
    return {
      user,
      accountMfaRequired,
      sessionsValidAfter,
      hasVerifiedDevice,
      ...(recoveryCodesLeft === undefined ? {} : { recoveryCodesLeft }),
      ...(listed === undefined ? {} : { devices: DevicesRepository.fromListed(listed) }),
    };
  }

  /**
   * One wrong code: adds one to the counter and, at the limit, locks in the same statement,
   * so parallel requests cannot slip past it. A locked user is not counted further.
   */
  async recordMfaFailure(id: string, limit: number, signOutAt: Date): Promise<{ failedAttempts: number; locked: boolean; lockedNow: boolean }> {
    const { rows } = await this.db.query<{ failed: number; locked: boolean }>(
      `UPDATE users SET failed_mfa_attempts = failed_mfa_attempts + 1,
         locked_at = CASE WHEN failed_mfa_attempts + 1 >= $2 THEN now() ELSE NULL END,
         locked_reason = CASE WHEN failed_mfa_attempts + 1 >= $2 THEN 'too_many_mfa_failures' ELSE NULL END,
         sessions_valid_after = CASE WHEN failed_mfa_attempts + 1 >= $2 THEN $3 ELSE sessions_valid_after END
       WHERE id = $1 AND locked_at IS NULL
       RETURNING failed_mfa_attempts AS failed, locked_at IS NOT NULL AS locked`,
      [id, limit, signOutAt],
    );
    const row = rows[0];
    if (!row) return { failedAttempts: limit, locked: true, lockedNow: false };
    return { failedAttempts: row.failed, locked: row.locked, lockedNow: row.locked };
  }

  /** A correct code: resets the counter unless the user is locked (then false). */
  async resetMfaFailures(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE users SET failed_mfa_attempts = 0 WHERE id = $1 AND locked_at IS NULL', [id]);
    return rowCount === 1;
  }

  async unlock(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE users SET failed_mfa_attempts = 0, locked_at = NULL, locked_reason = NULL WHERE id = $1', [id]);
    return rowCount === 1;
  }

  /**
   * Account recovery: clears the failure counter and ends every session of the user issued
   * before `signOutAt` (the lock, if any, stays: unlocking is a separate support action).
   */
  async resetMfaState(id: string, signOutAt: Date): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE users SET failed_mfa_attempts = 0, sessions_valid_after = ${nextMark('$2')} WHERE id = $1`, [id, signOutAt]);
    return rowCount === 1;
  }

  /** Inside a transaction: changes of one user's factors run one after the other. */
  async lockRow(id: string): Promise<void> {
    await this.db.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [id]);
  }

  /** Ends every session and refresh token of the user issued before `at`; returns the mark set. */
  async signOutEverywhere(id: string, at: Date): Promise<Date> {
    const { rows } = await this.db.query<{ mark: Date }>(`UPDATE users SET sessions_valid_after = ${nextMark('$2')} WHERE id = $1 RETURNING sessions_valid_after AS mark`, [
      id,
      at,
    ]);
    return rows[0]?.mark ?? at;
  }

  /**
   * A new password, and every session and refresh token of the user issued before `at` ends,
   * in one statement. Devices, recovery codes, the MFA failure counter and the lock stay as
   * they are. Returns the mark set (undefined: no such user).
   */
  async setPassword(id: string, passwordHash: string, at: Date): Promise<Date | undefined> {
    const { rows } = await this.db.query<{ mark: Date }>(
      `UPDATE users SET password_hash = $2, sessions_valid_after = ${nextMark('$3')} WHERE id = $1 RETURNING sessions_valid_after AS mark`,
      [id, passwordHash, at],
    );
    return rows[0]?.mark;
  }

  /**
   * Users across every account whose username key or email address starts with `prefix`
   * (already lower-case), with their account's name; `prefix` is matched literally.
   */
  async searchByPrefix(prefix: string, limit: number, offset: number): Promise<(User & { accountName: string })[]> {
    const pattern = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const { rows } = await this.db.query<User & { accountName: string }>(
      `SELECT ${COLUMNS}, a.name AS "accountName" FROM users u JOIN accounts a ON a.id = u.account_id
       WHERE u.username_key LIKE $1 ESCAPE '\\' OR u.email LIKE $1 ESCAPE '\\'
       ORDER BY u.username_key, u.id LIMIT $2 OFFSET $3`,
      [pattern, limit, offset],
    );
    return rows;
  }

  async listByAccount(accountId: string): Promise<User[]> {
    const { rows } = await this.db.query<User>(`SELECT ${COLUMNS} FROM users u WHERE u.account_id = $1 ORDER BY lower(u.username)`, [accountId]);
    return rows;
  }
}
