import type { DataStore } from '../storage/repositories/index.js';
import { ensureFirstPartyClient, type FirstPartySite } from './first-party-guards.js';

export const ACCOUNT_CLIENT_ID = 'twofold-account';

/** "My Profile & Settings" signs in through Twofold like any app: a first-party public client. */
export const ACCOUNT_SITE: FirstPartySite = {
  path: '/account',
  clientId: ACCOUNT_CLIENT_ID,
  clientName: 'My Profile & Settings',
  sessionCookie: 'twofold.account',
};

export async function ensureAccountClient(data: DataStore, issuer: string): Promise<void> {
  await ensureFirstPartyClient(data, issuer, ACCOUNT_SITE);
}
