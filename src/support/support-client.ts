import type { DataStore } from '../storage/repositories/index.js';
import { ensureFirstPartyClient, type FirstPartySite } from '../selfservice/first-party-guards.js';

/** The support console signs in through Twofold like /account, asking for MFA from the start. */
export const SUPPORT_SITE: FirstPartySite = {
  path: '/support',
  clientId: 'twofold-support',
  clientName: 'Support console',
  sessionCookie: 'twofold.support',
  signInParams: { acr_values: 'aal2' },
};

export async function ensureSupportClient(data: DataStore, issuer: string): Promise<void> {
  await ensureFirstPartyClient(data, issuer, SUPPORT_SITE);
}
