import Router from '@koa/router';
import { z } from 'zod';
import type { PasswordChange } from '../accounts/password-change.js';
import { isAppError } from '../http/app-error.js';
import { requestOrigin } from '../http/request-origin.js';
import { formOf, signedOf, type AccountGuards } from './account-guards.js';

// Any string: the password rules word the errors.
const field = z.string().optional();
const changeForm = z.object({ currentPassword: field, newPassword: field, confirmPassword: field });

/** The "Password" section: "Change password" with the current password and a recent sign-in. */
export function accountPasswordRoutes(guards: AccountGuards, passwords: PasswordChange): Router {
  const { signedIn, recentSignIn, form, page, keepSession } = guards;
  const router = new Router();

  router.get('/password', signedIn, recentSignIn(), async (ctx) => {
    await page(ctx, 'account-password', 'pw.heading');
  });

  router.post(
    '/password',
    form(changeForm),
    signedIn,
    recentSignIn(() => '/account/password'),
    async (ctx) => {
      const s = signedOf(ctx);
      const posted = formOf(ctx, changeForm);
      try {
        const mark = await passwords.change(s.user, posted.currentPassword, posted.newPassword, posted.confirmPassword, requestOrigin(ctx));
        // Every other session and refresh token ended; this one carries on.
        await keepSession(s, mark);
      } catch (err) {
        if (!isAppError(err) || !['validation_failed', 'invalid_credentials', 'rate_limited'].includes(err.code)) throw err;
        if (err.details.retryAfterSeconds) ctx.set('Retry-After', String(err.details.retryAfterSeconds));
        // The form comes back empty: passwords are never echoed into a page.
        return page(ctx, 'account-password', 'pw.heading', { error: err }, err.status);
      }
      ctx.status = 303;
      ctx.redirect('/account?done=password');
    },
  );

  return router;
}
