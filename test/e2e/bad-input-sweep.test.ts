import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import pg from 'pg';
import { runCli } from '../../src/cli/main.js';
import { adminParams, enrolAndSignIn, userIn, type SignedIn } from '../helpers/admin-api.js';
import {
  anyString,
  codeLike,
  encodeParts,
  expectSound,
  firstValue,
  formBody,
  formCase,
  headerSafe,
  hugeString,
  json,
  leakIn,
  pct,
  rawJunk,
  send,
  shortString,
  StateProbe,
  Tallies,
  type Allowance,
  type Expecting,
  type FormCase,
  type Part,
  type Reply,
} from '../helpers/bad-input.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { Authenticator, beginTotpEnrolment, expectKind, interactionUid, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, RP_REDIRECT, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { totp } from '../helpers/rfc6238.js';
import { addTotpDevice, openAccount, submitForm } from '../helpers/self-service.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { csrfToken, UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * The bad-input sweep: property-based tests (fast-check) over every hosted form
 * field, the query parameters of the OIDC endpoints, the /account forms, the admin API and the
 * CLI flags. Any string, huge strings, wrong types, missing fields, repeated parameters, unicode
 * edge cases, wrong content types. Every answer: never a 5xx, never a stack trace or internal
 * detail, errors in the surface's shape; and a rejected input changes no state (SQL snapshots
 * before and after). Bounded: BAD_INPUT_SCALE scales every run count (default 1); FC_SEED
 * replays a run.
 */

const SCALE = Number(process.env.BAD_INPUT_SCALE ?? 1);
const runs = (n: number) => Math.max(5, Math.round(n * SCALE));

/**
 * Generated inputs per surface, and what one costs on an idle 2-CPU machine (ms). The sweeps
 * share a time budget in proportion to their cost: on a busy machine a sweep is cut short
 * (the summary prints how many inputs were really tried) rather than the file running long.
 */
const PLAN: Record<string, [runs: number, ms: number]> = {
  'sign-in: username, password': [150, 35],
  'sign-in: MFA code': [150, 28],
  'sign-in: recovery code': [150, 27],
  'sign-in: passkey response': [100, 10],
  'sign-in: deviceId': [100, 11],
  'sign-in: resend (stray fields)': [30, 13],
  'sign-in: set up MFA (stray fields)': [20, 10],
  'sign-in: method': [100, 15],
  'sign-in: enrolment code': [100, 23],
  'sign-in: nickname, country, phone': [200, 17],
  'sign-in: passkey creation request': [80, 15],
  'sign-in: interaction ids': [200, 12],
  'sign-in: CSRF token': [100, 9],
  'oidc: /auth parameters': [250, 14],
  'oidc: token, userinfo, introspection, revocation, end-session': [250, 9],
  'hosts: X-Forwarded-Host, X-Forwarded-Proto': [150, 9],
  '/account: nickname, replaces': [120, 17],
  '/account: passkey creation request': [80, 15],
  '/account: country, phone': [120, 13],
  '/account: code, makeDefault, replaces': [150, 23],
  '/account: default method': [100, 16],
  '/account: quantity': [120, 18],
  '/account: codes (download)': [100, 12],
  '/account: admin mfaRequired': [100, 14],
  '/account: new email': [100, 15],
  '/account: path ids': [120, 14],
  '/account: session (sign out)': [100, 12],
  '/account: sign out everywhere else (stray fields)': [30, 14],
  '/account and /demo: query parameters': [150, 12],
  '/demo: acr, forms': [60, 12],
  'languages: cookie, Accept-Language': [150, 8],
  'languages: the picker': [150, 6],
  '/support: q, page': [150, 12],
  '/support: reason, code, attested': [150, 16],
  '/support: path ids': [120, 12],
  'admin: PUT mfa-policy body': [300, 13],
  'admin: path ids and methods': [200, 10],
  'admin: limit, before': [200, 14],
  'admin: Authorization header': [100, 8],
  'CLI: flags and arguments': [300, 37],
  '/account: disable request reason': [100, 15],
  'admin: disable request body': [150, 12],
  'admin: disable request decision body': [150, 15],
  'admin: disable request status': [60, 8],
  '/support: decision note': [100, 16],
};
/** Milliseconds all sweeps may take together, from the end of the set-up. */
const SWEEP_BUDGET_MS = Number(process.env.BAD_INPUT_BUDGET_MS ?? 90_000);
let deadline = Number.POSITIVE_INFINITY;
const swept = new Set<string>();

