import { Auth } from '@vonage/auth';
import { SMS, SMSFailure } from '@vonage/sms';
import type { Logger } from '../logger.js';
import { maskPhone } from './phone-number.js';
import { SmsSendError, type SmsSender } from './sms-sender.js';

export interface VonageSmsSenderOptions {
  apiKey: string;
  apiSecret: string;
  /** Sender id or number, as configured in the Vonage account. */
  from: string;
  /** Base URL override (regional endpoint, or a local fake in tests); the SDK's default otherwise. */
  restHost?: string;
  /** Upper bound for one send, whatever the SDK or the server does. */
  timeoutMs: number;
  logger: Logger;
}

const MAX_REASON_LENGTH = 200;

/**
 * Provider error texts are logged and audited: keep them short and strip anything that
 * looks like a phone number, in case a provider ever echoes the recipient.
 */
function safeReason(text: string): string {
  const cleaned = text
    .replace(/\+?\d[\d ]{4,}\d/g, '[number]')
    .replace(/\s+/g, ' ')
    .trim();
  return cleaned.length > MAX_REASON_LENGTH ? `${cleaned.slice(0, MAX_REASON_LENGTH)}…` : cleaned;
}

class SendTimeout extends Error {}

/**
 * Turns whatever the SDK threw into a reason safe to log. The SDK's own errors carry the
 * request (Authorization header, recipient and text), so they are never logged or attached.
 */
function reasonOf(error: unknown, timeoutMs: number): string {
  if (error instanceof SendTimeout) return `timeout after ${timeoutMs} ms`;
  if (error instanceof SMSFailure) {
    const failed = error.getFailedMessages();
    if (failed.length === 0) return 'rejected';
    return safeReason(failed.map((m) => `status ${String(m.status ?? '?')}${m.errorText ? `: ${String(m.errorText)}` : ''}`).join('; '));
  }
  if (error && typeof error === 'object') {
    const e = error as { name?: unknown; code?: unknown; type?: unknown; response?: { status?: unknown } };
    if (e.name === 'AbortError') return `timeout after ${timeoutMs} ms`;
    if (e.response && typeof e.response.status === 'number') return `http ${e.response.status}`;
    if (typeof e.code === 'string' && /^[A-Z0-9_]+$/.test(e.code)) return `network: ${e.code}`;
    if (e.name === 'FetchError') return 'network error';
  }
  return 'unexpected error';
}

/** Sends through Vonage's SMS API with the official SDK. */
export class VonageSmsSender implements SmsSender {
  readonly name = 'vonage';
  private readonly client: SMS;
  private readonly from: string;
  private readonly timeoutMs: number;
  private readonly logger: Logger;

  constructor(options: VonageSmsSenderOptions) {
    if (!options.apiKey || !options.apiSecret) throw new Error('Vonage API key and secret are required');
    if (!options.from) throw new Error('A Vonage sender (from) is required');
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) throw new Error('timeoutMs must be a positive number');
    this.from = options.from;
    this.timeoutMs = options.timeoutMs;
    this.logger = options.logger;
    // The SDK treats a falsy restHost as "use https://rest.nexmo.com"; it aborts its fetch after
    // `timeout` ms (that abort also covers reading the body).
    const restHost = options.restHost ? options.restHost.replace(/\/+$/, '') : undefined;
    this.client = new SMS(new Auth({ apiKey: options.apiKey, apiSecret: options.apiSecret }), {
      ...(restHost ? { restHost } : {}),
      timeout: options.timeoutMs,
    });
  }

  async send(toE164: string, text: string): Promise<void> {
    const to = toE164.replace(/^\+/, '');
    let timer: NodeJS.Timeout | undefined;
    // Our own bound, in case the SDK's abort does not fire (it starts its timer only after it has
    // prepared the request): the caller is never held longer than timeoutMs.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SendTimeout()), this.timeoutMs);
    });
    try {
      const response = await Promise.race([this.client.send({ to, from: this.from, text }), deadline]);
      // The SDK throws only when a message has a non-zero status; an empty answer is a failure too.
      const accepted = (response?.messages ?? []).some((m) => String(m.status) === '0');
      if (!accepted) throw new SmsSendError('no message accepted', this.name);
    } catch (error) {
      const failure = error instanceof SmsSendError ? error : new SmsSendError(reasonOf(error, this.timeoutMs), this.name);
      this.logger.warn({ err: { type: 'SmsSendError', message: failure.message }, reason: failure.reason, provider: this.name, to: maskPhone(toE164) }, 'SMS send failed');
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }
}
