import Router from '@koa/router';
import { z } from 'zod';
import { signedOf, type AccountGuards } from './account-guards.js';
import type { Shown } from '../i18n/translator.js';
import type { DeviceManagement } from './device-management.js';
import type { SignedInSessions } from './signed-in-sessions.js';

/** "Sign out" carries nothing but its CSRF token. */
const logoutForm = z.object({});

/** Signing in to and out of /account, and its home page. */
export function accountSessionRoutes(guards: AccountGuards, devices: DeviceManagement, signedInSessions: SignedInSessions): Router {
  const { client, signedIn, form, page, browserSessionUid } = guards;
  const router = new Router();

  router.get('/callback', guards.completeSignIn);

  router.get('/', signedIn, async (ctx) => {
    const s = signedOf(ctx);
    const notices: Record<string, Shown> = {
      removed: 'The device was removed. Your other sessions were signed out.',
      'removed-all': 'All devices were removed. Multi-factor authentication is off for your account.',
      default: 'Your default authentication method was changed.',
      verified: 'Your device is verified.',
      password: 'Your password was changed. Your other sessions were signed out.',
      language: { key: 'account.languageSaved' },
      'session-ended': 'That session was signed out.',
      'others-ended': 'You were signed out everywhere else.',
    };
    await page(ctx, 'account', 'account.heading', {
      user: s.user,
      overview: await devices.overview(s.user),
      signedInSessions: await signedInSessions.list(s.user, await browserSessionUid(ctx, s)),
      notice: notices[String(ctx.query.done)] ?? undefined,
    });
  });

  router.post('/logout', form(logoutForm), async (ctx) => {
    const session = await guards.endCookieSession(ctx);
    ctx.status = 303;
    ctx.redirect(client.logoutUrl(session?.idToken, '/account/signed-out'));
  });

  router.get('/signed-out', async (ctx) => {
    const messages: Record<string, string> = {
      default: 'Your new device is now your default authentication method, and you were signed out everywhere. Sign in again with it.',
      policy: 'Multi-factor authentication is now required for everyone in your account, and everyone was signed out. Sign in again.',
    };
    const message = messages[String(ctx.query.reason)];
    await page(ctx, 'logged-out', 'title.signedOut', { again: '/account', message });
  });

  return router;
}
