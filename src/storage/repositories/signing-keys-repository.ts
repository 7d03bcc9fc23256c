import type { Queryable } from '../postgres.js';

export interface StoredSigningKey {
  kid: string;
  alg: string;
  sealedJwk: string;
  createdAt: Date;
}

export class SigningKeysRepository {
  constructor(private readonly db: Queryable) {}

  /** Keys still in use, newest first (oidc-provider signs with the first key of each alg). */
  async listActive(): Promise<StoredSigningKey[]> {
    const { rows } = await this.db.query<StoredSigningKey>(
      `SELECT kid, alg, sealed_jwk AS "sealedJwk", created_at AS "createdAt"
       FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid`,
    );
    return rows;
  }

  async insert(kid: string, alg: string, sealedJwk: string): Promise<void> {
    await this.db.query('INSERT INTO signing_keys (kid, alg, sealed_jwk) VALUES ($1, $2, $3)', [kid, alg, sealedJwk]);
  }

  /** Serialises key generation across processes for the rest of the transaction. */
  async lockForGeneration(): Promise<void> {
    await this.db.query('SELECT pg_advisory_xact_lock($1)', [0x2f01e]);
  }
}
