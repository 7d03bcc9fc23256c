import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { SOURCE_LANGUAGE } from '../i18n/languages.js';
import { negotiateLanguage, supportedTagOf } from '../i18n/negotiate-language.js';
import { translatorFor, type Translator } from '../i18n/translator.js';

/** The language picker's choice; only a supported tag is ever written or read. */
export const LANGUAGE_COOKIE = 'twofold_lang';

interface LanguageState {
  i18n?: Translator;
  uiLocalesSeen?: boolean;
  /** ui_locales or the picker decided (not the browser's Accept-Language, not the default). */
  languageChosen?: boolean;
}
const YEAR_MS = 365 * 24 * 3600 * 1000;

/** DEFAULT_LOCALE, set once on the app's context prototype at start-up (no per-request cost). */
export function setDefaultLanguage(appContext: object, tag: string): void {
  Object.assign(appContext, { defaultLanguage: tag });
}

/** The translator of this request, negotiated once (and again when an interaction's ui_locales is known). */
export function pageLanguage(ctx: Context, uiLocales?: unknown): Translator {
  const defaultTag = (ctx as { defaultLanguage?: string }).defaultLanguage ?? SOURCE_LANGUAGE;
  const state = ctx.state as LanguageState;
  if (state.i18n && (uiLocales === undefined || state.uiLocalesSeen)) return state.i18n;
  const sources = { uiLocales, cookie: ctx.cookies.get(LANGUAGE_COOKIE), acceptLanguage: ctx.get('accept-language'), defaultTag };
  const tag = negotiateLanguage(sources);
  state.i18n = translatorFor(tag);
  state.languageChosen = tag === negotiateLanguage({ uiLocales: sources.uiLocales, cookie: sources.cookie, defaultTag: '' });
  state.uiLocalesSeen = uiLocales !== undefined;
  ctx.vary('Accept-Language');
  return state.i18n;
}

/** The page language of this request, if a page negotiated one, and whether the user chose it. */
export function languageOfRequest(ctx: Context): { tag: string; chosen: boolean } | undefined {
  const state = ctx.state as LanguageState;
  return state.i18n ? { tag: state.i18n.tag, chosen: Boolean(state.languageChosen) } : undefined;
}

/** What every page needs to speak the request's language. */
export function pageLocalsOf(ctx: Context, uiLocales?: unknown): { i18n: Translator; languageReturn: string } {
  return { i18n: pageLanguage(ctx, uiLocales), languageReturn: languageReturnPath(ctx) };
}

/** Where the picker brings the user back to: this page, or (after a form post) the page the form was on. */
function languageReturnPath(ctx: Context): string {
  // A page's own query comes back only on a page that worked: an error page echoes nothing the request carried.
  if (ctx.method === 'GET') return ctx.status < 400 && ctx.querystring ? `${ctx.path}?${ctx.querystring}` : ctx.path;
  const interaction = /^\/interaction\/[^/]+/.exec(ctx.path);
  return interaction ? interaction[0] : `/${ctx.path.split('/')[1] ?? ''}`;
}

/** The picker's cookie: the pages of this browser speak `tag` from now on. */
export function rememberPickedLanguage(ctx: Context, tag: string): void {
  ctx.cookies.set(LANGUAGE_COOKIE, tag, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: YEAR_MS, overwrite: true });
}

/** A same-site path to go back to; anything else (another origin, "//host", junk) goes home. */
function safeReturnPath(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])[\x21-\x7e]{0,2000}$/.test(value) ? value : '/account';
}

const languageQuery = z.object({ lang: z.string().max(64).optional(), return: z.string().max(2048).optional() });

/**
 * GET /language?lang=de&return=/path: the picker is a plain form, so it works without
 * JavaScript; choosing only sets a preference cookie, so a GET carries no risk a CSRF token would guard.
 */
export function languageRoutes(): Router {
  const router = new Router();
  router.get('/language', (ctx) => {
    const parsed = languageQuery.safeParse(ctx.query);
    const query = parsed.success ? parsed.data : {};
    const tag = supportedTagOf(query.lang);
    if (tag) rememberPickedLanguage(ctx, tag);
    ctx.status = 303;
    ctx.redirect(safeReturnPath(query.return));
  });
  return router;
}
