import type { RequestOrigin } from '../audit/audit-log.js';
import { FACTORS } from '../mfa/factors/index.js';
import type { DeviceKind } from '../storage/repositories/devices-repository.js';
import type { User } from '../storage/repositories/users-repository.js';
import type { Message } from '../i18n/translator.js';
import type { MailService } from './mail-service.js';

/** What a notice may say about a device: its kind and name, or an SMS number's last four digits. */
export interface NoticeDevice {
  kind: DeviceKind;
  nickname?: string | null;
  phoneE164?: string | null;
}

function describe(device: NoticeDevice): string {
  return FACTORS.find((f) => f.kind === device.kind)?.noticeName(device) ?? device.kind;
}

/**
 * Security notices by mail, one per event, to the user's verified address only (no address, or
 * one not verified: nothing is sent). Each says what happened and when, and what to do if it
 * was not the user; none ever holds a code, password, token, secret or full phone number.
 *
 * Callers invoke these after their transaction has committed and the event is audited. Each
 * returns the send's promise, which never rejects: callers in a request do not wait for it, so
 * a slow mail server never slows the page (MailService.close waits for mails still going out).
 */
export class SecurityNotices {
  constructor(
    private readonly mail: MailService,
    private readonly now: () => Date = () => new Date(),
  ) {}

  deviceAdded(user: User, device: NoticeDevice, origin?: RequestOrigin, replaced?: NoticeDevice): Promise<void> {
    return this.notify(
      user,
      origin,
      { key: 'notice.deviceAdded.subject' },
      { key: 'notice.deviceAdded.summary', values: { device: describe(device) } },
      replaced ? [{ key: 'notice.deviceAdded.replaces', values: { device: describe(replaced) } }] : [],
    );
  }

  deviceRemoved(user: User, removed: { device: NoticeDevice } | { all: true; count: number }, origin?: RequestOrigin): Promise<void> {
    if ('all' in removed) {
      return this.notify(user, origin, { key: 'notice.allRemoved.subject' }, { key: 'notice.allRemoved.summary', values: { count: removed.count } });
    }
    return this.notify(user, origin, { key: 'notice.deviceRemoved.subject' }, { key: 'notice.deviceRemoved.summary', values: { device: describe(removed.device) } });
  }

  recoveryCodesGenerated(user: User, quantity: number, origin?: RequestOrigin): Promise<void> {
    return this.notify(user, origin, { key: 'notice.codesGenerated.subject' }, { key: 'notice.codesGenerated.summary', values: { count: quantity } });
  }

  recoveryCodeUsed(user: User, left: number, origin?: RequestOrigin): Promise<void> {
    return this.notify(user, origin, { key: 'notice.codeUsed.subject' }, { key: 'notice.codeUsed.summary', values: { left } }, left <= 2 ? [{ key: 'notice.codeUsed.low' }] : []);
  }

  accountLocked(user: User, origin?: RequestOrigin): Promise<void> {
    return this.notify(user, origin, { key: 'notice.locked.subject' }, { key: 'notice.locked.summary' });
  }

  mfaReset(user: User, origin?: RequestOrigin): Promise<void> {
    return this.notify(user, origin, { key: 'notice.mfaReset.subject' }, { key: 'notice.mfaReset.summary' });
  }

  passwordChanged(user: User, how: 'changed' | 'reset', origin?: RequestOrigin): Promise<void> {
    return how === 'reset'
      ? this.notify(user, origin, { key: 'notice.passwordReset.subject' }, { key: 'notice.passwordReset.summary' })
      : this.notify(user, origin, { key: 'notice.passwordChanged.subject' }, { key: 'notice.passwordChanged.summary' });
  }

  /** To the old address (the user as it was before the change). The new address is not named: the old mailbox may no longer be the user's. */
  emailChanged(before: User, origin?: RequestOrigin): Promise<void> {
    return this.notify(before, origin, { key: 'notice.emailChanged.subject' }, { key: 'notice.emailChanged.summary' });
  }

  private async notify(user: User, origin: RequestOrigin | undefined, subject: Message, summary: Message, details: Message[] = []): Promise<void> {
    if (!user.email || !user.emailVerified) return;
    await this.mail.send(
      user.email,
      'security-notice',
      {
        username: user.username,
        subject,
        summary,
        at: this.now(),
        details,
      },
      { accountId: user.accountId, userId: user.id, origin, locale: user.locale },
    );
  }
}
