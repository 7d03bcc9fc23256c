import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { isAppError } from '../http/app-error.js';
import { requestOrigin } from '../http/request-origin.js';
import { formOf, signedOf, type AccountGuards } from './account-guards.js';
import type { EmailChange } from './email-change.js';

const changeForm = z.object({ email: z.string().optional() });
const confirmForm = z.object({});

/** "Email": change the address by a link sent to the new one. */
export function accountEmailRoutes(guards: AccountGuards, emails: EmailChange): Router {
  const { signedIn, recentSignIn, form, page } = guards;
  const router = new Router();

  router.get('/email', signedIn, recentSignIn(), async (ctx) => {
    await page(ctx, 'account-email', 'email.heading', { user: signedOf(ctx).user });
  });

  router.post(
    '/email',
    form(changeForm),
    signedIn,
    recentSignIn(() => '/account/email'),
    async (ctx) => {
      const s = signedOf(ctx);
      const posted = formOf(ctx, changeForm);
      try {
        const { newEmail } = await emails.request(s.user, posted.email, requestOrigin(ctx));
        await page(ctx, 'account-email', 'email.heading', { user: s.user, sent: newEmail });
      } catch (err) {
        if (!isAppError(err) || err.status >= 500) throw err;
        await page(ctx, 'account-email', 'email.heading', { user: s.user, error: err, value: String(posted.email ?? '').slice(0, 254) }, err.status);
      }
    },
  );

  /** The link opens a page with a button: a mail scanner fetching the link changes nothing. */
  router.get('/email/verify/:token', signedIn, async (ctx) => {
    const s = signedOf(ctx);
    await answer(ctx, async () => ({
      newEmail: await emails.pending(s.user, ctx.params.token!),
      user: s.user,
      action: `/account/email/verify/${encodeURIComponent(ctx.params.token!)}`,
    }));
  });

  router.post('/email/verify/:token', form(confirmForm), signedIn, async (ctx) => {
    const s = signedOf(ctx);
    await answer(ctx, async () => ({ done: (await emails.confirm(s.user, ctx.params.token!, requestOrigin(ctx))).email }));
  });

  /** The link's page, or its error on the same page (status of the error). */
  async function answer(ctx: Context, locals: () => Promise<Record<string, unknown>>): Promise<void> {
    try {
      await page(ctx, 'account-email-verify', 'email.confirmHeading', await locals());
    } catch (err) {
      if (!isAppError(err) || err.status >= 500) throw err;
      await page(ctx, 'account-email-verify', 'email.notChanged', { error: err }, err.status);
    }
  }

  return router;
}
