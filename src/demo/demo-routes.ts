import Router from '@koa/router';
import type { Context } from 'koa';
import { decodeProtectedHeader } from 'jose';
import { isAppError } from '../http/app-error.js';
import { readForm } from '../http/form-body.js';
import { OidcSignInClient } from '../http/oidc-sign-in-client.js';
import { pageLocalsOf } from '../http/page-language.js';
import { renderPage } from '../http/views.js';
import { DEMO_CLIENT_ID } from './demo-client.js';

const SESSION_COOKIE = 'twofold.demo.session';

/**
 * /demo: a tiny relying party built in, so a newcomer sees a real sign-in (authorization code
 * + PKCE through the same endpoints any app uses) and the ID token's claims.
 */
export function demoRoutes(options: {
  issuer: string;
  backChannel: () => string;
  backChannelHeaders?: Record<string, string>;
  verifyCsrf: (ctx: Context, form: Record<string, string>) => void;
  csrfMiddleware: (ctx: Context, next: () => Promise<void>) => Promise<void>;
}): Router {
  const { verifyCsrf } = options;
  const client = new OidcSignInClient({
    issuer: options.issuer,
    clientId: DEMO_CLIENT_ID,
    redirectPath: '/demo/callback',
    cookiePath: '/demo',
    cookieName: 'twofold.demo.flow',
    backChannel: options.backChannel,
    backChannelHeaders: options.backChannelHeaders,
  });
  const router = new Router({ prefix: '/demo' });
  router.use(options.csrfMiddleware);
  const cookieOptions = (ctx: Context) => ({ httpOnly: true, sameSite: 'lax' as const, signed: true, secure: ctx.secure, path: '/demo', overwrite: true });

  const readSession = (ctx: Context) => {
    const raw = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    return raw ? (JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { idToken: string }) : undefined;
  };

  router.get('/', async (ctx) => {
    const session = readSession(ctx);
    const claims = session ? JSON.parse(Buffer.from(session.idToken.split('.')[1]!, 'base64url').toString('utf8')) : undefined;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = await renderPage('demo', {
      title: 'Demo app',
      ...pageLocalsOf(ctx),
      csrfToken: ctx.state.csrfToken,
      signedIn: Boolean(session),
      claims,
      idTokenHeader: session ? decodeProtectedHeader(session.idToken) : undefined,
      error: typeof ctx.query.error === 'string' ? ctx.query.error.slice(0, 300) : undefined,
    });
  });

  router.post('/login', async (ctx) => {
    verifyCsrf(ctx, await readForm(ctx));
    // The demo can ask for MFA (aal2) or a phishing-resistant sign-in (phr).
    const acr = ctx.query.acr === 'aal2' || ctx.query.acr === 'phr' ? ctx.query.acr : undefined;
    client.begin(ctx, '/demo', acr ? { acr_values: acr } : {});
  });

  router.get('/callback', async (ctx) => {
    try {
      const { idToken } = await client.complete(ctx);
      // The token was verified on arrival; the cookie is signed, so the page can trust it.
      ctx.cookies.set(SESSION_COOKIE, Buffer.from(JSON.stringify({ idToken })).toString('base64url'), { ...cookieOptions(ctx), maxAge: 60 * 60 * 1000 });
      ctx.redirect('/demo');
    } catch (err) {
      if (isAppError(err) && err.code === 'forbidden') return ctx.redirect(`/demo?error=${encodeURIComponent(err.message)}`);
      throw err;
    }
  });

  router.post('/logout', async (ctx) => {
    verifyCsrf(ctx, await readForm(ctx));
    const session = readSession(ctx);
    ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx));
    ctx.status = 303;
    ctx.redirect(client.logoutUrl(session?.idToken, '/demo'));
  });

  return router;
}
