import crypto from 'node:crypto';
import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import { parseEmail } from '../accounts/email-address.js';
import { AppError } from '../http/app-error.js';
import type { Throttle, ThrottleRule } from '../http/throttle.js';
import { sha256Hex } from '../crypto/random-codes.js';
import type { MailService } from '../mail/mail-service.js';
import type { SecurityNotices } from '../mail/security-notices.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { Message } from '../i18n/translator.js';
import type { User } from '../storage/repositories/users-repository.js';

/** How long a verification link works. */
export const EMAIL_CHANGE_TTL_SECONDS = 24 * 3600;
const TOKEN = /^[A-Za-z0-9_-]{43}$/; // 32 random bytes, base64url
/** Each request mails someone: caps per user and per recipient keep this from being a way to flood a mailbox. */
const PER_USER: ThrottleRule = { name: 'email-change:user', limit: 5, windowSeconds: 3600 };
const PER_ADDRESS: ThrottleRule = { name: 'email-change:address', limit: 3, windowSeconds: 3600 };
const TOO_MANY: Message = { key: 'email.tooMany' };

const invalidLink = () => new AppError('bad_request', { key: 'email.invalidLink' });

/**
 * "Change email": the new address is verified by a link sent to it (256 random bits, stored as
 * a keyed hash, one per user, single use, 24 hours), and only following that link, signed in as
 * the user who asked, changes the address; the old address is then told.
 */
export class EmailChange {
  private readonly key: Buffer;

  constructor(
    private readonly data: DataStore,
    private readonly audit: AuditLog,
    private readonly mail: MailService,
    private readonly notices: SecurityNotices,
    private readonly issuer: string,
    secret: Buffer,
    private readonly throttle?: Throttle,
  ) {
    this.key = crypto.createHmac('sha256', secret).update('twofold email change token hashing').digest();
  }

  private hash(token: string): string {
    return crypto.createHmac('sha256', this.key).update(token).digest('hex');
  }

  /**
   * Sends the link to the new address. The answer is the same whether or not another user has
   * that address (nobody learns whose it is): then no link goes out, and that address's mailbox
   * is told instead that someone tried to use it.
   */
  async request(user: User, input: unknown, origin: RequestOrigin): Promise<{ newEmail: string }> {
    const newEmail = parseEmail(input);
    if (newEmail === user.email && user.emailVerified) throw new AppError('validation_failed', { key: 'email.already' });
    await this.throttle?.consume(PER_USER, user.id, TOO_MANY);
    await this.throttle?.consume(PER_ADDRESS, sha256Hex(newEmail), TOO_MANY);
    const holder = await this.data.users.findByEmail(newEmail);
    const context = { accountId: user.accountId, userId: user.id, origin, locale: user.locale };
    if (holder && holder.id !== user.id) {
      await this.audit.record('user.email_change_requested', { ...context, subjectUserId: user.id, actorUserId: user.id, details: { sent: false } });
      void this.mail.send(newEmail, 'email-in-use', {}, context);
      return { newEmail };
    }
    const token = crypto.randomBytes(32).toString('base64url');
    await this.data.emailChanges.replace(user.id, this.hash(token), newEmail, EMAIL_CHANGE_TTL_SECONDS);
    await this.audit.record('user.email_change_requested', { ...context, subjectUserId: user.id, actorUserId: user.id, details: { sent: true } });
    void this.mail.send(
      newEmail,
      'email-verify',
      { username: user.username, link: `${this.issuer}/account/email/verify/${token}`, hours: EMAIL_CHANGE_TTL_SECONDS / 3600 },
      context,
    );
    return { newEmail };
  }

  /** The address a live link of this user would confirm (nothing is used up). */
  async pending(user: User, token: string): Promise<string> {
    const found = TOKEN.test(token) ? await this.data.emailChanges.find(user.id, this.hash(token)) : undefined;
    if (!found) throw invalidLink();
    return found.newEmail;
  }

  /** Follows the link: the address changes (verified), once; the old verified address is told. */
  async confirm(user: User, token: string, origin: RequestOrigin): Promise<User> {
    if (!TOKEN.test(token)) throw invalidLink();
    const changed = await this.data
      .transaction(async (tx) => {
        const used = await tx.emailChanges.consume(user.id, this.hash(token));
        if (!used) throw invalidLink();
        return tx.users.setEmail(user.id, used.newEmail, true);
      })
      .catch((err: unknown) => {
        if ((err as { constraint?: string }).constraint === 'users_email') {
          throw new AppError('conflict', { key: 'email.takenMeanwhile' });
        }
        throw err;
      });
    if (!changed) throw invalidLink();
    const { before, after } = changed;
    await this.audit.record('user.email_changed', {
      accountId: user.accountId,
      subjectUserId: user.id,
      actorUserId: user.id,
      origin,
      details: { by: 'user', hadEmail: before.email !== null, verified: true },
    });
    if (before.email !== after.email) void this.notices.emailChanged(before, origin);
    return after;
  }
}
