import type { Queryable } from '../postgres.js';

export class RecoveryCodesRepository {
  constructor(private readonly db: Queryable) {}

  /**
   * Replaces the user's whole set (run inside a transaction). The user's row is locked first:
   * two replacements at once (a double-click) run one after the other, so the second deletes
   * the first's set instead of adding a second set beside it.
   */
  async replace(userId: string, hashes: string[]): Promise<void> {
    await this.db.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [userId]);
    await this.db.query('DELETE FROM recovery_codes WHERE user_id = $1', [userId]);
    await this.db.query('INSERT INTO recovery_codes (user_id, code_hash) SELECT $1, unnest($2::text[])', [userId, hashes]);
  }

  /** Uses a code once: of two parallel uses, exactly one succeeds. */
  async consume(userId: string, hash: string): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL', [userId, hash]);
    return rowCount === 1;
  }

  async countUnused(userId: string): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>('SELECT count(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL', [userId]);
    return Number(rows[0]!.n);
  }

  async deleteAll(userId: string): Promise<number> {
    const { rowCount } = await this.db.query('DELETE FROM recovery_codes WHERE user_id = $1', [userId]);
    return rowCount ?? 0;
  }
}
