import { dictionary } from '@zxcvbn-ts/language-common';
import { AppError } from '../http/app-error.js';
import type { Message } from '../i18n/translator.js';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

/**
 * Passwords are NFKC-normalised before they are counted, compared or hashed: the same password
 * typed on two keyboards (composed or decomposed accents, full-width letters) is then the same
 * password, and "ｐａｓｓｗｏｒｄ" cannot slip past the list of common passwords.
 */
export const normalisePassword = (pw: string): string => pw.normalize('NFKC');

/** Code points, not UTF-16 units: an emoji or an accented letter counts as one character. */
const lengthOf = (pw: string): number => [...pw].length;

let common: Set<string> | undefined;

/**
 * The ~49,000 most used passwords of zxcvbn-ts's common list (@zxcvbn-ts/language-common,
 * "passwords-common"), lower-cased, built once on first use: passwords are compared without
 * regard to case, so "Password1234" is as refused as "password1234".
 */
function commonPasswords(): Set<string> {
  common ??= new Set(dictionary['passwords-common'].map((p) => normalisePassword(p).toLowerCase()));
  return common;
}

export type PasswordRule = 'too_short' | 'too_long' | 'common';

const MESSAGES: Record<PasswordRule, Message> = {
  too_short: { key: 'password.tooShort', values: { min: PASSWORD_MIN_LENGTH } },
  too_long: { key: 'password.tooLong', values: { max: PASSWORD_MAX_LENGTH } },
  common: { key: 'password.common' },
};

/** The first rule a new password breaks, or undefined when it may be used. */
export function brokenPasswordRule(input: string): PasswordRule | undefined {
  // Very long input is refused before it is normalised or split into code points.
  if (input.length > PASSWORD_MAX_LENGTH * 4) return 'too_long';
  const pw = normalisePassword(input);
  const length = lengthOf(pw);
  if (length < PASSWORD_MIN_LENGTH) return 'too_short';
  if (length > PASSWORD_MAX_LENGTH) return 'too_long';
  if (commonPasswords().has(pw.toLowerCase())) return 'common';
  return undefined;
}

/**
 * Every new password (CLI, reset, change) passes here: returns the normalised password, or
 * throws validation_failed with a message that names the rule that failed.
 */
export function acceptNewPassword(input: unknown): string {
  if (typeof input !== 'string' || input === '') throw new AppError('validation_failed', MESSAGES.too_short);
  const broken = brokenPasswordRule(input);
  if (broken) throw new AppError('validation_failed', MESSAGES[broken]);
  return normalisePassword(input);
}
