import { AppError } from '../http/app-error.js';

/**
 * The one canonical form of a username, used for creation, uniqueness, look-ups and the
 * sign-in throttle. Usernames are a conservative ASCII set (e.g. `admin@example.com`), kept as
 * typed for display; their key is the lower-case form. Sign-in input is folded to a skeleton
 * first, so Unicode look-alikes of a username (`ADMİN`, fullwidth `ａｄｍｉｎ`, added combining
 * marks) reach the same user and the same throttle bucket instead of a bucket of their own.
 */

export const USERNAME_MAX_LENGTH = 200;
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$/;
const USERNAME_KEY = /^[a-z0-9][a-z0-9._@+-]{0,199}$/;

export const USERNAME_RULE = 'Username must be 1-200 ASCII characters: letters, digits and ._@+- (starting with a letter or digit)';

/** A new username (operator input): trimmed and validated; refused unless it is in the ASCII set. */
export function newUsername(input: string): { username: string; key: string } {
  const username = input.trim();
  if (!USERNAME.test(username)) throw new AppError('validation_failed', `${USERNAME_RULE}.`);
  return { username, key: asciiLower(username) };
}

/**
 * The key that typed text stands for: compatibility decomposition, combining marks dropped,
 * lower-cased without regard to locale, recomposed. Null when the result is not a valid
 * username: such input names nobody.
 */
export function usernameKeyOf(input: string): string | null {
  const trimmed = input.trim();
  // Bounds the work: no valid username folds from something much longer than itself.
  if (trimmed.length === 0 || trimmed.length > USERNAME_MAX_LENGTH * 4) return null;
  const folded = trimmed.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().normalize('NFKC');
  return USERNAME_KEY.test(folded) ? folded : null;
}

/** Only A-Z change: the result does not depend on the locale (no Turkish dotless i). */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}
