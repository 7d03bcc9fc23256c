import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { accountWithUser, confidentialClient } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { signInEnrollingTotp } from '../helpers/totp-sign-in.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

let db: TestDatabase;
let server: TwofoldProcess;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_admin');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets() });
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

describe('admin API tokens', () => {
  test('an account admin with MFA gets a JWT for the admin resource and reads the policy', async () => {
    const admin = await accountWithUser(db.url, { mfaRequired: true, role: 'admin' });
    const client = await confidentialClient(db.url);
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { tokens } = await signInEnrollingTotp(rp, admin.username, admin.password, { scope: 'openid admin', resource: `${server.url}/admin` });
    const [, payload] = tokens.access_token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'));
    expect(claims.aud).toBe(`${server.url}/admin`);
    expect(claims.scope).toContain('admin');
    expect(claims.acr).toBe('aal2');
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(600);

    const res = await fetch(`${server.url}/admin/v1/accounts/${admin.accountId}/mfa-policy`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.mfaRequired).toBe(true);

    const missing = await fetch(`${server.url}/admin/v1/accounts/${admin.accountId}/mfa-policy`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: 'unauthorized' });

    const disable = await fetch(`${server.url}/admin/v1/accounts/${admin.accountId}/mfa-policy`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ mfaRequired: false }),
    });
    expect(disable.status).toBe(403);
    expect(await disable.json()).toMatchObject({ error: 'support_required' });
  });
});
