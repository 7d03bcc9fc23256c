import crypto from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { AppError } from '../http/app-error.js';
import { readForm } from '../http/form-body.js';
import { renderPage } from '../http/views.js';
import { DEMO_CLIENT_ID } from './demo-client.js';

const FLOW_COOKIE = 'twofold.demo.flow';
const SESSION_COOKIE = 'twofold.demo.session';

const b64url = (buf: Buffer) => buf.toString('base64url');

/**
 * /demo: a tiny relying party built in, so a newcomer sees a real sign-in (authorization code
 * + PKCE through the same endpoints any app uses) and the ID token's claims.
 */
export function demoRoutes(options: {
  issuer: string;
  /** Base URL this process reaches itself on for the back channel (token, JWKS). */
  backChannel: () => string;
  verifyCsrf: (ctx: Context, form: Record<string, string>) => void;
  csrfMiddleware: (ctx: Context, next: () => Promise<void>) => Promise<void>;
}): Router {
  const { issuer, backChannel, verifyCsrf } = options;
  const router = new Router({ prefix: '/demo' });
  router.use(options.csrfMiddleware);
  const cookieOptions = (ctx: Context) => ({ httpOnly: true, sameSite: 'lax' as const, signed: true, secure: ctx.secure, path: '/demo', overwrite: true });
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  router.get('/', async (ctx) => {
    const raw = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    const session = raw ? (JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { claims: Record<string, unknown>; header: Record<string, unknown> }) : undefined;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = await renderPage('demo', {
      title: 'Demo app',
      csrfToken: ctx.state.csrfToken,
      signedIn: Boolean(session),
      claims: session?.claims,
      idTokenHeader: session?.header,
      error: typeof ctx.query.error === 'string' ? ctx.query.error.slice(0, 300) : undefined,
    });
  });

  router.post('/login', async (ctx) => {
    verifyCsrf(ctx, await readForm(ctx));
    const verifier = b64url(crypto.randomBytes(32));
    const state = b64url(crypto.randomBytes(16));
    const nonce = b64url(crypto.randomBytes(16));
    ctx.cookies.set(FLOW_COOKIE, b64url(Buffer.from(JSON.stringify({ verifier, state, nonce }))), { ...cookieOptions(ctx), maxAge: 10 * 60 * 1000 });
    const url = new URL(`${issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: DEMO_CLIENT_ID,
      redirect_uri: `${issuer}/demo/callback`,
      response_type: 'code',
      scope: 'openid profile',
      state,
      nonce,
      code_challenge: b64url(crypto.createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      ...(ctx.query.acr === 'aal2' ? { acr_values: 'aal2' } : {}),
    }).toString();
    ctx.status = 303;
    ctx.redirect(url.toString());
  });

  router.get('/callback', async (ctx) => {
    const raw = ctx.cookies.get(FLOW_COOKIE, { signed: true });
    ctx.cookies.set(FLOW_COOKIE, null, cookieOptions(ctx));
    if (!raw) throw new AppError('bad_request', 'The demo sign-in expired. Start again from /demo.');
    const flow = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { verifier: string; state: string; nonce: string };
    if (ctx.query.state !== flow.state) throw new AppError('bad_request', 'The demo sign-in state does not match. Start again from /demo.');
    if (typeof ctx.query.error === 'string') {
      ctx.redirect(`/demo?error=${encodeURIComponent(String(ctx.query.error_description ?? ctx.query.error))}`);
      return;
    }
    const response = await fetch(`${backChannel()}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: String(ctx.query.code ?? ''),
        redirect_uri: `${issuer}/demo/callback`,
        client_id: DEMO_CLIENT_ID,
        code_verifier: flow.verifier,
      }),
    });
    const tokens = (await response.json()) as { id_token?: string; error?: string; error_description?: string };
    if (!response.ok || !tokens.id_token) throw new AppError('bad_request', `The token request failed: ${tokens.error_description ?? tokens.error ?? response.status}`);
    jwks ??= createRemoteJWKSet(new URL(`${backChannel()}/jwks`));
    const { payload } = await jwtVerify(tokens.id_token, jwks, { issuer, audience: DEMO_CLIENT_ID });
    if (payload.nonce !== flow.nonce) throw new AppError('bad_request', 'The ID token nonce does not match.');
    const session = { claims: payload, header: decodeProtectedHeader(tokens.id_token) };
    ctx.cookies.set(SESSION_COOKIE, b64url(Buffer.from(JSON.stringify(session))), { ...cookieOptions(ctx), maxAge: 60 * 60 * 1000 });
    ctx.cookies.set('twofold.demo.idt', tokens.id_token, { ...cookieOptions(ctx), maxAge: 60 * 60 * 1000 });
    ctx.redirect('/demo');
  });

  router.post('/logout', async (ctx) => {
    verifyCsrf(ctx, await readForm(ctx));
    const idToken = ctx.cookies.get('twofold.demo.idt', { signed: true });
    ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx));
    ctx.cookies.set('twofold.demo.idt', null, cookieOptions(ctx));
    const url = new URL(`${issuer}/session/end`);
    url.search = new URLSearchParams({
      client_id: DEMO_CLIENT_ID,
      post_logout_redirect_uri: `${issuer}/demo`,
      ...(idToken ? { id_token_hint: idToken } : {}),
    }).toString();
    ctx.status = 303;
    ctx.redirect(url.toString());
  });

  return router;
}
