import crypto from 'node:crypto';
import type { Context, Next } from 'koa';
import { AppError } from './app-error.js';
import { constantTimeEqual } from '../crypto/random-codes.js';

const COOKIE = 'twofold.csrf';
export const CSRF_FIELD = '_csrf';

/**
 * Double-submit CSRF protection whose form token is an HMAC of a random cookie value, so a
 * cookie planted by a sibling subdomain is useless without our key. The token is available to
 * views as ctx.state.csrfToken; `verifyCsrf` checks a submitted form.
 */
export function csrfTokens(key: string) {
  const sign = (value: string) => crypto.createHmac('sha256', key).update(`csrf:${value}`).digest('base64url');
  return {
    middleware: async (ctx: Context, next: Next) => {
      let value = ctx.cookies.get(COOKIE);
      if (!value || !/^[A-Za-z0-9_-]{43}$/.test(value)) {
        value = crypto.randomBytes(32).toString('base64url');
        ctx.cookies.set(COOKIE, value, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/', overwrite: true });
      }
      ctx.state.csrfToken = sign(value);
      await next();
    },
    verify(ctx: Context, form: Record<string, string>): void {
      const submitted = form[CSRF_FIELD] ?? '';
      if (!submitted || !constantTimeEqual(submitted, String(ctx.state.csrfToken))) {
        throw new AppError('csrf_failed', 'This form has expired. Go back, reload the page and try again.');
      }
    },
  };
}
