import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import { AppError } from '../http/app-error.js';
import type { Message } from '../i18n/translator.js';
import type { MailService } from '../mail/mail-service.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { User } from '../storage/repositories/users-repository.js';
import { decisionNote, isDisableRequestStatus, requestReason, type DisableDecision, type DisableRequest, type ListedDisableRequest } from './disable-request.js';
import { mayManageAccount } from './roles.js';

const LIST_LIMIT = 200;

/**
 * The two-person rule for turning "Require Multi-Factor" off: an account's admin files a
 * request with a reason, a support user who neither filed it nor belongs to that account
 * approves or rejects it. Approval is what switches the requirement off, in the same
 * transaction as the decision. Shared by the admin API, the hosted pages and the CLI.
 */
export class DisableRequests {
  constructor(
    private readonly data: DataStore,
    private readonly audit: AuditLog,
    private readonly mail?: MailService,
  ) {}

  async file(actor: User, accountId: string, reasonInput: unknown, origin?: RequestOrigin): Promise<DisableRequest> {
    if (!mayManageAccount(actor, accountId)) throw new AppError('forbidden', { key: 'admin.notYourAccount' });
    const reason = requestReason(reasonInput);
    const account = await this.data.accounts.findById(accountId);
    if (!account) throw new AppError('not_found', { key: 'admin.noSuchAccount' });
    if (!account.mfaRequired) throw new AppError('conflict', { key: 'admin.alreadyNotRequired' });
    const request = await this.data.disableRequests.create(account.id, actor.id, reason);
    if (!request) throw new AppError('request_pending', { key: 'admin.requestWaiting' });
    await this.audit.record('policy.disable_requested', { accountId: account.id, actorUserId: actor.id, origin, details: { requestId: request.id, reason } });
    return request;
  }

  /** The account's open request, if any (what the admin page shows). */
  pendingFor(accountId: string): Promise<DisableRequest | undefined> {
    return this.data.disableRequests.findPending(accountId);
  }

  /** Support's queue (actor null: the operator's CLI); `status` as given (anything but a known status is refused). */
  async list(actor: User | null, status?: string): Promise<ListedDisableRequest[]> {
    if (actor) requireSupport(actor);
    if (status !== undefined && !isDisableRequestStatus(status)) throw new AppError('validation_failed', 'status must be pending, approved or rejected.');
    return this.data.disableRequests.list({ status, limit: LIST_LIMIT });
  }

  /** Decides once: of parallel decisions exactly one wins, the others get 409. */
  async decide(actor: User, requestId: string, decision: DisableDecision, noteInput: unknown, origin?: RequestOrigin): Promise<DisableRequest> {
    requireSupport(actor);
    const note = decisionNote(noteInput);
    const found = await this.data.disableRequests.findById(requestId);
    if (!found) throw new AppError('not_found', { key: 'support.noSuchRequest' });
    const refusal = selfApprovalOf(actor, found);
    if (refusal) throw new AppError('self_approval', refusal);
    const decided = await this.data.transaction(async (tx) => {
      const request = await tx.disableRequests.decide(found.id, decision, actor.id, note);
      if (!request) throw new AppError('conflict', { key: 'support.alreadyDecided' });
      if (decision !== 'approved') return { request, previous: undefined };
      const before = await tx.accounts.findById(request.accountId);
      await tx.accounts.setMfaRequired(request.accountId, false, actor.id, null);
      return { request, previous: before?.mfaRequired };
    });
    const { request } = decided;
    const audited = { accountId: request.accountId, actorUserId: actor.id, subjectUserId: request.requestedBy, origin };
    await this.audit.record(decision === 'approved' ? 'policy.disable_approved' : 'policy.disable_rejected', { ...audited, details: { requestId: request.id, note } });
    if (decision === 'approved') {
      await this.audit.record('policy.changed', { ...audited, details: { mfaRequired: false, previous: decided.previous ?? null, requestId: request.id } });
    }
    await this.tellRequester(request);
    return request;
  }

  /** The requester hears of the decision at their verified address; the mail never holds up the answer. */
  private async tellRequester(request: DisableRequest): Promise<void> {
    if (!this.mail) return;
    const [requester, account] = await Promise.all([this.data.users.findById(request.requestedBy), this.data.accounts.findById(request.accountId)]);
    if (!requester?.email || !requester.emailVerified) return;
    void this.mail.send(
      requester.email,
      'disable-request-decided',
      {
        username: requester.username,
        accountName: account?.name ?? '',
        approved: request.status === 'approved',
        reason: request.reason,
        note: request.note,
        at: request.decidedAt ?? new Date(),
      },
      { accountId: request.accountId, userId: requester.id, locale: requester.locale },
    );
  }
}

/** Why this support user may not decide the request (no one decides their own or their organisation's); undefined when they may. */
export function selfApprovalOf(actor: Pick<User, 'id' | 'accountId'>, request: Pick<DisableRequest, 'requestedBy' | 'accountId'>): Message | undefined {
  if (request.requestedBy === actor.id) return { key: 'support.ownRequest' };
  if (request.accountId === actor.accountId) return { key: 'support.ownAccount' };
  return undefined;
}

function requireSupport(actor: User): void {
  if (!actor.isSupport) throw new AppError('support_required', { key: 'support.onlySupportDecides' });
}
