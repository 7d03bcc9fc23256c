import type { Queryable } from '../postgres.js';

export interface StoredSigningKey {
  kid: string;
  alg: string;
  sealedJwk: string;
  createdAt: Date;
  /** From then on the key signs (the newest activated key of its algorithm). */
  activatesAt: Date;
  /** After this the key is no longer published; null while it is current. */
  retiredAt: Date | null;
}

const COLUMNS = `kid, alg, sealed_jwk AS "sealedJwk", created_at AS "createdAt", activates_at AS "activatesAt", retired_at AS "retiredAt"`;

export class SigningKeysRepository {
  constructor(private readonly db: Queryable) {}

  /** Keys published in JWKS now (current, upcoming and retiring), newest activation first. */
  async listPublished(): Promise<StoredSigningKey[]> {
    const { rows } = await this.db.query<StoredSigningKey>(
      `SELECT ${COLUMNS} FROM signing_keys WHERE retired_at IS NULL OR retired_at > now()
       ORDER BY activates_at DESC, created_at DESC, kid`,
    );
    return rows;
  }

  async insert(kid: string, alg: string, sealedJwk: string, activatesAt?: Date): Promise<void> {
    await this.db.query('INSERT INTO signing_keys (kid, alg, sealed_jwk, activates_at) VALUES ($1, $2, $3, COALESCE($4, now()))', [kid, alg, sealedJwk, activatesAt ?? null]);
  }

  /** Schedules every key of `alg` except `keepKid` to leave JWKS at `at` (never earlier than set). */
  async retireOthers(alg: string, keepKid: string, at: Date): Promise<void> {
    await this.db.query(
      `UPDATE signing_keys SET retired_at = LEAST(COALESCE(retired_at, $3), $3)
       WHERE alg = $1 AND kid <> $2 AND (retired_at IS NULL OR retired_at > now())`,
      [alg, keepKid, at],
    );
  }

  /** Serialises key generation across processes for the rest of the transaction. */
  async lockForGeneration(): Promise<void> {
    await this.db.query('SELECT pg_advisory_xact_lock($1)', [0x2f01e]);
  }
}
