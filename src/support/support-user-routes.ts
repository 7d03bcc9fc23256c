import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AccountAdmin } from '../accounts/account-admin.js';
import { AppError, isAppError } from '../http/app-error.js';
import { requestOrigin } from '../http/request-origin.js';
import type { Message } from '../i18n/translator.js';
import { SEARCH_MAX_LENGTH, type SupportDirectory } from './support-directory.js';
import { formOf, signedOf, type SupportGuards } from './support-guards.js';
import { REASON_MAX_LENGTH, type SupportMfaReset } from './support-mfa-reset.js';

/** Find user: `q` as typed (one value), `page` from 1. */
const searchQuery = z.object({
  q: z
    .string()
    .max(SEARCH_MAX_LENGTH * 4)
    .optional(),
  page: z
    .string()
    .regex(/^[1-9]\d{0,3}$/)
    .optional(),
});

/** Forms that carry nothing but their CSRF token. */
const emptyForm = z.object({});

// Lenient: the domain says what is missing ("Give the reason", "Enter the verification code").
const resetForm = z.object({
  reason: z
    .string()
    .max(REASON_MAX_LENGTH * 4)
    .optional()
    .transform((v) => v ?? ''),
  code: z
    .string()
    .max(64)
    .optional()
    .transform((v) => v ?? ''),
  attested: z
    .string()
    .optional()
    .transform((v) => v === '1'),
});

type WithParams = Context & { params: Record<string, string | undefined> };

const userPath = (ctx: WithParams) => `/support/users/${encodeURIComponent(ctx.params.userId ?? '')}`;
const resetPath = (ctx: WithParams) => `${userPath(ctx)}/reset-mfa`;

function queryOf<S extends z.ZodType>(ctx: Context, schema: S): z.output<S> {
  const parsed = schema.safeParse(ctx.query);
  if (!parsed.success) throw new AppError('validation_failed', { key: 'field.invalid', values: { field: parsed.error.issues[0]?.path.join('.') || 'query' } });
  return parsed.data;
}

/** Find user, a user's page, Unlock and Reset MFA (with proof of identity). */
export function supportUserRoutes(guards: SupportGuards, deps: { directory: SupportDirectory; admin: AccountAdmin; reset: SupportMfaReset }): Router {
  const { viewer, actor, form, page } = guards;
  const { directory, admin, reset } = deps;
  const router = new Router();

  router.get('/', ...viewer, async (ctx) => {
    const query = queryOf(ctx, searchQuery);
    const q = query.q ?? '';
    const result = await directory.search(q, Number(query.page ?? '1'));
    await page(ctx, 'support', 'support.heading', { q, result, searched: q.trim() !== '', signedInAs: signedOf(ctx).user.username });
  });

  async function userPage(ctx: WithParams, locals: Record<string, unknown> = {}, status = 200) {
    const view = await directory.user(ctx.params.userId ?? '');
    const notices: Record<string, Message> = { unlocked: { key: 'support.unlocked' }, reset: { key: 'support.resetDone' } };
    await page(ctx, 'support-user', view.user.username, { view, notice: notices[String(ctx.query.done)], ...locals }, status);
  }

  router.get('/users/:userId', ...viewer, async (ctx) => userPage(ctx));

  router.post('/users/:userId/unlock', form(emptyForm), ...actor(userPath), async (ctx) => {
    const user = await directory.userById(ctx.params.userId ?? '');
    await admin.unlock(user.id, signedOf(ctx).user.id, requestOrigin(ctx));
    ctx.status = 303;
    ctx.redirect(`${userPath(ctx)}?done=unlocked`);
  });

  async function resetPage(ctx: WithParams, locals: Record<string, unknown> = {}, status = 200) {
    const view = await directory.user(ctx.params.userId ?? '');
    const proof = await reset.proofOf(view.user);
    const sent = ctx.method === 'GET' && ctx.query.sent === '1';
    await page(
      ctx,
      'support-reset',
      'support.resetMfa',
      { view, proof, notice: sent ? { key: 'support.codeSent', values: { email: proof.maskedEmail ?? '' } } : undefined, reason: '', ...locals },
      status,
    );
  }

  router.get('/users/:userId/reset-mfa', ...viewer, async (ctx) => resetPage(ctx));

  router.post('/users/:userId/reset-mfa/code', form(emptyForm), ...actor(resetPath), async (ctx) => {
    try {
      await reset.sendCode(signedOf(ctx).user, ctx.params.userId ?? '', requestOrigin(ctx));
    } catch (err) {
      if (!isAppError(err) || err.status >= 500 || err.code === 'not_found') throw err;
      if (err.details.retryAfterSeconds) ctx.set('Retry-After', String(err.details.retryAfterSeconds));
      return resetPage(ctx, { error: err }, err.status);
    }
    ctx.status = 303;
    ctx.redirect(`${resetPath(ctx)}?sent=1`);
  });

  router.post('/users/:userId/reset-mfa', form(resetForm), ...actor(resetPath), async (ctx) => {
    const posted = formOf(ctx, resetForm);
    try {
      await reset.confirm(signedOf(ctx).user, ctx.params.userId ?? '', posted, requestOrigin(ctx));
    } catch (err) {
      if (!isAppError(err) || err.status >= 500 || err.code === 'not_found') throw err;
      return resetPage(ctx, { error: err, reason: posted.reason }, err.status);
    }
    ctx.status = 303;
    ctx.redirect(`${userPath(ctx)}?done=reset`);
  });

  return router;
}
