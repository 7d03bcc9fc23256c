import { expect } from '@jest/globals';
import { Authenticator, enrolThroughSignIn, expectKind, kindOf, submitPassword, toCallback } from './mfa.js';
import { cli, type Fixture } from './provision.js';
import { RelyingParty } from './relying-party.js';

/**
 * Helpers for the admin API suites: users in a given account, admin tokens obtained through
 * real sign-ins (authorization code flow, scope `openid admin`, resource `<ISSUER>/admin`),
 * and a small JSON client for /admin/v1.
 */

export const adminParams = (issuer: string) => ({ scope: 'openid admin', resource: `${issuer}/admin` });

/** Another user in an existing account (the CLI, as an operator would). */
export async function userIn(databaseUrl: string, accountId: string, options: { role?: 'user' | 'admin'; support?: boolean; username?: string } = {}): Promise<Fixture> {
  const suffix = Math.random().toString(36).slice(2, 8);
  const username = options.username ?? `${options.role ?? 'user'}-${suffix}`;
  const password = `battery staple ${suffix}`;
  const extra = [...(options.role ? ['--role', options.role] : []), ...(options.support ? ['--support'] : [])];
  const user = await cli(databaseUrl, ['user', 'create', '--account', accountId, '--username', username, '--password-stdin', ...extra], `${password}\n`);
  return { accountId, userId: String(user.userId), username, password };
}

export interface SignedIn {
  rp: RelyingParty;
  app: Authenticator;
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
}

/**
 * A user of an account that requires MFA, enrolled with a TOTP device through the forced
 * enrolment; the tokens are those of that sign-in (aal2). `params` defaults to the admin request.
 */
export async function enrolAndSignIn(
  issuer: string,
  client: { clientId: string; clientSecret: string },
  user: Fixture,
  params: Record<string, string> = adminParams(issuer),
): Promise<SignedIn> {
  const rp = await RelyingParty.create(issuer, client.clientId, client.clientSecret);
  const { app, tokens } = await enrolThroughSignIn(rp, user, params);
  return { rp, app, accessToken: tokens.access_token, refreshToken: tokens.refresh_token, idToken: tokens.id_token };
}

/** A later sign-in of an enrolled user in the same browser: password if asked, then a TOTP code. */
export async function signInAgain(signedIn: SignedIn, user: Fixture, params: Record<string, string>): Promise<SignedIn> {
  const { rp, app } = signedIn;
  const { page, finish } = await rp.start(params);
  const challenge = kindOf(page) === 'login' ? await submitPassword(rp.agent, page, user) : page;
  expectKind(challenge, 'challenge');
  const done = await rp.agent.submit(challenge, '/mfa', { code: await app.next() });
  const tokens = await finish(await toCallback(rp.agent, done));
  return { rp, app, accessToken: tokens.access_token, refreshToken: tokens.refresh_token, idToken: tokens.id_token };
}

/** A password-only sign-in (account without the requirement, user without a device). */
export async function signInWithPassword(issuer: string, client: { clientId: string; clientSecret: string }, user: Fixture, params: Record<string, string> = {}) {
  const rp = await RelyingParty.create(issuer, client.clientId, client.clientSecret);
  const { page, finish } = await rp.start(params);
  const next = await submitPassword(rp.agent, page, user);
  const tokens = await finish(await toCallback(rp.agent, next));
  return { rp, tokens };
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** One request to the admin API: a JSON body unless `raw` gives the exact body and headers. */
export async function api(
  base: string,
  token: string | undefined,
  method: string,
  path: string,
  options: { json?: unknown; raw?: { body: string | Uint8Array; contentType?: string }; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...options.headers };
  let body: string | Uint8Array | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.raw) {
    if (options.raw.contentType) headers['content-type'] = options.raw.contentType;
    body = options.raw.body;
  }
  const res = await fetch(`${base}/admin/v1${path}`, { method, headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** The admin API's error shape, exactly: `{"error": code, "message": text}`. */
export function expectError(res: ApiResponse, status: number, code: string): void {
  if (res.status !== status || res.json?.error !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status} ${res.text.slice(0, 500)}`);
  }
  expect(Object.keys(res.json).sort()).toEqual(['error', 'message']);
  expect(typeof res.json.message).toBe('string');
  expect(res.json.message.length).toBeGreaterThan(0);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
}

export function expectStatus(res: ApiResponse, status: number): void {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status} ${res.text.slice(0, 500)}`);
}

/** The claims of a JWT, unverified (for reading what the server put in). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
