import { AppError } from '../../http/app-error.js';
import type { Queryable } from '../postgres.js';
import { isUuid } from './accounts-repository.js';

import type { DeviceKind } from '../../mfa/factors/index.js';

/** One of the registered factors' kinds (the column's check constraint lists the same). */
export type { DeviceKind };

export interface Device {
  id: string;
  userId: string;
  kind: DeviceKind;
  nickname: string | null;
  sealedSecret: string | null;
  phoneE164: string | null;
  verifiedAt: Date | null;
  isDefault: boolean;
  lastTimeStep: number | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** Keyed hash of the sign-in or session that created the device (null once verified). */
  enrolmentBinding: string | null;
  /** What the device's factor keeps of its own (a passkey's public key and counter). */
  config: Record<string, unknown> | null;
  /** A WebAuthn credential's id (base64url), unique across all users. */
  credentialId: string | null;
}

export type NewDevice = Pick<Device, 'id' | 'userId' | 'kind' | 'nickname' | 'sealedSecret' | 'phoneE164'> & { enrolmentBinding?: string | null };

/** Bounds on devices waiting for verification. */
export interface PendingLimits {
  /** Unverified devices one user may have at once. */
  perUser: number;
  /** Different users who may have one phone number pending at once. */
  usersPerPhone: number;
}

export const PENDING_DEVICES_PER_USER = 5;

/** A device's use in a sign-in: `accepted` when the use counted, `unlocked` when the owner's failure count was cleared with it. */
export interface SignInUse {
  accepted: boolean;
  unlocked: boolean;
}

const COLUMNS = `id, user_id AS "userId", kind, nickname, sealed_secret AS "sealedSecret", phone_e164 AS "phoneE164",
  verified_at AS "verifiedAt", is_default AS "isDefault", last_time_step::float8 AS "lastTimeStep",
  created_at AS "createdAt", last_used_at AS "lastUsedAt", enrolment_binding AS "enrolmentBinding",
  config, credential_id AS "credentialId"`;

/** The replay guard's compare-and-set: of two parallel uses of one step, one wins. */
const ACCEPT_TIME_STEP = `UPDATE mfa_devices SET last_time_step = $2, last_used_at = now()
  WHERE id = $1 AND (last_time_step IS NULL OR last_time_step < $2)`;

/** The order of a user's devices, by COLUMNS' names: default first, then verified, then oldest. */
const LISTING_ORDER = `"isDefault" DESC, "verifiedAt" IS NULL, "createdAt", id`;

/** A device is alive when verified, or while its enrolment has not expired. */
const ALIVE = `(verified_at IS NOT NULL OR created_at > now() - make_interval(secs => $PENDING_TTL))`;

/** A device as a JSON column carries it: its timestamps as text. */
export type ListedDevice = Omit<Device, 'verifiedAt' | 'createdAt' | 'lastUsedAt'> & { verifiedAt: string | null; createdAt: string; lastUsedAt: string | null };

const dateOrNull = (value: string | null): Date | null => (value === null ? null : new Date(value));

export interface DevicesRepositoryOptions {
  /** Seconds an unverified device stays; older ones are gone for every reader. */
  pendingTtlSeconds: number;
  /** Runs fn on a repository bound to one transaction (the same one when already in one). */
  transaction: <T>(fn: (tx: DevicesRepository) => Promise<T>) => Promise<T>;
}

export class DevicesRepository {
  constructor(
    private readonly db: Queryable,
    private readonly options: DevicesRepositoryOptions,
  ) {}

  /**
   * The owner's live devices (in `listForUser`'s order) as one JSON column of a query that reads
   * the owner, so that a sign-in reads the user and the devices in one round trip. `owner` is
   * that query's expression for the user id, `ttlParam` its parameter holding `pendingTtlSeconds`.
   */
  listedSql(owner: string, ttlParam: string): string {
    return `(SELECT COALESCE(json_agg(d ORDER BY ${LISTING_ORDER}), '[]'::json)
      FROM (SELECT ${COLUMNS} FROM mfa_devices WHERE user_id = ${owner} AND ${ALIVE.replace('$PENDING_TTL', ttlParam)}) d)`;
  }

