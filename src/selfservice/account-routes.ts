import crypto from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Config } from '../config/config-schema.js';
import { AppError, isAppError } from '../http/app-error.js';
import { readForm } from '../http/form-body.js';
import { OidcSignInClient } from '../http/oidc-sign-in-client.js';
import { requestOrigin } from '../http/request-origin.js';
import { renderPage } from '../http/views.js';
import { parseQuantity } from '../mfa/recovery-codes.js';
import { isBeforeMark } from '../oidc/session-validity.js';
import type { AccountSessionRepository, AccountSession } from '../storage/repositories/account-session-repository.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { User } from '../storage/repositories/users-repository.js';
import { ACCOUNT_CLIENT_ID } from './account-client.js';
import { listUsersWithMfa, type AccountAdmin } from '../accounts/account-admin.js';
import { mayAdminister, mayManageAccount } from '../accounts/roles.js';
import { isUuid } from '../storage/repositories/accounts-repository.js';
import type { DeviceManagement } from './device-management.js';
import type { FactorContext } from '../mfa/mfa-factor.js';

const SESSION_COOKIE = 'twofold.account';

/** A form's CSRF token is valid only in the signed-in session it was shown in (the cookie alone before sign-in). */
export const accountCsrfBinding = (ctx: Context): string | undefined => {
  const sessionId = ctx.cookies.get(SESSION_COOKIE, { signed: true });
  return sessionId ? `account:${sessionId}` : undefined;
};

/** `replaces` is carried into a redirect only when it can be a device id (never echo arbitrary input into a header). */
const replacedId = (value: string | undefined): value is string => typeof value === 'string' && isUuid(value);

interface Signed {
  sessionId: string;
  session: AccountSession;
  user: User;
}

/**
 * "My Profile & Settings" (/account): thin routes over DeviceManagement. The user is always the
 * one of the caller's own session; sensitive changes need a recent sign-in (with MFA when the
 * user has a device), else the user signs in again and comes back to the same page.
 */
