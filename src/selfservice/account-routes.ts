import Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountAdmin } from '../accounts/account-admin.js';
import type { DisableRequests } from '../accounts/disable-requests.js';
import type { PasswordChange } from '../accounts/password-change.js';
import type { Config } from '../config/config-schema.js';
import type { AccountSessionRepository } from '../storage/repositories/account-session-repository.js';
import type { DataStore } from '../storage/repositories/index.js';
import { accountAdminRoutes } from './account-admin-routes.js';
import { accountDeviceRoutes } from './account-device-routes.js';
import { accountGuards } from './account-guards.js';
import { accountLanguageRoutes } from './account-language-routes.js';
import { accountPasswordRoutes } from './account-password-routes.js';
import { LanguageChoice } from './language-choice.js';
import { accountRecoveryCodeRoutes } from './account-recovery-code-routes.js';
import { accountSessionRoutes } from './account-session-routes.js';
import { accountSignedInRoutes } from './account-signed-in-routes.js';
import type { DeviceManagement } from './device-management.js';
import type { EmailChange } from './email-change.js';
import type { SignedInSessions } from './signed-in-sessions.js';
import { accountEmailRoutes } from './email-routes.js';

export { accountCsrfBinding } from './account-guards.js';

/**
 * "My Profile & Settings" (/account): thin routes over DeviceManagement and AccountAdmin. The
 * user is always the one of the caller's own session; sensitive changes need a recent sign-in
 * (with MFA when the user has a device), else the user signs in again and comes back to the same page.
 */
export function accountRoutes(deps: {
  config: Config;
  data: DataStore;
  devices: DeviceManagement;
  admin: AccountAdmin;
  disableRequests: DisableRequests;
  passwords: PasswordChange;
  emails: EmailChange;
  sessions: AccountSessionRepository;
  backChannel: () => string;
  backChannelHeaders?: Record<string, string>;
  verifyCsrf: (ctx: Context, form: Record<string, string>) => void;
  csrfMiddleware: (ctx: Context, next: () => Promise<void>) => Promise<void>;
  viewExtras: () => Record<string, unknown>;
  signedInSessions: SignedInSessions;
  browserSessionId: (ctx: Context) => string | undefined;
}): Router {
  const guards = accountGuards(deps);
  const router = new Router({ prefix: '/account' });
  router.use(deps.csrfMiddleware);
  router.use(accountSessionRoutes(guards, deps.devices, deps.signedInSessions).routes());
  router.use(accountSignedInRoutes(guards, deps.signedInSessions).routes());
  router.use(accountDeviceRoutes(guards, deps.devices).routes());
  router.use(accountRecoveryCodeRoutes(guards, deps.devices).routes());
  router.use(accountPasswordRoutes(guards, deps.passwords).routes());
  router.use(accountLanguageRoutes(guards, new LanguageChoice(deps.data.users)).routes());
  router.use(accountAdminRoutes(guards, deps.data, deps.admin, deps.disableRequests).routes());
  router.use(accountEmailRoutes(guards, deps.emails).routes());
  return router;
}