  get pendingTtlSeconds(): number {
    return this.options.pendingTtlSeconds;
  }

  /** The devices of a `listedSql` column. */
  static fromListed(listed: ListedDevice[]): Device[] {
    return listed.map((d) => ({ ...d, verifiedAt: dateOrNull(d.verifiedAt), createdAt: new Date(d.createdAt), lastUsedAt: dateOrNull(d.lastUsedAt) }));
  }

  /** `$PENDING_TTL` in a query becomes the parameter after `params`. */
  private query<R extends object>(sql: string, params: unknown[]) {
    return this.db.query<R>(sql.replaceAll('$PENDING_TTL', `$${params.length + 1}`), [...params, this.options.pendingTtlSeconds]);
  }

  async create(input: NewDevice): Promise<Device> {
    const { rows } = await this.db.query<Device>(
      `INSERT INTO mfa_devices (id, user_id, kind, nickname, sealed_secret, phone_e164, enrolment_binding)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
      [input.id, input.userId, input.kind, input.nickname, input.sealedSecret, input.phoneE164, input.enrolmentBinding ?? null],
    );
    return rows[0]!;
  }

  /**
   * Creates an unverified device within the bounds, or throws rate_limited. One transaction:
   * the user's row is locked (then the number's advisory lock), so parallel enrolments are
   * counted one after the other and cannot slip past a bound; expired enrolments are dropped.
   */
  async createPending(input: NewDevice, limits: PendingLimits): Promise<Device> {
    return this.options.transaction(async (tx) => {
      await tx.db.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [input.userId]);
      await tx.query(`DELETE FROM mfa_devices WHERE user_id = $1 AND NOT ${ALIVE}`, [input.userId]);
      const { rows: mine } = await tx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM mfa_devices WHERE user_id = $1 AND verified_at IS NULL', [input.userId]);
      if (mine[0]!.n >= limits.perUser) {
        throw new AppError('rate_limited', { key: 'device.tooManyPending', values: { count: limits.perUser } });
      }
      if (input.phoneE164) {
        await tx.db.query("SELECT pg_advisory_xact_lock(hashtextextended('twofold pending phone:' || $1, 0))", [input.phoneE164]);
        const { rows: others } = await tx.query<{ n: number }>(
          `SELECT count(DISTINCT user_id)::int AS n FROM mfa_devices
           WHERE phone_e164 = $1 AND verified_at IS NULL AND user_id <> $2 AND ${ALIVE}`,
          [input.phoneE164, input.userId],
        );
        if (others[0]!.n >= limits.usersPerPhone) {
          throw new AppError('rate_limited', { key: 'sms.numberUnavailable' });
        }
      }
      return tx.create(input);
    });
  }

  /** The user's devices (expired enrolments left out), default first, then verified, then oldest. */
  async listForUser(userId: string): Promise<Device[]> {
    const { rows } = await this.query<Device>(`SELECT * FROM (SELECT ${COLUMNS} FROM mfa_devices WHERE user_id = $1 AND ${ALIVE}) d ORDER BY ${LISTING_ORDER}`, [userId]);
    return rows;
  }

  /** Always scoped to the owner: a device id alone never reaches another user's device. */
  async findForUser(userId: string, deviceId: string): Promise<Device | undefined> {
    if (!isUuid(deviceId)) return undefined;
    const { rows } = await this.query<Device>(`SELECT ${COLUMNS} FROM mfa_devices WHERE id = $1 AND user_id = $2 AND ${ALIVE}`, [deviceId, userId]);
    return rows[0];
  }

  /** New enrolment material for a device still being enrolled, bound to the flow that asked. */
  async renewEnrolment(userId: string, deviceId: string, sealedSecret: string | null, binding: string): Promise<boolean> {
    if (!isUuid(deviceId)) return false;
    const { rowCount } = await this.query(
      `UPDATE mfa_devices SET sealed_secret = COALESCE($3, sealed_secret), enrolment_binding = $4, created_at = now()
       WHERE id = $1 AND user_id = $2 AND verified_at IS NULL AND ${ALIVE}`,
      [deviceId, userId, sealedSecret, binding],
    );
    return rowCount === 1;
  }

  /**
   * Marks a device verified; it becomes the default when asked or when the user has none yet.
   * Run inside a transaction: the user's device rows are locked so two verifications cannot
   * both become the default; `onlyIfFirst` refuses (undefined) when another device is verified.
   */
  async markVerified(userId: string, deviceId: string, makeDefault: boolean, options: { onlyIfFirst?: boolean } = {}): Promise<Device | undefined> {
    const { rows: locked } = await this.db.query<{ id: string; isDefault: boolean; verified: boolean }>(
      'SELECT id, is_default AS "isDefault", verified_at IS NOT NULL AS verified FROM mfa_devices WHERE user_id = $1 ORDER BY id FOR UPDATE',
      [userId],
    );
    const target = locked.find((d) => d.id === deviceId);
    if (!target) return undefined;
    if (options.onlyIfFirst && locked.some((d) => d.verified && d.id !== deviceId)) return undefined;
    const becomesDefault = makeDefault || !locked.some((d) => d.isDefault);
    if (becomesDefault) {
      await this.db.query('UPDATE mfa_devices SET is_default = false WHERE user_id = $1 AND is_default AND id <> $2', [userId, deviceId]);
    }
    const { rows } = await this.db.query<Device>(
      `UPDATE mfa_devices SET verified_at = COALESCE(verified_at, now()), is_default = is_default OR $3, enrolment_binding = NULL
       WHERE id = $1 AND user_id = $2 RETURNING ${COLUMNS}`,
      [deviceId, userId, becomesDefault],
    );
    return rows[0];
  }

  /** Replay guard: accepts a TOTP time step only if it is newer than every step accepted before. */
  async acceptTimeStep(deviceId: string, step: number): Promise<boolean> {
    const { rowCount } = await this.db.query(ACCEPT_TIME_STEP, [deviceId, step]);
    return rowCount === 1;
  }

  /** A sign-in's use of a time step: the replay guard above, and the owner's count cleared as by `usedInSignIn`. */
  useTimeStep(deviceId: string, step: number): Promise<SignInUse> {
    return this.usedInSignIn(`${ACCEPT_TIME_STEP} RETURNING user_id`, [deviceId, step]);
  }

  /** A sign-in's use of a device whose code was single-use elsewhere (an SMS code). */
  touchInSignIn(deviceId: string): Promise<SignInUse> {
    return this.usedInSignIn('UPDATE mfa_devices SET last_used_at = now() WHERE id = $1 RETURNING user_id', [deviceId]);
  }

  /**
   * `used` (an UPDATE of the device returning its user_id) and, when it matched, the owner's MFA
   * failure count cleared unless the owner is locked, in one statement. The users row is updated
   * as by any other statement, so a lock racing with it is either seen or comes after.
   */
  private async usedInSignIn(used: string, params: unknown[]): Promise<SignInUse> {
    const { rows } = await this.db.query<SignInUse>(
      `WITH used AS (${used}),
       cleared AS (UPDATE users SET failed_mfa_attempts = 0 FROM used WHERE users.id = used.user_id AND users.locked_at IS NULL RETURNING 1)
       SELECT EXISTS (SELECT 1 FROM used) AS accepted, EXISTS (SELECT 1 FROM cleared) AS unlocked`,
      params,
    );
    return rows[0]!;
  }

  /**
   * Stores the credential a device being enrolled proved it holds. False when the device is no
   * longer pending; a credential already registered (by anyone) is a conflict.
   */
  async setCredential(userId: string, deviceId: string, credentialId: string, config: Record<string, unknown>): Promise<boolean> {
    if (!isUuid(deviceId)) return false;
    try {
      const { rowCount } = await this.query(`UPDATE mfa_devices SET credential_id = $3, config = $4 WHERE id = $1 AND user_id = $2 AND verified_at IS NULL AND ${ALIVE}`, [
        deviceId,
        userId,
        credentialId,
        JSON.stringify(config),
      ]);
      return rowCount === 1;
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new AppError('conflict', { key: 'passkey.alreadyRegistered' });
      throw err;
    }
  }

  /**
   * Signature counter rule in one statement: a new counter is accepted only when it is above
   * the stored one, or when both are zero (authenticators that do not count). Of two parallel
   * assertions with one counter value, one wins.
   */
  async acceptSignatureCounter(deviceId: string, counter: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE mfa_devices SET config = jsonb_set(config, '{counter}', to_jsonb($2::bigint)), last_used_at = now()
       WHERE id = $1 AND config IS NOT NULL
         AND (($2::bigint = 0 AND COALESCE((config->>'counter')::bigint, 0) = 0) OR COALESCE((config->>'counter')::bigint, 0) < $2::bigint)`,
      [deviceId, counter],
    );
    return rowCount === 1;
  }

