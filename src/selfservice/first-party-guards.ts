import crypto from 'node:crypto';
import type { Context, Next } from 'koa';
import type { z } from 'zod';
import type { Config } from '../config/config-schema.js';
import { AppError } from '../http/app-error.js';
import { readForm } from '../http/form-body.js';
import { OidcSignInClient } from '../http/oidc-sign-in-client.js';
import { requestOrigin } from '../http/request-origin.js';
import { pageLocalsOf } from '../http/page-language.js';
import { renderPage } from '../http/views.js';
import type { FactorContext } from '../mfa/mfa-factor.js';
import { isBeforeMark } from '../oidc/session-validity.js';
import { isMfaAcr } from '../oidc/authentication-context.js';
import type { AccountSession, AccountSessionRepository } from '../storage/repositories/account-session-repository.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { User, UserAuthState } from '../storage/repositories/users-repository.js';
import type { DeviceManagement } from './device-management.js';
import type { SignedInSessions } from './signed-in-sessions.js';

/** One of Twofold's own hosted apps (/account, /support): its path, OIDC client and session cookie. */
export interface FirstPartySite {
  /** The path prefix, e.g. '/account'; also the cookies' path. */
  path: string;
  clientId: string;
  clientName: string;
  /** Name of the signed cookie holding the session id. */
  sessionCookie: string;
  /** Extra authorization parameters of the first sign-in (e.g. asking for MFA straight away). */
  signInParams?: Record<string, string>;
}