export function accountRoutes(deps: {
  config: Config;
  data: DataStore;
  devices: DeviceManagement;
  admin: AccountAdmin;
  sessions: AccountSessionRepository;
  backChannel: () => string;
  backChannelHeaders?: Record<string, string>;
  verifyCsrf: (ctx: Context, form: Record<string, string>) => void;
  csrfMiddleware: (ctx: Context, next: () => Promise<void>) => Promise<void>;
  viewExtras: () => Record<string, unknown>;
}): Router {
  const { config, data, devices, sessions, verifyCsrf } = deps;
  const client = new OidcSignInClient({
    issuer: config.issuer,
    clientId: ACCOUNT_CLIENT_ID,
    redirectPath: '/account/callback',
    cookiePath: '/account',
    cookieName: 'twofold.account.flow',
    backChannel: deps.backChannel,
    backChannelHeaders: deps.backChannelHeaders,
  });
  const router = new Router({ prefix: '/account' });
  router.use(deps.csrfMiddleware);
  const cookieOptions = (ctx: Context) => ({ httpOnly: true, sameSite: 'lax' as const, signed: true, secure: ctx.secure, path: '/account', overwrite: true });

  async function page(ctx: Context, view: string, title: string, locals: Record<string, unknown> = {}, status = 200): Promise<void> {
    ctx.set('Cache-Control', 'no-store');
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = await renderPage(view, { title, csrfToken: ctx.state.csrfToken, ...deps.viewExtras(), ...locals });
  }

  /** The caller's live session, or a redirect to sign in (undefined). */
  async function signedIn(ctx: Context): Promise<Signed | undefined> {
    const sessionId = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    const session = sessionId ? await sessions.get(sessionId) : undefined;
    const auth = session ? await data.users.findAuthState(session.userId) : undefined;
    if (!sessionId || !session || !auth || auth.user.lockedAt || isBeforeMark(session.validFrom, auth.sessionsValidAfter)) {
      if (sessionId) await sessions.destroy(sessionId);
      client.begin(ctx, ctx.method === 'GET' ? ctx.url : '/account');
      return undefined;
    }
    return { sessionId, session, user: auth.user };
  }

  /** Sensitive pages: a sign-in within the window, with MFA when the user has a device. */
  async function recentlyAuthenticated(ctx: Context, s: Signed, returnTo: string): Promise<boolean> {
    const fresh = Date.now() / 1000 - s.session.authTime <= config.reauthMaxAgeSeconds;
    const hasDevice = await devices.hasVerifiedDevice(s.user);
    if (fresh && (s.session.acr === 'aal2' || !hasDevice)) return true;
    client.begin(ctx, returnTo, { max_age: '0', ...(hasDevice ? { acr_values: 'aal2' } : {}) });
    return false;
  }

  /** A POSTed form of a signed-in user with a recent sign-in; undefined when redirected. */
  async function sensitivePost(ctx: Context, returnTo: string): Promise<{ s: Signed; form: Record<string, string> } | undefined> {
    const form = await readForm(ctx);
    verifyCsrf(ctx, form);
    const s = await signedIn(ctx);
    if (!s || !(await recentlyAuthenticated(ctx, s, returnTo))) return undefined;
    return { s, form };
  }

  /** After a change that ended the user's other sessions, this one carries on. */
  async function keepSession(s: Signed, mark: Date): Promise<void> {
    await sessions.save(s.sessionId, { ...s.session, validFrom: Math.floor(mark.getTime() / 1000) });
  }

  async function endSession(ctx: Context, s: Signed): Promise<void> {
    await sessions.destroy(s.sessionId);
    ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx));
  }

  const origin = requestOrigin;
  /** Enrolment secrets and codes of /account are bound to this one signed-in session. */
  const flowOf = (ctx: Context, s: Signed): FactorContext => ({ flowId: `account:${s.sessionId}`, origin: origin(ctx) });

  router.get('/callback', async (ctx) => {
    const { claims, idToken, returnTo } = await client.complete(ctx);
    const sessionId = crypto.randomBytes(32).toString('base64url');
    const authTime = Number(claims.auth_time ?? Math.floor(Date.now() / 1000));
    await sessions.save(sessionId, { userId: String(claims.sub), authTime, acr: String(claims.acr ?? 'aal1'), idToken, validFrom: authTime });
    ctx.cookies.set(SESSION_COOKIE, sessionId, cookieOptions(ctx));
    ctx.redirect(returnTo.startsWith('/account') ? returnTo : '/account');
  });

  router.get('/', async (ctx) => {
    const s = await signedIn(ctx);
    if (!s) return;
    const notices: Record<string, string> = {
      removed: 'The device was removed. Your other sessions were signed out.',
      'removed-all': 'All devices were removed. Multi-factor authentication is off for your account.',
      default: 'Your default authentication method was changed.',
      verified: 'Your device is verified.',
    };
    await page(ctx, 'account', 'My Profile & Settings', {
      user: s.user,
      overview: await devices.overview(s.user),
      notice: notices[String(ctx.query.done)] ?? undefined,
    });
  });

  router.get('/devices/new/:kind', async (ctx) => {
    const s = await signedIn(ctx);
    if (!s || !(await recentlyAuthenticated(ctx, s, ctx.url))) return;
    const kind = ctx.params.kind === 'sms' || ctx.params.kind === 'totp' ? ctx.params.kind : undefined;
    if (!kind) throw new AppError('not_found', 'Unknown device type.');
    const replaces = typeof ctx.query.replaces === 'string' ? ctx.query.replaces : '';
    await page(ctx, 'account-add-device', kind === 'sms' ? 'Add an SMS device' : 'Add a Mobile Passcode device', { kind, values: { replaces } });
  });

  router.post('/devices/new/:kind', async (ctx) => {
    const kind = ctx.params.kind === 'sms' || ctx.params.kind === 'totp' ? ctx.params.kind : undefined;
    if (!kind) throw new AppError('not_found', 'Unknown device type.');
    const posted = await sensitivePost(ctx, `/account/devices/new/${kind}`);
    if (!posted) return;
    try {
      const device = await devices.add(posted.s.user, kind, posted.form, flowOf(ctx, posted.s));
      const replaces = replacedId(posted.form.replaces) ? `?replaces=${posted.form.replaces}` : '';
      ctx.status = 303;
      ctx.redirect(`/account/devices/${device.id}${replaces}`);
    } catch (err) {
      if (!isAppError(err) || (err.status >= 500 && err.code !== 'sms_send_failed')) throw err;
      await page(ctx, 'account-add-device', 'Add a device', { kind, error: err.message, values: posted.form }, err.status);
    }
  });

  router.get('/devices/:id', async (ctx) => {
    const s = await signedIn(ctx);
    if (!s) return;
    const { device, enrolment } = await devices.device(s.user, ctx.params.id!, flowOf(ctx, s));
    // An enrolment page can hold a secret: only within a recent sign-in.
    if (enrolment && !(await recentlyAuthenticated(ctx, s, ctx.url))) return;
    await page(ctx, 'account-device', device.kindLabel, { device, enrolment, replaces: typeof ctx.query.replaces === 'string' ? ctx.query.replaces : '', notice: ctx.query.sent ? 'We sent a new PIN.' : undefined });
  });

  router.post('/devices/:id/verify', async (ctx) => {
    const posted = await sensitivePost(ctx, `/account/devices/${ctx.params.id}`);
    if (!posted) return;
    const { s, form } = posted;
    try {
      const result = await devices.verify(s.user, ctx.params.id!, form.code, { makeDefault: form.makeDefault === '1', replaces: form.replaces || undefined }, flowOf(ctx, s));
      if (result.verified) {
        if (result.signedOut) {
          // Making it the default signs you out; you sign in again with MFA.
          await endSession(ctx, s);
          ctx.status = 303;
          ctx.redirect('/account/signed-out?reason=default');
          return;
        }
        if (result.mark) await keepSession(s, result.mark);
        ctx.status = 303;
        ctx.redirect('/account?done=verified');
        return;
      }
      const { device, enrolment } = await devices.device(s.user, ctx.params.id!, flowOf(ctx, s));
      await page(ctx, 'account-device', device.kindLabel, { device, enrolment, replaces: form.replaces ?? '', error: device.kind === 'sms' ? 'Invalid PIN' : 'Invalid code' }, 401);
    } catch (err) {
      if (!isAppError(err) || err.status >= 500 || err.code === 'not_found') throw err;
      const { device, enrolment } = await devices.device(s.user, ctx.params.id!, flowOf(ctx, s));
      await page(ctx, 'account-device', device.kindLabel, { device, enrolment, replaces: form.replaces ?? '', error: err.message }, err.status);
    }
  });

  router.post('/devices/:id/resend', async (ctx) => {
    const posted = await sensitivePost(ctx, `/account/devices/${ctx.params.id}`);
    if (!posted) return;
    try {
      await devices.resendPin(posted.s.user, ctx.params.id!, flowOf(ctx, posted.s));
      ctx.status = 303;
      const replaces = replacedId(posted.form.replaces) ? `&replaces=${posted.form.replaces}` : '';
      ctx.redirect(`/account/devices/${ctx.params.id}?sent=1${replaces}`);
    } catch (err) {
      if (!isAppError(err) || (err.status >= 500 && err.code !== 'sms_send_failed') || err.code === 'not_found') throw err;
      const { device, enrolment } = await devices.device(posted.s.user, ctx.params.id!, flowOf(ctx, posted.s));
      await page(ctx, 'account-device', device.kindLabel, { device, enrolment, replaces: '', error: err.message }, err.status);
    }
  });

  /** "Show a new QR code": finish an enrolment begun in another session (POST: it changes the secret). */
  router.post('/devices/:id/renew', async (ctx) => {
    const posted = await sensitivePost(ctx, `/account/devices/${ctx.params.id}`);
    if (!posted) return;
    await devices.renewEnrolment(posted.s.user, ctx.params.id!, flowOf(ctx, posted.s));
    const replaces = replacedId(posted.form.replaces) ? `?replaces=${posted.form.replaces}` : '';
    ctx.status = 303;
    ctx.redirect(`/account/devices/${ctx.params.id}${replaces}`);
  });

  router.post('/devices/:id/remove', async (ctx) => {
    const posted = await sensitivePost(ctx, `/account/devices/${ctx.params.id}`);
    if (!posted) return;
    await keepSession(posted.s, await devices.remove(posted.s.user, ctx.params.id!, origin(ctx)));
    ctx.status = 303;
    ctx.redirect('/account?done=removed');
  });

  router.get('/devices-remove-all', async (ctx) => {
    const s = await signedIn(ctx);
    if (!s || !(await recentlyAuthenticated(ctx, s, ctx.url))) return;
    await page(ctx, 'account-remove-all', 'Remove all devices', { overview: await devices.overview(s.user) });
  });

  router.post('/devices-remove-all', async (ctx) => {
    const posted = await sensitivePost(ctx, '/account/devices-remove-all');
    if (!posted) return;
    await keepSession(posted.s, await devices.removeAll(posted.s.user, origin(ctx)));
    ctx.status = 303;
    ctx.redirect('/account?done=removed-all');
  });

  router.get('/default', async (ctx) => {
    const s = await signedIn(ctx);
    if (!s || !(await recentlyAuthenticated(ctx, s, ctx.url))) return;
    await page(ctx, 'account-default', 'Default authentication method', { overview: await devices.overview(s.user) });
  });

  router.post('/default', async (ctx) => {
    const posted = await sensitivePost(ctx, '/account/default');
    if (!posted) return;
    try {
      await keepSession(posted.s, await devices.setDefaultKind(posted.s.user, posted.form.method, origin(ctx)));
    } catch (err) {
      if (!isAppError(err) || err.status >= 500) throw err;
      return page(ctx, 'account-default', 'Default authentication method', { overview: await devices.overview(posted.s.user), error: err.message }, err.status);
    }
    ctx.status = 303;
    ctx.redirect('/account?done=default');
  });

  router.get('/recovery-codes', async (ctx) => {
    const s = await signedIn(ctx);
    if (!s || !(await recentlyAuthenticated(ctx, s, ctx.url))) return;
    await page(ctx, 'account-recovery-codes', 'Generate Recovery Codes', { overview: await devices.overview(s.user), quantity: '10' });
  });

  router.post('/recovery-codes', async (ctx) => {
    const posted = await sensitivePost(ctx, '/account/recovery-codes');
    if (!posted) return;
    let quantity: number;
    try {
      quantity = parseQuantity(posted.form.quantity);
    } catch (err) {
      if (!isAppError(err)) throw err;
      return page(ctx, 'account-recovery-codes', 'Generate Recovery Codes', { overview: await devices.overview(posted.s.user), quantity: String(posted.form.quantity ?? '').slice(0, 20), error: err.message }, 422);
    }
    const { codes, mark } = await devices.generateRecoveryCodes(posted.s.user, quantity, origin(ctx));
    await keepSession(posted.s, mark);
    // Shown exactly once: this response is the only place the codes exist in clear.
    await page(ctx, 'account-recovery-codes-shown', 'Your recovery codes', { codes });
  });

  /** "Save Your Codes": the page posts back the codes it shows; nothing is stored in clear. */
  router.post('/recovery-codes/download', async (ctx) => {
    const form = await readForm(ctx);
    verifyCsrf(ctx, form);
    const s = await signedIn(ctx);
    if (!s) return;
    const codes = String(form.codes ?? '').split(/\s+/).filter((c) => /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/.test(c)).slice(0, 10);
    if (codes.length === 0) throw new AppError('bad_request', 'There are no codes to save.');
    const header = [`Twofold recovery codes for ${s.user.username}`, `Generated ${new Date().toISOString().slice(0, 10)}. Each code works once.`, ''];
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', 'attachment; filename="recovery-codes.txt"');
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = [...header, ...codes, ''].join('\n');
  });

  /**
   * The account admin page: the account-wide "Require Multi-Factor" setting and the
   * users' MFA status. Same domain functions and rules as the admin API; always needs MFA.
   */
  async function adminContext(ctx: Context, s: Signed) {
    if (!mayAdminister(s.user)) throw new AppError('forbidden', 'Only account administrators and support can open this page.');
    const accountId = s.user.isSupport && typeof ctx.query.account === 'string' ? ctx.query.account : s.user.accountId;
    if (!mayManageAccount(s.user, accountId)) throw new AppError('forbidden', 'You may not manage this account.');
    const account = await data.accounts.findById(accountId);
    if (!account) throw new AppError('not_found', 'No such account.');
    return account;
  }

  async function mfaFresh(ctx: Context, s: Signed, returnTo: string): Promise<boolean> {
    if (s.session.acr === 'aal2' && Date.now() / 1000 - s.session.authTime <= config.reauthMaxAgeSeconds) return true;
    client.begin(ctx, returnTo, { max_age: '0', acr_values: 'aal2' });
    return false;
  }

  router.get('/admin', async (ctx) => {
    const s = await signedIn(ctx);
    if (!s) return;
    const account = await adminContext(ctx, s);
    if (!(await mfaFresh(ctx, s, ctx.url))) return;
    await page(ctx, 'account-admin', 'User Management', {
      account,
      users: await listUsersWithMfa(data, account.id),
      canDisable: s.user.isSupport,
      notice: ctx.query.saved ? 'The setting was saved.' : undefined,
    });
  });

  router.post('/admin/mfa-policy', async (ctx) => {
    const form = await readForm(ctx);
    verifyCsrf(ctx, form);
    const s = await signedIn(ctx);
    if (!s) return;
    const account = await adminContext(ctx, s);
    const back = `/account/admin${s.user.isSupport ? `?account=${account.id}` : ''}`;
    if (!(await mfaFresh(ctx, s, back))) return;
    if (form.mfaRequired !== 'true' && form.mfaRequired !== 'false') throw new AppError('validation_failed', 'Choose Enabled or Disabled.');
    const required = form.mfaRequired === 'true';
    if (!required && !s.user.isSupport) throw new AppError('support_required', 'Only support can turn off multi-factor authentication: open a support ticket.');
    const change = await deps.admin.setMfaRequired(account.id, required, s.user.id, origin(ctx));
    // Enabling signs out every session of the account, this one included: sign in again.
    if (change.sessionsEnded && account.id === s.user.accountId) {
      await endSession(ctx, s);
      ctx.status = 303;
      ctx.redirect('/account/signed-out?reason=policy');
      return;
    }
    ctx.status = 303;
    ctx.redirect(`${back}${back.includes('?') ? '&' : '?'}saved=1`);
  });

  router.post('/logout', async (ctx) => {
    const form = await readForm(ctx);
    verifyCsrf(ctx, form);
    const sessionId = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    const session = sessionId ? await sessions.get(sessionId) : undefined;
    if (sessionId) await sessions.destroy(sessionId);
    ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx));
    ctx.status = 303;
    ctx.redirect(client.logoutUrl(session?.idToken, '/account/signed-out'));
  });

  router.get('/signed-out', async (ctx) => {
    const messages: Record<string, string> = {
      default: 'Your new device is now your default authentication method, and you were signed out everywhere. Sign in again with it.',
      policy: 'Multi-factor authentication is now required for everyone in your account, and everyone was signed out. Sign in again.',
    };
    const message = messages[String(ctx.query.reason)];
    await page(ctx, 'logged-out', 'Signed out', { again: '/account', message });
  });

  return router;
}
