import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { importJWK, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { adminParams, api, claimsOf, enrolAndSignIn, expectError, expectStatus, signInAgain, signInWithPassword, userIn, type SignedIn } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { beginTotpEnrolment, expectKind, kindOf, sql, submitPassword, toCallback } from '../helpers/mfa.js';
import { accountWithUser, cli, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { openAccount } from '../helpers/self-service.js';
import { signInEnrollingTotp } from '../helpers/totp-sign-in.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { UserAgent } from '../helpers/user-agent.js';

/**
 * The admin API (README, "Admin API") end to end: every token is a real one, obtained through
 * the authorization code flow of the built server; every check is made over HTTP.
 */
let db: TestDatabase;
let server: TwofoldProcess;
let secrets: Record<string, string>;
let client: { clientId: string; clientSecret: string };
let firstParty: { clientId: string; clientSecret: string };
let support: Fixture;
let supportSession: SignedIn;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_admin');
  secrets = clusterSecrets();
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...secrets });
  [client, firstParty] = await Promise.all([confidentialClient(db.url), confidentialClient(db.url, { firstParty: true })]);
  support = await accountWithUser(db.url, { mfaRequired: true, support: true });
  supportSession = await enrolAndSignIn(server.url, client, support);
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

const supportToken = () => supportSession.accessToken;
const randomUuid = () => crypto.randomUUID();

/** An account (MFA required) with an admin enrolled with TOTP and holding an admin token. */
async function accountWithAdmin(): Promise<{ admin: Fixture; session: SignedIn }> {
  const admin = await accountWithUser(db.url, { mfaRequired: true, role: 'admin' });
  return { admin, session: await enrolAndSignIn(server.url, client, admin) };
}

async function auditEvents(accountId: string, token = supportToken()) {
  const res = await api(server.url, token, 'GET', `/accounts/${accountId}/audit-events?limit=200`);
  expectStatus(res, 200);
  return res.json.events as Array<{ id: string; type: string; actorUserId: string | null; subjectUserId: string | null; details: Record<string, unknown> }>;
}

const usersOf = async (accountId: string, token = supportToken()) => {
  const res = await api(server.url, token, 'GET', `/accounts/${accountId}/users`);
  expectStatus(res, 200);
  return res.json.users as Array<{ id: string; locked: boolean; mfa: { enabled: boolean; defaultMethod: string | null; devices: unknown[]; recoveryCodesLeft: number } }>;
};

