import crypto from 'node:crypto';
import type { Context, Next } from 'koa';
import { AppError } from './app-error.js';
import { constantTimeEqual } from '../crypto/random-codes.js';

const COOKIE = 'twofold.csrf';
export const CSRF_FIELD = '_csrf';

/** What a form's token is for (an interaction, a signed-in session); '' for the cookie alone. */
export type CsrfBinding = (ctx: Context) => string | undefined;

/**
 * Double-submit CSRF protection whose form token is an HMAC of a random cookie value and of
 * what the form is for (`binding`): a cookie planted by a sibling subdomain is useless without
 * our key, and a token the planter got for its own interaction or session does not fit the
 * victim's. The token is available to views as ctx.state.csrfToken; `verifyCsrf` checks a
 * submitted form against the token of the same request.
 */
export function csrfTokens(key: string) {
  const sign = (value: string, bound: string) =>
    crypto
      .createHmac('sha256', key)
      .update(`csrf:${value}`)
      .update(bound ? `\0${bound}` : '')
      .digest('base64url');
  const bind = (binding?: CsrfBinding) => async (ctx: Context, next: Next) => {
    let value = ctx.cookies.get(COOKIE);
    if (!value || !/^[A-Za-z0-9_-]{43}$/.test(value)) {
      value = crypto.randomBytes(32).toString('base64url');
      ctx.cookies.set(COOKIE, value, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/', overwrite: true });
    }
    ctx.state.csrfToken = sign(value, binding?.(ctx) ?? '');
    await next();
  };
  return {
    /** Tokens bound to the cookie only (pages without an interaction or session). */
    middleware: bind(),
    /** Tokens bound to the cookie and to `binding` of the request. */
    bound: bind,
    verify(ctx: Context, form: Record<string, string>): void {
      const submitted = form[CSRF_FIELD] ?? '';
      if (!submitted || !constantTimeEqual(submitted, String(ctx.state.csrfToken))) {
        throw new AppError('csrf_failed', { key: 'error.formExpired' });
      }
    },
  };
}
