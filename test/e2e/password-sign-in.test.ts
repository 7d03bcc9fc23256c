import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { accountWithUser, confidentialClient, RP_LOGOUT, type Fixture } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { hiddenFields } from '../helpers/user-agent.js';

let db: TestDatabase;
let server: TwofoldProcess;
let user: Fixture;
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_pwd');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets() });
  user = await accountWithUser(db.url, { mfaRequired: false });
  client = await confidentialClient(db.url);
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

describe('password sign-in through openid-client (account without the MFA requirement)', () => {
  test('"Cancel" on the sign-in page sends the relying party access_denied, and that sign-in cannot be finished afterwards', async () => {
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page } = await rp.start();
    const back = new URL(callbackOf(await rp.agent.submit(page, '/abort')));
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('error_description')).toBe('The user cancelled the sign-in.');
    // The cancelled interaction is over: its password form signs nobody in.
    const late = await rp.agent.submit(page, '/login', { username: user.username, password: user.password });
    expect(late.status).toBe(400);
    expect(late.html).toContain('This sign-in page has expired');
  });

  test('code + PKCE, consent, signed ID token, userinfo, refresh rotation, logout', async () => {
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page, finish } = await rp.start();
    expect(page.html).toContain('<label for="username">Username</label>');

    // A wrong password: one generic message, the form kept.
    const wrong = await rp.agent.submit(page, '/login', { username: user.username, password: 'wrong password' });
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain('Invalid username or password.');
    expect(wrong.html).toContain(`value="${user.username}"`);

    // Not first-party: a consent page with Continue.
    const consent = await rp.agent.submit(wrong, '/login', { username: user.username, password: user.password });
    expect(consent.html).toMatch(/<button[^>]*>\s*Continue\s*<\/button>/);
    const tokens = await finish(callbackOf(await rp.agent.submit(consent, '/consent')));

    const claims = await rp.verifyIdToken(tokens.id_token!);
    expect(claims.sub).toBe(user.userId);
    expect(claims.acr).toBe('aal1');
    expect(claims.amr).toEqual(['pwd']);
    expect(typeof claims.auth_time).toBe('number');

    const info = await oidc.fetchUserInfo(rp.config, tokens.access_token, user.userId);
    expect(info.sub).toBe(user.userId);
    expect(info.preferred_username).toBe(user.username);

    // A second sign-in reuses the session and the grant: straight back to the RP.
    const again = await rp.start();
    expect(again.page.status).toBe(0);

    // Refresh rotates: the new token works, the old one is then refused.
    const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeDefined();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    await expect(oidc.refreshTokenGrant(rp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Reuse of a rotated token revokes the whole grant (token theft detection): the new one dies too.
    await expect(oidc.refreshTokenGrant(rp.config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    // RP-initiated logout: confirm, land on the RP's post-logout URI; then the session is gone.
    const logoutUrl = oidc.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: RP_LOGOUT });
    const confirm = await rp.agent.request(logoutUrl.toString());
    const action = confirm.html.match(/<form[^>]*action="([^"]+)"/)![1]!;
    const done = await rp.agent.request(new URL(action, server.url).toString(), { form: { ...hiddenFields(confirm), logout: 'yes' } });
    expect(done.url.startsWith(RP_LOGOUT)).toBe(true);
    const afterLogout = await rp.start();
    expect(afterLogout.page.html).toContain('<label for="password">Password</label>');
  });

  test('an unknown user and a wrong password look the same', async () => {
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page } = await rp.start();
    const unknown = await rp.agent.submit(page, '/login', { username: 'nobody-here', password: 'whatever password' });
    const wrong = await rp.agent.submit(unknown, '/login', { username: user.username, password: 'whatever password' });
    expect(unknown.status).toBe(wrong.status);
    const message = (html: string) => html.match(/role="alert"[^>]*>([\s\S]*?)</)?.[1]?.trim();
    expect(message(unknown.html)).toBe(message(wrong.html));
  });

  test('a form without its CSRF token is refused', async () => {
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page } = await rp.start();
    const action = page.html.match(/action="([^"]*\/login)"/)![1]!;
    const res = await rp.agent.request(new URL(action, server.url).toString(), { form: { username: user.username, password: user.password } });
    expect(res.status).toBe(403);
    expect(res.html).not.toContain('    at ');
  });

  test('a long state (2048 bytes, the most we take) comes back to the relying party unchanged', async () => {
    const state = 'é'.repeat(1024); // 2048 bytes
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page, finish } = await rp.start({ state });
    const consent = await rp.agent.submit(page, '/login', { username: user.username, password: user.password });
    const callback = callbackOf(await rp.agent.submit(consent, '/consent'));
    expect(new URL(callback).searchParams.get('state')).toBe(state);
    // openid-client checks the state it sent against the one that came back.
    expect((await finish(callback)).access_token).toBeTruthy();
  });

  test('a first-party client never shows a consent page, even with prompt=consent', async () => {
    const firstParty = await confidentialClient(db.url, { firstParty: true });
    const rp = await RelyingParty.create(server.url, firstParty.clientId, firstParty.clientSecret);
    const { page, finish } = await rp.start({ prompt: 'consent' });
    const after = await rp.agent.submit(page, '/login', { username: user.username, password: user.password });
    const tokens = await finish(callbackOf(after));
    expect((await rp.verifyIdToken(tokens.id_token!)).sub).toBe(user.userId);
    // Asked again with prompt=consent on the live session: straight back to the app.
    const again = await rp.start({ prompt: 'consent' });
    expect(again.page.status).toBe(0);
  });

  test('public clients must use PKCE', async () => {
    const res = await fetch(`${server.url}/auth?client_id=${client.clientId}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('http://rp.test/callback')}`, {
      redirect: 'manual',
    });
    // The error goes back to the RP for a registered redirect URI or shows our error page.
    expect([303, 400]).toContain(res.status);
  });
});
