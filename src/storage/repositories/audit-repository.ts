import type { Queryable } from '../postgres.js';

export interface AuditEventInput {
  type: string;
  accountId?: string | null;
  actorUserId?: string | null;
  subjectUserId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  id: string;
  occurredAt: Date;
  type: string;
  accountId: string | null;
  actorUserId: string | null;
  subjectUserId: string | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
}

export class AuditRepository {
  constructor(private readonly db: Queryable) {}

  /** One INSERT, the events in order (their ids ascending as given). */
  async insertMany(events: AuditEventInput[]): Promise<void> {
    if (events.length === 0) return;
    const values: unknown[] = [];
    const rows = events.map((e) => {
      const at = values.length;
      values.push(e.type, e.accountId ?? null, e.actorUserId ?? null, e.subjectUserId ?? null, e.ip ?? null, e.userAgent?.slice(0, 512) ?? null, JSON.stringify(e.details ?? {}));
      return `($${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}, $${at + 5}, $${at + 6}, $${at + 7})`;
    });
    await this.db.query(`INSERT INTO audit_events (type, account_id, actor_user_id, subject_user_id, ip, user_agent, details) VALUES ${rows.join(', ')}`, values);
  }

  /** Newest first; `beforeId` pages backwards. Ordered by the bigint column, not the text `id` it is returned as. */
  async list(filter: { accountId?: string; subjectUserId?: string; limit: number; beforeId?: string }): Promise<AuditEvent[]> {
    const { rows } = await this.db.query<AuditEvent>(
      `SELECT id::text, occurred_at AS "occurredAt", type, account_id AS "accountId", actor_user_id AS "actorUserId",
         subject_user_id AS "subjectUserId", ip, user_agent AS "userAgent", details
       FROM audit_events
       WHERE ($1::uuid IS NULL OR account_id = $1) AND ($2::uuid IS NULL OR subject_user_id = $2)
         AND ($3::bigint IS NULL OR audit_events.id < $3)
       ORDER BY audit_events.id DESC LIMIT $4`,
      [filter.accountId ?? null, filter.subjectUserId ?? null, filter.beforeId ?? null, filter.limit],
    );
    return rows;
  }

  /** When the user's latest event of `type` happened, if any. */
  async latestOf(subjectUserId: string, type: string): Promise<Date | undefined> {
    const { rows } = await this.db.query<{ at: Date }>('SELECT occurred_at AS at FROM audit_events WHERE subject_user_id = $1 AND type = $2 ORDER BY id DESC LIMIT 1', [
      subjectUserId,
      type,
    ]);
    return rows[0]?.at;
  }
}
