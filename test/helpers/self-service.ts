import { expect } from '@jest/globals';
import * as oidc from 'openid-client';
import { Authenticator, beginTotpEnrolment, expectKind, kindOf, sql, submitPassword } from './mfa.js';
import type { Fixture } from './provision.js';
import type { RelyingParty } from './relying-party.js';
import { csrfToken, decodeEntities, otpauthUri, type Page, type UserAgent } from './user-agent.js';

/**
 * Helpers for the self-service (/account) suites. /account is itself a relying party of
 * Twofold, so its browser must follow every redirect: `new UserAgent()` (no stop).
 */

export const ACCOUNT_HEADING = /<h1[^>]*>\s*My Profile &amp; Settings\s*<\/h1>/;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/** The path (without query) of a page the agent stopped at. */
export const pathOf = (page: Page) => new URL(page.url).pathname;

/** The text of the page's error alert, if any. */
export const alertOf = (page: Page) => page.html.match(/role="alert"[^>]*>([\s\S]*?)</)?.[1]?.trim();

export function expectAccountPage(page: Page): void {
  if (page.status !== 200 || pathOf(page) !== '/account' || !ACCOUNT_HEADING.test(page.html)) {
    throw new Error(`expected the /account page, got ${page.status} ${page.url}\n${page.html.slice(0, 1500)}`);
  }
  expect(page.html).toMatch(/<h2[^>]*>\s*My Multi-Factor Devices\s*<\/h2>/);
}

/**
 * Opens `path` under /account in `agent` and signs in on the way when asked: password, then
 * the challenge of `app`'s device, or a forced Mobile Passcode enrolment (the returned `app`).
 */
export async function openAccount(
  agent: UserAgent,
  issuer: string,
  user: Pick<Fixture, 'username' | 'password'>,
  options: { app?: Authenticator; path?: string } = {},
): Promise<{ page: Page; app?: Authenticator; signedIn: boolean }> {
  const path = options.path ?? '/account';
  let app = options.app;
  let page = await agent.request(`${issuer}${path}`);
  const signedIn = kindOf(page) === 'login';
  if (signedIn) page = await submitPassword(agent, page, user);
  if (kindOf(page) === 'notice') {
    const enrolment = await beginTotpEnrolment(agent, page, 'Enrolment phone');
    app = enrolment.app;
    page = await agent.submit(enrolment.page, '/enrol/verify', { code: await app.next() });
  } else if (kindOf(page) === 'challenge') {
    if (!app) throw new Error('challenged without an authenticator');
    page = await agent.submit(page, '/mfa', { code: await app.next() });
  }
  if (page.status !== 200 || pathOf(page) !== path.split('?')[0]) {
    throw new Error(`expected to land on ${path}, got ${page.status} ${page.url}\n${page.html.slice(0, 1500)}`);
  }
  return { page, app, signedIn };
}

/** "Add Mobile Passcode device": Device Nickname → Add Device → the QR code page of the new device. */
export async function addTotpDevice(agent: UserAgent, issuer: string, nickname: string): Promise<{ page: Page; deviceId: string; app: Authenticator }> {
  const form = await agent.request(`${issuer}/account/devices/new/totp`);
  expect(form.status).toBe(200);
  expect(form.html).toContain('<label for="nickname">Device Nickname</label>');
  expect(form.html).toMatch(/<button[^>]*>\s*Add Device\s*<\/button>/);
  const page = await agent.submit(form, '/account/devices/new/totp', { nickname });
  const m = pathOf(page).match(new RegExp(`^/account/devices/(${UUID})$`));
  if (page.status !== 200 || !m) throw new Error(`expected the new device's page, got ${page.status} ${page.url}\n${page.html.slice(0, 1500)}`);
  expect(page.html).toMatch(/<img[^>]*alt="QR code"/);
  expect(page.html).toContain('<label for="code">Verification Code</label>');
  // "Make this my default authentication method" is checked by default.
  expect(page.html).toMatch(/<input[^>]*id="makeDefault"[^>]*name="makeDefault"[^>]*value="1"[^>]*checked/);
  expect(page.html).toContain('<label for="makeDefault">Make this my default authentication method</label>');
  expect(page.html).toMatch(/<button[^>]*>\s*Verify Mobile Passcode\s*<\/button>/);
  return { page, deviceId: m[1]!, app: Authenticator.fromUri(otpauthUri(page)) };
}

