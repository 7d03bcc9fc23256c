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

/**
 * Security-relevant events. A failing audit write is logged, not thrown: the trail must never
 * be the reason a user cannot sign in, and the log line keeps the event.
 */
export class AuditLog {
  constructor(
    private readonly repository: AuditRepository,
    private readonly logger: Logger,
    /** Sees every event (metrics are derived from the audit trail). */
    private readonly observer?: (type: AuditEventType, details: Record<string, unknown>) => void,
  ) {}

  async record(type: AuditEventType, event: Omit<AuditEventInput, 'type' | 'ip' | 'userAgent'> & { origin?: RequestOrigin }): Promise<void> {
    const { origin, ...rest } = event;
    const input: AuditEventInput = { ...rest, type, ip: origin?.ip ?? null, userAgent: origin?.userAgent ?? null };
    this.observer?.(type, input.details ?? {});
    this.logger.info({ audit: type, accountId: input.accountId, actor: input.actorUserId, subject: input.subjectUserId, details: input.details }, 'audit');
    try {
      await this.repository.insert(input);
    } catch (err) {
      this.logger.error({ err: (err as Error).message, audit: type }, 'audit event could not be stored');
    }
  }
}
