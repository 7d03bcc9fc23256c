import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from '../logger.js';
import { MailSendError, type Mailer, type OutgoingMail } from './mailer.js';

export interface SmtpMailerOptions {
  /** smtp://user:pass@host:port or smtps://…; the credentials never reach a log. */
  url: string;
  /** The From header, e.g. "Twofold <no-reply@example.com>". */
  from: string;
  /** Upper bound for one send, whatever the server does. */
  timeoutMs: number;
  logger: Logger;
}

class SendTimeout extends Error {}

const MAX_REASON_LENGTH = 200;

/**
 * What is safe to log and audit of a failure: nodemailer's error code and the server's reply
 * code, never its message (it may echo the recipient or the AUTH exchange).
 */
function reasonOf(error: unknown, timeoutMs: number): string {
  if (error instanceof SendTimeout) return `timeout after ${timeoutMs} ms`;
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; responseCode?: unknown; command?: unknown };
    const parts: string[] = [];
    if (typeof e.code === 'string' && /^[A-Z0-9_]+$/.test(e.code)) parts.push(e.code);
    if (typeof e.responseCode === 'number') parts.push(`reply ${e.responseCode}`);
    if (typeof e.command === 'string' && /^[A-Z ]{2,20}$/.test(e.command)) parts.push(`at ${e.command}`);
    if (parts.length > 0) return parts.join(', ').slice(0, MAX_REASON_LENGTH);
  }
  return 'unexpected error';
}

/** Sends through an SMTP server with nodemailer, one connection per mail. */
export class SmtpMailer implements Mailer {
  readonly name = 'smtp';
  private readonly transport: Transporter;
  private readonly from: string;
  private readonly timeoutMs: number;
  private readonly logger: Logger;

  constructor(options: SmtpMailerOptions) {
    if (!/^smtps?:\/\//i.test(options.url)) throw new Error('SMTP_URL must be an smtp:// or smtps:// URL');
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) throw new Error('timeoutMs must be a positive number');
    this.from = options.from;
    this.timeoutMs = options.timeoutMs;
    this.logger = options.logger;
    // nodemailer's own timers bound each stage; the race in send() bounds the whole.
    this.transport = nodemailer.createTransport({
      url: options.url,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
      dnsTimeout: options.timeoutMs,
      logger: false,
      debug: false,
    });
  }

  async send(mail: OutgoingMail): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SendTimeout()), this.timeoutMs);
    });
    try {
      const info = await Promise.race([this.transport.sendMail({ from: this.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html }), deadline]);
      if (!info.accepted || info.accepted.length === 0) throw new MailSendError('recipient refused', this.name);
    } catch (error) {
      const failure = error instanceof MailSendError ? error : new MailSendError(reasonOf(error, this.timeoutMs), this.name);
      this.logger.warn({ err: { type: 'MailSendError', message: failure.message }, reason: failure.reason, provider: this.name }, 'mail send failed');
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.transport.close();
  }
}
