import { storableText, type Queryable } from '../postgres.js';

/** OIDC client metadata as oidc-provider reads it (snake_case keys), plus our `first_party`. */
export type ClientMetadata = Record<string, unknown> & { client_id: string };

export class ClientsRepository {
  constructor(private readonly db: Queryable) {}

  async create(metadata: ClientMetadata): Promise<void> {
    await this.db.query('INSERT INTO oidc_clients (client_id, metadata) VALUES ($1, $2)', [metadata.client_id, JSON.stringify(metadata)]);
  }

  async upsert(metadata: ClientMetadata): Promise<void> {
    await this.db.query(
      `INSERT INTO oidc_clients (client_id, metadata) VALUES ($1, $2)
       ON CONFLICT (client_id) DO UPDATE SET metadata = EXCLUDED.metadata`,
      [metadata.client_id, JSON.stringify(metadata)],
    );
  }

  async find(clientId: string): Promise<ClientMetadata | undefined> {
    if (!storableText(clientId)) return undefined;
    const { rows } = await this.db.query<{ metadata: ClientMetadata }>('SELECT metadata FROM oidc_clients WHERE client_id = $1', [clientId]);
    return rows[0]?.metadata;
  }
}
