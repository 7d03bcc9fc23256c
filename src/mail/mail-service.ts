import path from 'node:path';
import ejs from 'ejs';
import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import { VIEWS_DIR } from '../http/views.js';
import type { Logger } from '../logger.js';
import { MailSendError, type Mailer } from './mailer.js';
import { translatorFor } from '../i18n/translator.js';
import { languageForUser } from '../i18n/user-language.js';

export const MAIL_VIEWS_DIR = path.join(VIEWS_DIR, 'mail');

/** Who and what a mail is about, for the audit trail when it cannot be sent. */
export interface MailContext {
  accountId?: string | null;
  userId?: string | null;
  origin?: RequestOrigin;
  /** The recipient's stored language (see languageForUser): mails are written in it. */
  locale?: string | null;
}

const TEMPLATE_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** "1 December 2026, 09:30 UTC" (in English): the user's time zone is not known, so every mail says UTC. */
export function formatUtc(at: Date, language = 'en'): string {
  const tag = language === 'en' ? 'en-GB' : language;
  const date = new Intl.DateTimeFormat(tag, { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' }).format(at);
  const time = new Intl.DateTimeFormat(tag, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC' }).format(at);
  return `${date}, ${time} UTC`;
}

/**
 * Renders a mail from views/mail/<template>.subject.ejs, .text.ejs and .html.ejs and sends it.
 * Every template also gets `issuer` and `accountUrl`. send() never throws: a mail is a side
 * effect of an action that has already happened (and committed), so a failure is logged and
 * audited as mail.send_failed, and the action's answer is unchanged.
 */
export class MailService {
  constructor(
    private readonly mailer: Mailer,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
    private readonly settings: { issuer: string; defaultLocale?: string },
  ) {}

  /** Sends still under way: close() lets them finish (each is bounded by the mailer's timeout). */
  private readonly pending = new Set<Promise<void>>();

  get provider(): string {
    return this.mailer.name;
  }

  /** Resolves when the mail was sent or its failure recorded; never rejects. */
  send(to: string, template: string, locals: Record<string, unknown>, context: MailContext = {}): Promise<void> {
    const sending = this.deliver(to, template, locals, context);
    this.pending.add(sending);
    void sending.finally(() => this.pending.delete(sending));
    return sending;
  }

  private async deliver(to: string, template: string, locals: Record<string, unknown>, context: MailContext): Promise<void> {
    try {
      if (!TEMPLATE_NAME.test(template)) throw new MailSendError('unknown template', this.mailer.name);
      const i18n = translatorFor(languageForUser({ locale: context.locale ?? null }, context.origin, this.settings.defaultLocale ?? 'en'));
      const all = {
        ...locals,
        issuer: this.settings.issuer,
        accountUrl: `${this.settings.issuer}/account`,
        i18n,
        t: i18n.t,
        text: i18n.text,
        strong: i18n.strong,
        when: locals.at instanceof Date ? formatUtc(locals.at, i18n.tag) : locals.when,
      };
      const [subject, text, html] = await Promise.all([
        render(`${template}.subject.ejs`, all, false),
        render(`${template}.text.ejs`, all, false),
        render(`${template}.html.ejs`, all, true),
      ]);
      await this.mailer.send({ to, subject: subject.replace(/\s+/g, ' ').trim(), text, html });
    } catch (error) {
      const reason = error instanceof MailSendError ? error.reason : 'could not render the mail';
      // The SMTP mailer has logged its failure already; a rendering failure is logged here.
      if (!(error instanceof MailSendError))
        this.logger.error({ err: { type: (error as Error)?.name, message: (error as Error)?.message }, template }, 'mail could not be rendered');
      // record() itself never throws.
      await this.audit.record('mail.send_failed', {
        accountId: context.accountId ?? null,
        subjectUserId: context.userId ?? null,
        origin: context.origin,
        details: { template, provider: this.mailer.name, reason },
      });
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await this.mailer.close?.();
  }
}

const identity = (s: unknown): string => String(s ?? '');

/** HTML templates escape every <%= %>; subject and text are plain text, so they do not. */
function render(file: string, locals: Record<string, unknown>, html: boolean): Promise<string> {
  return ejs.renderFile(path.join(MAIL_VIEWS_DIR, file), locals, {
    async: true,
    cache: true,
    root: MAIL_VIEWS_DIR,
    ...(html ? {} : { escape: identity }),
  });
}
