import type { Logger } from '../logger.js';
import type { AuditEventInput, AuditRepository } from '../storage/repositories/audit-repository.js';

export type AuditEventType =
  | 'login.password_ok'
  | 'login.password_failed'
  | 'login.throttled'
  | 'login.succeeded'
  | 'password.reset_requested'
  | 'password.reset'
  | 'password.changed'
  | 'mfa.ok'
  | 'mfa.failed'
  | 'mfa.reset'
  | 'user.locked'
  | 'user.unlocked'
  | 'device.added'
  | 'device.verified'
  | 'device.removed'
  | 'sms.sent'
  | 'sms.send_failed'
  | 'sms.limit_hit'
  | 'sms.pin_failed'
  | 'account.created'
  | 'user.created'
  | 'client.created'
  | 'policy.changed'
  | 'policy.disable_requested'
  | 'policy.disable_approved'
  | 'policy.disable_rejected'
  | 'sessions.revoked'
  | 'recovery_codes.generated'
  | 'recovery_codes.used'
  | 'device.default_changed'
  | 'passkey.counter_regression'
  | 'mail.send_failed'
  | 'user.email_changed'
  | 'user.email_change_requested'
  | 'support.code_sent'
  | 'support.code_failed';

/** Where a request came from, for the audit trail. */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
  /** The language of the page the request came from (chosen: by ui_locales or the picker, not guessed). */
  language?: { tag: string; chosen: boolean };
}

export type AuditRecordInput = Omit<AuditEventInput, 'type' | 'ip' | 'userAgent'> & { origin?: RequestOrigin };

/** Most events a single INSERT carries. */
const BATCH = 50;
/** INSERTs on their way at once: a slow one holds back only the events queued behind it. */
const WRITERS = 4;

/**
 * Security-relevant events. A failing audit write is logged, not thrown: the trail must never
 * be the reason a user cannot sign in, and the log line keeps the event.
 *
 * Writes are grouped: `recordAll` stores the events of one step together, and events recorded
 * while every writer is busy (many parallel sign-ins) share the next INSERT. Each call still
 * resolves only once its events are stored, so the trail is complete when a page is answered.
 */
export class AuditLog {
  private queue: { input: AuditEventInput; stored: () => void }[] = [];
  /** Counted where a writer stops looking at the queue, so no event is left without one. */
  private writers = 0;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly repository: AuditRepository,
    private readonly logger: Logger,
    /** Sees every event (metrics are derived from the audit trail). */
    private readonly observer?: (type: AuditEventType, details: Record<string, unknown>) => void,
  ) {}

  record(type: AuditEventType, event: AuditRecordInput): Promise<void> {
    return this.recordAll([[type, event]]);
  }

  recordAll(events: [AuditEventType, AuditRecordInput][]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const stored = events.map(([type, event]) => {
      const { origin, ...rest } = event;
      const input: AuditEventInput = { ...rest, type, ip: origin?.ip ?? null, userAgent: origin?.userAgent ?? null };
      this.observer?.(type, input.details ?? {});
      this.logger.info({ audit: type, accountId: input.accountId, actor: input.actorUserId, subject: input.subjectUserId, details: input.details }, 'audit');
      return new Promise<void>((resolve) => this.queue.push({ input, stored: resolve }));
    });
    if (this.writers < WRITERS) {
      this.writers++;
      const writer = this.write();
      this.running.add(writer);
      void writer.then(() => this.running.delete(writer));
    }
    return Promise.all(stored).then(() => undefined);
  }

  /** Settles once every event recorded so far is stored (or logged as lost). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  private async write(): Promise<void> {
    // Whatever else this turn of the event loop records joins the first INSERT.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, BATCH);
      try {
        await this.repository.insertMany(batch.map((b) => b.input));
      } catch (err) {
        for (const { input } of batch) this.logger.error({ err: (err as Error).message, audit: input.type }, 'audit event could not be stored');
      }
      for (const b of batch) b.stored();
    }
    this.writers--;
  }
}