describe('admin API tokens', () => {
  test('an account admin with MFA gets a JWT for the admin resource and reads the policy', async () => {
    const admin = await accountWithUser(db.url, { mfaRequired: true, role: 'admin' });
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { tokens } = await signInEnrollingTotp(rp, admin.username, admin.password, { scope: 'openid admin', resource: `${server.url}/admin` });
    const claims = claimsOf(tokens.access_token) as Record<string, number & string>;
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

  test('a missing or malformed Authorization header → 401 unauthorized (the same token, well sent, works)', async () => {
    const path = `/accounts/${support.accountId}/mfa-policy`;
    const token = supportToken();
    expectStatus(await api(server.url, token, 'GET', path), 200);
    // RFC 7235: the scheme is case-insensitive.
    expectStatus(await api(server.url, undefined, 'GET', path, { headers: { authorization: `bearer ${token}` } }), 200);
    const headers = [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      `Basic ${Buffer.from(`${support.username}:${support.password}`).toString('base64')}`,
      token,
      `Token ${token}`,
      `Bearer ${token} ${token}`,
      `Bearer ${token}x`,
      'Bearer not-a-jwt',
      'Bearer a.b.c',
      `Bearer ${token.split('.').slice(0, 2).join('.')}`,
    ];
    for (const authorization of headers) {
      const res = await api(server.url, undefined, 'GET', path, { headers: authorization === undefined ? {} : { authorization } });
      expectError(res, 401, 'unauthorized');
    }
  });

  test('wrong audience: an opaque access token (no resource) and an ID token as bearer → 401', async () => {
    // The same (support, aal2) session asks for tokens without the admin resource.
    const { page, finish } = await supportSession.rp.start({ scope: 'openid' });
    const tokens = await finish(await toCallback(supportSession.rp.agent, page));
    expect(tokens.access_token.split('.')).toHaveLength(1); // opaque: not for the admin resource
    const path = `/accounts/${support.accountId}/mfa-policy`;
    expectError(await api(server.url, tokens.access_token, 'GET', path), 401, 'unauthorized');
    // The ID token is a JWT signed by the same keys, for another audience (the client).
    expect(claimsOf(tokens.id_token!).aud).toBe(client.clientId);
    expectError(await api(server.url, tokens.id_token!, 'GET', path), 401, 'unauthorized');
    expectError(await api(server.url, supportSession.idToken!, 'GET', path), 401, 'unauthorized');
    // The session's admin token itself still works (the refusals above are about the tokens).
    expectStatus(await api(server.url, supportToken(), 'GET', path), 200);
  });

  test('wrong scope: a JWT for the admin resource without the admin scope → 403 forbidden', async () => {
    // The support user's grant holds the admin resource; this request names the resource but
    // asks only for openid, so the access token is for the admin audience with no admin scope.
    const { page, finish } = await supportSession.rp.start({ scope: 'openid', resource: `${server.url}/admin` });
    const tokens = await finish(await toCallback(supportSession.rp.agent, page));
    const claims = claimsOf(tokens.access_token);
    expect(claims.aud).toBe(`${server.url}/admin`);
    expect(claims.acr).toBe('aal2');
    expect(String(claims.scope ?? '').split(' ')).not.toContain('admin');
    expectError(await api(server.url, tokens.access_token, 'GET', `/accounts/${support.accountId}/mfa-policy`), 403, 'forbidden');
  });

  test('tampered tokens, a token signed by a key not in the JWKS, alg none and HS256 → 401', async () => {
    const path = `/accounts/${support.accountId}/mfa-policy`;
    const token = supportToken();
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = claimsOf(token);
    const encode = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const headerJson = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, string>;

    // Tampered payloads under the real signature: a longer expiry, another subject.
    const longer = `${header}.${encode({ ...claims, exp: (claims.exp as number) + 3600 })}.${signature}`;
    const otherSub = `${header}.${encode({ ...claims, sub: randomUuid() })}.${signature}`;
    // A flipped signature bit.
    const sigBytes = Buffer.from(signature, 'base64url');
    sigBytes[0] = sigBytes[0]! ^ 1;
    const badSig = `${header}.${payload}.${sigBytes.toString('base64url')}`;
    // The same claims and kid, signed with a fresh key of the same kind.
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const foreign = await new SignJWT(claims).setProtectedHeader({ ...headerJson, alg: 'ES256' }).sign(privateKey);
    // alg none, and HS256 keyed with the server's public JWKS (algorithm confusion).
    const none = `${encode({ alg: 'none', typ: 'at+jwt' })}.${payload}.`;
    const jwks = await (await fetch(`${server.url}/jwks`)).text();
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: headerJson.kid }).sign(new TextEncoder().encode(jwks));

    for (const bad of [longer, otherSub, badSig, foreign, none, hs]) {
      expectError(await api(server.url, bad, 'GET', path), 401, 'unauthorized');
    }
    expectStatus(await api(server.url, token, 'GET', path), 200);
  });

  test('expired: a token signed with the real signing key whose exp has passed → 401 (the same claims unexpired → 200)', async () => {
    // Waiting 10 minutes is too long, so the test signs with the provider's own key, which it
    // reads from Postgres with the operator's DATA_ENCRYPTION_KEY: the only difference between
    // the two tokens below is exp (and iat), so the 401 proves the expiry check.
    const token = supportToken();
    const headerJson = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string; alg: string };
    const [row] = await sql<{ sealed_jwk: string }>(db.url, 'SELECT sealed_jwk FROM signing_keys WHERE kid = $1', [headerJson.kid]);
    const box = new SecretBox(Buffer.from(secrets.DATA_ENCRYPTION_KEY!, 'base64'));
    const jwk = JSON.parse(box.open(row!.sealed_jwk, `signing-key:${headerJson.kid}`).toString('utf8')) as Record<string, string>;
    const key = await importJWK(jwk, headerJson.alg);
    const claims = claimsOf(token);
    const now = Math.floor(Date.now() / 1000);
    const sign = (iat: number, exp: number) =>
      new SignJWT({ ...claims, iat, exp, jti: crypto.randomBytes(16).toString('base64url') })
        .setProtectedHeader({ alg: headerJson.alg, typ: 'at+jwt', kid: headerJson.kid })
        .sign(key);
    const path = `/accounts/${support.accountId}/mfa-policy`;
    expectStatus(await api(server.url, await sign(now - 60, now + 300), 'GET', path), 200);
    expectError(await api(server.url, await sign(now - 700, now - 100), 'GET', path), 401, 'unauthorized');
    expectError(await api(server.url, await sign(now - 601, now - 1), 'GET', path), 401, 'unauthorized');
  });

  test('a plain user (role user) is never granted the admin scope, with or without MFA, first-party or not', async () => {
    const params = adminParams(server.url);
    // An enrolled (aal2) user of an account that requires MFA, through the first-party client.
    const plain = await accountWithUser(db.url, { mfaRequired: true });
    const rp = await RelyingParty.create(server.url, firstParty.clientId, firstParty.clientSecret);
    const { page } = await rp.start(params);
    const notice = await submitPassword(rp.agent, page, plain);
    const { page: enrol, app } = await beginTotpEnrolment(rp.agent, notice);
    const done = await rp.agent.submit(enrol, '/enrol/verify', { code: await app.next() });
    const denied = new URL(await toCallback(rp.agent, done));
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('code')).toBeNull();

    // The same browser (an aal2 session) through a client that asks for consent.
    const other = await rp.withClient(client.clientId, client.clientSecret);
    const second = await other.start(params);
    const deniedAgain = new URL(await toCallback(other.agent, second.page));
    expect(deniedAgain.searchParams.get('error')).toBe('access_denied');
    expect(deniedAgain.searchParams.get('code')).toBeNull();

    // Password-only user of an account without the requirement.
    const pwdOnly = await accountWithUser(db.url, { mfaRequired: false });
    for (const c of [client, firstParty]) {
      const browser = await RelyingParty.create(server.url, c.clientId, c.clientSecret);
      const { page: login } = await browser.start(params);
      const cb = new URL(await toCallback(browser.agent, await submitPassword(browser.agent, login, pwdOnly)));
      expect(cb.searchParams.get('error')).toBe('access_denied');
      expect(cb.searchParams.get('code')).toBeNull();
    }
    // Control: an admin of the same kind of account, through the same route, is granted the scope.
    const admin = await accountWithUser(db.url, { mfaRequired: false, role: 'admin' });
    const { tokens } = await signInWithPassword(server.url, client, admin, params);
    expect(String(claimsOf(tokens.access_token).scope).split(' ')).toContain('admin');
  });

  test('an admin token obtained without MFA (aal1) → 403 mfa_required, on reads and writes, and nothing changes', async () => {
    const admin = await accountWithUser(db.url, { mfaRequired: false, role: 'admin' });
    const { tokens } = await signInWithPassword(server.url, client, admin, adminParams(server.url));
    const claims = claimsOf(tokens.access_token);
    expect(claims.acr).toBe('aal1');
    expect(claims.aud).toBe(`${server.url}/admin`);
    expect(String(claims.scope).split(' ')).toContain('admin');
    for (const [method, path] of [
      ['GET', `/accounts/${admin.accountId}/mfa-policy`],
      ['GET', `/accounts/${admin.accountId}/users`],
      ['GET', `/accounts/${admin.accountId}/audit-events`],
    ] as const) {
      expectError(await api(server.url, tokens.access_token, method, path), 403, 'mfa_required');
    }
    expectError(await api(server.url, tokens.access_token, 'PUT', `/accounts/${admin.accountId}/mfa-policy`, { json: { mfaRequired: true } }), 403, 'mfa_required');
    const policy = await api(server.url, supportToken(), 'GET', `/accounts/${admin.accountId}/mfa-policy`);
    expect(policy.json.mfaRequired).toBe(false);

    // Support is no exception: a support user who signed in with a password only is refused too.
    const weakSupport = await accountWithUser(db.url, { mfaRequired: false, support: true });
    const weak = await signInWithPassword(server.url, client, weakSupport, adminParams(server.url));
    expect(claimsOf(weak.tokens.access_token).acr).toBe('aal1');
    expectError(await api(server.url, weak.tokens.access_token, 'PUT', `/accounts/${admin.accountId}/mfa-policy`, { json: { mfaRequired: true } }), 403, 'mfa_required');
    expectError(await api(server.url, weak.tokens.access_token, 'POST', `/users/${admin.userId}/unlock`), 403, 'mfa_required');
    expect((await api(server.url, supportToken(), 'GET', `/accounts/${admin.accountId}/mfa-policy`)).json).toEqual(policy.json);
  });

  test("another account's admin → 403 forbidden on every account route; support_required on unlock and reset", async () => {
    const target = await accountWithUser(db.url, { mfaRequired: false });
    const { admin, session } = await accountWithAdmin();
    // Control: the admin's token works on the admin's own account.
    expectStatus(await api(server.url, session.accessToken, 'GET', `/accounts/${admin.accountId}/mfa-policy`), 200);
    const before = await api(server.url, supportToken(), 'GET', `/accounts/${target.accountId}/mfa-policy`);
    for (const [method, path] of [
      ['GET', `/accounts/${target.accountId}/mfa-policy`],
      ['GET', `/accounts/${target.accountId}/users`],
      ['GET', `/accounts/${target.accountId}/audit-events`],
    ] as const) {
      expectError(await api(server.url, session.accessToken, method, path), 403, 'forbidden');
    }
    expectError(await api(server.url, session.accessToken, 'PUT', `/accounts/${target.accountId}/mfa-policy`, { json: { mfaRequired: true } }), 403, 'forbidden');
    // An unknown account looks the same to an admin (no probing for account ids).
    expectError(await api(server.url, session.accessToken, 'GET', `/accounts/${randomUuid()}/mfa-policy`), 403, 'forbidden');
    for (const action of ['unlock', 'reset-mfa']) {
      expectError(await api(server.url, session.accessToken, 'POST', `/users/${target.userId}/${action}`), 403, 'support_required');
    }
    const after = await api(server.url, supportToken(), 'GET', `/accounts/${target.accountId}/mfa-policy`);
    expect(after.json).toEqual(before.json);
    expect(before.json.mfaRequired).toBe(false);
  });
});

