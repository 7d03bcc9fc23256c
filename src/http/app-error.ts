import { translatorFor, type Message } from '../i18n/translator.js';

/** The one error type: a stable machine code, an HTTP status and a message safe to show. */
export type ErrorCode =
  | 'bad_request'
  | 'validation_failed'
  | 'csrf_failed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'invalid_credentials'
  | 'invalid_pin'
  | 'invalid_phone_number'
  | 'interaction_expired'
  | 'mfa_required'
  | 'support_required'
  | 'self_approval'
  | 'request_pending'
  | 'sms_send_failed'
  | 'store_unavailable'
  | 'service_unavailable'
  | 'internal_error';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  validation_failed: 422,
  csrf_failed: 403,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  invalid_credentials: 401,
  invalid_pin: 401,
  invalid_phone_number: 422,
  interaction_expired: 400,
  mfa_required: 403,
  support_required: 403,
  self_approval: 403,
  request_pending: 409,
  sms_send_failed: 502,
  store_unavailable: 503,
  service_unavailable: 503,
  internal_error: 500,
};

export class AppError extends Error {
  readonly status: number;
  /** The catalogue message a page shows in its own language; `message` is its English text (API answers, logs). */
  readonly text?: Message;
  constructor(
    readonly code: ErrorCode,
    message: string | Message,
    readonly details: { retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(typeof message === 'string' ? message : translatorFor('en').message(message));
    this.name = 'AppError';
    this.status = STATUS[code];
    if (typeof message !== 'string') this.text = message;
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;