function fcParams(surface: string): fc.Parameters<unknown> {
  const plan = PLAN[surface];
  if (!plan) throw new Error(`no plan for the surface "${surface}"`);
  const cost = (k: string) => runs(PLAN[k]![0]) * PLAN[k]![1];
  const remainingCost = Object.keys(PLAN)
    .filter((k) => !swept.has(k))
    .reduce((n, k) => n + cost(k), 0);
  const remaining = Math.max(0, deadline - Date.now());
  const othersLeft = Object.keys(PLAN).filter((k) => !swept.has(k) && k !== surface).length;
  // Its share of what is left, with slack taken from the later sweeps while there is some.
  const share = Math.floor(Math.min(remaining - 1_000 * othersLeft, 1.6 * remaining * (cost(surface) / Math.max(remainingCost, 1))));
  swept.add(surface);
  return {
    numRuns: runs(plan[0]),
    interruptAfterTimeLimit: Math.max(1_000, share),
    ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
    asyncReporter: report,
  };
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

/** fast-check's failure report, with the counterexample clipped (generated strings reach 100 KB). */
async function report(d: fc.RunDetails<unknown>): Promise<void> {
  if (!d.failed) return;
  const example = d.counterexample === null ? 'none (too many skipped inputs)' : clip(fc.stringify(d.counterexample), 1_500);
  const cause = d.errorInstance instanceof Error ? d.errorInstance.message : String(d.errorInstance);
  throw new Error(
    `Property failed after ${d.numRuns} tests (seed ${d.seed}, path "${d.counterexamplePath}"; FC_SEED=${d.seed} replays it)\nCounterexample: ${example}\n${clip(cause, 4_000)}`,
  );
}

const started = Date.now();
const tallies = new Tallies();
const secrets = clusterSecrets();

let db: TestDatabase;
let server: TwofoldProcess;
let pool: pg.Pool;
let probe: StateProbe;
let issuer: string;
let client: { clientId: string; clientSecret: string };
let discovery: Record<string, string>;

/** C: an admin of account X, enrolled (TOTP), with recovery codes and a pending second device. */
let self: Fixture;
let selfApp: Authenticator;
let selfAgent: UserAgent;
let selfPage: Page;
let selfDeviceId: string;
let pendingDevice: { id: string; app: Authenticator };
/** C again, in another browser, at the MFA challenge of a relying party's sign-in. */
let challenge: { agent: UserAgent; page: Page; uid: string };
/** E: in account X (MFA required), no device: at the required-MFA notice, and at a TOTP enrolment. */
let enrollee: Fixture;
let enrolNotice: { agent: UserAgent; page: Page; uid: string };
let enrolVerify: { agent: UserAgent; page: Page; uid: string; app: Authenticator };
let keepDevicesOfEnrollee: string[];
/** A fresh login page (the username/password surface); V is the user whose name it tries. */
let login: { agent: UserAgent; page: Page; uid: string };
let victim: Fixture;
/** Support, with an admin API token; T is the account whose policy the API bodies aim at. */
let support: Fixture;
let supportSession: SignedIn;
let target: Fixture;
/** Support staff signed in to /support; R has a verified address (no reset without its code), N has none. */
let staffAgent: UserAgent;
let staffPage: Page;
let resettee: Fixture;
let noAddress: Fixture;

const serverEnv = () => ({
  DATABASE_URL: db.url,
  REDIS_URL,
  ...secrets,
  TRUST_PROXY: 'true',
  REAUTH_MAX_AGE: '3600',
  DEMO: 'true',
  SMS_RESEND_COOLDOWN: '0',
  SMS_LIMIT_USER_HOURLY: '100000',
  SMS_LIMIT_PHONE_HOURLY: '100000',
  SMS_LIMIT_IP_HOURLY: '100000',
  SMS_LIMIT_GLOBAL_HOURLY: '1000000',
});

const newRp = () => RelyingParty.create(issuer, client.clientId, client.clientSecret);

async function atInteraction(page: Page, agent: UserAgent) {
  return { agent, page, uid: interactionUid(page) };
}

/** Reasons and notes for disable requests: any text, and the edges of the rules. */
const requestText = () =>
  fc.oneof(
    anyString,
    fc.constantFrom('Kiosk terminals', ' ', '', 'x'.repeat(1000), 'x'.repeat(1001), 'é'.repeat(1000), 'a\u0000b', 'a\u0007b', 'line\nbreak', 'tab\there', '\u2028', '\ud800'),
  );

/** A pending disable request (and nothing else) for T's account, filed by T so the sweep's support user may decide it; made before a run. */
async function pendingRequestOfTarget(): Promise<string> {
  await resetDisableRequests(target.accountId);
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO mfa_disable_requests (account_id, requested_by, reason) VALUES ($1, $2, 'Sweep')
     ON CONFLICT (account_id) WHERE status = 'pending' DO UPDATE SET reason = EXCLUDED.reason RETURNING id`,
    [target.accountId, target.userId],
  );
  return rows[0]!.id;
}

/** Before and after a run: the account requires MFA and has no requests (other sweeps may have turned it off). */
async function resetDisableRequests(accountId: string): Promise<void> {
  await pool.query('DELETE FROM mfa_disable_requests WHERE account_id = $1', [accountId]);
  await pool.query('UPDATE accounts SET mfa_required = true WHERE id = $1', [accountId]);
}

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_badinput');
  server = await startTwofold(serverEnv());
  issuer = server.url;
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  probe = new StateProbe(pool);
  discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;

  client = await confidentialClient(db.url);
  self = await accountWithUser(db.url, { mfaRequired: true, role: 'admin' });
  let staff: Fixture;
  [enrollee, victim, support, target, staff, resettee, noAddress] = await Promise.all([
    userIn(db.url, self.accountId),
    userIn(db.url, self.accountId),
    accountWithUser(db.url, { mfaRequired: true, support: true }),
    accountWithUser(db.url, { mfaRequired: true }),
    accountWithUser(db.url, { mfaRequired: true, support: true }),
    accountWithUser(db.url, { mfaRequired: true, email: `resettee-${crypto.randomUUID()}@example.test` }),
    accountWithUser(db.url, { mfaRequired: true }),
  ]);
  staffAgent = new UserAgent();
  staffPage = (await openAccount(staffAgent, issuer, staff, { path: '/support' })).page;

  // C: /account with a forced TOTP enrolment, 10 recovery codes, and a second device left unverified.
  selfAgent = new UserAgent();
  const opened = await openAccount(selfAgent, issuer, self);
  selfApp = opened.app!;
  const codesPage = await selfAgent.request(`${issuer}/account/recovery-codes`);
  const shown = await submitForm(selfAgent, codesPage, '/account/recovery-codes', { quantity: '10' });
  expect(shown.status).toBe(200);
  const added = await addTotpDevice(selfAgent, issuer, 'Pending phone');
  pendingDevice = { id: added.deviceId, app: added.app };
  selfPage = await selfAgent.request(`${issuer}/account`);
  expect(selfPage.status).toBe(200);
  const devices = await pool.query<{ id: string }>('SELECT id FROM mfa_devices WHERE user_id = $1 AND verified_at IS NOT NULL', [self.userId]);
  selfDeviceId = devices.rows[0]!.id;

  const [rpC, rpE1, rpE2, rpL] = await Promise.all([newRp(), newRp(), newRp(), newRp()]);
  // C at the challenge.
  {
    const { page } = await rpC.start();
    const next = await submitPassword(rpC.agent, page, self);
    expectKind(next, 'challenge');
    challenge = await atInteraction(next, rpC.agent);
  }
  // E at the notice, and (another browser) at the TOTP enrolment's QR code page.
  {
    const { page } = await rpE1.start();
    const notice = await submitPassword(rpE1.agent, page, enrollee);
    expectKind(notice, 'notice');
    enrolNotice = await atInteraction(notice, rpE1.agent);
    const { page: page2 } = await rpE2.start();
    const notice2 = await submitPassword(rpE2.agent, page2, enrollee);
    const { page: enrolPage, app } = await beginTotpEnrolment(rpE2.agent, notice2, 'Sweep phone');
    enrolVerify = { ...(await atInteraction(enrolPage, rpE2.agent)), app };
    keepDevicesOfEnrollee = (await pool.query<{ id: string }>('SELECT id FROM mfa_devices WHERE user_id = $1', [enrollee.userId])).rows.map((r) => r.id);
  }
  // A login page.
  {
    const { page } = await rpL.start();
    expectKind(page, 'login');
    login = await atInteraction(page, rpL.agent);
  }
  supportSession = await enrolAndSignIn(issuer, client, support, adminParams(issuer));
  deadline = Date.now() + SWEEP_BUDGET_MS;
}, 120_000);

afterAll(async () => {
  const summary = tallies.summary((Date.now() - started) / 1000, Object.fromEntries(Object.entries(PLAN).map(([k, [n]]) => [k, runs(n)])));
  console.log(summary);
  if (server && server.child.exitCode !== null) console.log(`the server exited (${server.child.exitCode}):\n${server.output().slice(-4000)}`);
  await pool?.end();
  await server?.stop();
  await db?.drop();
});

// ---------------------------------------------------------------------------------------------
// One generated request: send, check the answer, and on a rejection check that nothing changed.

interface Probe<C> {
  surface: string;
  expecting: Expecting;
  request: (c: C) => Promise<Reply>;
  /** What a rejected input may still record (a wrong code counts towards the lock). */
  allow?: (c: C) => Allowance;
  /** Every input of this surface must be rejected (none can be right). */
  mustReject?: boolean | ((c: C) => boolean);
  /** Whether an accepted answer is the expected kind (e.g. not a redirect to sign in again). */
  acceptedOk?: (r: Reply, c: C) => string | undefined;
  /** Compare state even for accepted inputs (the surface never changes anything). */
  neverChanges?: boolean;
  before?: () => Promise<void>;
  after?: (r: Reply, c: C) => Promise<void>;
}

async function sweep<C>(arb: fc.Arbitrary<C>, p: Probe<C>): Promise<void> {
  const t0 = Date.now();
  try {
    await sweepRuns(arb, p);
  } finally {
    tallies.time(p.surface, Date.now() - t0);
  }
}

/**
 * A property whose runs are awaited even when fast-check stops waiting for one (the time budget
 * interrupts the sweep): the next sweep never overlaps the last run of this one.
 */
function tracked<C>(body: (c: C) => Promise<void>): { run: (c: C) => Promise<void>; settled: () => Promise<void> } {
  let inflight: Promise<unknown> = Promise.resolve();
  return {
    run: (c) => {
      const p = body(c);
      inflight = p.catch(() => undefined);
      return p;
    },
    settled: async () => {
      await inflight;
    },
  };
}

async function sweepRuns<C>(arb: fc.Arbitrary<C>, p: Probe<C>): Promise<void> {
  const property = tracked<C>(async (c) => {
    await p.before?.();
    const before = await probe.take();
    const r = await p.request(c);
    tallies.count(p.surface, r.status);
    expectSound(r, p.expecting);
    const rejected = r.status >= 400;
    const must = typeof p.mustReject === 'function' ? p.mustReject(c) : p.mustReject;
    if (must && !rejected) throw new Error(`accepted an input that cannot be right: ${r.status} ${r.headers.get('location') ?? ''}\n  ${r.what}\n  ${r.body.slice(0, 500)}`);
    if (!rejected && p.acceptedOk) {
      const problem = p.acceptedOk(r, c);
      if (problem) throw new Error(`${problem}: ${r.status} ${r.headers.get('location') ?? ''}\n  ${r.what}\n  ${r.body.slice(0, 500)}`);
    }
    if (rejected || p.neverChanges) {
      const problems = await probe.changes(before, await probe.take(), p.allow?.(c) ?? {});
      if (problems.length > 0) throw new Error(`${rejected ? 'rejected' : 'harmless'} input changed state (${r.status}):\n  ${problems.join('\n  ')}\n  ${r.what}`);
    }
    await p.after?.(r, c);
  });
  try {
    await fc.assert(fc.asyncProperty(arb, property.run), fcParams(p.surface));
  } finally {
    await property.settled();
  }
}

/** Posts a generated form to `url` with the cookies of `agent` and the CSRF token of `page`. */
const postForm = (agent: UserAgent, page: Page, url: string) => (c: FormCase) =>
  send(url, { body: formBody(c, csrfToken(page)), contentType: c.contentType, cookie: agent.cookiesFor(url), accept: c.accept });

/** TOTP codes of the steps around now (a generated code that happens to be right is skipped). */
function nearCodes(app: Authenticator): Set<string> {
  const step = Math.floor(Date.now() / 30_000);
  return new Set([-3, -2, -1, 0, 1, 2, 3].map((d) => totp(app.secret, (step + d) * 30_000)));
}
const normalisedCode = (s: string | undefined) => (s ?? '').replace(/\s+/g, '');

const resetFailures = (userId: string) => async () => {
  await pool.query('UPDATE users SET failed_mfa_attempts = 0 WHERE id = $1', [userId]);
};

/** Removes the unverified devices an accepted input added (keeps the fixtures'). */
const dropNewDevices = (userId: string, keep: () => string[]) => async () => {
  await pool.query('DELETE FROM mfa_devices WHERE user_id = $1 AND verified_at IS NULL AND NOT (id::text = ANY($2))', [userId, keep()]);
};

const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** A GET of a generated path, or a POST of `fields` to it, with the cookies of `agent`. */
const pathProbe =
  (agent: UserAgent, fields: Part[]) =>
  ({ seg, route: [method, path], accept }: { seg: string; route: [string, (s: string) => string]; accept: string }) => {
    const url = `${issuer}${path(seg)}`;
    return method === 'GET'
      ? send(url, { cookie: agent.cookiesFor(url), accept })
      : send(url, { body: encodeParts(fields), contentType: 'application/x-www-form-urlencoded', cookie: agent.cookiesFor(url), accept });
  };

const HTML_OR_JSON_ACCEPT = fc.constantFrom('text/html', 'text/html', 'text/html', 'application/json', '*/*');

// ---------------------------------------------------------------------------------------------

describe('hosted sign-in forms', () => {
  test('username and password', async () => {
    const url = `${issuer}/interaction/${login.uid}/login`;
    const username = fc.oneof(anyString, fc.constantFrom(victim.username, victim.username.toUpperCase(), ` ${victim.username} `, `${victim.username}\u0000`));
    const password = fc.oneof(anyString, fc.constantFrom(`${victim.password}x`, victim.password.toUpperCase(), ` ${victim.password}`));
    await sweep(formCase({ username, password }), {
      surface: 'sign-in: username, password',
      expecting: 'html',
      request: postForm(login.agent, login.page, url),
      mustReject: true,
      allow: () => ({ audit: ['login.password_failed', 'login.throttled'] }),
    });
  }, 180_000);

  test('a passkey response at the sign-in page (malformed, oversized, wrong origin, replayed shapes)', async () => {
    const b64 = fc.string({ maxLength: 60 }).map((x) => Buffer.from(x).toString('base64url'));
    const clientData = fc.record({ type: fc.constantFrom('webauthn.get', 'webauthn.create', ''), challenge: b64, origin: fc.constantFrom(issuer, 'https://evil.example', '') });
    const response = fc.record({
      id: fc.oneof(b64, anyString),
      rawId: b64,
      type: fc.constantFrom('public-key', 'x'),
      response: fc.record({
        clientDataJSON: clientData.map((c) => Buffer.from(JSON.stringify(c)).toString('base64url')),
        authenticatorData: b64,
        signature: b64,
        userHandle: fc.option(b64, { nil: undefined }),
      }),
      clientExtensionResults: fc.constant({}),
    });
    const code = fc.oneof(
      anyString,
      response.map((r) => JSON.stringify(r)),
      fc.constant('x'.repeat(40_000)),
      fc.constant('{"id":"a","response":null}'),
    );
    await sweep(formCase({ code }), {
      surface: 'sign-in: passkey response',
      expecting: 'html',
      request: postForm(login.agent, login.page, `${issuer}/interaction/${login.uid}/sign-in/passkey`),
      mustReject: true,
    });
  }, 180_000);

  test('MFA code and recovery code at the challenge', async () => {
    const code = fc.oneof(codeLike, anyString);
    for (const action of ['/mfa', '/recovery'] as const) {
      const url = `${issuer}/interaction/${challenge.uid}${action}`;
      await sweep(
        formCase({ code }).filter((c) => !nearCodes(selfApp).has(normalisedCode(firstValue(c, 'code')))),
        {
          surface: `sign-in: ${action === '/mfa' ? 'MFA code' : 'recovery code'}`,
          expecting: 'html',
          request: postForm(challenge.agent, challenge.page, url),
          before: resetFailures(self.userId),
          mustReject: true,
          allow: () => ({ audit: ['mfa.failed'], failedCodeOf: self.userId }),
        },
      );
    }
  }, 180_000);

  test('device switch (deviceId) and resend at the challenge', async () => {
    const deviceId = fc.oneof(
      anyString,
      fc.constantFrom(selfDeviceId, selfDeviceId.toUpperCase(), ` ${selfDeviceId}`, pendingDevice.id, crypto.randomUUID(), `${selfDeviceId}'--`),
    );
    await sweep(formCase({ deviceId }), {
      surface: 'sign-in: deviceId',
      expecting: 'html',
      request: postForm(challenge.agent, challenge.page, `${issuer}/interaction/${challenge.uid}/mfa/switch`),
      neverChanges: true,
    });
    await sweep(formCase({ x: shortString }), {
      surface: 'sign-in: resend (stray fields)',
      expecting: 'html',
      request: postForm(challenge.agent, challenge.page, `${issuer}/interaction/${challenge.uid}/mfa/resend`),
      neverChanges: true,
    });
  }, 180_000);

  test('enrolment: method, nickname, country, phone, code', async () => {
    const u = enrolNotice.uid;
    const method = fc.oneof(anyString, fc.constantFrom('totp', 'sms', 'TOTP', ' sms', 'recovery_code', 'totp\u0000', 'sms,totp'));
    await sweep(formCase({ x: shortString }), {
      surface: 'sign-in: set up MFA (stray fields)',
      expecting: 'html',
      request: postForm(enrolNotice.agent, enrolNotice.page, `${issuer}/interaction/${u}/enrol`),
      neverChanges: true,
    });
    await sweep(formCase({ method }), {
      surface: 'sign-in: method',
      expecting: 'html',
      request: postForm(enrolNotice.agent, enrolNotice.page, `${issuer}/interaction/${u}/enrol/method`),
      neverChanges: true,
    });
    // The enrolment code first: the begin sweep below adds and removes devices of the same user.
    const code = fc.oneof(codeLike, anyString);
    await sweep(
      formCase({ code }).filter((c) => !nearCodes(enrolVerify.app).has(normalisedCode(firstValue(c, 'code')))),
      {
        surface: 'sign-in: enrolment code',
        expecting: 'html',
        request: postForm(enrolVerify.agent, enrolVerify.page, `${issuer}/interaction/${enrolVerify.uid}/enrol/verify`),
        mustReject: true,
      },
    );
    const nickname = fc.oneof(anyString, fc.constantFrom('My phone', ' ', 'x'.repeat(64), 'x'.repeat(65), 'tab\there', 'new\nline'));
    const country = fc.oneof(shortString, fc.constantFrom('GB', 'gb', ' GB ', 'US', 'ZZ', 'XK', 'AC', 'G', 'GBR', '44', '+44'));
    const phone = fc.oneof(
      anyString,
      fc.constantFrom(
        '+44 7911 123456',
        '07911 123456',
        '7911123456',
        '+1 202 555 0143',
        '(020) 7946 0958',
        '+44 7911 123456 ext 9',
        '+447911123456;ext=1',
        '+999 123',
        '0'.repeat(64),
        '1'.repeat(65),
      ),
    );
    await sweep(formCase({ method: fc.oneof(fc.constantFrom('totp', 'sms'), method), nickname, country, phone }), {
      surface: 'sign-in: nickname, country, phone',
      expecting: 'html',
      request: postForm(enrolNotice.agent, enrolNotice.page, `${issuer}/interaction/${u}/enrol/begin`),
      allow: () => ({ audit: ['sms.limit_hit'] }),
      acceptedOk: (r) => (r.status === 200 && /\/enrol\/verify"/.test(r.body) ? undefined : 'an accepted enrolment that is not the verification page'),
      after: dropNewDevices(enrollee.userId, () => keepDevicesOfEnrollee),
    });
    // The one-page enrolment's creation request (JSON): the same names, any method.
    await sweep(formCase({ method: fc.oneof(fc.constantFrom('passkey', 'totp'), method), nickname }), {
      surface: 'sign-in: passkey creation request',
      expecting: 'html',
      request: postForm(enrolNotice.agent, enrolNotice.page, `${issuer}/interaction/${u}/enrol/options`),
      acceptedOk: (r) =>
        r.status === 200 && /"verifyAction":"\/interaction\/[^"]+\/enrol\/verify"/.test(r.body) ? undefined : 'an accepted request that is not a creation request',
      after: dropNewDevices(enrollee.userId, () => keepDevicesOfEnrollee),
    });
  }, 180_000);

  test('garbage interaction ids, sub-paths and CSRF tokens', async () => {
    const actions = ['', '/', '/login', '/mfa', '/recovery', '/mfa/switch', '/mfa/resend', '/enrol', '/enrol/method', '/enrol/begin', '/enrol/verify', '/consent', '/abort'];
    const segment = fc
      .oneof(
        shortString.map(pct),
        rawJunk,
        fc.constantFrom(login.uid.toUpperCase(), `${login.uid}x`, login.uid.slice(1), `${challenge.uid}%00`, '%2e%2e%2f', 'a%2Fb', '%C0%AE', `${'a'.repeat(5000)}`),
        fc.tuple(shortString, rawJunk).map(([s, j]) => `${pct(s)}${j}`),
      )
      .filter((s) => s.length > 0 && !/^(\.|%2e){1,2}$/i.test(s));
    const token = csrfToken(login.page);
    await sweep(fc.record({ segment, action: fc.constantFrom(...actions), post: fc.boolean(), accept: HTML_OR_JSON_ACCEPT }), {
      surface: 'sign-in: interaction ids',
      expecting: 'html',
      request: ({ segment, action, post, accept }) => {
        const url = `${issuer}/interaction/${segment}${action}`;
        return post
          ? send(url, {
              body: encodeParts([
                ['_csrf', token],
                ['code', '123456'],
              ]),
              contentType: 'application/x-www-form-urlencoded',
              cookie: login.agent.cookiesFor(`${issuer}/interaction/${login.uid}/login`),
              accept,
            })
          : send(url, { cookie: login.agent.cookiesFor(`${issuer}/`), accept });
      },
      mustReject: true,
      neverChanges: true,
    });
    // The real interactions, every action, with a wrong or missing CSRF token: 403 (or 400), nothing changes.
    const badToken = fc.oneof(shortString, fc.constant(''), fc.constant(csrfToken(challenge.page).slice(1)), fc.constant(`${csrfToken(challenge.page)}=`));
    await sweep(fc.record({ action: fc.constantFrom(...actions.slice(2)), token: fc.option(badToken), code: codeLike, accept: HTML_OR_JSON_ACCEPT, cookies: fc.boolean() }), {
      surface: 'sign-in: CSRF token',
      expecting: 'html',
      request: ({ action, token: t, code, accept, cookies }) => {
        const url = `${issuer}/interaction/${challenge.uid}${action}`;
        const parts: Part[] = [...(t === null ? [] : [['_csrf', t] as Part]), ['code', code], ['method', 'totp'], ['nickname', 'x']];
        return send(url, { body: encodeParts(parts), contentType: 'application/x-www-form-urlencoded', cookie: cookies ? challenge.agent.cookiesFor(url) : undefined, accept });
      },
      mustReject: true,
      neverChanges: true,
    });
    // The challenge survived all of it.
    const again = await challenge.agent.request(`${issuer}/interaction/${challenge.uid}`);
    expectKind(again, 'challenge');
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------

describe('OpenID Connect endpoints', () => {
  const authParamArb = () => {
    const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 3 });
    return fc.record({
      client_id: opt(fc.oneof(fc.constantFrom(client.clientId, `${client.clientId} `, client.clientId.toUpperCase(), 'twofold-account', 'twofold-demo'), shortString)),
      redirect_uri: opt(
        fc.oneof(
          fc.constantFrom(
            RP_REDIRECT,
            `${RP_REDIRECT}/`,
            'http://RP.test/callback',
            `${RP_REDIRECT}?x=1`,
            `${RP_REDIRECT}#f`,
            'javascript:alert(1)',
            'http://evil.test/callback',
            `${issuer}/account/callback`,
          ),
          anyString,
        ),
      ),
      response_type: opt(fc.oneof(fc.constantFrom('code', 'token', 'id_token', 'code id_token', 'none', 'code code', ''), shortString)),
      scope: opt(fc.oneof(fc.constantFrom('openid', 'openid profile', 'openid admin', 'profile', 'openid offline_access', 'openid openid', ''), anyString)),
      state: opt(anyString),
      nonce: opt(anyString),
      acr_values: opt(fc.oneof(fc.constantFrom('aal1', 'aal2', 'aal2 aal1', 'aal3', ''), shortString)),
      max_age: opt(fc.oneof(fc.constantFrom('0', '-1', '1.5', '1e309', '99999999999999999999', 'NaN', ''), shortString)),
      prompt: opt(fc.oneof(fc.constantFrom('login', 'consent', 'none', 'select_account', 'login consent', 'none login', ''), shortString)),
      code_challenge: opt(fc.oneof(fc.constant(crypto.createHash('sha256').update('v').digest('base64url')), anyString)),
      code_challenge_method: opt(fc.oneof(fc.constantFrom('S256', 'plain', 's256', ''), shortString)),
      resource: opt(fc.oneof(fc.constantFrom(`${issuer}/admin`, 'http://evil.test/', 'urn:x', ''), shortString)),
      claims: opt(fc.oneof(fc.json(), anyString, fc.constant('{"id_token":{"acr":{"essential":true,"values":["aal2"]}}}'))),
      request: opt(fc.oneof(anyString, fc.constant('eyJhbGciOiJub25lIn0.eyJhIjoxfQ.'))),
      request_uri: opt(shortString),
      response_mode: opt(fc.oneof(fc.constantFrom('query', 'fragment', 'form_post', 'jwt'), shortString)),
      login_hint: opt(anyString),
      id_token_hint: opt(anyString),
      ui_locales: opt(fc.oneof(fc.constantFrom('de', 'ar fr', 'xx', 'de-AT', 'zh-Hant-TW', '*', ''), anyString)),
      display: opt(shortString),
    });
  };

  test('/auth query parameters (GET) and form (POST)', async () => {
    const arb = fc.record({
      params: authParamArb(),
      repeats: fc.array(fc.tuple(fc.constantFrom('client_id', 'redirect_uri', 'scope', 'response_type', 'state', 'prompt', 'max_age', 'acr_values'), shortString), {
        maxLength: 2,
      }),
      raw: fc.option(rawJunk, { freq: 4 }),
      // POST is not enabled at /auth (404 before the body is read): a few to check that answer.
      post: fc.constantFrom(false, false, false, false, false, false, false, true),
      contentType: fc.constantFrom(
        'application/x-www-form-urlencoded',
        'application/x-www-form-urlencoded',
        'application/x-www-form-urlencoded',
        'application/json',
        'text/plain',
        null,
      ),
      accept: HTML_OR_JSON_ACCEPT,
    });
    await sweep(arb, {
      surface: 'oidc: /auth parameters',
      expecting: 'oauth',
      request: ({ params, repeats, raw, post, contentType, accept }) => {
        const parts: Part[] = [
          ...Object.entries(params)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]): Part => [k, String(v)]),
          ...repeats,
          ...(raw ? [{ raw }] : []),
        ];
        const q = encodeParts(parts);
        return post ? send(`${issuer}/auth`, { body: q, contentType, accept }) : send(`${issuer}/auth?${q}`, { accept });
      },
      acceptedOk: (r) => {
        const loc = r.headers.get('location') ?? '';
        if (
          r.status >= 300 &&
          !(
            loc.startsWith('/interaction/') ||
            loc.startsWith(`${issuer}/interaction/`) ||
            loc.startsWith(RP_REDIRECT) ||
            loc.startsWith(`${issuer}/account/callback`) ||
            loc.startsWith(`${issuer}/demo/callback`)
          )
        )
          return 'a redirect somewhere unexpected';
        return undefined;
      },
      neverChanges: true,
    });
  }, 180_000);

  test('token, userinfo, introspection, revocation, end-session, JWKS, discovery', async () => {
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`, 'utf8').toString('base64')}`;
    const authorization = fc.oneof(
      fc.constant(undefined),
      fc.constant(basic(client.clientId, client.clientSecret)),
      fc.constant(basic(client.clientId, `${client.clientSecret}x`)),
      fc.tuple(shortString, shortString).map(([a, b]) => basic(a, b)),
      fc.constantFrom(
        basic('%', 'x'),
        basic('%E0%A4%A', 'x'),
        basic('%zz', 'x'),
        basic(`${client.clientId}%`, client.clientSecret),
        'Basic',
        'Basic !!!',
        'Basic Og==',
        'Bearer x',
        'Bearer',
        'Digest a=1',
        `Basic ${'A'.repeat(8000)}`,
      ),
      fc.string({ unit: 'binary-ascii', maxLength: 60 }).filter((s) => /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(s)),
    );
    const field = fc.oneof(
      anyString,
      fc.constantFrom(
        'authorization_code',
        'refresh_token',
        'client_credentials',
        'password',
        'urn:ietf:params:oauth:grant-type:device_code',
        'implicit',
        RP_REDIRECT,
        client.clientId,
      ),
    );
    const endpoints: Array<[string, string, string[]]> = [
      ['POST', discovery.token_endpoint!, ['grant_type', 'code', 'redirect_uri', 'code_verifier', 'refresh_token', 'client_id', 'client_secret', 'scope', 'resource']],
      ['POST', discovery.introspection_endpoint!, ['token', 'token_type_hint', 'client_id', 'client_secret']],
      ['POST', discovery.revocation_endpoint!, ['token', 'token_type_hint', 'client_id', 'client_secret']],
      ['GET', discovery.userinfo_endpoint!, ['access_token', 'scope']],
      ['POST', discovery.userinfo_endpoint!, ['access_token']],
      ['GET', discovery.end_session_endpoint!, ['id_token_hint', 'post_logout_redirect_uri', 'state', 'client_id', 'logout_hint', 'ui_locales']],
      ['POST', discovery.end_session_endpoint!, ['xsrf', 'logout', 'id_token_hint', 'post_logout_redirect_uri']],
      ['GET', discovery.jwks_uri!, ['x']],
      ['GET', `${issuer}/.well-known/openid-configuration`, ['x']],
    ];
    const arb = fc.record({
      endpoint: fc.constantFrom(...endpoints),
      values: fc.array(fc.tuple(fc.nat(8), field), { maxLength: 6 }),
      raw: fc.option(rawJunk, { freq: 4 }),
      authorization,
      contentType: fc.constantFrom(
        'application/x-www-form-urlencoded',
        'application/x-www-form-urlencoded',
        'application/x-www-form-urlencoded',
        'application/json',
        'text/plain',
        null,
      ),
      accept: fc.constantFrom('application/json', 'text/html', '*/*'),
    });
    await sweep(arb, {
      surface: 'oidc: token, userinfo, introspection, revocation, end-session',
      expecting: 'oauth',
      request: ({ endpoint: [method, url, names], values, raw, authorization: auth, contentType, accept }) => {
        const parts: Part[] = [...values.map(([i, v]): Part => [names[i % names.length]!, v]), ...(raw ? [{ raw }] : [])];
        const body = encodeParts(parts);
        const headers = auth ? { authorization: auth } : undefined;
        return method === 'GET' ? send(`${url}?${body}`, { headers, accept }) : send(url, { body, contentType, headers, accept });
      },
      neverChanges: true,
    });
  }, 180_000);
});

