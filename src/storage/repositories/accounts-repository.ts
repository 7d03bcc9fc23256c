import { storableText, type Queryable } from '../postgres.js';

export interface Account {
  id: string;
  name: string;
  mfaRequired: boolean;
  mfaPolicyUpdatedAt: Date;
  mfaPolicyUpdatedBy: string | null;
  sessionsValidAfter: Date | null;
  createdAt: Date;
}

const COLUMNS = `id, name, mfa_required AS "mfaRequired", mfa_policy_updated_at AS "mfaPolicyUpdatedAt",
  mfa_policy_updated_by AS "mfaPolicyUpdatedBy", sessions_valid_after AS "sessionsValidAfter", created_at AS "createdAt"`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID.test(s);

export class AccountsRepository {
  constructor(private readonly db: Queryable) {}

  async create(name: string): Promise<Account> {
    const { rows } = await this.db.query<Account>(`INSERT INTO accounts (name) VALUES ($1) RETURNING ${COLUMNS}`, [name]);
    return rows[0]!;
  }

  async findById(id: string): Promise<Account | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await this.db.query<Account>(`SELECT ${COLUMNS} FROM accounts WHERE id = $1`, [id]);
    return rows[0];
  }

  /** An account id or (case-insensitive) name, as the CLI accepts. */
  async findByRef(ref: string): Promise<Account | undefined> {
    const byId = await this.findById(ref);
    if (byId) return byId;
    if (!storableText(ref)) return undefined;
    const { rows } = await this.db.query<Account>(`SELECT ${COLUMNS} FROM accounts WHERE lower(name) = lower($1)`, [ref]);
    return rows[0];
  }

  async count(): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>('SELECT count(*) AS n FROM accounts');
    return Number(rows[0]!.n);
  }

  /**
   * Sets the policy; when it becomes required, every session of the account ends (one UPDATE).
   * Sign-ins are stamped no earlier than the marks in force, which may be ahead of the clock:
   * the new mark passes the account's and its users' marks, so none of those sign-ins survives.
   */
  async setMfaRequired(id: string, required: boolean, actorUserId: string | null, signOutAt: Date | null): Promise<Account | undefined> {
    const { rows } = await this.db.query<Account>(
      `UPDATE accounts SET mfa_required = $2, mfa_policy_updated_at = now(), mfa_policy_updated_by = $3,
         sessions_valid_after = CASE WHEN $4::timestamptz IS NULL THEN sessions_valid_after ELSE GREATEST($4::timestamptz,
           sessions_valid_after + interval '1 second',
           (SELECT max(u.sessions_valid_after) + interval '1 second' FROM users u WHERE u.account_id = accounts.id)) END
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, required, actorUserId, signOutAt],
    );
    return rows[0];
  }
}
