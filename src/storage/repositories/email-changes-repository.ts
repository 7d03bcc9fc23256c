import type { Queryable } from '../postgres.js';
import { isUuid } from './accounts-repository.js';

/** A pending change of a user's address, as its verification link names it (by the token's hash). */
export interface PendingEmailChange {
  userId: string;
  newEmail: string;
  expiresAt: Date;
}

export class EmailChangesRepository {
  constructor(private readonly db: Queryable) {}

  /** Records the user's one pending change; an earlier one (and its link) is replaced. */
  async replace(userId: string, tokenHash: string, newEmail: string, ttlSeconds: number): Promise<void> {
    await this.db.query(
      `INSERT INTO email_changes (user_id, token_hash, new_email, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4))
       ON CONFLICT (user_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, new_email = EXCLUDED.new_email,
         created_at = now(), expires_at = EXCLUDED.expires_at`,
      [userId, tokenHash, newEmail, ttlSeconds],
    );
  }

  /** The user's live change for this token, without using it (for the confirmation page). */
  async find(userId: string, tokenHash: string): Promise<PendingEmailChange | undefined> {
    if (!isUuid(userId)) return undefined;
    const { rows } = await this.db.query<PendingEmailChange>(
      `SELECT user_id AS "userId", new_email AS "newEmail", expires_at AS "expiresAt"
       FROM email_changes WHERE user_id = $1 AND token_hash = $2 AND expires_at > now()`,
      [userId, tokenHash],
    );
    return rows[0];
  }

  /**
   * Uses the link: one DELETE that only the first of parallel requests wins, only for its own
   * user (another user's link is left alone) and only before it expires.
   */
  async consume(userId: string, tokenHash: string): Promise<PendingEmailChange | undefined> {
    if (!isUuid(userId)) return undefined;
    const { rows } = await this.db.query<PendingEmailChange>(
      `DELETE FROM email_changes WHERE user_id = $1 AND token_hash = $2 AND expires_at > now()
       RETURNING user_id AS "userId", new_email AS "newEmail", expires_at AS "expiresAt"`,
      [userId, tokenHash],
    );
    return rows[0];
  }
}
