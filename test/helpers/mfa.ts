import pg from 'pg';
import { expect } from '@jest/globals';
import type { Fixture } from './provision.js';
import { callbackOf, type RelyingParty } from './relying-party.js';
import { secretFromUri, totp } from './rfc6238.js';
import { csrfToken, formAction, otpauthUri, type Page, type UserAgent } from './user-agent.js';

/**
 * Helpers for the MFA end-to-end suites: what kind of page the user sees, the hosted sign-in
 * steps, an "authenticator app" that hands out each time step's code once, and SQL reads of
 * the counters the server keeps.
 */

export type PageKind = 'callback' | 'login' | 'challenge' | 'notice' | 'choose' | 'enrol-start' | 'enrol' | 'locked' | 'consent' | 'other';

const hasForm = (page: Page, suffix: string) => {
  try {
    formAction(page, suffix);
    return true;
  } catch {
    return false;
  }
};

/** What the user agent stopped at, judged by the page's forms and fields (in any language). */
export function kindOf(page: Page): PageKind {
  if (page.status === 0) return 'callback';
  if (page.status === 423) return 'locked';
  if (hasForm(page, '/mfa') && page.html.includes('<label for="code">')) return 'challenge';
  if (hasForm(page, '/enrol')) return 'notice';
  if (hasForm(page, '/enrol/method')) return 'choose';
  if (hasForm(page, '/enrol/begin')) return 'enrol-start';
  if (hasForm(page, '/enrol/verify')) return 'enrol';
  if (hasForm(page, '/login') && page.html.includes('<label for="password">')) return 'login';
  if (hasForm(page, '/consent')) return 'consent';
  return 'other';
}

/** A page of the provider (never the relying party's callback), without a server error. */
export function expectTwofoldPage(page: Page, issuer: string, kind?: PageKind): void {
  const seen = kindOf(page);
  if (page.status === 0 || !page.url.startsWith(issuer) || page.status >= 500) {
    throw new Error(`expected a Twofold page, got "${seen}" ${page.status} ${page.url}\n${page.html.slice(0, 1500)}`);
  }
  if (kind) expectKind(page, kind);
}

export function expectKind(page: Page, kind: PageKind): void {
  const seen = kindOf(page);
  if (seen !== kind) throw new Error(`expected the "${kind}" page, got "${seen}" ${page.status} ${page.url}\n${page.html.slice(0, 1500)}`);
}

/** The interaction uid of a hosted page. */
export function interactionUid(page: Page): string {
  const m = new URL(page.url).pathname.match(/^\/interaction\/([^/]+)/);
  if (!m) throw new Error(`not an interaction page: ${page.url}`);
  return m[1]!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STEP_MS = 30_000;

/**
 * An authenticator app with an independent RFC 6238 implementation. The server accepts the
 * current time step and one either side, each step at most once per device; `next()` hands out
 * the lowest step not given out yet, skips the previous step in the last seconds of the
 * current one (the server could already be in the next step), and waits when the window is
 * used up.
 */
export class Authenticator {
  private lastStep = Number.NEGATIVE_INFINITY;
  constructor(readonly secret: string) {}

  static fromUri(uri: string): Authenticator {
    return new Authenticator(secretFromUri(uri));
  }

  async next(): Promise<string> {
    for (;;) {
      const now = Date.now();
      const current = Math.floor(now / STEP_MS);
      const intoStep = now % STEP_MS;
      const usable = [current - 1, current, current + 1].filter((s) => s > this.lastStep && !(s === current - 1 && intoStep > 25_000));
      if (usable.length > 0) {
        this.lastStep = usable[0]!;
        return totp(this.secret, this.lastStep * STEP_MS);
      }
      await sleep(STEP_MS - intoStep + 200);
    }
  }

  /** A 6-digit code that is not the code of any step near now (so surely wrong). */
  wrongCode(): string {
    const current = Math.floor(Date.now() / STEP_MS);
    const near = new Set([-2, -1, 0, 1, 2, 3].map((d) => totp(this.secret, (current + d) * STEP_MS)));
    for (let n = 0; ; n++) {
      const code = String(n).padStart(6, '0');
      if (!near.has(code)) return code;
    }
  }
}

/** Username and password on the login page the RP's request led to. */
export async function submitPassword(agent: UserAgent, loginPage: Page, user: Pick<Fixture, 'username' | 'password'>): Promise<Page> {
  expectKind(loginPage, 'login');
  return agent.submit(loginPage, '/login', { username: user.username, password: user.password });
}

/** From the required-MFA notice through "Mobile Passcode" and the nickname to the QR code page. */
export async function beginTotpEnrolment(agent: UserAgent, notice: Page, nickname = 'Work phone'): Promise<{ page: Page; uri: string; app: Authenticator }> {
  expectKind(notice, 'notice');
  const choose = await agent.submit(notice, '/enrol');
  expectKind(choose, 'choose');
  expect(choose.html).toMatch(/<button[^>]*value="totp"[^>]*>\s*Mobile Passcode\s*<\/button>/);
  const start = await agent.submit(choose, '/enrol/method', { method: 'totp' });
  expectKind(start, 'enrol-start');
  const page = await agent.submit(start, '/enrol/begin', { method: 'totp', nickname });
  expectKind(page, 'enrol');
  const uri = otpauthUri(page);
  return { page, uri, app: Authenticator.fromUri(uri) };
}

/** Consent (for a client that is not first-party) and then the callback. */
export async function toCallback(agent: UserAgent, page: Page): Promise<string> {
  const next = kindOf(page) === 'consent' ? await agent.submit(page, '/consent') : page;
  return callbackOf(next);
}

/**
 * A user of an account that requires MFA, enrolled with one mobile passcode device through the
 * forced-enrolment sign-in; returns the device's authenticator and the tokens of that sign-in.
 */
export async function enrolThroughSignIn(rp: RelyingParty, user: Pick<Fixture, 'username' | 'password'>, params: Record<string, string> = {}) {
  const { page, finish } = await rp.start(params);
  const notice = await submitPassword(rp.agent, page, user);
  const { page: enrol, app, uri } = await beginTotpEnrolment(rp.agent, notice);
  const done = await rp.agent.submit(enrol, '/enrol/verify', { code: await app.next() });
  const tokens = await finish(await toCallback(rp.agent, done));
  return { app, uri, tokens };
}

/** The MFA counter and lock of a user, read straight from Postgres. */
export async function mfaCounters(databaseUrl: string, userId: string): Promise<{ failed: number; lockedAt: Date | null; lockedReason: string | null }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ failed: number; lockedAt: Date | null; lockedReason: string | null }>(
      'SELECT failed_mfa_attempts AS failed, locked_at AS "lockedAt", locked_reason AS "lockedReason" FROM users WHERE id = $1',
      [userId],
    );
    if (!rows[0]) throw new Error(`no user ${userId}`);
    return rows[0];
  } finally {
    await client.end();
  }
}

export async function sql<T extends pg.QueryResultRow>(databaseUrl: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Posts to `/interaction/<uid><path>` of `page` with its CSRF token, whether or not the page has that form. */
export function postTo(agent: UserAgent, page: Page, path: string, fields: Record<string, string> = {}): Promise<Page> {
  return agent.request(new URL(`/interaction/${interactionUid(page)}${path}`, page.url).toString(), { form: { _csrf: csrfToken(page), ...fields } });
}
