import type { Config } from '../config/config-schema.js';
import type { Logger } from '../logger.js';
import { ConsoleMailer } from './console-mailer.js';
import type { Mailer } from './mailer.js';
import { SmtpMailer } from './smtp-mailer.js';

export function createMailer(config: Config, logger: Logger): Mailer {
  const { mail } = config;
  if (mail.provider === 'smtp') return new SmtpMailer({ url: mail.smtpUrl!, from: mail.from, timeoutMs: mail.timeoutMs, logger });
  return new ConsoleMailer(logger, config.nodeEnv);
}
