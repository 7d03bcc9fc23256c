import type { DisableDecision, DisableRequest, DisableRequestStatus, ListedDisableRequest } from '../../accounts/disable-request.js';
import type { Queryable } from '../postgres.js';
import { isUuid } from './accounts-repository.js';

const COLUMNS = `r.id, r.account_id AS "accountId", r.status, r.reason, r.requested_by AS "requestedBy", r.created_at AS "createdAt",
  r.decided_by AS "decidedBy", r.decided_at AS "decidedAt", r.note`;

/** Requests to turn an account's MFA requirement off. The one-open-per-account rule is the database's. */
export class DisableRequestsRepository {
  constructor(private readonly db: Queryable) {}

  /** A new pending request; undefined when the account has one open already (of parallel filings, one wins). */
  async create(accountId: string, requestedBy: string, reason: string): Promise<DisableRequest | undefined> {
    const { rows } = await this.db.query<DisableRequest>(
      `INSERT INTO mfa_disable_requests AS r (account_id, requested_by, reason) VALUES ($1, $2, $3)
       ON CONFLICT (account_id) WHERE status = 'pending' DO NOTHING RETURNING ${COLUMNS}`,
      [accountId, requestedBy, reason],
    );
    return rows[0];
  }

  async findById(id: string): Promise<DisableRequest | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await this.db.query<DisableRequest>(`SELECT ${COLUMNS} FROM mfa_disable_requests r WHERE r.id = $1`, [id]);
    return rows[0];
  }

  async findPending(accountId: string): Promise<DisableRequest | undefined> {
    const { rows } = await this.db.query<DisableRequest>(`SELECT ${COLUMNS} FROM mfa_disable_requests r WHERE r.account_id = $1 AND r.status = 'pending'`, [accountId]);
    return rows[0];
  }

  /** Newest first, with the account's name and the requester's username. */
  async list(filter: { status?: DisableRequestStatus; limit: number }): Promise<ListedDisableRequest[]> {
    const { rows } = await this.db.query<ListedDisableRequest>(
      `SELECT ${COLUMNS}, a.name AS "accountName", u.username AS "requesterUsername"
       FROM mfa_disable_requests r JOIN accounts a ON a.id = r.account_id JOIN users u ON u.id = r.requested_by
       WHERE ($1::text IS NULL OR r.status = $1) ORDER BY r.created_at DESC, r.id LIMIT $2`,
      [filter.status ?? null, filter.limit],
    );
    return rows;
  }

  /**
   * Decides a pending request, once: of parallel decisions exactly one gets the row back. The
   * requester's own decision matches nothing (the table refuses it too).
   */
  async decide(id: string, decision: DisableDecision, decidedBy: string, note: string | null): Promise<DisableRequest | undefined> {
    const { rows } = await this.db.query<DisableRequest>(
      `UPDATE mfa_disable_requests r SET status = $2, decided_by = $3, decided_at = now(), note = $4
       WHERE r.id = $1 AND r.status = 'pending' AND r.requested_by <> $3 RETURNING ${COLUMNS}`,
      [id, decision, decidedBy, note],
    );
    return rows[0];
  }
}
