import crypto from 'node:crypto';
import type { Context } from 'koa';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { AppError } from './app-error.js';

const b64url = (buf: Buffer) => buf.toString('base64url');

export interface SignInResult {
  claims: JWTPayload;
  idToken: string;
  returnTo: string;
}

/**
 * The relying-party half of Twofold's own apps (/account, /demo): authorization code + PKCE
 * against this provider, like any other app, so they get MFA, step-up and sign-out for free.
 * The pending request lives in a short signed cookie; the ID token is verified against JWKS.
 */
export class OidcSignInClient {
  private jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(
    private readonly options: {
      issuer: string;
      clientId: string;
      redirectPath: string;
      cookiePath: string;
      cookieName: string;
      /** Where this process reaches itself for the back channel (token, JWKS). */
      backChannel: () => string;
    },
  ) {}

  private cookieOptions(ctx: Context) {
    return { httpOnly: true, sameSite: 'lax' as const, signed: true, secure: ctx.secure, path: this.options.cookiePath, overwrite: true };
  }

  get redirectUri(): string {
    return `${this.options.issuer}${this.options.redirectPath}`;
  }

  /** Redirects the browser to /auth; `returnTo` is a local path to come back to. */
  begin(ctx: Context, returnTo: string, params: Record<string, string> = {}): void {
    const verifier = b64url(crypto.randomBytes(32));
    const state = b64url(crypto.randomBytes(16));
    const nonce = b64url(crypto.randomBytes(16));
    const safeReturn = returnTo.startsWith('/') && !returnTo.startsWith('//') ? returnTo : '/';
    const pending = b64url(Buffer.from(JSON.stringify({ verifier, state, nonce, returnTo: safeReturn })));
    ctx.cookies.set(this.options.cookieName, pending, { ...this.cookieOptions(ctx), maxAge: 15 * 60 * 1000 });
    const url = new URL(`${this.options.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: this.options.clientId,
      redirect_uri: this.redirectUri,
      response_type: 'code',
      scope: 'openid profile',
      state,
      nonce,
      code_challenge: b64url(crypto.createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      ...params,
    }).toString();
    ctx.status = 303;
    ctx.redirect(url.toString());
  }

  /** Handles the callback: checks state, redeems the code, verifies the ID token. */
  async complete(ctx: Context): Promise<SignInResult> {
    const raw = ctx.cookies.get(this.options.cookieName, { signed: true });
    ctx.cookies.set(this.options.cookieName, null, this.cookieOptions(ctx));
    if (!raw) throw new AppError('bad_request', 'This sign-in expired. Start again.');
    const pending = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { verifier: string; state: string; nonce: string; returnTo: string };
    if (ctx.query.state !== pending.state) throw new AppError('bad_request', 'This sign-in does not match. Start again.');
    if (typeof ctx.query.error === 'string') {
      throw new AppError('forbidden', String(ctx.query.error_description ?? ctx.query.error).slice(0, 300));
    }
    const response = await fetch(`${this.options.backChannel()}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: String(ctx.query.code ?? ''),
        redirect_uri: this.redirectUri,
        client_id: this.options.clientId,
        code_verifier: pending.verifier,
      }),
    });
    const tokens = (await response.json()) as { id_token?: string; error?: string; error_description?: string };
    if (!response.ok || !tokens.id_token) throw new AppError('bad_request', `The sign-in could not be completed: ${tokens.error_description ?? tokens.error ?? response.status}`);
    this.jwks ??= createRemoteJWKSet(new URL(`${this.options.backChannel()}/jwks`));
    const { payload } = await jwtVerify(tokens.id_token, this.jwks, { issuer: this.options.issuer, audience: this.options.clientId });
    if (payload.nonce !== pending.nonce) throw new AppError('bad_request', 'The ID token does not match this sign-in.');
    return { claims: payload, idToken: tokens.id_token, returnTo: pending.returnTo };
  }

  /** RP-initiated logout at the provider, back to `postLogoutPath`. */
  logoutUrl(idToken: string | undefined, postLogoutPath: string): string {
    const url = new URL(`${this.options.issuer}/session/end`);
    url.search = new URLSearchParams({
      client_id: this.options.clientId,
      post_logout_redirect_uri: `${this.options.issuer}${postLogoutPath}`,
      ...(idToken ? { id_token_hint: idToken } : {}),
    }).toString();
    return url.toString();
  }
}
