import type { Provisioning } from '../accounts/provisioning.js';
import type { DataStore } from '../storage/repositories/index.js';

export const DEMO_CLIENT_ID = 'twofold-demo';

/**
 * On an empty database: the "Example" account (MFA required, as every new account) with an admin
 * and a user, and a support user in an account of its own (support never acts on its own
 * account's MFA policy), all with generated passwords. Returns the passwords so the caller can show them once;
 * undefined when the database already had data. The demo client is upserted on every start
 * instead (ensureDemoClient), so that it follows the issuer.
 */
export async function seedDemo(data: DataStore, provisioning: Provisioning): Promise<{ admin: string; user: string; support: string } | undefined> {
  if ((await data.accounts.count()) > 0) return undefined;
  await provisioning.createAccount('Example');
  const admin = await provisioning.createUser({ account: 'Example', username: 'admin@example.com', role: 'admin', email: 'admin@example.com' });
  const user = await provisioning.createUser({ account: 'Example', username: 'user@example.com', role: 'user', email: 'user@example.com' });
  await provisioning.createAccount('Example Support');
  const support = await provisioning.createUser({ account: 'Example Support', username: 'support@example.com', role: 'user', support: true, email: 'support@example.com' });
  return { admin: admin.generatedPassword!, user: user.generatedPassword!, support: support.generatedPassword! };
}

/** The demo client follows the issuer (it may change between starts). */
export async function ensureDemoClient(data: DataStore, issuer: string): Promise<void> {
  await data.clients.upsert({
    client_id: DEMO_CLIENT_ID,
    client_name: 'Twofold demo app',
    redirect_uris: [`${issuer}/demo/callback`],
    post_logout_redirect_uris: [`${issuer}/demo`],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    first_party: true,
  });
}
