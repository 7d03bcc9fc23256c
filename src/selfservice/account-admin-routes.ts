import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { listUsersWithMfa, type AccountAdmin } from '../accounts/account-admin.js';
import type { DisableRequests } from '../accounts/disable-requests.js';
import { mayAdminister, mayManageAccount } from '../accounts/roles.js';
import { AppError } from '../http/app-error.js';
import { requestOrigin } from '../http/request-origin.js';
import type { Account } from '../storage/repositories/accounts-repository.js';
import type { DataStore } from '../storage/repositories/index.js';
import { formOf, signedOf, type AccountGuards } from './account-guards.js';

// Anything but "true"/"false" is answered after the sign-in checks, as "Choose Enabled or Disabled."
const policyForm = z.object({
  mfaRequired: z
    .string()
    .optional()
    .transform((v) => (v === 'true' ? true : v === 'false' ? false : undefined)),
});

// The reason's rules (required, length, characters) are the domain's, with its messages.
const disableRequestForm = z.object({ reason: z.string().optional() });

const accountOf = (ctx: Context): Account => ctx.state.account as Account;

/** Support may open any account's page (?account=); anyone else only their own. */
const backTo = (ctx: Context) => `/account/admin${signedOf(ctx).user.isSupport ? `?account=${accountOf(ctx).id}` : ''}`;

/**
 * The account admin page: the account-wide "Require Multi-Factor" setting and the
 * users' MFA status. Same domain functions and rules as the admin API; always needs MFA.
 */
export function accountAdminRoutes(guards: AccountGuards, data: DataStore, admin: AccountAdmin, disableRequests: DisableRequests): Router {
  const { signedIn, recentMfa, form, page, endSession } = guards;
  const router = new Router();

  /** The account the page is about, if the caller may manage it. */
  const managedAccount = async (ctx: Context, next: Next) => {
    const { user } = signedOf(ctx);
    if (!mayAdminister(user)) throw new AppError('forbidden', { key: 'admin.staffOnly' });
    const accountId = user.isSupport && typeof ctx.query.account === 'string' ? ctx.query.account : user.accountId;
    if (!mayManageAccount(user, accountId)) throw new AppError('forbidden', { key: 'admin.notYourAccount' });
    const account = await data.accounts.findById(accountId);
    if (!account) throw new AppError('not_found', { key: 'admin.noSuchAccount' });
    ctx.state.account = account;
    await next();
  };

  router.get('/admin', signedIn, managedAccount, recentMfa(), async (ctx) => {
    const account = accountOf(ctx);
    const [users, pendingRequest] = await Promise.all([listUsersWithMfa(data, account.id), disableRequests.pendingFor(account.id)]);
    await page(ctx, 'account-admin', 'account.userManagement', {
      account,
      users,
      // Support may turn another account's requirement off directly; anyone else (support on
      // their own account too) asks, and another support user decides.
      canDisable: signedOf(ctx).user.isSupport && signedOf(ctx).user.accountId !== account.id,
      pendingRequest,
      notice: ctx.query.saved ? { key: 'admin.saved' } : ctx.query.requested ? { key: 'admin.requested' } : undefined,
    });
  });

  router.post('/admin/mfa-policy', form(policyForm), signedIn, managedAccount, recentMfa(backTo), async (ctx) => {
    const s = signedOf(ctx);
    const account = accountOf(ctx);
    const required = formOf(ctx, policyForm).mfaRequired;
    if (required === undefined) throw new AppError('validation_failed', { key: 'admin.chooseSetting' });
    const change = await admin.changeMfaPolicy(s.user, account.id, required, requestOrigin(ctx));
    // Enabling signs out every session of the account, this one included: sign in again.
    if (change.sessionsEnded && account.id === s.user.accountId) {
      await endSession(ctx, s);
      ctx.status = 303;
      ctx.redirect('/account/signed-out?reason=policy');
      return;
    }
    const back = backTo(ctx);
    ctx.status = 303;
    ctx.redirect(`${back}${back.includes('?') ? '&' : '?'}saved=1`);
  });

  router.post('/admin/disable-request', form(disableRequestForm), signedIn, managedAccount, recentMfa(backTo), async (ctx) => {
    await disableRequests.file(signedOf(ctx).user, accountOf(ctx).id, formOf(ctx, disableRequestForm).reason, requestOrigin(ctx));
    const back = backTo(ctx);
    ctx.status = 303;
    ctx.redirect(`${back}${back.includes('?') ? '&' : '?'}requested=1`);
  });

  return router;
}