/** Registers the site's first-party public client (idempotent, at every start). */
export async function ensureFirstPartyClient(data: DataStore, issuer: string, site: FirstPartySite): Promise<void> {
  await data.clients.upsert({
    client_id: site.clientId,
    client_name: site.clientName,
    redirect_uris: [`${issuer}${site.path}/callback`],
    post_logout_redirect_uris: [`${issuer}${site.path}/signed-out`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    first_party: true,
  });
}

/** A form's CSRF token is valid only in the signed-in session it was shown in (the cookie alone before sign-in). */
export const sessionCsrfBinding =
  (site: FirstPartySite) =>
  (ctx: Context): string | undefined => {
    const sessionId = ctx.cookies.get(site.sessionCookie, { signed: true });
    return sessionId ? `${site.path.slice(1)}:${sessionId}` : undefined;
  };

/** The caller's live session of the site, as `signedIn` leaves it on ctx.state. */
export interface Signed {
  sessionId: string;
  session: AccountSession;
  user: User;
}

/** Where a sign-in started by a guard comes back to (default: the page asked for). */
type ReturnTo = (ctx: Context & { params: Record<string, string | undefined> }) => string;
export type Guard = (ctx: Context & { params: Record<string, string | undefined> }, next: Next) => Promise<void>;

export interface FirstPartyGuardDeps {
  config: Config;
  data: DataStore;
  devices: DeviceManagement;
  sessions: AccountSessionRepository;
  backChannel: () => string;
  backChannelHeaders?: Record<string, string>;
  verifyCsrf: (ctx: Context, form: Record<string, string>) => void;
  viewExtras: () => Record<string, unknown>;
  signedInSessions: SignedInSessions;
  /** The value of the browser's session cookie at Twofold (oidc-provider's), if any. */
  browserSessionId: (ctx: Context) => string | undefined;
}

/** What the guards put on ctx.state; only valid after the matching guard ran. */
export const signedOf = (ctx: Context): Signed => ctx.state.signed as Signed;
export const formOf = <S extends z.ZodType>(ctx: Context, _schema: S): z.output<S> => ctx.state.form as z.output<S>;

/**
 * The session cookie and the per-route checks of one first-party site: each guard either calls
 * the route or answers itself (a redirect to sign in, a CSRF or form error).
 */
export function firstPartyGuards(deps: FirstPartyGuardDeps, site: FirstPartySite) {
  const { config, data, devices, sessions, verifyCsrf, signedInSessions } = deps;
  const SESSION_COOKIE = site.sessionCookie;
  const client = new OidcSignInClient({
    issuer: config.issuer,
    clientId: site.clientId,
    redirectPath: `${site.path}/callback`,
    cookiePath: site.path,
    cookieName: `${site.sessionCookie}.flow`,
    backChannel: deps.backChannel,
    backChannelHeaders: deps.backChannelHeaders,
  });
  const cookieOptions = (ctx: Context) => ({ httpOnly: true, sameSite: 'lax' as const, signed: true, secure: ctx.secure, path: site.path, overwrite: true });

  /** The caller's live session, or a redirect to sign in (undefined). */
  async function liveSession(ctx: Context): Promise<Signed | undefined> {
    const sessionId = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    const session = sessionId ? await sessions.get(sessionId) : undefined;
    const auth = session ? await data.users.findAuthState(session.userId) : undefined;
    if (!sessionId || !session || !auth || !(await stillValid(session, auth))) {
      if (sessionId) await sessions.destroy(sessionId);
      client.begin(ctx, ctx.method === 'GET' ? ctx.url : site.path, site.signInParams);
      return undefined;
    }
    return { sessionId, session, user: auth.user };
  }

  /** Not locked, not signed out since, and the browser session it was made through not ended. */
  async function stillValid(session: AccountSession, auth: UserAuthState): Promise<boolean> {
    if (auth.user.lockedAt || isBeforeMark(session.validFrom, auth.sessionsValidAfter)) return false;
    return session.browserSessionUid === undefined || (await signedInSessions.exists(auth.user.id, session.browserSessionUid));
  }

  /** Sensitive pages: a sign-in within the window, with MFA when the user has a device. */
  async function recentlyAuthenticated(ctx: Context, s: Signed, returnTo: string): Promise<boolean> {
    const fresh = Date.now() / 1000 - s.session.authTime <= config.reauthMaxAgeSeconds;
    const hasDevice = await devices.hasVerifiedDevice(s.user);
    if (fresh && (isMfaAcr(s.session.acr) || !hasDevice)) return true;
    client.begin(ctx, returnTo, { max_age: '0', ...(hasDevice ? { acr_values: 'aal2' } : {}) });
    return false;
  }

  /** The admin page: a recent sign-in with MFA, whether or not the user has a device. */
  async function mfaFresh(ctx: Context, s: Signed, returnTo: string): Promise<boolean> {
    if (isMfaAcr(s.session.acr) && Date.now() / 1000 - s.session.authTime <= config.reauthMaxAgeSeconds) return true;
    client.begin(ctx, returnTo, { max_age: '0', acr_values: 'aal2' });
    return false;
  }

  const here: ReturnTo = (ctx) => ctx.url;

  const signedIn: Guard = async (ctx, next) => {
    const s = await liveSession(ctx);
    if (!s) return;
    ctx.state.signed = s;
    await next();
  };

  const recentSignIn =
    (returnTo: ReturnTo = here): Guard =>
    async (ctx, next) => {
      if (await recentlyAuthenticated(ctx, signedOf(ctx), returnTo(ctx))) await next();
    };

  const recentMfa =
    (returnTo: ReturnTo = here): Guard =>
    async (ctx, next) => {
      if (await mfaFresh(ctx, signedOf(ctx), returnTo(ctx))) await next();
    };

  /**
   * A posted form: read, CSRF-checked on the raw fields, then shaped by the route's schema
   * (unknown fields dropped). Schemas stay lenient so the domain gives its own messages.
   */
  const form =
    <S extends z.ZodType>(schema: S): Guard =>
    async (ctx, next) => {
      const raw = await readForm(ctx);
      verifyCsrf(ctx, raw);
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const field = parsed.error.issues[0]?.path.join('.') || 'form';
        throw new AppError('validation_failed', { key: 'field.invalid', values: { field } });
      }
      ctx.state.form = parsed.data;
      await next();
    };

  async function page(ctx: Context, view: string, title: string, locals: Record<string, unknown> = {}, status = 200): Promise<void> {
    ctx.set('Cache-Control', 'no-store');
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = await renderPage(view, { title, ...pageLocalsOf(ctx), csrfToken: ctx.state.csrfToken, ...deps.viewExtras(), ...locals });
  }

  /** After a sign-in through Twofold: a new session and its cookie. */
  async function startSession(ctx: Context, session: Omit<AccountSession, 'browserSessionUid'>): Promise<void> {
    const sessionId = crypto.randomBytes(32).toString('base64url');
    const browserSessionUid = await signedInSessions.currentUid(session.userId, deps.browserSessionId(ctx));
    await sessions.save(sessionId, { ...session, browserSessionUid });
    ctx.cookies.set(SESSION_COOKIE, sessionId, cookieOptions(ctx));
  }

  /** After a change that ended the user's other sessions, this one carries on. */
  async function keepSession(s: Signed, mark: Date): Promise<void> {
    await sessions.keepFrom(s.sessionId, Math.floor(mark.getTime() / 1000));
  }

  async function endSession(ctx: Context, s: Signed): Promise<void> {
    await sessions.destroy(s.sessionId);
    ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx));
  }

  /** "Sign out": whatever session the cookie names ends (live or not); returns it for the logout URL. */
  async function endCookieSession(ctx: Context): Promise<AccountSession | undefined> {
    const sessionId = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    const session = sessionId ? await sessions.get(sessionId) : undefined;
    if (sessionId) await sessions.destroy(sessionId);
    ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx));
    return session;
  }

  /** uid of the caller's browser session at Twofold, if it is still the user's. */
  async function browserSessionUid(ctx: Context, s: Signed): Promise<string | undefined> {
    return s.session.browserSessionUid ?? (await signedInSessions.currentUid(s.user.id, deps.browserSessionId(ctx)));
  }

  /** Enrolment secrets and codes are bound to this one signed-in session. */
  const flowOf = (ctx: Context, s: Signed): FactorContext => ({ flowId: `${site.path.slice(1)}:${s.sessionId}`, origin: requestOrigin(ctx) });

  /** The OIDC callback: a new session, then back to the page the sign-in started from (inside the site). */
  const completeSignIn = async (ctx: Context): Promise<void> => {
    const { claims, idToken, returnTo } = await client.complete(ctx);
    const authTime = Number(claims.auth_time ?? Math.floor(Date.now() / 1000));
    await startSession(ctx, { userId: String(claims.sub), authTime, acr: String(claims.acr ?? 'aal1'), idToken, validFrom: authTime });
    ctx.redirect(returnTo === site.path || returnTo.startsWith(`${site.path}/`) || returnTo.startsWith(`${site.path}?`) ? returnTo : site.path);
  };

  return {
    site,
    client,
    signedIn,
    recentSignIn,
    recentMfa,
    recentlyAuthenticated,
    form,
    page,
    startSession,
    keepSession,
    endSession,
    endCookieSession,
    flowOf,
    completeSignIn,
    browserSessionUid,
  };
}

export type FirstPartyGuards = ReturnType<typeof firstPartyGuards>;
