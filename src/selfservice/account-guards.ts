import { firstPartyGuards, sessionCsrfBinding, type FirstPartyGuardDeps, type FirstPartyGuards } from './first-party-guards.js';
import { ACCOUNT_SITE } from './account-client.js';

export { formOf, signedOf, type Signed } from './first-party-guards.js';

/** A form's CSRF token is valid only in the /account session it was shown in. */
export const accountCsrfBinding = sessionCsrfBinding(ACCOUNT_SITE);

/** The /account session cookie and the per-route checks of "My Profile & Settings". */
export const accountGuards = (deps: FirstPartyGuardDeps): FirstPartyGuards => firstPartyGuards(deps, ACCOUNT_SITE);

export type AccountGuards = FirstPartyGuards;
