import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AccountAdmin } from '../accounts/account-admin.js';
import type { FirstPartyGuardDeps } from '../selfservice/first-party-guards.js';
import { SupportDirectory } from './support-directory.js';
import { supportGuards, type SupportGuards } from './support-guards.js';
import type { SupportMfaReset } from './support-mfa-reset.js';
import { supportUserRoutes } from './support-user-routes.js';
import type { DisableRequests } from '../accounts/disable-requests.js';
import { supportRequestRoutes } from './support-request-routes.js';

export { supportCsrfBinding } from './support-guards.js';

export interface SupportRouteDeps extends FirstPartyGuardDeps {
  csrfMiddleware: (ctx: Context, next: () => Promise<void>) => Promise<void>;
  admin: AccountAdmin;
  reset: SupportMfaReset;
  disableRequests: DisableRequests;
}

/** "Sign out" carries nothing but its CSRF token. */
const logoutForm = z.object({});

/** Signing in to and out of /support. */
function supportSessionRoutes(guards: SupportGuards): Router {
  const router = new Router();
  router.get('/callback', guards.completeSignIn);
  router.post('/logout', guards.form(logoutForm), async (ctx) => {
    const session = await guards.endCookieSession(ctx);
    ctx.status = 303;
    ctx.redirect(guards.client.logoutUrl(session?.idToken, '/support/signed-out'));
  });
  router.get('/signed-out', async (ctx) => {
    await guards.page(ctx, 'logged-out', 'title.signedOut', { again: '/support' });
  });
  return router;
}

/**
 * The support console (/support): a first-party client of Twofold like /account, for users
 * with the support flag signed in with MFA (see support-guards.ts). Thin routes over domain functions.
 */
export function supportRoutes(deps: SupportRouteDeps): Router {
  const guards = supportGuards(deps);
  const router = new Router({ prefix: '/support' });
  router.use(deps.csrfMiddleware);
  router.use(supportSessionRoutes(guards).routes());
  router.use(supportUserRoutes(guards, { directory: new SupportDirectory(deps.data), admin: deps.admin, reset: deps.reset }).routes());
  router.use(supportRequestRoutes(guards, deps.disableRequests).routes());
  return router;
}
