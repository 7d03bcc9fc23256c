import { AppError } from '../http/app-error.js';
import type { MessageKey } from '../i18n/catalogues/en.js';
import type { Message } from '../i18n/translator.js';

/** A request to turn "Require Multi-Factor" off for an account, decided once by support. */
export const DISABLE_REQUEST_STATUSES = ['pending', 'approved', 'rejected'] as const;
export type DisableRequestStatus = (typeof DISABLE_REQUEST_STATUSES)[number];
export type DisableDecision = Exclude<DisableRequestStatus, 'pending'>;

export interface DisableRequest {
  id: string;
  accountId: string;
  status: DisableRequestStatus;
  reason: string;
  requestedBy: string;
  createdAt: Date;
  decidedBy: string | null;
  decidedAt: Date | null;
  note: string | null;
}

/** As support's queue shows it: with the names people recognise. */
export interface ListedDisableRequest extends DisableRequest {
  accountName: string;
  requesterUsername: string;
}

/** A request as the admin API and the CLI print it: the decision's fields once there is one. */
export const disableRequestView = (r: DisableRequest) => ({
  id: r.id,
  accountId: r.accountId,
  status: r.status,
  reason: r.reason,
  requestedBy: r.requestedBy,
  createdAt: r.createdAt.toISOString(),
  ...(r.decidedAt ? { decidedBy: r.decidedBy, decidedAt: r.decidedAt.toISOString(), note: r.note } : {}),
});

export const isDisableRequestStatus = (s: string): s is DisableRequestStatus => (DISABLE_REQUEST_STATUSES as readonly string[]).includes(s);

/** Reasons and notes are read by people: a page or a mail shows them as typed. */
export const DISABLE_REQUEST_TEXT_MAX = 1000;

// Line breaks and tabs are kept; any other control character (and a lone surrogate) is refused,
// so what support reads is what the admin wrote.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u2028\u2029]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Each field's own sentences: a translated field word glued into one sentence reads wrong in most languages. */
const TEXT_ERRORS = {
  reason: {
    missing: 'disableRequest.giveReason',
    notText: 'disableRequest.reasonNotText',
    tooLong: 'disableRequest.reasonTooLong',
    unshowable: 'disableRequest.reasonUnshowable',
  },
  note: {
    missing: undefined,
    notText: 'disableRequest.noteNotText',
    tooLong: 'disableRequest.noteTooLong',
    unshowable: 'disableRequest.noteUnshowable',
  },
} as const satisfies Record<string, Record<'missing' | 'notText' | 'tooLong' | 'unshowable', MessageKey | undefined>>;

function cleanText(value: unknown, field: keyof typeof TEXT_ERRORS): string | null {
  const errors = TEXT_ERRORS[field];
  const refuse = (key: MessageKey, values?: Message['values']) => new AppError('validation_failed', { key, values });
  if (value === undefined || value === null) {
    if (errors.missing) throw refuse(errors.missing);
    return null;
  }
  if (typeof value !== 'string') throw refuse(errors.notText);
  const text = value.replace(/\r\n?/g, '\n').trim();
  if (text.length === 0) {
    if (errors.missing) throw refuse(errors.missing);
    return null;
  }
  if ([...text].length > DISABLE_REQUEST_TEXT_MAX) throw refuse(errors.tooLong, { max: DISABLE_REQUEST_TEXT_MAX });
  if (CONTROL.test(text) || LONE_SURROGATE.test(text)) throw refuse(errors.unshowable);
  return text;
}

/** Why the admin asks: required. */
export const requestReason = (value: unknown): string => cleanText(value, 'reason')!;

/** Support's note on a decision: optional (null when empty). */
export const decisionNote = (value: unknown): string | null => cleanText(value, 'note');
