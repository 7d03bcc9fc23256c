import type { Logger } from '../logger.js';
import { maskPhone } from './phone-number.js';
import type { SmsSender } from './sms-sender.js';

const KEEP_LAST = 50;

/**
 * Development stand-in for a real SMS provider: the message, code included, goes to the log
 * (that is its purpose), with the number masked. It refuses to exist in production.
 */
export class ConsoleSmsSender implements SmsSender {
  readonly name = 'console';
  /** The most recent messages, oldest first, for local debugging. */
  readonly lastMessages: Array<{ to: string; text: string }> = [];

  constructor(
    private readonly logger: Logger,
    nodeEnv: string | undefined,
  ) {
    if (nodeEnv === 'production') {
      throw new Error('The console SMS sender is for development only: set SMS_PROVIDER=vonage in production');
    }
  }

  async send(toE164: string, text: string): Promise<void> {
    this.lastMessages.push({ to: toE164, text });
    if (this.lastMessages.length > KEEP_LAST) this.lastMessages.splice(0, this.lastMessages.length - KEEP_LAST);
    this.logger.info({ sms: 'console', to: maskPhone(toE164), text }, 'SMS (development: not sent)');
  }
}
