import type { Queryable } from '../postgres.js';
import { isUuid } from './accounts-repository.js';

export type DeviceKind = 'totp' | 'sms';

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
}

const COLUMNS = `id, user_id AS "userId", kind, nickname, sealed_secret AS "sealedSecret", phone_e164 AS "phoneE164",
  verified_at AS "verifiedAt", is_default AS "isDefault", last_time_step::float8 AS "lastTimeStep",
  created_at AS "createdAt", last_used_at AS "lastUsedAt"`;

export class DevicesRepository {
  constructor(private readonly db: Queryable) {}

  async create(input: { id: string; userId: string; kind: DeviceKind; nickname: string | null; sealedSecret: string | null; phoneE164: string | null }): Promise<Device> {
    const { rows } = await this.db.query<Device>(
      `INSERT INTO mfa_devices (id, user_id, kind, nickname, sealed_secret, phone_e164)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [input.id, input.userId, input.kind, input.nickname, input.sealedSecret, input.phoneE164],
    );
    return rows[0]!;
  }

  /** The user's devices, default first, then verified, then oldest. */
  async listForUser(userId: string): Promise<Device[]> {
    const { rows } = await this.db.query<Device>(
      `SELECT ${COLUMNS} FROM mfa_devices WHERE user_id = $1
       ORDER BY is_default DESC, verified_at IS NULL, created_at, id`,
      [userId],
    );
    return rows;
  }

  /** Always scoped to the owner: a device id alone never reaches another user's device. */
  async findForUser(userId: string, deviceId: string): Promise<Device | undefined> {
    if (!isUuid(deviceId)) return undefined;
    const { rows } = await this.db.query<Device>(`SELECT ${COLUMNS} FROM mfa_devices WHERE id = $1 AND user_id = $2`, [deviceId, userId]);
    return rows[0];
  }

  /**
   * Marks a device verified; it becomes the default when asked or when the user has none yet.
   * Run inside a transaction: the user's device rows are locked so two verifications cannot
   * both become the default.
   */
  async markVerified(userId: string, deviceId: string, makeDefault: boolean): Promise<Device | undefined> {
    const { rows: locked } = await this.db.query<{ id: string; isDefault: boolean }>(
      'SELECT id, is_default AS "isDefault" FROM mfa_devices WHERE user_id = $1 ORDER BY id FOR UPDATE',
      [userId],
    );
    if (!locked.some((d) => d.id === deviceId)) return undefined;
    const becomesDefault = makeDefault || !locked.some((d) => d.isDefault);
    if (becomesDefault) {
      await this.db.query('UPDATE mfa_devices SET is_default = false WHERE user_id = $1 AND is_default AND id <> $2', [userId, deviceId]);
    }
    const { rows } = await this.db.query<Device>(
      `UPDATE mfa_devices SET verified_at = COALESCE(verified_at, now()), is_default = is_default OR $3
       WHERE id = $1 AND user_id = $2 RETURNING ${COLUMNS}`,
      [deviceId, userId, becomesDefault],
    );
    return rows[0];
  }

  /** Replay guard: accepts a TOTP time step only if it is newer than every step accepted before. */
  async acceptTimeStep(deviceId: string, step: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE mfa_devices SET last_time_step = $2, last_used_at = now()
       WHERE id = $1 AND (last_time_step IS NULL OR last_time_step < $2)`,
      [deviceId, step],
    );
    return rowCount === 1;
  }

  async touch(deviceId: string): Promise<void> {
    await this.db.query('UPDATE mfa_devices SET last_used_at = now() WHERE id = $1', [deviceId]);
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
