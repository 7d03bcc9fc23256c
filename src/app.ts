import type Provider from 'oidc-provider';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Logger } from './logger.js';
import type { Metrics } from './http/metrics.js';
import type { Config } from './config/config-schema.js';
import { csrfTokens } from './http/csrf.js';
import { errorHandler, toAppError } from './http/error-handler.js';
import { healthRoutes } from './http/health-routes.js';
import { requestId } from './http/request-id.js';
import { securityHeaders } from './http/security-headers.js';
import { entryPointLimits } from './http/entry-point-limits.js';
import { BACK_CHANNEL_HEADER, backChannelSecret } from './http/back-channel.js';
import { hostCheck } from './http/host-check.js';
import { redirectSizeLimits } from './http/redirect-size-limits.js';
import type { Throttle } from './http/throttle.js';
import { staticRoutes } from './http/static-routes.js';
import { languageRoutes, setDefaultLanguage } from './http/page-language.js';
import { interactionCsrfBinding, interactionRoutes } from './interaction/interaction-routes.js';
import { demoRoutes } from './demo/demo-routes.js';
import type { SignInFlow } from './mfa/sign-in-flow.js';
import { mayAdminister } from './accounts/roles.js';
import { ADMIN_SCOPE } from './oidc/create-provider.js';
import { adminRoutes } from './admin/admin-routes.js';
import type { AdminTokenGuard } from './admin/admin-token-guard.js';
import type { AccountAdmin } from './accounts/account-admin.js';
import type { DisableRequests } from './accounts/disable-requests.js';
import { accountCsrfBinding, accountRoutes } from './selfservice/account-routes.js';
import type { EmailChange } from './selfservice/email-change.js';
import type { SignedInSessions } from './selfservice/signed-in-sessions.js';
import type { DeviceManagement } from './selfservice/device-management.js';
import type { AccountSessionRepository } from './storage/repositories/account-session-repository.js';
import type { DataStore } from './storage/repositories/index.js';
import type { PasswordReset } from './accounts/password-reset.js';
import type { PasswordChange } from './accounts/password-change.js';
import { passwordResetRoutes } from './selfservice/password-reset-routes.js';
import { supportCsrfBinding, supportRoutes } from './support/support-routes.js';
import type { SupportMfaReset } from './support/support-mfa-reset.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  provider: Provider;
  flow: SignInFlow;
  data: DataStore;
  devices: DeviceManagement;
  accountSessions: AccountSessionRepository;
  admin: AccountAdmin;
  disableRequests: DisableRequests;
  emails: EmailChange;
  adminGuard: AdminTokenGuard;
  metrics: Metrics;
  throttle: Throttle;
  readiness: Record<string, () => Promise<void>>;
  backChannel: () => string;
  passwordReset: PasswordReset;
  passwordChange: PasswordChange;
  signedInSessions: SignedInSessions;
  supportReset: SupportMfaReset;
  viewExtras?: () => Record<string, unknown>;
}

/**
 * The HTTP application is oidc-provider's own Koa app; our middleware and routes run before
 * its endpoints (provider.use inserts them ahead), so one error handler and one set of
 * security headers cover everything.
 */
export function createApp({
  config,
  logger,
  provider,
  flow,
  data,
  devices,
  accountSessions,
  admin,
  disableRequests,
  emails,
  adminGuard,
  metrics,
  throttle,
  readiness,
  backChannel,
  passwordReset,
  passwordChange,
  signedInSessions,
  supportReset,
  viewExtras = () => ({}),
}: AppDeps): Provider {
  const csrf = csrfTokens(config.cookieKeys[0]!);
  const ownCalls = backChannelSecret(config.cookieKeys[0]!);
  const backChannelHeaders = { [BACK_CHANNEL_HEADER]: ownCalls };
  provider.on('server_error', (ctx: { state: Record<string, unknown> }, err: unknown) => {
    if (toAppError(err).code === 'store_unavailable') ctx.state.storeUnavailable = true;
    else logger.error({ err }, 'oidc-provider server error');
  });
  provider.use(requestId(logger));
  provider.use(metrics.middleware());
  provider.use(errorHandler(logger, () => metrics.storeError()));
  provider.use(securityHeaders);
  provider.use(hostCheck(config.allowedHosts));
  provider.use(entryPointLimits(throttle, config.entryRateLimitPerMinute, ownCalls));
  provider.use(redirectSizeLimits);
  setDefaultLanguage(provider.app.context, config.defaultLocale);

  const mayHoldResourceScope = async (userId: string, scope: string) => scope === ADMIN_SCOPE && mayAdminister(await data.users.findById(userId));
  const rememberLanguage = async (userId: string, tag: string) => void (await data.users.setLocale(userId, tag));
  const interactions = interactionRoutes({
    provider,
    flow,
    verifyCsrf: csrf.verify,
    csrfMiddleware: csrf.bound(interactionCsrfBinding),
    mayHoldResourceScope,
    rememberLanguage,
    viewExtras,
  });
  const interactionRouter: Middleware = interactions.routes();
  const interactionMethods: Middleware = interactions.allowedMethods();
  const browserSessionId = (ctx: Context) => ctx.cookies.get(provider.cookieName('session'), { signed: true });
  const health = healthRoutes(readiness).routes();
  // Each router only sees its own paths: the OpenID Connect endpoints (discovery, JWKS, token)
  // pass one table look-up, not every router of ours.
  const routers: Record<string, Middleware> = {
    healthz: health,
    readyz: health,
    static: staticRoutes().routes(),
    language: languageRoutes().routes(),
    metrics: new Router().get('/metrics', metrics.handler(config.metricsToken)).routes(),
    interaction: (ctx: Context, next: Next) => interactionRouter(ctx, () => interactionMethods(ctx, next)),
    'password-reset': passwordResetRoutes({ reset: passwordReset, verifyCsrf: csrf.verify, csrfMiddleware: csrf.middleware }).routes(),
    admin: adminRoutes({ issuer: config.issuer, data, admin, disableRequests, guard: adminGuard }).routes(),
    account: accountRoutes({
      config,
      data,
      devices,
      admin,
      disableRequests,
      emails,
      passwords: passwordChange,
      sessions: accountSessions,
      backChannel,
      backChannelHeaders,
      verifyCsrf: csrf.verify,
      csrfMiddleware: csrf.bound(accountCsrfBinding),
      viewExtras,
      signedInSessions,
      browserSessionId,
    }).routes(),
    support: supportRoutes({
      config,
      data,
      devices,
      sessions: accountSessions,
      backChannel,
      backChannelHeaders,
      verifyCsrf: csrf.verify,
      csrfMiddleware: csrf.bound(supportCsrfBinding),
      disableRequests,
      viewExtras,
      admin,
      reset: supportReset,
      signedInSessions,
      browserSessionId,
    }).routes(),
  };
  if (config.demo) {
    routers.demo = demoRoutes({ issuer: config.issuer, backChannel, backChannelHeaders, verifyCsrf: csrf.verify, csrfMiddleware: csrf.middleware }).routes();
  }
  provider.use(byFirstSegment(routers));
  return provider;
}

// `any`: each router types its own context.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Middleware = (ctx: any, next: Next) => Promise<unknown>;

/** Runs the router of a path's first segment (`/account/...` → `account`), if any; else the provider's own endpoints. */
function byFirstSegment(routers: Record<string, Middleware>) {
  const table = new Map(Object.entries(routers));
  return (ctx: Context, next: Next) => {
    const end = ctx.path.indexOf('/', 1);
    const router = table.get(ctx.path.slice(1, end === -1 ? undefined : end));
    return router ? router(ctx, next) : next();
  };
}