describe('hosts', () => {
  test('X-Forwarded-Host and X-Forwarded-Proto (TRUST_PROXY) at discovery, /auth, /interaction, /account and /token', async () => {
    const ours = new URL(issuer).host;
    // The host Koa (and so oidc-provider) would build URLs from: the first value, "user@" dropped.
    const seenHost = (h: string) => {
      let first = h.split(',')[0]!.trim();
      if (first.includes('@')) {
        try {
          first = new URL(`http://${first}`).host;
        } catch {
          return '';
        }
      }
      return first.toLowerCase().replace(/:(80|443)$/, '');
    };
    const host = fc
      .oneof(
        {
          weight: 3,
          arbitrary: fc.constantFrom(
            'evil.example',
            `evil.example:${new URL(issuer).port}`,
            `${ours}/x`,
            `${ours}@evil.example`,
            `evil.example, ${ours}`,
            `${ours}.evil.example`,
            `${ours}:1`,
            '127.0.0.1:1',
            'localhost',
            '[::1]',
            'e'.repeat(6000),
            ours,
            ours.toUpperCase(),
            `${ours}, evil.example`,
            `x@${ours}`,
          ),
        },
        { weight: 2, arbitrary: shortString },
        { weight: 1, arbitrary: anyString },
      )
      .filter((h) => h !== '' && headerSafe(h));
    const proto = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(undefined, 'http', 'http') },
      { weight: 1, arbitrary: fc.constantFrom('https', 'HTTP', 'javascript', 'file', 'http, https', 'https, http', 'ht tp') },
      { weight: 1, arbitrary: shortString.filter(headerSafe) },
    );
    const targets = ['discovery', 'auth', 'interaction', 'account', 'token'] as const;
    const authUrl = () =>
      `${issuer}/auth?${new URLSearchParams({ client_id: client.clientId, redirect_uri: RP_REDIRECT, response_type: 'code', scope: 'openid', state: 's', code_challenge: crypto.createHash('sha256').update('v').digest('base64url'), code_challenge_method: 'S256' })}`;
    const hostOf = (u: string) => {
      try {
        return new URL(u).host;
      } catch {
        return '';
      }
    };
    const protoOk = (p: string | undefined) => p === undefined || p === '' || /^https?$/i.test(p.split(',')[0]!.trim());
    await sweep(fc.record({ host, proto, target: fc.constantFrom(...targets), accept: HTML_OR_JSON_ACCEPT }), {
      surface: 'hosts: X-Forwarded-Host, X-Forwarded-Proto',
      expecting: 'oauth',
      request: ({ host: h, proto: p, target, accept }) => {
        const headers: Record<string, string> = { 'x-forwarded-host': h, ...(p !== undefined ? { 'x-forwarded-proto': p } : {}) };
        if (target === 'discovery') return send(`${issuer}/.well-known/openid-configuration`, { headers, accept });
        if (target === 'auth') return send(authUrl(), { headers, accept });
        if (target === 'interaction') return send(`${issuer}/interaction/${login.uid}`, { headers, accept, cookie: login.agent.cookiesFor(`${issuer}/interaction/${login.uid}`) });
        if (target === 'account') return send(`${issuer}/account`, { headers, accept });
        return send(`${issuer}/token`, { headers, accept, body: 'grant_type=authorization_code&code=x', contentType: 'application/x-www-form-urlencoded' });
      },
      mustReject: ({ host: h, proto: p }) => seenHost(h) !== ours || !protoOk(p),
      acceptedOk: (r) => {
        const reflected = [r.headers.get('location') ?? '', ...(r.body.match(/https?:\/\/[^\s"'<>]+/g) ?? [])].find(
          (u) => /^https?:/i.test(u) && !u.startsWith(RP_REDIRECT) && hostOf(u) !== ours,
        );
        return reflected ? `a URL under another host: ${reflected.slice(0, 200)}` : undefined;
      },
      neverChanges: true,
    });
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------

describe('/account forms and parameters (signed in)', () => {
  const accountPost = (path: string) => postForm(selfAgent, selfPage, `${issuer}${path}`);
  /** The session stays: an accepted post never sends the user to sign in again. */
  const staysSignedIn = (r: Reply) => ((r.headers.get('location') ?? '').includes('/auth?') ? 'the session was lost' : undefined);
  const keepPending = () => [pendingDevice.id];

  test('add a device: nickname, country, phone, replaces', async () => {
    const replaces = fc.oneof(anyString, fc.constantFrom(selfDeviceId, pendingDevice.id, crypto.randomUUID()));
    const nickname = fc.oneof(anyString, fc.constantFrom('My phone', ' ', 'x'.repeat(64), 'x'.repeat(65), 'tab\there'));
    await sweep(formCase({ nickname, replaces }), {
      surface: '/account: nickname, replaces',
      expecting: 'html',
      request: accountPost('/account/devices/new/totp'),
      acceptedOk: staysSignedIn,
      after: dropNewDevices(self.userId, keepPending),
    });
    await sweep(formCase({ nickname, previous: replaces }), {
      surface: '/account: passkey creation request',
      expecting: 'html',
      request: accountPost('/account/devices/new/passkey/options'),
      acceptedOk: (r) =>
        staysSignedIn(r) ??
        (r.status === 200 && /"verifyAction":"\/account\/devices\/[^"]+\/verify"/.test(r.body) ? undefined : 'an accepted request that is not a creation request'),
      after: dropNewDevices(self.userId, keepPending),
    });
    const country = fc.oneof(shortString, fc.constantFrom('GB', 'gb', ' GB ', 'US', 'ZZ', '44'));
    const phone = fc.oneof(anyString, fc.constantFrom('+44 7911 123456', '07911 123456', '+1 202 555 0143', '+44 7911 123456 ext 9', '1'.repeat(65)));
    await sweep(formCase({ country, phone, replaces }), {
      surface: '/account: country, phone',
      expecting: 'html',
      request: accountPost('/account/devices/new/sms'),
      allow: () => ({ audit: ['sms.limit_hit'] }),
      acceptedOk: staysSignedIn,
      after: dropNewDevices(self.userId, keepPending),
    });
  }, 180_000);

  test('verify a device: code, makeDefault, replaces', async () => {
    const arb = formCase({
      code: fc.oneof(codeLike, anyString),
      makeDefault: fc.oneof(shortString, fc.constantFrom('1', 'on', 'true', '0', '')),
      replaces: fc.oneof(anyString, fc.constantFrom(selfDeviceId, crypto.randomUUID())),
    }).filter((c) => !nearCodes(pendingDevice.app).has(normalisedCode(firstValue(c, 'code'))));
    await sweep(arb, {
      surface: '/account: code, makeDefault, replaces',
      expecting: 'html',
      request: accountPost(`/account/devices/${pendingDevice.id}/verify`),
      mustReject: true,
    });
  }, 180_000);

  test('default method, recovery-code quantity, saved codes, account MFA policy', async () => {
    await sweep(formCase({ method: fc.oneof(anyString, fc.constantFrom('totp', 'sms', 'TOTP', 'totp ', 'recovery_code')) }), {
      surface: '/account: default method',
      expecting: 'html',
      request: accountPost('/account/default'),
      acceptedOk: staysSignedIn,
    });
    await sweep(formCase({ quantity: fc.oneof(anyString, fc.constantFrom('1', '10', '11', '0', '-1', '01', ' 5 ', '5.0', '1e1', '１', '٣', '10\u0000')) }), {
      surface: '/account: quantity',
      expecting: 'html',
      request: accountPost('/account/recovery-codes'),
      acceptedOk: (r) =>
        staysSignedIn(r) ?? (r.status === 200 && /Your recovery codes|recovery-codes\/download/.test(r.body) ? undefined : 'an accepted quantity that shows no codes'),
    });
    const codeLine = fc.stringMatching(/^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    await sweep(
      formCase({
        codes: fc.oneof(
          anyString,
          fc.array(fc.oneof(codeLine, shortString), { maxLength: 30 }).map((a) => a.join('\n')),
        ),
      }),
      {
        surface: '/account: codes (download)',
        expecting: 'html',
        request: accountPost('/account/recovery-codes/download'),
        acceptedOk: (r) => (/^text\/plain/.test(r.headers.get('content-type') ?? '') && !/[<>]/.test(r.body) ? undefined : 'a download that is not plain text of codes'),
        neverChanges: true,
      },
    );
    await sweep(formCase({ mfaRequired: fc.oneof(anyString, fc.constantFrom('false', 'FALSE', 'true ', '1', '0', 'yes', 'on')) }), {
      surface: '/account: admin mfaRequired',
      expecting: 'html',
      request: accountPost('/account/admin/mfa-policy'),
      allow: () => ({}),
      acceptedOk: staysSignedIn,
    });
    await sweep(
      formCase({
        email: fc.oneof(
          anyString,
          fc.constantFrom(
            'new@example.test',
            ' NEW@Example.TEST ',
            'a@b',
            'a b@example.test',
            'x@example.test\r\nBcc: y@example.test',
            'é@example.test',
            `${'x'.repeat(250)}@example.test`,
          ),
        ),
      }),
      {
        surface: '/account: new email',
        expecting: 'html',
        request: accountPost('/account/email'),
        acceptedOk: (r) => staysSignedIn(r) ?? (r.status === 200 && r.body.includes('We sent a verification link to') ? undefined : 'an accepted address without the sent answer'),
      },
    );
    // Still signed in, same session.
    expect((await selfAgent.request(`${issuer}/account`)).status).toBe(200);
  }, 180_000);

  test('sign out a session: session; sign out everywhere else: stray fields', async () => {
    // No generated value is a session of this user: every one must be refused, and change nothing.
    const session = fc.oneof(anyString, fc.constantFrom('', 'AAAAAAAAAAAAAAAAAAAAA', 'x'.repeat(64), 'x'.repeat(65), '../x', 'a b', 'A'.repeat(21) + '\u0000'));
    await sweep(formCase({ session }), {
      surface: '/account: session (sign out)',
      expecting: 'html',
      request: accountPost('/account/sessions/sign-out'),
      mustReject: true,
    });
    await sweep(formCase({ session: fc.oneof(shortString, fc.constantFrom('all', 'current')) }), {
      surface: '/account: sign out everywhere else (stray fields)',
      expecting: 'html',
      request: accountPost('/account/sessions/sign-out-others'),
      allow: () => ({ audit: ['sessions.revoked'] }),
      acceptedOk: staysSignedIn,
    });
    // This browser's session is never among the others.
    expect((await selfAgent.request(`${issuer}/account`)).status).toBe(200);
  }, 120_000);
  test('/account/admin: the reason of a request to disable', async () => {
    await sweep(formCase({ reason: requestText() }), {
      surface: '/account: disable request reason',
      expecting: 'html',
      before: () => resetDisableRequests(self.accountId),
      request: accountPost('/account/admin/disable-request'),
      acceptedOk: (r) =>
        staysSignedIn(r) ?? (r.status === 303 && /\/account\/admin\?requested=1$/.test(r.headers.get('location') ?? '') ? undefined : 'an accepted reason without the request'),
      after: () => resetDisableRequests(self.accountId),
    });
  }, 180_000);

  test('path and query parameters of /account and /demo', async () => {
    const seg = fc
      .oneof(
        shortString.map(pct),
        rawJunk,
        fc.constantFrom(`${pendingDevice.id}x`, ` ${pendingDevice.id}`, crypto.randomUUID(), crypto.randomUUID().toUpperCase(), 'new', 'TOTP', 'sms%20', '%2e%2e'),
      )
      .filter((s) => s.length > 0 && !/^(\.|%2e){1,2}$/i.test(s) && !['sms', 'totp'].includes(safeDecode(s)));
    const routes: Array<[string, (s: string) => string]> = [
      ['GET', (s: string) => `/account/devices/${s}`],
      ['POST', (s: string) => `/account/devices/${s}/verify`],
      ['POST', (s: string) => `/account/devices/${s}/remove`],
      ['POST', (s: string) => `/account/devices/${s}/resend`],
      ['GET', (s: string) => `/account/devices/new/${s}`],
      ['POST', (s: string) => `/account/devices/new/${s}`],
      ['GET', (s: string) => `/account/email/verify/${s}`],
      ['POST', (s: string) => `/account/email/verify/${s}`],
      ['GET', (s: string) => `/password-reset/${s}`],
      ['POST', (s: string) => `/password-reset/${s}`],
    ];
    const token = csrfToken(selfPage);
    await sweep(fc.record({ seg, route: fc.constantFrom(...routes), accept: HTML_OR_JSON_ACCEPT }), {
      surface: '/account: path ids',
      expecting: 'html',
      request: pathProbe(selfAgent, [
        ['_csrf', token],
        ['code', '123456'],
        ['nickname', 'x'],
        ['country', 'GB'],
        ['phone', '1'],
      ]),
      mustReject: true,
      neverChanges: true,
    });
    const value = fc.oneof(anyString, rawJunk);
    const queries: Array<[string, string]> = [
      ['/account', 'done'],
      ['/account/devices/new/totp', 'replaces'],
      [`/account/devices/${pendingDevice.id}`, 'replaces'],
      [`/account/devices/${pendingDevice.id}`, 'sent'],
      ['/account/admin', 'account'],
      ['/account/admin', 'saved'],
      ['/account/admin', 'requested'],
      ['/support/requests', 'decided'],
      ['/account/signed-out', 'reason'],
      ['/password-reset', 'interaction'],
      ['/account/callback', 'state'],
      ['/account/callback', 'code'],
      ['/account/callback', 'error'],
      ['/demo', 'error'],
      ['/demo/callback', 'code'],
      ['/demo/callback', 'state'],
    ];
    await sweep(fc.record({ q: fc.constantFrom(...queries), values: fc.array(value, { minLength: 1, maxLength: 3 }), accept: HTML_OR_JSON_ACCEPT }), {
      surface: '/account and /demo: query parameters',
      expecting: 'html',
      request: ({ q: [path, name], values, accept }) => {
        const qs = values.map((v) => (v.startsWith('%') || v.includes('=') || v.includes('&') ? `${name}=${v}` : `${name}=${pct(v)}`)).join('&');
        const url = `${issuer}${path}?${qs}`;
        return send(url, { cookie: selfAgent.cookiesFor(url), accept });
      },
      acceptedOk: (r) => (r.status >= 300 && !/^(\/|http:\/\/127\.0\.0\.1)/.test(r.headers.get('location') ?? '') ? 'a redirect off the site' : undefined),
      neverChanges: true,
    });
    // /demo/login?acr= and a wrong CSRF on the demo forms.
    const demo = new UserAgent();
    const demoPage = await demo.request(`${issuer}/demo`);
    expect(demoPage.status).toBe(200);
    await sweep(fc.record({ acr: value, c: formCase({ x: shortString }), action: fc.constantFrom('/demo/login', '/demo/logout') }), {
      surface: '/demo: acr, forms',
      expecting: 'html',
      request: ({ acr, c, action }) => {
        const url = `${issuer}${action}?acr=${pct(acr)}`;
        return send(url, { body: formBody(c, csrfToken(demoPage)), contentType: c.contentType, cookie: demo.cookiesFor(url), accept: c.accept });
      },
      acceptedOk: (r) => (/^(http:\/\/127\.0\.0\.1:\d+)?\/(auth|session\/end)\?/.test(r.headers.get('location') ?? '') ? undefined : 'an unexpected redirect'),
      neverChanges: true,
    });
    expect((await selfAgent.request(`${issuer}/account`)).status).toBe(200);
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------

describe('languages', () => {
  test('the language cookie, Accept-Language and the picker (/language?lang=&return=)', async () => {
    const header = fc.oneof(
      fc.string({ unit: 'binary-ascii', maxLength: 200 }).filter(headerSafe),
      fc.constantFrom('de', 'ar;q=0.5, fr', 'q=1', '*;q=0', ',,,', 'de;q=2', 'en-', '-'),
    );
    await sweep(fc.record({ cookie: fc.option(header), acceptLanguage: fc.option(header), path: fc.constantFrom('/password-reset', '/no-such-page', '/account/signed-out') }), {
      surface: 'languages: cookie, Accept-Language',
      expecting: 'html',
      request: ({ cookie, acceptLanguage, path }) =>
        send(`${issuer}${path}`, {
          cookie: cookie === null ? undefined : `twofold_lang=${encodeURIComponent(cookie)}`,
          headers: acceptLanguage === null ? {} : { 'accept-language': acceptLanguage },
        }),
      acceptedOk: (r) => (/<html lang="(en|de|fr|es|ar)" dir="(ltr|rtl)">/.test(r.body) ? undefined : 'a page without a supported language'),
      neverChanges: true,
    });
    await sweep(
      fc.record({
        lang: fc.array(fc.oneof(anyString, fc.constantFrom('de', 'AR', 'fr-CA', '')), { maxLength: 2 }),
        back: fc.array(fc.oneof(anyString, fc.constantFrom('/account', '//evil.test/', '/\\evil.test', 'http://evil.test/', '/%0d%0aSet-Cookie:x=1')), { maxLength: 2 }),
      }),
      {
        surface: 'languages: the picker',
        expecting: 'html',
        request: ({ lang, back }) => {
          const qs = [...lang.map((v) => `lang=${pct(v)}`), ...back.map((v) => `return=${pct(v)}`)].join('&');
          return send(`${issuer}/language?${qs}`);
        },
        acceptedOk: (r) => {
          const location = r.headers.get('location') ?? '';
          if (r.status !== 303 || !/^\/(?![/\\])/.test(location)) return 'the picker sent the browser off the site';
          const cookie = r.headers.get('set-cookie') ?? '';
          return cookie === '' || /^twofold_lang=(en|de|fr|es|ar);/.test(cookie) ? undefined : 'the picker stored something that is not a language';
        },
        neverChanges: true,
      },
    );
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------

describe('/support forms and parameters (signed in as support)', () => {
  test('Find user (q, page), Reset MFA (reason, code, attested), path ids', async () => {
    const value = fc.oneof(anyString, rawJunk, fc.constantFrom('%', '_', '\\', '%25', resettee.username, resettee.username.toUpperCase(), 'x'.repeat(255)));
    const pageNo = fc.oneof(shortString, fc.constantFrom('1', '2', '0', '-1', '01', '1.5', '9999', '10000', '１'));
    await sweep(fc.record({ q: fc.array(value, { maxLength: 2 }), page: fc.array(pageNo, { maxLength: 2 }), accept: HTML_OR_JSON_ACCEPT }), {
      surface: '/support: q, page',
      expecting: 'html',
      request: ({ q, page, accept }) => {
        const enc = (v: string) => (v.startsWith('%') || v.includes('=') || v.includes('&') ? v : pct(v));
        const qs = [...q.map((v) => `q=${enc(v)}`), ...page.map((v) => `page=${enc(v)}`)].join('&');
        const url = `${issuer}/support?${qs}`;
        return send(url, { cookie: staffAgent.cookiesFor(url), accept });
      },
      neverChanges: true,
    });

    // A code exists for R; no generated input is it (six random digits at most once in a million).
    const form = await staffAgent.request(`${issuer}/support/users/${resettee.userId}/reset-mfa`);
    expect((await submitForm(staffAgent, form, `/support/users/${resettee.userId}/reset-mfa/code`)).status).toBe(200);
    const fields = {
      reason: fc.oneof(anyString, fc.constantFrom('Lost phone', ' ', 'x'.repeat(500), 'x'.repeat(501), 'line\nbreak')),
      code: fc.oneof(codeLike, anyString),
      attested: fc.oneof(shortString, fc.constantFrom('1', 'on', 'true', '0', '')),
    };
    await sweep(fc.record({ c: formCase(fields), who: fc.constantFrom('R', 'R', 'N') }), {
      surface: '/support: reason, code, attested',
      expecting: 'html',
      request: ({ c, who }) => postForm(staffAgent, staffPage, `${issuer}/support/users/${(who === 'R' ? resettee : noAddress).userId}/reset-mfa`)(c),
      mustReject: ({ who }) => who === 'R',
      allow: () => ({ audit: ['support.code_failed'] }),
      acceptedOk: (r) =>
        /\/support\/users\/[0-9a-f-]{36}\?done=reset$/.test(r.headers.get('location') ?? '') ? undefined : 'an accepted reset that does not go back to the user page',
    });

    const seg = fc
      .oneof(shortString.map(pct), rawJunk, fc.constantFrom(`${resettee.userId}x`, ` ${resettee.userId}`, crypto.randomUUID(), crypto.randomUUID().toUpperCase(), '%2e%2e'))
      .filter((x) => x.length > 0 && !/^(\.|%2e){1,2}$/i.test(x));
    const routes: Array<[string, (x: string) => string]> = [
      ['GET', (x) => `/support/users/${x}`],
      ['GET', (x) => `/support/users/${x}/reset-mfa`],
      ['POST', (x) => `/support/users/${x}/unlock`],
      ['POST', (x) => `/support/users/${x}/reset-mfa/code`],
      ['POST', (x) => `/support/users/${x}/reset-mfa`],
    ];
    const token = csrfToken(staffPage);
    await sweep(fc.record({ seg, route: fc.constantFrom(...routes), accept: HTML_OR_JSON_ACCEPT }), {
      surface: '/support: path ids',
      expecting: 'html',
      request: pathProbe(staffAgent, [
        ['_csrf', token],
        ['reason', 'r'],
        ['attested', '1'],
        ['code', '123456'],
      ]),
      mustReject: true,
      neverChanges: true,
    });
    expect((await staffAgent.request(`${issuer}/support`)).status).toBe(200);
  }, 180_000);
});

describe('admin API (support token)', () => {
  const admin = (method: string, p: string, init: { body?: string | Uint8Array; contentType?: string | null; headers?: Record<string, string> } = {}) =>
    send(`${issuer}/admin/v1${p}`, { method, accept: 'application/json', ...init, headers: { authorization: `Bearer ${supportSession.accessToken}`, ...(init.headers ?? {}) } });

  test('PUT mfa-policy bodies: wrong types, missing and extra fields, duplicates, garbage, wrong content types', async () => {
    const notBoolean = fc.jsonValue().filter((v) => typeof v !== 'boolean');
    const body = fc.oneof(
      fc.jsonValue().map(json),
      fc.record({ mfaRequired: fc.oneof(notBoolean, fc.constantFrom<unknown>('true', 'false', 1, 0, null, [], {}, [true], { value: true })) }).map(json),
      fc.tuple(fc.boolean(), fc.dictionary(shortString, fc.jsonValue(), { minKeys: 1, maxKeys: 3 })).map(([b, extra]) => json({ ...extra, mfaRequired: b })),
      fc.tuple(fc.boolean(), notBoolean).map(([b, v]) => `{"mfaRequired": ${b}, "mfaRequired": ${json(v)}}`),
      fc.constantFrom(
        '',
        ' ',
        'null',
        '[]',
        '{}',
        '"true"',
        'true',
        '{"mfaRequired":}',
        '{"mfaRequired":true',
        '{"mfaRequired":true}}',
        "{'mfaRequired':true}",
        '{"mfaRequired":tRue}',
        '\uFEFF{"mfaRequired":true}',
        '{"__proto__":{"mfaRequired":true}}',
        '{"constructor":{"prototype":{"x":1}}}',
        '{"mfaRequired":1e309}',
        '{"mfaRequired":true,}',
        `${'['.repeat(5000)}${']'.repeat(5000)}`,
        `{"a":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`,
        '{"mfaRequired":"\\ud800"}',
        '{"mfa\\u0000Required":true}',
      ),
      anyString,
    );
    const bytes = fc.constantFrom(
      Uint8Array.from([0xff, 0xfe, 0xfd]),
      Uint8Array.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]),
      Uint8Array.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
      Uint8Array.from([0x00, 0x00]),
    );
    const contentType = fc.oneof(
      { weight: 8, arbitrary: fc.constant('application/json') },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'application/json; charset=utf-8',
          'APPLICATION/JSON',
          'application/json; charset=utf-16',
          null,
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/vnd.api+json',
          'application/jsonp',
          'multipart/form-data; boundary=x',
          '',
          'garbage',
        ),
      },
    );
    const arb = fc.record({ body: fc.oneof({ weight: 12, arbitrary: body }, { weight: 1, arbitrary: bytes }), contentType });
    await sweep(arb, {
      surface: 'admin: PUT mfa-policy body',
      expecting: 'admin',
      request: ({ body: b, contentType: ct }) => admin('PUT', `/accounts/${target.accountId}/mfa-policy`, { body: b, contentType: ct }),
      acceptedOk: (r) =>
        r.status === 200 && typeof (JSON.parse(r.body) as { mfaRequired?: unknown }).mfaRequired === 'boolean' ? undefined : 'an accepted body without the policy',
    });
  }, 180_000);

  test('disable requests: filing and decision bodies, the status filter', async () => {
    const text = requestText();
    const body = (field: string) =>
      fc.oneof(
        text.map((v) => json({ [field]: v })),
        fc.jsonValue().map(json),
        fc.record({ [field]: fc.jsonValue() }).map(json),
        fc.tuple(text, fc.dictionary(shortString, fc.jsonValue(), { minKeys: 1, maxKeys: 2 })).map(([v, extra]) => json({ ...extra, [field]: v })),
        fc.constantFrom(`{"${field}":"a","${field}":"b"}`, `{"${field}":"\\ud800"}`, `{"${field}":"a\\u0000b"}`, '', '{', 'null', '[]'),
      );
    const contentType = fc.oneof(
      { weight: 8, arbitrary: fc.constant('application/json') },
      { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', null, '') },
    );
    await sweep(fc.record({ body: body('reason'), contentType }), {
      surface: 'admin: disable request body',
      expecting: 'admin',
      before: () => resetDisableRequests(target.accountId),
      request: ({ body: b, contentType: ct }) => admin('POST', `/accounts/${target.accountId}/mfa-policy/disable-requests`, { body: b, contentType: ct }),
      acceptedOk: (r) => (r.status === 201 && (JSON.parse(r.body) as { status?: unknown }).status === 'pending' ? undefined : 'an accepted body without the pending request'),
      after: () => resetDisableRequests(target.accountId),
    });
    let requestId = '';
    await sweep(fc.record({ body: body('note'), contentType, action: fc.constantFrom('approve', 'reject') }), {
      surface: 'admin: disable request decision body',
      expecting: 'admin',
      before: async () => {
        requestId = await pendingRequestOfTarget();
      },
      request: ({ body: b, contentType: ct, action }) => admin('POST', `/mfa-policy/disable-requests/${requestId}/${action}`, { body: b, contentType: ct }),
      acceptedOk: (r, c) =>
        r.status === 200 && (JSON.parse(r.body) as { status?: unknown }).status === (c.action === 'approve' ? 'approved' : 'rejected')
          ? undefined
          : 'an accepted body without the decision',
      after: () => resetDisableRequests(target.accountId),
    });
    const value = fc.oneof(shortString, rawJunk, fc.constantFrom('pending', 'approved', 'rejected', 'PENDING', ' pending', 'open', ''));
    await sweep(fc.array(value, { maxLength: 3 }), {
      surface: 'admin: disable request status',
      expecting: 'admin',
      request: (values) => {
        const qs = values.map((v) => `status=${v.startsWith('%') || /[=&]/.test(v) ? v : pct(v)}`).join('&');
        return admin('GET', `/mfa-policy/disable-requests${qs ? `?${qs}` : ''}`);
      },
      acceptedOk: (r) => (r.status === 200 && Array.isArray((JSON.parse(r.body) as { requests?: unknown }).requests) ? undefined : 'an accepted filter without the list'),
      neverChanges: true,
    });
  }, 180_000);

  test('path ids (accountId, userId), methods, query parameters (limit, before), Authorization', async () => {
    const seg = fc
      .oneof(
        shortString.map(pct),
        rawJunk,
        fc.constantFrom(
          crypto.randomUUID(),
          crypto.randomUUID().toUpperCase(),
          `${target.accountId}x`,
          ` ${target.accountId}`,
          `${target.userId}'`,
          '00000000-0000-0000-0000-000000000000',
          target.accountId.replace(/-/g, ''),
          '%2e%2e',
        ),
      )
      .filter((s) => s.length > 0 && !/^(\.|%2e){1,2}$/i.test(s));
    const routes: Array<[string, (s: string) => string]> = [
      ['GET', (s: string) => `/accounts/${s}/mfa-policy`],
      ['PUT', (s: string) => `/accounts/${s}/mfa-policy`],
      ['GET', (s: string) => `/accounts/${s}/users`],
      ['GET', (s: string) => `/accounts/${s}/audit-events`],
      ['POST', (s: string) => `/users/${s}/unlock`],
      ['POST', (s: string) => `/users/${s}/reset-mfa`],
      ['POST', (s: string) => `/accounts/${s}/mfa-policy/disable-requests`],
      ['POST', (s: string) => `/mfa-policy/disable-requests/${s}/approve`],
      ['POST', (s: string) => `/mfa-policy/disable-requests/${s}/reject`],
      ['DELETE', (s: string) => `/accounts/${s}/mfa-policy`],
      ['PATCH', (s: string) => `/users/${s}/unlock`],
      ['GET', (s: string) => `/users/${s}`],
      ['POST', (s: string) => `/${s}`],
    ];
    await sweep(fc.record({ seg, route: fc.constantFrom(...routes) }), {
      surface: 'admin: path ids and methods',
      expecting: 'admin',
      request: ({ seg: s, route: [method, p] }) => admin(method, p(s), method === 'PUT' ? { body: '{"mfaRequired":true}', contentType: 'application/json' } : {}),
      mustReject: true,
      neverChanges: true,
    });
    const value = fc.oneof(
      shortString,
      rawJunk,
      fc.constantFrom('1', '200', '201', '0', '-1', '1.5', '1e2', '0x10', ' 5', '5 ', '１', '999999999999999999999', '9223372036854775808', '18446744073709551616', '01'),
    );
    const arb = fc.record({ limit: fc.array(value, { maxLength: 3 }), before: fc.array(value, { maxLength: 3 }), path: fc.constantFrom('audit-events', 'users', 'mfa-policy') });
    await sweep(arb, {
      surface: 'admin: limit, before',
      expecting: 'admin',
      request: ({ limit, before, path: p }) => {
        const enc = (v: string) => (v.startsWith('%') || /[=&]/.test(v) ? v : pct(v));
        const qs = [...limit.map((v) => `limit=${enc(v)}`), ...before.map((v) => `before=${enc(v)}`)].join('&');
        return admin('GET', `/accounts/${target.accountId}/${p}${qs ? `?${qs}` : ''}`);
      },
      neverChanges: true,
    });
    const authorization = fc
      .oneof(
        fc.string({ unit: 'binary-ascii', maxLength: 80 }),
        fc.constantFrom(
          'Bearer',
          'Bearer ',
          'bearer  x',
          'Bearer a.b.c',
          'Bearer ..',
          `Bearer ${supportSession.accessToken}.`,
          `Bearer ${supportSession.accessToken.slice(0, -2)}`,
          `Basic ${Buffer.from('a:b').toString('base64')}`,
          `Bearer ${'a'.repeat(10_000)}`,
          `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"aud":"x"}').toString('base64url')}.`,
        ),
        fc.json().map((j) => `Bearer ${Buffer.from('{"alg":"RS256","kid":"x"}').toString('base64url')}.${Buffer.from(j).toString('base64url')}.AAAA`),
      )
      .filter((s) => /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(s));
    await sweep(authorization, {
      surface: 'admin: Authorization header',
      expecting: 'admin',
      request: (a) =>
        send(`${issuer}/admin/v1/accounts/${target.accountId}/mfa-policy`, {
          method: 'PUT',
          body: '{"mfaRequired":false}',
          contentType: 'application/json',
          accept: 'application/json',
          headers: { authorization: a },
        }),
      mustReject: true,
      neverChanges: true,
    });
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------

describe('/support forms (signed in as support)', () => {
  test('/support/requests: the note of a decision, and the request id', async () => {
    const agent = new UserAgent();
    // With a request on it, the page carries the decision form (and its CSRF token).
    await pendingRequestOfTarget();
    const { page } = await openAccount(agent, issuer, support, { app: supportSession.app, path: '/support/requests' });
    expect(page.html).toMatch(/<button[^>]*>\s*Approve\s*<\/button>/);
    const ids = fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.oneof(shortString.map(pct), fc.constantFrom(crypto.randomUUID(), '%00', 'x')) });
    let requestId = '';
    await sweep(fc.record({ c: formCase({ note: requestText() }), action: fc.constantFrom('approve', 'reject'), id: ids }), {
      surface: '/support: decision note',
      expecting: 'html',
      before: async () => {
        requestId = await pendingRequestOfTarget();
      },
      request: ({ c, action, id }) => postForm(agent, page, `${issuer}/support/requests/${id || requestId}/${action}`)(c),
      acceptedOk: (r) =>
        r.status === 303 && /^\/support\/requests\?decided=(approved|rejected)$/.test(r.headers.get('location') ?? '') ? undefined : 'an accepted note without the decision',
      after: () => resetDisableRequests(target.accountId),
    });
  }, 180_000);
});

describe('bodies over the limits', () => {
  test('forms over 64 KB, JSON over 16 KB, and megabytes at the OIDC endpoints: 413 or 400, never a 5xx or a reset', async () => {
    const justOver = (limit: number) => 'a'.repeat(limit + 1);
    const token = csrfToken(login.page);
    const loginUrl = `${issuer}/interaction/${login.uid}/login`;
    const cases: Array<{ name: string; expecting: Expecting; status: number[]; go: () => Promise<Reply> }> = [
      {
        name: 'sign-in form, 64 KB + 1',
        expecting: 'html',
        status: [413],
        go: () =>
          send(loginUrl, {
            body: `_csrf=${token}&username=${justOver(64 * 1024)}`,
            contentType: 'application/x-www-form-urlencoded',
            cookie: login.agent.cookiesFor(loginUrl),
            accept: 'text/html',
          }),
      },
      {
        name: 'sign-in form, 64 KB + 1, JSON accepted',
        expecting: 'html',
        status: [413],
        go: () =>
          send(loginUrl, {
            body: `_csrf=${token}&password=${justOver(64 * 1024)}`,
            contentType: 'application/x-www-form-urlencoded',
            cookie: login.agent.cookiesFor(loginUrl),
            accept: 'application/json',
          }),
      },
      {
        name: 'sign-in form, 8 MB',
        expecting: 'html',
        status: [413],
        go: () =>
          send(loginUrl, {
            body: `_csrf=${token}&password=${'b'.repeat(8 * 1024 * 1024)}`,
            contentType: 'application/x-www-form-urlencoded',
            cookie: login.agent.cookiesFor(loginUrl),
            accept: 'text/html',
          }),
      },
      {
        name: '/account form, 64 KB + 1',
        expecting: 'html',
        status: [413],
        go: () =>
          send(`${issuer}/account/recovery-codes`, {
            body: `_csrf=${csrfToken(selfPage)}&quantity=1&x=${justOver(64 * 1024)}`,
            contentType: 'application/x-www-form-urlencoded',
            cookie: selfAgent.cookiesFor(`${issuer}/account/recovery-codes`),
            accept: 'text/html',
          }),
      },
      {
        name: 'admin JSON, 16 KB + 1',
        expecting: 'admin',
        status: [413],
        go: () =>
          send(`${issuer}/admin/v1/accounts/${target.accountId}/mfa-policy`, {
            method: 'PUT',
            body: `{"mfaRequired":true,"x":"${justOver(16 * 1024)}"}`,
            contentType: 'application/json',
            accept: 'application/json',
            headers: { authorization: `Bearer ${supportSession.accessToken}` },
          }),
      },
      {
        name: 'admin JSON, 8 MB',
        expecting: 'admin',
        status: [413],
        go: () =>
          send(`${issuer}/admin/v1/accounts/${target.accountId}/mfa-policy`, {
            method: 'PUT',
            body: `{"x":"${'c'.repeat(8 * 1024 * 1024)}"}`,
            contentType: 'application/json',
            accept: 'application/json',
            headers: { authorization: `Bearer ${supportSession.accessToken}` },
          }),
      },
      {
        name: 'admin unlock with a 1 MB body it does not read',
        expecting: 'admin',
        status: [404],
        go: () =>
          send(`${issuer}/admin/v1/users/${crypto.randomUUID()}/unlock`, {
            method: 'POST',
            body: 'd'.repeat(1024 * 1024),
            contentType: 'application/json',
            accept: 'application/json',
            headers: { authorization: `Bearer ${supportSession.accessToken}` },
          }),
      },
      ...(['token_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint', 'authorization_endpoint', 'userinfo_endpoint'] as const).map((e) => ({
        name: `${e}, 1 MB form`,
        expecting: 'oauth' as const,
        // POST is not enabled at /auth and /session/end: 404 (our page or JSON) before any body is read.
        status: [400, 401, 404, 413],
        go: () =>
          send(discovery[e]!, {
            body: `grant_type=authorization_code&client_id=${client.clientId}&x=${'e'.repeat(1024 * 1024)}`,
            contentType: 'application/x-www-form-urlencoded',
            accept: 'application/json',
          }),
      })),
    ];
    const before = await probe.take();
    const problems: string[] = [];
    const t0 = Date.now();
    for (const c of cases) {
      const r = await c.go();
      tallies.count('bodies over the limits', r.status);
      try {
        expectSound(r, c.expecting);
        if (!c.status.includes(r.status)) problems.push(`${c.name}: expected ${c.status.join(' or ')}, got ${r.status} ${r.body.slice(0, 200)}`);
      } catch (err) {
        problems.push(`${c.name}: ${(err as Error).message}`);
      }
    }
    tallies.time('bodies over the limits', Date.now() - t0);
    expect(problems).toEqual([]);
    expect(await probe.changes(before, await probe.take(), { audit: [] })).toEqual([]);
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------

describe('CLI flags (runCli in-process)', () => {
  test('generated argument lists: a non-zero exit with one line on stderr, never a throw or a stack trace', async () => {
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL,
      ...secrets,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATA_DIR: path.join(os.tmpdir(), 'twofold-bad-input-cli'),
    };
    const flags = [
      '--name',
      '--account',
      '--username',
      '--role',
      '--support',
      '--password-stdin',
      '--client-id',
      '--redirect-uri',
      '--public',
      '--secret',
      '--first-party',
      '--post-logout-redirect-uri',
      '--as',
      '--note',
      '--status',
      '--status=pending',
      '--json',
      '--',
      '-',
      '--=',
      '--name=',
      '--role=root',
      '--role=admin',
      '-x',
      '---',
      '--json=1',
      '--support=true',
      '--public=false',
      '-hx',
    ];
    const word = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...flags) },
      { weight: 3, arbitrary: shortString },
      {
        weight: 1,
        arbitrary: fc.constantFrom('admin', 'user', 'true', 'false', 'TRUE', 'yes', '1', target.accountId, target.username, 'http://rp.test/cb', 'javascript:alert(1)'),
      },
    );
    const prefixes = [
      [],
      ['account'],
      ['account', 'create'],
      ['account', 'set-mfa-required'],
      ['user'],
      ['user', 'create'],
      ['user', 'unlock'],
      ['user', 'reset-mfa'],
      ['client'],
      ['client', 'create'],
      ['migrate'],
      ['keys'],
      ['support'],
      ['support', 'requests'],
      ['support', 'approve'],
      ['support', 'reject'],
      ['--json'],
      ['--json', 'user', 'create'],
      ['help'],
      ['ACCOUNT', 'CREATE'],
    ];
    // Well-formed commands whose values are generated: near-valid (valid + an edge case), any string, or valid.
    const value = (valid: fc.Arbitrary<string>) =>
      fc.oneof(
        { weight: 2, arbitrary: valid },
        { weight: 2, arbitrary: fc.tuple(valid, shortString).map(([v, e]) => `${v}${e}`) },
        { weight: 2, arbitrary: shortString },
        { weight: 1, arbitrary: anyString },
      );
    const opt = (a: fc.Arbitrary<string[]>) => fc.option(a, { nil: [] as string[], freq: 2 });
    const uri = value(fc.constantFrom('http://rp.test/cb', 'https://app.example/cb', 'com.example.app:/cb', 'http://localhost:5173/'));
    const structured: fc.Arbitrary<string[]> = fc
      .oneof(
        value(fc.stringMatching(/^[A-Z][a-z]{2,8} [A-Z][a-z]{2,8}$/)).map((n) => ['account', 'create', '--name', n]),
        fc.tuple(value(fc.constant(target.accountId)), value(fc.constantFrom('true', 'false'))).map(([a, b]) => ['account', 'set-mfa-required', a, b]),
        fc
          .tuple(
            value(fc.constant(target.accountId)),
            value(fc.stringMatching(/^[a-z][a-z0-9.]{2,12}$/)),
            opt(value(fc.constantFrom('user', 'admin')).map((r) => ['--role', r])),
            opt(fc.constant(['--support'])),
            opt(fc.constant(['--password-stdin'])),
          )
          .map(([a, u, role, sup, pw]) => ['user', 'create', '--account', a, '--username', u, ...role, ...sup, ...pw]),
        fc.tuple(fc.constantFrom('unlock', 'reset-mfa'), value(fc.constant(target.username))).map(([c, u]) => ['user', c, u]),
        fc
          .tuple(
            value(fc.stringMatching(/^[a-z][a-z0-9-]{2,12}$/)),
            fc.array(uri, { minLength: 1, maxLength: 2 }),
            opt(uri.map((u) => ['--post-logout-redirect-uri', u])),
            fc.oneof(
              fc.constant(['--public']),
              value(fc.constant('s'.repeat(40))).map((x) => ['--secret', x]),
              fc.constant([] as string[]),
            ),
            opt(fc.constant(['--first-party'])),
          )
          .map(([id, uris, logout, auth, fp]) => ['client', 'create', '--client-id', id, ...uris.flatMap((u) => ['--redirect-uri', u]), ...logout, ...auth, ...fp]),
        opt(value(fc.constantFrom('pending', 'approved', 'rejected')).map((v) => ['--status', v])).map((status) => ['support', 'requests', ...status]),
        fc
          .tuple(fc.constantFrom('approve', 'reject'), value(fc.uuid()), value(fc.constant(support.username)), opt(value(fc.constant('A note')).map((v) => ['--note', v])))
          .map(([c, id, as, note]) => ['support', c, id, '--as', as, ...note]),
      )
      .chain((argv) => fc.tuple(fc.constant(argv), fc.boolean()).map(([a, json]) => (json ? [...a, '--json'] : a)));
    const arb = fc.record({
      argv: fc.oneof(
        structured,
        fc.tuple(fc.constantFrom(...prefixes), fc.array(word, { maxLength: 7 })).map(([p, rest]) => [...p, ...rest]),
      ),
      stdin: fc.option(fc.oneof(anyString, hugeString, fc.constant('x'.repeat(70 * 1024))), { freq: 2 }),
    });
    /** Commands that may succeed with generated words (they create something new or only print). */
    const mayAccept = (argv: string[]) => {
      const words = argv.filter((w) => w !== '--json');
      const name = `${words[0]} ${words[1]}`;
      // Real ids and names of T are among the words: those commands may rightly succeed (on T
      // only; the CLI trims its arguments and usernames are case-insensitive).
      const onTarget = argv.some((a) => [target.accountId, target.username.toLowerCase()].includes(a.trim().toLowerCase()));
      return (
        argv.some((w) => w === '--help' || w === '-h' || w === 'help') ||
        ['account create', 'client create', 'support requests'].includes(name) ||
        (onTarget && ['account set-mfa-required', 'user create', 'user unlock', 'user reset-mfa'].includes(name)) ||
        words[0] === 'migrate' ||
        words[0] === 'keys'
      );
    };
    const accepted: string[][] = [];
    const t0 = Date.now();
    const property = tracked<{ argv: string[]; stdin: string | null }>(async ({ argv, stdin }) => {
      const words = [...argv];
      while (words[0] === '--json') words.shift();
      fc.pre(words[0] !== 'serve');
      let out = '';
      let err = '';
      // Anything a library writes straight to the process streams is caught too.
      const direct: string[] = [];
      const realOut = process.stdout.write.bind(process.stdout);
      const realErr = process.stderr.write.bind(process.stderr);
      const tap = (real: typeof realOut) =>
        ((chunk: unknown, ...rest: unknown[]) => {
          direct.push(String(chunk));
          return (real as (...a: unknown[]) => boolean)(chunk, ...rest);
        }) as typeof process.stdout.write;
      process.stdout.write = tap(realOut);
      process.stderr.write = tap(realErr);
      const before = await probe.take();
      let code: number;
      try {
        code = await runCli(
          argv,
          {
            stdout: { write: (s: string) => (out += s) },
            stderr: { write: (s: string) => (err += s) },
            stdin: (async function* () {
              if (stdin !== null) yield stdin;
            })(),
          },
          env,
        );
      } catch (e) {
        throw new Error(`runCli threw for ${JSON.stringify(argv)}: ${(e as Error).stack}`, { cause: e });
      } finally {
        process.stdout.write = realOut;
        process.stderr.write = realErr;
      }
      tallies.count('CLI: flags and arguments', code === 0 ? 0 : -1);
      const all = `${out}\n${err}\n${direct.join('')}`;
      const leak = leakIn(all);
      if (leak) throw new Error(`${leak} in the output for ${JSON.stringify(argv)}:\n${all.slice(0, 1500)}`);
      if (code === 0) {
        if (!mayAccept(argv)) throw new Error(`exit 0 for ${JSON.stringify(argv)}: ${out.slice(0, 500)}`);
        accepted.push(argv);
        if (process.env.BAD_INPUT_DEBUG) console.log('CLI accepted', JSON.stringify(argv), out.slice(0, 200));
        return;
      }
      if (!/^twofold: [^\n]+\n$/.test(err)) throw new Error(`exit ${code} for ${JSON.stringify(argv)} without exactly one line on stderr: ${JSON.stringify(err.slice(0, 600))}`);
      const optionArgs = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
      if (optionArgs.includes('--json')) {
        const lines = out.split('\n').filter(Boolean);
        const parsed = lines.length === 1 ? (JSON.parse(lines[0]!) as Record<string, unknown>) : undefined;
        if (!parsed || Object.keys(parsed).sort().join(',') !== 'error,message')
          throw new Error(`--json failure for ${JSON.stringify(argv)} is not one {"error","message"} line: ${out.slice(0, 500)}`);
      }
      const problems = await probe.changes(before, await probe.take(), {});
      if (problems.length > 0) throw new Error(`a failed command changed state for ${JSON.stringify(argv)}:\n  ${problems.join('\n  ')}`);
    });
    try {
      await fc.assert(fc.asyncProperty(arb, property.run), fcParams('CLI: flags and arguments'));
    } finally {
      await property.settled();
      tallies.time('CLI: flags and arguments', Date.now() - t0);
    }
  }, 180_000);
});
