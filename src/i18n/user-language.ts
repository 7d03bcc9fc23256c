import type { RequestOrigin } from '../audit/audit-log.js';
import { languageOf } from './languages.js';

/**
 * The language of a text sent to a user (an SMS, a mail): what they chose on the page they are
 * on, else what they chose before (stored on the user), else the page's language, else the
 * deployment's default.
 */
export function languageForUser(user: { locale: string | null }, origin: RequestOrigin | undefined, defaultTag: string): string {
  const page = origin?.language;
  if (page?.chosen) return page.tag;
  if (user.locale && languageOf(user.locale)) return user.locale;
  return page?.tag ?? defaultTag;
}

/**
 * The origin of a request someone else made for the user (support, an admin), as a mail to the
 * user takes it: that page's language is the other person's, not the recipient's.
 */
export function originForAnother(origin: RequestOrigin | undefined): RequestOrigin | undefined {
  if (!origin?.language) return origin;
  const { language, ...rest } = origin;
  void language;
  return rest;
}
