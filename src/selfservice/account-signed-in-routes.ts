import Router from '@koa/router';
import { z } from 'zod';
import { requestOrigin } from '../http/request-origin.js';
import { formOf, signedOf, type AccountGuards } from './account-guards.js';
import type { SignedInSessions } from './signed-in-sessions.js';

/** A session's public handle as the provider makes them (nanoid); anything else names no session. */
const signOutForm = z.object({ session: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) });
const signOutOthersForm = z.object({});

/** "Where you're signed in": Sign out (one other session) and Sign out everywhere else. */
export function accountSignedInRoutes(guards: AccountGuards, sessions: SignedInSessions): Router {
  const { signedIn, form, browserSessionUid } = guards;
  const router = new Router();

  router.post('/sessions/sign-out', form(signOutForm), signedIn, async (ctx) => {
    await sessions.signOut(signedOf(ctx).user, formOf(ctx, signOutForm).session, requestOrigin(ctx));
    ctx.status = 303;
    ctx.redirect('/account?done=session-ended');
  });

  router.post('/sessions/sign-out-others', form(signOutOthersForm), signedIn, async (ctx) => {
    const s = signedOf(ctx);
    await sessions.signOutOthers(s.user, await browserSessionUid(ctx, s), requestOrigin(ctx));
    ctx.status = 303;
    ctx.redirect('/account?done=others-ended');
  });

  return router;
}
