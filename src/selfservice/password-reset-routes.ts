import Router from '@koa/router';
import type { Context } from 'koa';
import { isAppError, type AppError } from '../http/app-error.js';
import type { Message } from '../i18n/translator.js';
import { readForm } from '../http/form-body.js';
import { requestOrigin } from '../http/request-origin.js';
import { pageLocalsOf } from '../http/page-language.js';
import { renderPage } from '../http/views.js';
import { isInteractionUid } from '../oidc/interaction-uid.js';
import { LINK_INVALID, RESET_ANSWER, type PasswordReset } from '../accounts/password-reset.js';

/** Only an interaction id is carried back to the sign-in page (never arbitrary input in a link). */
const backTo = (value: unknown): string | undefined => (isInteractionUid(value) ? `/interaction/${value}` : undefined);

/**
 * "Forgot password?" (/password-reset) and the link it mails (/password-reset/<token>). Thin
 * routes over PasswordReset; the forms' CSRF tokens are bound to the cookie alone (there is no
 * sign-in yet).
 */
export function passwordResetRoutes(deps: {
  reset: PasswordReset;
  verifyCsrf: (ctx: Context, form: Record<string, string>) => void;
  csrfMiddleware: (ctx: Context, next: () => Promise<void>) => Promise<void>;
}): Router {
  const { reset, verifyCsrf } = deps;
  const router = new Router({ prefix: '/password-reset' });
  router.use(deps.csrfMiddleware);

  async function page(ctx: Context, view: string, title: string, locals: Record<string, unknown>, status = 200): Promise<void> {
    ctx.set('Cache-Control', 'no-store');
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = await renderPage(view, { title, ...pageLocalsOf(ctx), csrfToken: ctx.state.csrfToken, ...locals });
  }

  const requestPage = (ctx: Context, locals: { interaction?: string; email?: string; error?: AppError; answer?: Message }, status = 200) =>
    page(ctx, 'password-reset-request', 'title.forgotPassword', { email: '', ...locals, back: backTo(locals.interaction) }, status);

  const invalidLink = (ctx: Context) =>
    page(ctx, 'password-reset-message', 'title.linkInvalid', { message: LINK_INVALID, action: { href: '/password-reset', label: { key: 'passwordReset.askAgain' } } }, 404);

  router.get('/', async (ctx) => {
    await requestPage(ctx, { interaction: backTo(ctx.query.interaction) ? String(ctx.query.interaction) : undefined });
  });

  router.post('/', async (ctx) => {
    const form = await readForm(ctx);
    verifyCsrf(ctx, form);
    const interaction = backTo(form.interaction) ? form.interaction : undefined;
    try {
      await reset.request(form.email, requestOrigin(ctx));
    } catch (err) {
      if (!isAppError(err) || (err.code !== 'validation_failed' && err.code !== 'rate_limited')) throw err;
      if (err.details.retryAfterSeconds) ctx.set('Retry-After', String(err.details.retryAfterSeconds));
      return requestPage(ctx, { interaction, email: String(form.email ?? '').slice(0, 254), error: err }, err.status);
    }
    // The same answer for every address, known or not.
    await requestPage(ctx, { interaction, answer: RESET_ANSWER });
  });

  router.get('/:token', async (ctx) => {
    if (!(await reset.isValid(ctx.params.token!))) return invalidLink(ctx);
    await page(ctx, 'password-reset', 'title.newPassword', { action: ctx.path });
  });

  router.post('/:token', async (ctx) => {
    const form = await readForm(ctx);
    verifyCsrf(ctx, form);
    try {
      await reset.complete(ctx.params.token!, form.newPassword, form.confirmPassword, requestOrigin(ctx));
    } catch (err) {
      if (isAppError(err) && err.code === 'not_found') return invalidLink(ctx);
      if (!isAppError(err) || err.code !== 'validation_failed') throw err;
      // The form comes back empty: passwords are never echoed into a page.
      return page(ctx, 'password-reset', 'title.newPassword', { action: ctx.path, error: err }, err.status);
    }
    await page(ctx, 'password-reset-message', 'title.passwordSet', {
      message: { key: 'passwordReset.done' },
      action: { href: '/account', label: { key: 'title.signIn' } },
      ok: true,
    });
  });

  return router;
}
