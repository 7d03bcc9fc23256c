import type { RequestOrigin } from '../audit/audit-log.js';
import { FACTORS } from '../mfa/factors/index.js';
import type { DeviceKind } from '../storage/repositories/devices-repository.js';
import type { User } from '../storage/repositories/users-repository.js';
import { formatUtc, type MailService } from './mail-service.js';

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
      'A new sign-in device was added to your account',
      `A new multi-factor device, ${describe(device)}, was added to your account.`,
      replaced ? [`It replaces ${describe(replaced)}, which was removed.`] : [],
    );
  }

  deviceRemoved(user: User, removed: { device: NoticeDevice } | { all: true; count: number }, origin?: RequestOrigin): Promise<void> {
    if ('all' in removed) {
      return this.notify(
        user,
        origin,
        'All sign-in devices were removed from your account',
        `All multi-factor devices (${removed.count}) and your recovery codes were removed from your account. Signing in now needs only your password.`,
      );
    }
    return this.notify(user, origin, 'A sign-in device was removed from your account', `The multi-factor device ${describe(removed.device)} was removed from your account.`);
  }

  recoveryCodesGenerated(user: User, quantity: number, origin?: RequestOrigin): Promise<void> {
    return this.notify(
      user,
      origin,
      'New recovery codes were generated for your account',
      `${quantity} new recovery code${quantity === 1 ? ' was' : 's were'} generated for your account. Any earlier recovery codes no longer work.`,
    );
  }

  recoveryCodeUsed(user: User, left: number, origin?: RequestOrigin): Promise<void> {
    return this.notify(
      user,
      origin,
      'A recovery code was used to sign in to your account',
      `A recovery code was used to sign in to your account. You have ${left} recovery code${left === 1 ? '' : 's'} left.`,
      left <= 2 ? ['Generate new recovery codes on your account page before you run out.'] : [],
    );
  }

  accountLocked(user: User, origin?: RequestOrigin): Promise<void> {
    return this.notify(user, origin, 'Your account was locked', 'Your account was locked after too many incorrect multi-factor codes. Contact support to unlock it.');
  }

  mfaReset(user: User, origin?: RequestOrigin): Promise<void> {
    return this.notify(
      user,
      origin,
      'Multi-factor authentication was reset on your account',
      'Support reset multi-factor authentication on your account: every device and recovery code was removed and you were signed out everywhere.',
    );
  }

  passwordChanged(user: User, how: 'changed' | 'reset', origin?: RequestOrigin): Promise<void> {
    return how === 'reset'
      ? this.notify(user, origin, 'Your password was reset', 'The password of your account was reset with a link sent to this address. You were signed out everywhere.')
      : this.notify(user, origin, 'Your password was changed', 'The password of your account was changed. Your other sessions were signed out.');
  }

  /** To the old address (the user as it was before the change). The new address is not named: the old mailbox may no longer be the user's. */
  emailChanged(before: User, origin?: RequestOrigin): Promise<void> {
    return this.notify(
      before,
      origin,
      'The email address of your account was changed',
      'The email address of your account was changed. Security notices now go to the new address, not to this one.',
    );
  }

  private async notify(user: User, origin: RequestOrigin | undefined, subject: string, summary: string, details: string[] = []): Promise<void> {
    if (!user.email || !user.emailVerified) return;
    await this.mail.send(
      user.email,
      'security-notice',
      {
        username: user.username,
        subject,
        summary,
        when: formatUtc(this.now()),
        details,
      },
      { accountId: user.accountId, userId: user.id, origin },
    );
  }
}
