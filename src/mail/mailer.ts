/** One rendered mail. `to` is a single, already validated address. */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Sends one mail. Implementations never log the body outside development, nor any credential. */
export interface Mailer {
  readonly name: string;
  /** Resolves once the server accepted the mail; throws MailSendError otherwise. */
  send(mail: OutgoingMail): Promise<void>;
  close?(): Promise<void> | void;
}

/** The server did not take the mail. `reason` is safe to log and audit (no address, no credential). */
export class MailSendError extends Error {
  constructor(
    readonly reason: string,
    readonly provider: string = 'mail',
  ) {
    super(`Mail could not be sent: ${reason}`);
    this.name = 'MailSendError';
  }
}
