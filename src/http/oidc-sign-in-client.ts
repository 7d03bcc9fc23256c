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
      /** Sent with every back-channel call (marks it as this process's own, see back-channel.ts). */
      backChannelHeaders?: Record<string, string>;
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
    if (!raw) throw new AppError('bad_request', { key: 'accountSignIn.expired' });
    const pending = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { verifier: string; state: string; nonce: string; returnTo: string };
    if (ctx.query.state !== pending.state) throw new AppError('bad_request', { key: 'accountSignIn.mismatch' });
    if (typeof ctx.query.error === 'string') {
      throw new AppError('forbidden', String(ctx.query.error_description ?? ctx.query.error).slice(0, 300));
    }
    const tokens = await this.redeem({
      grant_type: 'authorization_code',
      code: String(ctx.query.code ?? ''),
      redirect_uri: this.redirectUri,
      client_id: this.options.clientId,
      code_verifier: pending.verifier,
    });
    this.jwks ??= createRemoteJWKSet(new URL(`${this.options.backChannel()}/jwks`), { headers: { ...this.options.backChannelHeaders } });
    const { payload } = await jwtVerify(tokens.id_token, this.jwks, { issuer: this.options.issuer, audience: this.options.clientId });
    if (payload.nonce !== pending.nonce) throw new AppError('bad_request', { key: 'accountSignIn.tokenMismatch' });
    return { claims: payload, idToken: tokens.id_token, returnTo: pending.returnTo };
  }

  /**
   * The token request. An answer that is not the token endpoint's JSON (an HTML error page, a
   * proxy's 502, a cut connection) is a temporary failure: the user is told to try again.
   */
  private async redeem(form: Record<string, string>): Promise<{ id_token: string }> {
    // The cause is logged as a line, not a stack: nothing in this process is broken.
    const unavailable = (cause: unknown) =>
      new AppError(
        'service_unavailable',
        { key: 'accountSignIn.unavailable' },
        {
          cause: (cause as Error).message ?? String(cause),
          retryAfterSeconds: 5,
        },
      );
    let response: Response;
    let tokens: { id_token?: unknown; error?: unknown; error_description?: unknown };
    try {
      response = await fetch(`${this.options.backChannel()}/token`, {
        method: 'POST',
        headers: { ...this.options.backChannelHeaders, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(form),
      });
      const parsed: unknown = await response.json();
      if (!parsed || typeof parsed !== 'object') throw new Error(`token endpoint answered ${response.status} without a JSON object`);
      tokens = parsed as typeof tokens;
    } catch (err) {
      throw unavailable(err);
    }
    if (response.ok && typeof tokens.id_token === 'string') return { id_token: tokens.id_token };
    if (response.status >= 500 || response.status === 429) throw unavailable(new Error(`token endpoint answered ${response.status}`));
    const reason = typeof tokens.error_description === 'string' ? tokens.error_description : typeof tokens.error === 'string' ? tokens.error : String(response.status);
    throw new AppError('bad_request', { key: 'accountSignIn.failed', values: { reason: reason.slice(0, 300) } });
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
