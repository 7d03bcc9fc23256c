import type { Context } from 'koa';
import { isMfaAcr } from '../oidc/authentication-context.js';
import { firstPartyGuards, sessionCsrfBinding, signedOf, type FirstPartyGuardDeps, type Guard } from '../selfservice/first-party-guards.js';
import { SUPPORT_SITE } from './support-client.js';

export { formOf, signedOf, type Signed } from '../selfservice/first-party-guards.js';

/** A form's CSRF token is valid only in the /support session it was shown in. */
export const supportCsrfBinding = sessionCsrfBinding(SUPPORT_SITE);

/** Where a sign-in started by an action comes back to (default: the page asked for). */
type ReturnTo = (ctx: Context & { params: Record<string, string | undefined> }) => string;

/**
 * Who may use the support console: a live /support session of a user with the support flag,
 * signed in with MFA. Anyone else signed in gets 403; no session, or one without MFA, is sent
 * to sign in (with MFA).
 */
export function supportGuards(deps: FirstPartyGuardDeps) {
  const guards = firstPartyGuards(deps, SUPPORT_SITE);

  // A 403 page of its own: it offers Sign out, so a person signed in as the wrong user can switch.
  const supportOnly: Guard = async (ctx, next) => {
    if (signedOf(ctx).user.isSupport) return next();
    await guards.page(ctx, 'support-forbidden', 'support.notAllowed', { message: { key: 'support.staffOnly' } }, 403);
  };

  const signedInWithMfa: Guard = async (ctx, next) => {
    if (isMfaAcr(signedOf(ctx).session.acr)) return next();
    guards.client.begin(ctx, ctx.method === 'GET' ? ctx.url : SUPPORT_SITE.path, { acr_values: 'aal2' });
  };

  /** Pages: support, signed in with MFA. Spread into a route: `router.get(path, ...viewer, handler)`. */
  const viewer: Guard[] = [guards.signedIn, supportOnly, signedInWithMfa];

  /**
   * Actions: as `viewer`, and the MFA sign-in within the re-authentication window; else the
   * user signs in again and comes back to `returnTo` (give a GET page for POST routes).
   */
  const actor = (returnTo?: ReturnTo): Guard[] => [guards.signedIn, supportOnly, guards.recentMfa(returnTo)];

  return { ...guards, viewer, actor };
}

export type SupportGuards = ReturnType<typeof supportGuards>;
