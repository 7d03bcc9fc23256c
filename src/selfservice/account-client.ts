import type { DataStore } from '../storage/repositories/index.js';

export const ACCOUNT_CLIENT_ID = 'twofold-account';

/** "My Profile & Settings" signs in through Twofold like any app: a first-party public client. */
export async function ensureAccountClient(data: DataStore, issuer: string): Promise<void> {
  await data.clients.upsert({
    client_id: ACCOUNT_CLIENT_ID,
    client_name: 'My Profile & Settings',
    redirect_uris: [`${issuer}/account/callback`],
    post_logout_redirect_uris: [`${issuer}/account/signed-out`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    first_party: true,
  });
}
