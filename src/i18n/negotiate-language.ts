import { LANGUAGE_TAGS } from './languages.js';

const TAG = /^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$/;
/** Lists longer than this are somebody's garbage, not a person's preferences. */
const MAX_ENTRIES = 20;

/** The supported language a BCP 47 tag asks for: exact, else by its primary subtag ("de-AT" → "de"). */
export function supportedTagOf(tag: string | undefined, supported: readonly string[] = LANGUAGE_TAGS): string | undefined {
  if (!tag || tag.length > 64 || !TAG.test(tag)) return undefined;
  const wanted = tag.toLowerCase().replace(/_/g, '-');
  return supported.find((s) => s.toLowerCase() === wanted) ?? supported.find((s) => s.toLowerCase() === wanted.split('-')[0]);
}

/** The first supported tag of an OIDC `ui_locales` value (space-separated, in order of preference). */
export function fromUiLocales(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  for (const tag of value.split(' ').filter(Boolean).slice(0, MAX_ENTRIES)) {
    const found = supportedTagOf(tag);
    if (found) return found;
  }
  return undefined;
}

/** The best supported tag of an Accept-Language header (q-values honoured, q=0 excluded). */
export function fromAcceptLanguage(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const entries = header
    .split(',')
    .slice(0, MAX_ENTRIES)
    .map((part, index) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p)).find(Boolean);
      return { tag: tag.trim(), q: q ? Number(q[1]) : params.length ? 0 : 1, index };
    })
    .filter((e) => e.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { tag } of entries) {
    const found = supportedTagOf(tag);
    if (found) return found;
  }
  return undefined;
}

export interface LanguageSources {
  uiLocales?: unknown;
  cookie?: unknown;
  acceptLanguage?: unknown;
  defaultTag: string;
}

/** ui_locales, then the picker's cookie, then Accept-Language, then the default. */
export function negotiateLanguage({ uiLocales, cookie, acceptLanguage, defaultTag }: LanguageSources): string {
  return fromUiLocales(uiLocales) ?? (typeof cookie === 'string' ? supportedTagOf(cookie) : undefined) ?? fromAcceptLanguage(acceptLanguage) ?? defaultTag;
}
