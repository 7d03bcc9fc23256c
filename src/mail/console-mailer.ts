import type { Logger } from '../logger.js';
import type { Mailer, OutgoingMail } from './mailer.js';

const KEEP_LAST = 50;

/**
 * Development stand-in for an SMTP server: the mail (subject, recipient and text body) goes to
 * the log, so that a reset link can be followed with `npm start` alone. It refuses to exist in
 * production, where that log would leak links to whoever reads it.
 */
export class ConsoleMailer implements Mailer {
  readonly name = 'console';
  /** The most recent mails, oldest first, for local debugging. */
  readonly lastMails: OutgoingMail[] = [];

  constructor(
    private readonly logger: Logger,
    nodeEnv: string | undefined,
  ) {
    if (nodeEnv === 'production') {
      throw new Error('The console mailer is for development only: set MAIL_PROVIDER=smtp in production');
    }
  }

  async send(mail: OutgoingMail): Promise<void> {
    this.lastMails.push(mail);
    if (this.lastMails.length > KEEP_LAST) this.lastMails.splice(0, this.lastMails.length - KEEP_LAST);
    this.logger.info({ mail: 'console', to: mail.to, subject: mail.subject, text: mail.text }, 'Mail (development: not sent)');
  }
}
