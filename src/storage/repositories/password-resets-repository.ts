import { storableText, type Queryable } from '../postgres.js';

/** The user a reset link was issued for (and where it goes). */
export interface ResetRecipient {
  userId: string;
  accountId: string;
  email: string;
  locale: string | null;
}

/**
 * Password-reset links, one row per user: a new link replaces the user's old one in the same
 * statement, so only the latest works. Only keyed hashes of tokens are stored.
 */
export class PasswordResetsRepository {
  constructor(private readonly db: Queryable) {}

  /**
   * Issues a link for the user whose verified address is `email` (lower-case), replacing any
   * earlier link of theirs; undefined when no user has that verified address.
   */
  async issueForVerifiedEmail(email: string, tokenHash: string, ttlSeconds: number): Promise<ResetRecipient | undefined> {
    if (!storableText(email)) return undefined;
    const { rows } = await this.db.query<ResetRecipient>(
      `WITH u AS (SELECT id, account_id, email, locale FROM users WHERE email = $1 AND email_verified),
       issued AS (
         INSERT INTO password_resets (user_id, token_hash, expires_at)
         SELECT id, $2, now() + $3 * interval '1 second' FROM u
         ON CONFLICT (user_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = now(),
           expires_at = EXCLUDED.expires_at, used_at = NULL
         RETURNING user_id)
       SELECT u.id AS "userId", u.account_id AS "accountId", u.email, u.locale FROM u JOIN issued ON issued.user_id = u.id`,
      [email, tokenHash, ttlSeconds],
    );
    return rows[0];
  }

  /** The user of a link that is unused and unexpired (it stays usable: a GET never consumes it). */
  async findValid(tokenHash: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ userId: string }>('SELECT user_id AS "userId" FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()', [
      tokenHash,
    ]);
    return rows[0]?.userId;
  }

  /** Uses a link once: of parallel uses, exactly one gets the user id. */
  async consume(tokenHash: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ userId: string }>(
      `UPDATE password_resets SET used_at = now()
       WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id AS "userId"`,
      [tokenHash],
    );
    return rows[0]?.userId;
  }
}
