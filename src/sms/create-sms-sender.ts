import type { Config } from '../config/config-schema.js';
import type { Logger } from '../logger.js';
import { ConsoleSmsSender } from './console-sms-sender.js';
import type { SmsSender } from './sms-sender.js';
import { VonageSmsSender } from './vonage-sms-sender.js';

export function createSmsSender(config: Config, logger: Logger): SmsSender {
  const { sms } = config;
  if (sms.provider === 'vonage') {
    const v = sms.vonage!;
    return new VonageSmsSender({ apiKey: v.apiKey, apiSecret: v.apiSecret, from: v.from, restHost: v.restHost, timeoutMs: sms.timeoutMs, logger });
  }
  return new ConsoleSmsSender(logger, config.nodeEnv);
}