/** Submits the device page's verification form; `makeDefault` is the checkbox as a browser would send it. */
export function verifyDevice(agent: UserAgent, devicePage: Page, code: string, makeDefault: boolean): Promise<Page> {
  return agent.submit(devicePage, '/verify', { code, ...(makeDefault ? { makeDefault: '1' } : {}) });
}

/**
 * Submits the form whose action ends with `actionSuffix` as a browser would: with every hidden
 * input of that form (CSRF token included) plus `fields`.
 */
export function submitForm(agent: UserAgent, page: Page, actionSuffix: string, fields: Record<string, string> = {}): Promise<Page> {
  const forms = [...page.html.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
  const form = forms.find((m) => decodeEntities(m[1]!).split('?')[0]!.endsWith(actionSuffix));
  if (!form) throw new Error(`no form ending with ${actionSuffix} on ${page.url}`);
  const hidden: Record<string, string> = {};
  for (const m of form[2]!.matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
    const name = m[0].match(/name="([^"]+)"/)?.[1];
    if (name) hidden[name] = decodeEntities(m[0].match(/value="([^"]*)"/)?.[1] ?? '');
  }
  return agent.request(new URL(decodeEntities(form[1]!), page.url).toString(), { form: { ...hidden, ...fields } });
}

/** A POST to an /account path with the CSRF token of `page` (whether or not the page has that form). */
export function postAccount(agent: UserAgent, page: Page, path: string, fields: Record<string, string> = {}, withCsrf = true): Promise<Page> {
  return agent.request(new URL(path, page.url).toString(), { form: { ...(withCsrf ? { _csrf: csrfToken(page) } : {}), ...fields } });
}

export interface DeviceRow {
  id: string;
  kind: string;
  nickname: string | null;
  phone: string | null;
  verified: boolean;
  isDefault: boolean;
  secret: string | null;
  lastTimeStep: string | null;
}

/** A user's devices, straight from Postgres, in a stable order. */
export function devicesOf(databaseUrl: string, userId: string): Promise<DeviceRow[]> {
  return sql<DeviceRow>(
    databaseUrl,
    `SELECT id, kind, nickname, phone_e164 AS phone, verified_at IS NOT NULL AS verified, is_default AS "isDefault",
            sealed_secret AS secret, last_time_step::text AS "lastTimeStep"
       FROM mfa_devices WHERE user_id = $1 ORDER BY created_at, id`,
    [userId],
  );
}

/** A user's recovery codes (hashes and use), in a stable order. */
export function recoveryRowsOf(databaseUrl: string, userId: string) {
  return sql<{ id: string; codeHash: string; used: boolean }>(
    databaseUrl,
    'SELECT id, code_hash AS "codeHash", used_at IS NOT NULL AS used FROM recovery_codes WHERE user_id = $1 ORDER BY id',
    [userId],
  );
}

export async function unusedRecoveryCodes(databaseUrl: string, userId: string): Promise<number> {
  const rows = await sql<{ n: string }>(databaseUrl, 'SELECT count(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL', [userId]);
  return Number(rows[0]!.n);
}

export async function sessionsValidAfter(databaseUrl: string, userId: string): Promise<Date | null> {
  const rows = await sql<{ mark: Date | null }>(databaseUrl, 'SELECT sessions_valid_after AS mark FROM users WHERE id = $1', [userId]);
  return rows[0]!.mark;
}

/** Refreshes and returns the rotated refresh token (the refresh must work). */
export async function refreshWorks(rp: RelyingParty, refreshToken: string): Promise<string> {
  const tokens = await oidc.refreshTokenGrant(rp.config, refreshToken);
  expect(tokens.refresh_token).toBeDefined();
  return tokens.refresh_token!;
}

export async function refreshFails(rp: RelyingParty, refreshToken: string): Promise<void> {
  await expect(oidc.refreshTokenGrant(rp.config, refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
}

/** A new browser's sign-in through `rp`'s client up to the MFA challenge (or whatever follows the password). */
export async function afterPassword(rp: RelyingParty, user: Pick<Fixture, 'username' | 'password'>) {
  const { page, finish } = await rp.start();
  expectKind(page, 'login');
  return { page: await submitPassword(rp.agent, page, user), finish };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
