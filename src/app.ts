import type Provider from 'oidc-provider';
import type { Logger } from './logger.js';
import type { Config } from './config/config-schema.js';
import { csrfTokens } from './http/csrf.js';
import { errorHandler } from './http/error-handler.js';
import { healthRoutes } from './http/health-routes.js';
import { requestId } from './http/request-id.js';
import { securityHeaders } from './http/security-headers.js';
import { staticRoutes } from './http/static-routes.js';
import { interactionRoutes } from './interaction/interaction-routes.js';
import { demoRoutes } from './demo/demo-routes.js';
import type { SignInFlow } from './mfa/sign-in-flow.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  provider: Provider;
  flow: SignInFlow;
  readiness: Record<string, () => Promise<void>>;
  backChannel: () => string;
  viewExtras?: () => Record<string, unknown>;
}

/**
 * The HTTP application is oidc-provider's own Koa app; our middleware and routes run before
 * its endpoints (provider.use inserts them ahead), so one error handler and one set of
 * security headers cover everything.
 */
export function createApp({ config, logger, provider, flow, readiness, backChannel, viewExtras }: AppDeps): Provider {
  const csrf = csrfTokens(config.cookieKeys[0]!);
  provider.use(requestId(logger));
  provider.use(errorHandler(logger));
  provider.use(securityHeaders);
  provider.use(healthRoutes(readiness).routes());
  provider.use(staticRoutes().routes());

  const interactions = interactionRoutes({ provider, flow, verifyCsrf: csrf.verify, csrfMiddleware: csrf.middleware, viewExtras });
  provider.use(interactions.routes());
  provider.use(interactions.allowedMethods());

  if (config.demo) {
    provider.use(demoRoutes({ issuer: config.issuer, backChannel, verifyCsrf: csrf.verify, csrfMiddleware: csrf.middleware }).routes());
  }
  return provider;
}