describe('the MFA policy', () => {
  test('admin cannot disable (support_required), support disables, admin enables; exact shapes; every change audited with its actor', async () => {
    const { admin, session } = await accountWithAdmin();
    const path = `/accounts/${admin.accountId}/mfa-policy`;
    const initial = await api(server.url, session.accessToken, 'GET', path);
    expectStatus(initial, 200);
    expect(initial.headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(initial.json).sort()).toEqual(['mfaRequired', 'updatedAt', 'updatedBy']);
    expect(initial.json.mfaRequired).toBe(true);

    expectError(await api(server.url, session.accessToken, 'PUT', path, { json: { mfaRequired: false } }), 403, 'support_required');
    expect((await api(server.url, session.accessToken, 'GET', path)).json).toEqual(initial.json);

    const started = Date.now();
    const disabled = await api(server.url, supportToken(), 'PUT', path, { json: { mfaRequired: false } });
    expectStatus(disabled, 200);
    expect(Object.keys(disabled.json).sort()).toEqual(['mfaRequired', 'updatedAt', 'updatedBy']);
    expect(disabled.json).toMatchObject({ mfaRequired: false, updatedBy: support.userId });
    expect(disabled.json.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(Math.abs(Date.parse(disabled.json.updatedAt) - started)).toBeLessThan(30_000);
    // Disabling ends no session: the admin's token still works.
    expect((await api(server.url, session.accessToken, 'GET', path)).json).toEqual(disabled.json);

    const enabled = await api(server.url, session.accessToken, 'PUT', path, { json: { mfaRequired: true } });
    expectStatus(enabled, 200);
    expect(Object.keys(enabled.json).sort()).toEqual(['mfaRequired', 'updatedAt', 'updatedBy']);
    expect(enabled.json).toMatchObject({ mfaRequired: true, updatedBy: admin.userId });
    expect(Date.parse(enabled.json.updatedAt)).toBeGreaterThanOrEqual(Date.parse(disabled.json.updatedAt));
    // Enabling signed out every session of the account, the admin's own included.
    expectError(await api(server.url, session.accessToken, 'GET', path), 401, 'unauthorized');
    expect((await api(server.url, supportToken(), 'GET', path)).json).toEqual(enabled.json);

    const events = await auditEvents(admin.accountId);
    const policyEvents = events.filter((e) => e.type === 'policy.changed');
    expect(policyEvents.map((e) => [e.actorUserId, e.details.mfaRequired])).toEqual([
      [admin.userId, true],
      [support.userId, false],
    ]);
    // Support's disabling is an operator override, and marked as one; enabling is not.
    expect(policyEvents.map((e) => e.details.override ?? false)).toEqual([false, true]);
    const revoked = events.filter((e) => e.type === 'sessions.revoked');
    expect(revoked).toHaveLength(1);
    expect(revoked[0]!.actorUserId).toBe(admin.userId);
    expect(revoked[0]!.details).toMatchObject({ scope: 'account' });

    // The admin signs in again (with MFA) and can work again.
    const again = await signInAgain(session, admin, adminParams(server.url));
    expectStatus(await api(server.url, again.accessToken, 'GET', path), 200);
  });

  test("support cannot disable their own account's requirement: 403 self_approval, nothing changes, nothing audited", async () => {
    const path = `/accounts/${support.accountId}/mfa-policy`;
    const before = await api(server.url, supportToken(), 'GET', path);
    expectStatus(before, 200);
    expect(before.json.mfaRequired).toBe(true);
    const eventsBefore = (await auditEvents(support.accountId)).filter((e) => e.type === 'policy.changed');
    // Parallel tries change nothing either.
    const answers = await Promise.all(Array.from({ length: 3 }, () => api(server.url, supportToken(), 'PUT', path, { json: { mfaRequired: false } })));
    for (const res of answers) expectError(res, 403, 'self_approval');
    expect((await api(server.url, supportToken(), 'GET', path)).json).toEqual(before.json);
    expect((await auditEvents(support.accountId)).filter((e) => e.type === 'policy.changed')).toEqual(eventsBefore);
    // Enabling their own account's requirement (already on) is no self-approval: it stays allowed.
    expectStatus(await api(server.url, supportToken(), 'PUT', path, { json: { mfaRequired: true } }), 200);
  });

  test("GET users: the exact shape, the account's users only, devices and recovery codes as stored", async () => {
    const { admin, session } = await accountWithAdmin();
    const enrolled = await userIn(db.url, admin.accountId);
    const noDevice = await userIn(db.url, admin.accountId);
    await enrolAndSignIn(server.url, client, enrolled, { scope: 'openid' });
    const address = `${enrolled.username}@Example.COM`;
    await cli(db.url, ['user', 'set-email', enrolled.username, address]);
    // A passkey as stored after its ceremony: the API shows its kind and name, never its key.
    await sql(
      db.url,
      `INSERT INTO mfa_devices (user_id, kind, nickname, credential_id, config, verified_at)
       VALUES ($1, 'passkey', 'Security key', 'Y3JlZGVudGlhbA', '{"publicKey":"cHVibGljLWtleS1ieXRlcw","counter":3}', now())`,
      [enrolled.userId],
    );

    const res = await api(server.url, session.accessToken, 'GET', `/accounts/${admin.accountId}/users`);
    expectStatus(res, 200);
    expect(Object.keys(res.json)).toEqual(['users']);
    const users = res.json.users as Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(users.map((u) => u.id).sort()).toEqual([admin.userId, enrolled.userId, noDevice.userId].sort());
    for (const u of users) {
      expect(Object.keys(u).sort()).toEqual(['email', 'emailVerified', 'id', 'locked', 'mfa', 'role', 'username']);
      expect(Object.keys(u.mfa).sort()).toEqual(['defaultMethod', 'devices', 'enabled', 'recoveryCodesLeft']);
      for (const d of u.mfa.devices) expect(Object.keys(d).sort()).toEqual(['id', 'isDefault', 'kind', 'nickname', 'phoneLast4', 'verified']);
      expect(u.locked).toBe(false);
      const [{ count }] = await sql<{ count: number }>(db.url, 'SELECT count(*)::int AS count FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL', [u.id]);
      expect(u.mfa.recoveryCodesLeft).toBe(count);
      const stored = await sql<{ id: string }>(db.url, 'SELECT id FROM mfa_devices WHERE user_id = $1', [u.id]);
      expect(u.mfa.devices.map((d: { id: string }) => d.id).sort()).toEqual(stored.map((d) => d.id).sort());
    }
    const byId = new Map(users.map((u) => [u.id, u]));
    expect(byId.get(admin.userId)).toMatchObject({ username: admin.username, role: 'admin' });
    const e = byId.get(enrolled.userId)!;
    expect(e).toMatchObject({ username: enrolled.username, role: 'user', email: address.toLowerCase(), emailVerified: true, mfa: { enabled: true, defaultMethod: 'totp' } });
    expect(e.mfa.devices).toEqual([
      { id: expect.any(String), kind: 'totp', nickname: 'Work phone', phoneLast4: null, verified: true, isDefault: true },
      { id: expect.any(String), kind: 'passkey', nickname: 'Security key', phoneLast4: null, verified: true, isDefault: false },
    ]);
    expect(byId.get(noDevice.userId)).toEqual({
      id: noDevice.userId,
      username: noDevice.username,
      role: 'user',
      email: null,
      emailVerified: false,
      locked: false,
      mfa: { enabled: false, defaultMethod: null, devices: [], recoveryCodesLeft: 0 },
    });
    // Never a secret: no TOTP seed, no phone number, no hashes.
    expect(res.text).not.toMatch(/secret|sealed|hash|phone_e164|\+\d{6,}/i);
    expect(res.text).not.toMatch(/cHVibGljLWtleS1ieXRlcw|Y3JlZGVudGlhbA|publicKey|counter/);

    // The admin page lists each verified device by its kind's label and name: a passkey as one.
    const browser = new UserAgent();
    const { page } = await openAccount(browser, server.url, admin, { app: session.app, path: '/account/admin' });
    const row = page.html.match(new RegExp(`<tr>\\s*<td>${enrolled.username}</td>[\\s\\S]*?</tr>`))?.[0] ?? '';
    expect(row).toContain('On (2 devices)');
    expect(row).toContain('Mobile Passcode: Work phone');
    expect(row).toContain('Passkey: Security key');
    expect(row).not.toMatch(/SMS|PIN|••••/);
  });
});

describe('unlock and reset-MFA', () => {
  test('unlock: an admin gets 403 and the user stays locked; support unlocks (204) and the user signs in', async () => {
    const { admin, session } = await accountWithAdmin();
    const locked = await userIn(db.url, admin.accountId);
    const { app } = await enrolAndSignIn(server.url, client, locked, { scope: 'openid' });

    // Seven wrong codes lock the user.
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    let page = await submitPassword(rp.agent, (await rp.start()).page, locked);
    for (let i = 0; i < 7 && kindOf(page) === 'challenge'; i++) page = await rp.agent.submit(page, '/mfa', { code: app.wrongCode() });
    expectKind(page, 'locked');
    const lockedFlag = async () => (await usersOf(admin.accountId, supportToken())).find((u) => u.id === locked.userId)!.locked;
    expect(await lockedFlag()).toBe(true);

    expectError(await api(server.url, session.accessToken, 'POST', `/users/${locked.userId}/unlock`), 403, 'support_required');
    expect(await lockedFlag()).toBe(true);
    // Still locked: the right code does not get through.
    const stillLocked = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const blocked = await submitPassword(stillLocked.agent, (await stillLocked.start()).page, locked);
    const blockedNext = kindOf(blocked) === 'challenge' ? await stillLocked.agent.submit(blocked, '/mfa', { code: await app.next() }) : blocked;
    expectKind(blockedNext, 'locked');

    const unlocked = await api(server.url, supportToken(), 'POST', `/users/${locked.userId}/unlock`);
    expectStatus(unlocked, 204);
    expect(unlocked.text).toBe('');
    expect(await lockedFlag()).toBe(false);

    const browser = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page: login, finish } = await browser.start();
    const challenge = await submitPassword(browser.agent, login, locked);
    expectKind(challenge, 'challenge');
    const tokens = await finish(await toCallback(browser.agent, await browser.agent.submit(challenge, '/mfa', { code: await app.next() })));
    expect((await browser.verifyIdToken(tokens.id_token!)).sub).toBe(locked.userId);

    const events = await auditEvents(admin.accountId);
    expect(events.filter((e) => e.type === 'user.unlocked').map((e) => [e.actorUserId, e.subjectUserId])).toEqual([[support.userId, locked.userId]]);
  });

  test('reset-MFA: an admin gets 403; support resets (204): devices and codes gone, sessions and refresh tokens end, the user enrols again', async () => {
    const { admin, session } = await accountWithAdmin();
    const user = await userIn(db.url, admin.accountId);
    const signedIn = await enrolAndSignIn(server.url, client, user, { scope: 'openid' });
    // Controls: before the reset the browser session lets the user straight through and the
    // refresh token works.
    const before = await signedIn.rp.start({ scope: 'openid' });
    expect(kindOf(before.page)).not.toBe('login');
    const refreshed = await oidc.refreshTokenGrant(signedIn.rp.config, signedIn.refreshToken!);
    const devicesBefore = await sql(db.url, 'SELECT * FROM mfa_devices WHERE user_id = $1', [user.userId]);
    expect(devicesBefore).toHaveLength(1);

    expectError(await api(server.url, session.accessToken, 'POST', `/users/${user.userId}/reset-mfa`), 403, 'support_required');
    expect(await sql(db.url, 'SELECT * FROM mfa_devices WHERE user_id = $1', [user.userId])).toEqual(devicesBefore);

    const reset = await api(server.url, supportToken(), 'POST', `/users/${user.userId}/reset-mfa`);
    expectStatus(reset, 204);
    expect(reset.text).toBe('');
    const listed = (await usersOf(admin.accountId, supportToken())).find((u) => u.id === user.userId)!;
    expect(listed.mfa).toEqual({ enabled: false, defaultMethod: null, devices: [], recoveryCodesLeft: 0 });
    expect(await sql(db.url, 'SELECT id FROM mfa_devices WHERE user_id = $1', [user.userId])).toHaveLength(0);
    expect(await sql(db.url, 'SELECT id FROM recovery_codes WHERE user_id = $1', [user.userId])).toHaveLength(0);

    await expect(oidc.refreshTokenGrant(signedIn.rp.config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The same browser must sign in again, and (MFA required, no device) must enrol.
    const after = await signedIn.rp.start({ scope: 'openid' });
    expectKind(after.page, 'login');
    const notice = await submitPassword(signedIn.rp.agent, after.page, user);
    expectKind(notice, 'notice');

    // The admin who asked (and was refused) is unaffected...
    expectStatus(await api(server.url, session.accessToken, 'GET', `/accounts/${admin.accountId}/users`), 200);
    const events = await auditEvents(admin.accountId);
    expect(events.filter((e) => e.type === 'mfa.reset').map((e) => [e.actorUserId, e.subjectUserId])).toEqual([[support.userId, user.userId]]);
    expect(events.filter((e) => e.type === 'sessions.revoked').map((e) => [e.actorUserId, e.subjectUserId])).toEqual([[support.userId, user.userId]]);
    // ...until support resets the admin's own MFA: the admin's API token ends with the sessions.
    expectStatus(await api(server.url, supportToken(), 'POST', `/users/${admin.userId}/reset-mfa`), 204);
    expectError(await api(server.url, session.accessToken, 'GET', `/accounts/${admin.accountId}/users`), 401, 'unauthorized');
  });

  test('unknown or malformed ids → 404 not_found', async () => {
    const token = supportToken();
    for (const id of [randomUuid(), 'not-a-uuid', '00000000-0000-0000-0000-000000000000']) {
      expectError(await api(server.url, token, 'GET', `/accounts/${id}/mfa-policy`), 404, 'not_found');
      expectError(await api(server.url, token, 'PUT', `/accounts/${id}/mfa-policy`, { json: { mfaRequired: true } }), 404, 'not_found');
      expectError(await api(server.url, token, 'GET', `/accounts/${id}/users`), 404, 'not_found');
      expectError(await api(server.url, token, 'GET', `/accounts/${id}/audit-events`), 404, 'not_found');
      expectError(await api(server.url, token, 'POST', `/users/${id}/unlock`), 404, 'not_found');
      expectError(await api(server.url, token, 'POST', `/users/${id}/reset-mfa`), 404, 'not_found');
    }
    // An account id is not a user id (and the other way round).
    expectError(await api(server.url, token, 'POST', `/users/${support.accountId}/unlock`), 404, 'not_found');
    expectError(await api(server.url, token, 'GET', `/accounts/${support.userId}/users`), 404, 'not_found');
  });
});

describe('request validation', () => {
  test('bodies that are not exactly {"mfaRequired": boolean} as JSON → 4xx with a stable code and no change', async () => {
    const account = await accountWithUser(db.url, { mfaRequired: false });
    const path = `/accounts/${account.accountId}/mfa-policy`;
    const token = supportToken();
    const initial = (await api(server.url, token, 'GET', path)).json;
    expect(initial.mfaRequired).toBe(false);
    const eventCount = async () => (await auditEvents(account.accountId)).length;
    const eventsBefore = await eventCount();
    const json = 'application/json';
    const cases: Array<[string, { body: string | Uint8Array; contentType?: string }, number, string]> = [
      ['not JSON', { body: '{"mfaRequired": true', contentType: json }, 400, 'bad_request'],
      ['empty body', { body: '', contentType: json }, 400, 'bad_request'],
      ['text/plain', { body: '{"mfaRequired":true}', contentType: 'text/plain' }, 415, 'unsupported_media_type'],
      ['a form', { body: 'mfaRequired=true', contentType: 'application/x-www-form-urlencoded' }, 415, 'unsupported_media_type'],
      ['no content type', { body: new TextEncoder().encode('{"mfaRequired":true}') }, 415, 'unsupported_media_type'],
      ['a string', { body: '{"mfaRequired":"yes"}', contentType: json }, 422, 'validation_failed'],
      ['"true"', { body: '{"mfaRequired":"true"}', contentType: json }, 422, 'validation_failed'],
      ['a number', { body: '{"mfaRequired":1}', contentType: json }, 422, 'validation_failed'],
      ['null value', { body: '{"mfaRequired":null}', contentType: json }, 422, 'validation_failed'],
      ['an extra field', { body: '{"mfaRequired":true,"extra":1}', contentType: json }, 422, 'validation_failed'],
      ['an extra devices field', { body: '{"mfaRequired":true,"devices":[]}', contentType: json }, 422, 'validation_failed'],
      ['an empty object', { body: '{}', contentType: json }, 422, 'validation_failed'],
      ['an array', { body: '[{"mfaRequired":true}]', contentType: json }, 422, 'validation_failed'],
      ['a bare boolean', { body: 'true', contentType: json }, 422, 'validation_failed'],
      ['null', { body: 'null', contentType: json }, 422, 'validation_failed'],
      ['100 KB', { body: JSON.stringify({ mfaRequired: true, pad: 'x'.repeat(100 * 1024) }), contentType: json }, 413, 'payload_too_large'],
    ];
    for (const [name, raw, status, code] of cases) {
      const res = await api(server.url, token, 'PUT', path, { raw });
      try {
        expectError(res, status, code);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
      }
    }
    expect((await api(server.url, token, 'GET', path)).json).toEqual(initial);
    expect(await eventCount()).toBe(eventsBefore);
    // Control: the well-formed body (with a charset) does change it.
    const ok = await api(server.url, token, 'PUT', path, { raw: { body: '{"mfaRequired":true}', contentType: 'application/json; charset=utf-8' } });
    expectStatus(ok, 200);
    expect(ok.json.mfaRequired).toBe(true);
    expect(await eventCount()).toBe(eventsBefore + 2); // policy.changed and sessions.revoked
  });
});

describe('audit events', () => {
  test('newest first, paged with ?limit=&before= without overlap; bad limit or before → 422', async () => {
    const { admin, session } = await accountWithAdmin();
    const path = `/accounts/${admin.accountId}/mfa-policy`;
    for (const mfaRequired of [false, true, false, true, false]) {
      expectStatus(await api(server.url, supportToken(), 'PUT', path, { json: { mfaRequired } }), 200);
    }
    const events = `/accounts/${admin.accountId}/audit-events`;
    // Enabling signed the admin out; the admin signs in again (with MFA).
    expectError(await api(server.url, session.accessToken, 'GET', events), 401, 'unauthorized');
    const { accessToken } = await signInAgain(session, admin, adminParams(server.url));
    const all = await api(server.url, supportToken(), 'GET', `${events}?limit=200`);
    expectStatus(all, 200);
    expect(all.json.nextBefore).toBeNull();
    const ids = (all.json.events as Array<{ id: string }>).map((e) => BigInt(e.id));
    // Only this account's events.
    expect(new Set(all.json.events.map((e: { accountId: string }) => e.accountId))).toEqual(new Set([admin.accountId]));
    expect(ids.length).toBeGreaterThanOrEqual(10);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! < ids[i - 1]!).toBe(true);
    const times = (all.json.events as Array<{ occurredAt: string }>).map((e) => Date.parse(e.occurredAt));
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeLessThanOrEqual(times[i - 1]!);
    const changes = (all.json.events as Array<{ type: string; actorUserId: string; details: { mfaRequired: boolean } }>).filter((e) => e.type === 'policy.changed');
    expect(changes.map((e) => [e.actorUserId, e.details.mfaRequired])).toEqual([false, true, false, true, false].reverse().map((v) => [support.userId, v]));

    // The admin pages through the same list two at a time.
    const paged: bigint[] = [];
    let before: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const res: Awaited<ReturnType<typeof api>> = await api(server.url, accessToken, 'GET', `${events}?limit=2${before ? `&before=${before}` : ''}`);
      expectStatus(res, 200);
      expect(Object.keys(res.json).sort()).toEqual(['events', 'nextBefore']);
      expect(res.json.events.length).toBeLessThanOrEqual(2);
      paged.push(...res.json.events.map((e: { id: string }) => BigInt(e.id)));
      before = res.json.nextBefore;
      if (before === null) break;
      expect(before).toBe(res.json.events[res.json.events.length - 1].id);
    }
    expect(before).toBeNull();
    expect(paged).toEqual(ids);

    for (const bad of ['0', '201', '-1', 'abc', '1.5', '', '1e2', '2&limit=3', '%20']) {
      expectError(await api(server.url, accessToken, 'GET', `${events}?limit=${bad}`), 422, 'validation_failed');
    }
    for (const bad of ['abc', '0', '-5', '1.5', '']) {
      expectError(await api(server.url, accessToken, 'GET', `${events}?before=${bad}`), 422, 'validation_failed');
    }
    // Default page without parameters.
    expectStatus(await api(server.url, accessToken, 'GET', events), 200);
  });
});