  /** A verified device by its credential id (a sign-in that starts from the credential). */
  async findByCredentialId(credentialId: string): Promise<Device | undefined> {
    // Ids are base64url: anything else (a NUL byte would fail the query) matches nothing.
    if (!/^[A-Za-z0-9_-]{1,1400}$/.test(credentialId)) return undefined;
    const { rows } = await this.db.query<Device>(`SELECT ${COLUMNS} FROM mfa_devices WHERE credential_id = $1 AND verified_at IS NOT NULL`, [credentialId]);
    return rows[0];
  }

  /** Drops a device whose enrolment could not start (its PIN could not be sent). */
  async removePending(userId: string, deviceId: string): Promise<void> {
    await this.db.query('DELETE FROM mfa_devices WHERE id = $1 AND user_id = $2 AND verified_at IS NULL', [deviceId, userId]);
  }

  /** Removes every device of the user (account recovery); returns how many there were. */
  async deleteAllForUser(userId: string): Promise<number> {
    const { rowCount } = await this.db.query('DELETE FROM mfa_devices WHERE user_id = $1', [userId]);
    return rowCount ?? 0;
  }

  /**
   * Removes one device of the user; if it was the default, the oldest remaining verified device
   * becomes the default. Run inside a transaction.
   */
  async remove(userId: string, deviceId: string): Promise<Device | undefined> {
    if (!isUuid(deviceId)) return undefined;
    await this.db.query('SELECT id FROM mfa_devices WHERE user_id = $1 ORDER BY id FOR UPDATE', [userId]);
    const { rows } = await this.db.query<Device>(`DELETE FROM mfa_devices WHERE id = $1 AND user_id = $2 RETURNING ${COLUMNS}`, [deviceId, userId]);
    if (rows[0]?.isDefault) {
      await this.db.query(
        `UPDATE mfa_devices SET is_default = true WHERE id = (
           SELECT id FROM mfa_devices WHERE user_id = $1 AND verified_at IS NOT NULL ORDER BY verified_at, id LIMIT 1)`,
        [userId],
      );
    }
    return rows[0];
  }

  /** Makes a verified device the default (run inside a transaction). */
  async setDefault(userId: string, deviceId: string): Promise<boolean> {
    if (!isUuid(deviceId)) return false;
    const { rows } = await this.db.query<{ id: string; verified: boolean }>(
      'SELECT id, verified_at IS NOT NULL AS verified FROM mfa_devices WHERE user_id = $1 ORDER BY id FOR UPDATE',
      [userId],
    );
    if (!rows.some((d) => d.id === deviceId && d.verified)) return false;
    await this.db.query('UPDATE mfa_devices SET is_default = false WHERE user_id = $1 AND is_default AND id <> $2', [userId, deviceId]);
    await this.db.query('UPDATE mfa_devices SET is_default = true WHERE id = $1', [deviceId]);
    return true;
  }
}
