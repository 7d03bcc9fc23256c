import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { accountWithUser, cli, confidentialClient, RP_REDIRECT, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';
let db: TestDatabase;
let server: TwofoldProcess;
let user: Fixture;
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_metrics');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ENTRY_RATE_LIMIT: '5', METRICS_TOKEN, ...clusterSecrets() });
  user = await accountWithUser(db.url, { mfaRequired: false });
  client = await confidentialClient(db.url);
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

describe('entry-point rate limits', () => {
  test('the token endpoint answers 429 with Retry-After once an IP is over the limit, before any work', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 7; i++) {
      const res = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.7' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: 'nope', client_id: client.clientId }),
      });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
      await res.arrayBuffer();
    }
    expect(statuses.slice(0, 5).every((s) => s !== 429)).toBe(true);
    expect(statuses.slice(5)).toEqual([429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });
});

describe('the size of what goes back to the relying party', () => {
  const authUrl = (state: string) =>
    `${server.url}/auth?${new URLSearchParams({ client_id: client.clientId, redirect_uri: RP_REDIRECT, response_type: 'code', scope: 'openid' })}&state=${state}`;

  test('a state that would come back as a header too long to read is refused on a page, not redirected', async () => {
    // 3 KB of bytes that are not UTF-8: each comes back as U+FFFD, three times longer.
    const res = await fetch(authUrl('%ED%A0%80'.repeat(1000)), { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const page = await res.text();
    expect(page).toContain('role="alert"');
    expect(page).toContain('The state parameter is too long');

    const json = await fetch(authUrl('x'.repeat(2049)), { redirect: 'manual', headers: { accept: 'application/json' } });
    expect(json.status).toBe(400);
    expect(await json.json()).toEqual({ error: 'bad_request', message: expect.stringContaining('state') });
  });

  test('a redirect whose Location would be over 8 KB (a client registered with a huge redirect URI) becomes a page', async () => {
    const longUri = `http://rp.test/callback?pad=${'p'.repeat(8300)}`;
    await cli(db.url, ['client', 'create', '--client-id', 'rp-long-uri', '--redirect-uri', longUri, '--secret', `secret-${'x'.repeat(40)}`]);
    // No response_type: oidc-provider answers with an error redirect to the client's redirect URI.
    const res = await fetch(`${server.url}/auth?${new URLSearchParams({ client_id: 'rp-long-uri', redirect_uri: longUri, scope: 'openid', state: 's' })}`, {
      redirect: 'manual',
      headers: { accept: 'text/html' },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('too long to send back to the application');
  });
});

describe('/metrics', () => {
  test('needs the bearer token and counts sign-ins without personal data in labels', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);

    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page } = await rp.start();
    await rp.agent.submit(page, '/login', { username: user.username, password: 'not the password' });

    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/twofold_sign_ins_total\{result="failure",method="password"\} [1-9]/);
    expect(text).toMatch(/twofold_http_request_duration_seconds_bucket\{[^}]*route="\/interaction\/:uid\/login"/);
    expect(text).not.toContain(user.username);
    expect(text).not.toContain(user.userId);
  });
});
