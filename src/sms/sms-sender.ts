/** Sends one text message. Implementations never log the full number or (outside development) the text. */
export interface SmsSender {
  readonly name: string;
  /** Resolves once the provider accepted the message; throws SmsSendError otherwise. */
  send(toE164: string, text: string): Promise<void>;
}

/**
 * The provider did not accept the message (network error, timeout, rejected status).
 * `reason` is safe to log and audit: a provider status or error text, never the number or the text.
 */
export class SmsSendError extends Error {
  constructor(
    readonly reason: string,
    readonly provider: string = 'sms',
  ) {
    super(`SMS could not be sent: ${reason}`);
    this.name = 'SmsSendError';
  }
}

export const isSmsSendError = (e: unknown): e is SmsSendError => e instanceof SmsSendError;
