import { AppError } from '../http/app-error.js';

export const EMAIL_MAX_LENGTH = 254;
export const EMAIL_RULE = 'Enter a valid email address, e.g. name@example.com';

/** RFC 5322 "atext" dot-atoms: no quoted local parts, no comments, no IP-literal domains. */
const LOCAL = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * The one stored form of an email address, or null when it is not one we accept: trimmed and
 * lower-cased as a whole. The local part is case-sensitive in theory only (no provider in use
 * treats `Alice@` and `alice@` as two mailboxes), and one form is what makes uniqueness and
 * look-ups case-insensitive without a second column. Only ASCII is accepted (an international
 * domain is entered in its xn-- form): no look-alike letters, and every SMTP server takes it.
 */
export function normaliseEmail(input: unknown): string | null {
  if (typeof input !== 'string') return null;
  const text = input.trim();
  if (text.length === 0 || text.length > EMAIL_MAX_LENGTH || !/^[\x21-\x7e]+$/.test(text)) return null;
  const email = text.toLowerCase();
  const at = email.indexOf('@');
  if (at < 1 || at !== email.lastIndexOf('@')) return null;
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local.length > 64 || !LOCAL.test(local)) return null;
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l)) || /^\d+$/.test(labels.at(-1)!)) return null;
  return email;
}

/** normaliseEmail, or AppError validation_failed with the rule (never the input). */
export function parseEmail(input: unknown): string {
  const email = normaliseEmail(input);
  if (!email) throw new AppError('validation_failed', { key: 'email.invalid' });
  return email;
}
