import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { adminParams, enrolAndSignIn, type SignedIn } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { Authenticator, enrolThroughSignIn, sql } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { openAccount } from '../helpers/self-service.js';
import { inBatches, moreUsers } from '../helpers/reliability.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { csrfToken, otpauthUri, UserAgent } from '../helpers/user-agent.js';

/**
 * Data safety under SIGKILL. One Twofold process takes a burst of multi-row changes fired
 * concurrently by many users and admins, and is killed with SIGKILL in the middle of it:
 *
 *   R  support resets a user's MFA through the admin API (devices + recovery codes + failure
 *      counter + sign-out mark, one transaction);
 *   D  a user removes all their devices on /account (devices + recovery codes + sign-out mark);
 *   G  a user regenerates recovery codes on /account (old set replaced by the new one +
 *      sign-out mark), opening with a double-click (two at once), then one after the other;
 *   V  a user adds two devices, verifies both at once (exactly one becomes the default), then
 *      removes all, again and again;
 *   P  support switches an account's "Require Multi-Factor" policy off and on through the admin
 *      API (turning it on carries the account's sign-out mark).
 *
 * To make the kill land inside these changes rather than between them, test-only triggers
 * slow the database down (pg_sleep) at the sign-out marks, at the insert of new recovery codes,
 * and at the audit record written right after each change; the kill is sent while such an
 * audit insert is sleeping, at least a second into the burst and after several changes were
 * acknowledged. Then, with SQL, nothing impossible may exist:
 *
 *   I1 at most one default device per user;
 *   I2 every default device is verified;
 *   I3 recovery codes and devices only for existing users;
 *   I4 every user with a verified device has a default device;
 *   I5 a user's recovery codes are one whole set: at most 10 unused, all from one generation;
 *   I6 no half-done reset or removal: a user of R or D has either all of its devices and its
 *      seeded codes (and, for R, its failure counter) or none of them, and "none" carries the
 *      sign-out mark of the change (sessions valid only after the burst began);
 *   I7 a recovery-code set made during the burst carries its sign-out mark (sessions valid
 *      only after the second the set was made);
 *   I8 an account whose policy was turned on during the burst carries its sign-out mark;
 *
 * and nothing acknowledged may be lost: every change whose HTTP response (2xx/3xx) came back
 * before the kill is in the database (a later change of the same user may have followed it
 * only if it had been sent).
 */

type Group = 'R' | 'D' | 'G' | 'V' | 'P';

interface Op {
  group: Group;
  kind: string;
  /** User or account id. */
  subject: string;
  round: number;
  /** Order of sending, and how many changes had been sent when this one was acknowledged. */
  seq: number;
  ackSeq?: number;
  sentAt: number;
  ackAt?: number;
  status?: number;
  error?: string;
  /** What the change was: the quantity and codes of a set, the policy value, the device id. */
  data: Record<string, unknown>;
}

const PER_GROUP = 6;
const secrets = clusterSecrets();
let db: TestDatabase;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
let support: SignedIn;

interface Member {
  user: Fixture;
  agent?: UserAgent;
  csrf?: string;
}
const members: Record<Exclude<Group, 'P'>, Member[]> = { R: [], D: [], G: [], V: [] };
const policyAccounts: string[] = [];

const ops: Op[] = [];
let killedAt = 0;
let burstStart = 0;

beforeAll(async () => {
  db = await createTestDatabase('twofold_rel_safety');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...secrets, ENTRY_RATE_LIMIT: '100000' });
  client = await confidentialClient(db.url, { firstParty: true });
  const supportUser = await accountWithUser(db.url, { mfaRequired: true, support: true });
  support = await enrolAndSignIn(server.url, client, supportUser, adminParams(server.url));

  const template = await accountWithUser(db.url, { mfaRequired: true });
  const users = await moreUsers(db.url, template, PER_GROUP * 4, 'safety');
  (['R', 'D', 'G', 'V'] as const).forEach((g, i) => {
    members[g] = users.slice(i * PER_GROUP, (i + 1) * PER_GROUP).map((user) => ({ user }));
  });
  // R: a device through the forced enrolment of a real sign-in. D, G, V: the same through
  // /account, which leaves a signed-in /account session to make the changes with.
  await inBatches(members.R, 6, async (m) => {
    await enrolThroughSignIn(await RelyingParty.create(server.url, client.clientId, client.clientSecret), m.user);
  });
  await inBatches([...members.D, ...members.G, ...members.V], 6, async (m) => {
    m.agent = new UserAgent();
    const { page } = await openAccount(m.agent, server.url, m.user);
    m.csrf = csrfToken(page);
  });
  // Seeded recovery codes (R, D, G) and failure counters (R): what a reset or removal must take away.
  for (const m of [...members.R, ...members.D, ...members.G]) {
    await sql(
      db.url,
      `INSERT INTO recovery_codes (user_id, code_hash, created_at) SELECT $1::uuid, 'seed-' || $1::text || '-' || g, now() - interval '1 hour' FROM generate_series(1, 10) g`,
      [m.user.userId],
    );
  }
  await sql(db.url, 'UPDATE users SET failed_mfa_attempts = 3 WHERE id = ANY($1)', [members.R.map((m) => m.user.userId)]);
  for (let i = 0; i < 3; i++) policyAccounts.push((await accountWithUser(db.url, { mfaRequired: true })).accountId);

  // Fault injection: the database slows down where a kill hurts most.
  await sql(db.url, `CREATE FUNCTION reliability_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.15); RETURN NEW; END $$`);
  await sql(
    db.url,
    `CREATE TRIGGER reliability_slow_audit BEFORE INSERT ON audit_events FOR EACH ROW
    WHEN (NEW.type IN ('mfa.reset', 'device.removed', 'device.verified', 'recovery_codes.generated', 'policy.changed'))
    EXECUTE FUNCTION reliability_slow()`,
  );
  await sql(
    db.url,
    `CREATE TRIGGER reliability_slow_user_mark BEFORE UPDATE ON users FOR EACH ROW
    WHEN (NEW.sessions_valid_after IS DISTINCT FROM OLD.sessions_valid_after) EXECUTE FUNCTION reliability_slow()`,
  );
  await sql(
    db.url,
    `CREATE TRIGGER reliability_slow_account_mark BEFORE UPDATE ON accounts FOR EACH ROW
    WHEN (NEW.sessions_valid_after IS DISTINCT FROM OLD.sessions_valid_after) EXECUTE FUNCTION reliability_slow()`,
  );
  await sql(db.url, `CREATE TRIGGER reliability_slow_codes AFTER INSERT ON recovery_codes FOR EACH STATEMENT EXECUTE FUNCTION reliability_slow()`);
}, 90_000);

afterAll(async () => {
  if (server?.child.exitCode === null && server.child.signalCode === null) await server.stop('SIGKILL');
  await db?.drop();
});

// ---- the burst ------------------------------------------------------------------------------

interface Reply {
  status: number;
  location: string;
  body: string;
}

/** One HTTP request, no redirect followed: its own status is the acknowledgement. */
async function send(url: string, init: { method: string; form?: Record<string, string>; json?: unknown; agent?: UserAgent; token?: string }): Promise<Reply> {
  const headers: Record<string, string> = { accept: init.json !== undefined || init.token ? 'application/json' : 'text/html' };
  if (init.agent) headers.cookie = init.agent.cookiesFor(url);
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body: string | undefined;
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  } else if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  }
  const res = await fetch(url, { method: init.method, headers, body, redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location') ?? '', body: await res.text() };
}

const acked = (op: Op) => op.status !== undefined && op.status >= 200 && op.status < 400 && op.ackAt! <= killedAt;
const stopped = () => killedAt > 0;

/** Records one change: sent, then acknowledged (or not). Returns the reply, or undefined once the process is gone. */
async function change(op: Omit<Op, 'sentAt' | 'seq'>, request: () => Promise<Reply>, ok: (r: Reply) => boolean): Promise<Reply | undefined> {
  if (stopped()) return undefined;
  const record: Op = { ...op, seq: ops.length, sentAt: Date.now() };
  ops.push(record);
  try {
    const reply = await request();
    record.status = reply.status;
    record.ackAt = Date.now();
    record.ackSeq = ops.length;
    if (!ok(reply) && !stopped()) throw new Error(`${op.group} ${op.kind}: unexpected ${reply.status} ${reply.location} ${reply.body.slice(0, 300)}`);
    return ok(reply) ? reply : undefined;
  } catch (err) {
    if (!stopped()) throw err;
    record.error = (err as Error).message;
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Codes as the shown page lists them (ABCD-EFGH-JKMN-PQRS). */
function codesOn(html: string): string[] {
  return [...html.matchAll(/<code>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})<\/code>/g)].map((m) => m[1]!);
}

async function regenerate(m: Member, round: number, quantity: number) {
  const data: Record<string, unknown> = { quantity };
  const reply = await change(
    { group: 'G', kind: 'regenerate', subject: m.user.userId, round, data },
    () => send(`${server.url}/account/recovery-codes`, { method: 'POST', agent: m.agent, form: { _csrf: m.csrf!, quantity: String(quantity) } }),
    (r) => r.status === 200 && codesOn(r.body).length === quantity,
  );
  if (reply) data.codes = codesOn(reply.body);
  return reply;
}

async function removeAll(group: 'D' | 'V', m: Member, round: number) {
  return change(
    { group, kind: 'remove-all', subject: m.user.userId, round, data: {} },
    () => send(`${server.url}/account/devices-remove-all`, { method: 'POST', agent: m.agent, form: { _csrf: m.csrf! } }),
    (r) => r.status === 303 && r.location.endsWith('/account?done=removed-all'),
  );
}

async function addAndVerifyTwo(m: Member, round: number): Promise<boolean> {
  const added: { id: string; app: Authenticator }[] = [];
  for (const nickname of ['Phone A', 'Phone B']) {
    const data: Record<string, unknown> = { nickname };
    const reply = await change(
      { group: 'V', kind: 'add', subject: m.user.userId, round, data },
      () => send(`${server.url}/account/devices/new/totp`, { method: 'POST', agent: m.agent, form: { _csrf: m.csrf!, nickname } }),
      (r) => r.status === 303 && /\/account\/devices\/[0-9a-f-]{36}$/.test(r.location),
    );
    if (!reply) return false;
    const id = reply.location.split('/').pop()!;
    data.deviceId = id;
    let page: Reply;
    try {
      page = await send(new URL(reply.location, server.url).toString(), { method: 'GET', agent: m.agent });
    } catch (err) {
      if (stopped()) return false;
      throw err;
    }
    added.push({ id, app: Authenticator.fromUri(otpauthUri({ url: reply.location, status: page.status, html: page.body, headers: new Headers() })) });
  }
  const codes = await Promise.all(added.map((d) => d.app.next()));
  const verified = await Promise.all(
    added.map((d, i) =>
      change(
        { group: 'V', kind: 'verify', subject: m.user.userId, round, data: { deviceId: d.id } },
        () => send(`${server.url}/account/devices/${d.id}/verify`, { method: 'POST', agent: m.agent, form: { _csrf: m.csrf!, code: codes[i]! } }),
        (r) => r.status === 303 && r.location.endsWith('/account?done=verified'),
      ),
    ),
  );
  return verified.every(Boolean);
}

async function chainR(m: Member): Promise<void> {
  await sleep(Math.random() * 2000);
  await change(
    { group: 'R', kind: 'reset-mfa', subject: m.user.userId, round: 0, data: {} },
    () => send(`${server.url}/admin/v1/users/${m.user.userId}/reset-mfa`, { method: 'POST', token: support.accessToken }),
    (r) => r.status === 204,
  );
}

async function chainD(m: Member): Promise<void> {
  await sleep(Math.random() * 2000);
  await removeAll('D', m, 0);
}

async function chainG(m: Member): Promise<void> {
  // A double-click: two regenerations at once.
  const first = await Promise.all([regenerate(m, 0, 10), regenerate(m, 0, 9)]);
  if (!first.every(Boolean)) return;
  for (let round = 1; !stopped() && round < 100; round++) {
    if (!(await regenerate(m, round, 1 + (round % 8)))) return;
  }
}

async function chainV(m: Member): Promise<void> {
  for (let round = 0; !stopped() && round < 100; round++) {
    if (!(await removeAll('V', m, round))) return;
    if (!(await addAndVerifyTwo(m, round))) return;
  }
}

async function chainP(accountId: string): Promise<void> {
  for (let round = 0; !stopped() && round < 100; round++) {
    const mfaRequired = round % 2 === 1; // off first (the account starts with it on)
    const reply = await change(
      { group: 'P', kind: 'policy', subject: accountId, round, data: { mfaRequired } },
      () => send(`${server.url}/admin/v1/accounts/${accountId}/mfa-policy`, { method: 'PUT', token: support.accessToken, json: { mfaRequired } }),
      (r) => r.status === 200 && JSON.parse(r.body).mfaRequired === mfaRequired,
    );
    if (!reply) return;
  }
}

/** SIGKILL once an audit insert right after a change is sleeping (the change committed, its request not answered). */
async function killInTheMiddle(): Promise<{ sleeping: number; inFlight: number }> {
  const watcher = new pg.Client({ connectionString: db.url });
  await watcher.connect();
  try {
    for (;;) {
      const elapsed = Date.now() - burstStart;
      const { rows } = await watcher.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event = 'PgSleep' AND query LIKE 'INSERT INTO audit_events%'`,
      );
      const sleeping = Number(rows[0]!.n);
      const done = ops.filter((o) => o.status !== undefined && o.status < 400);
      const every = (['R', 'D', 'G', 'V', 'P'] as const).every((g) => done.some((o) => o.group === g));
      if ((elapsed >= 1200 && done.length >= 12 && every && sleeping >= 2) || elapsed > 5000) {
        server.child.kill('SIGKILL');
        killedAt = Date.now();
        return { sleeping, inFlight: ops.filter((o) => o.status === undefined).length };
      }
      await sleep(5);
    }
  } finally {
    await watcher.end();
  }
}

// ---- the checks -----------------------------------------------------------------------------

const recoveryKey = crypto.createHmac('sha256', Buffer.from(secrets.DATA_ENCRYPTION_KEY!, 'base64')).update('twofold recovery code hashing').digest();
/** The stored form of a shown code (keyed hash, as Twofold stores it). */
const codeHash = (userId: string, shown: string) =>
  crypto
    .createHmac('sha256', recoveryKey)
    .update(`${userId}:${shown.replace(/-/g, '')}`)
    .digest('hex');

describe('SIGKILL in the middle of a burst of multi-row changes', () => {
  test('no impossible state, and every acknowledged change is there', async () => {
    burstStart = Date.now();
    const chains = [...members.R.map(chainR), ...members.D.map(chainD), ...members.G.map(chainG), ...members.V.map(chainV), ...policyAccounts.map(chainP)];
    const kill = await killInTheMiddle();
    await Promise.all(chains);
    await new Promise((r) => (server.child.exitCode === null && server.child.signalCode === null ? server.child.once('exit', r) : r(null)));
    // Let Postgres notice the dead connections and roll their transactions back.
    for (let i = 0; i < 100; i++) {
      const [{ n }] = await sql<{ n: string }>(
        db.url,
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`,
      );
      if (Number(n) === 0) break;
      await sleep(50);
    }

    const byGroup = (g: Group) => ops.filter((o) => o.group === g);
    const summary = (['R', 'D', 'G', 'V', 'P'] as const).map((g) => `${g} ${byGroup(g).filter(acked).length}/${byGroup(g).length}`).join(', ');
    console.log(`killed ${killedAt - burstStart} ms into the burst, ${kill.sleeping} audit inserts sleeping, ${kill.inFlight} requests in flight; acknowledged/sent: ${summary}`);
    expect(ops.filter(acked).length).toBeGreaterThanOrEqual(12);
    expect(ops.filter((o) => o.status === undefined).length).toBeGreaterThan(0); // some were cut off

    const violations: string[] = [];
    const q = <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => sql<T>(db.url, text, values);

    // I1-I4: structure.
    for (const r of await q<{ user_id: string; n: string }>('SELECT user_id, count(*) AS n FROM mfa_devices WHERE is_default GROUP BY user_id HAVING count(*) > 1')) {
      violations.push(`I1: user ${r.user_id} has ${r.n} default devices`);
    }
    for (const r of await q<{ id: string }>('SELECT id FROM mfa_devices WHERE is_default AND verified_at IS NULL')) violations.push(`I2: default device ${r.id} is not verified`);
    for (const r of await q<{ id: string }>('SELECT c.id FROM recovery_codes c LEFT JOIN users u ON u.id = c.user_id WHERE u.id IS NULL'))
      violations.push(`I3: recovery code ${r.id} of no user`);
    for (const r of await q<{ id: string }>('SELECT d.id FROM mfa_devices d LEFT JOIN users u ON u.id = d.user_id WHERE u.id IS NULL'))
      violations.push(`I3: device ${r.id} of no user`);
    for (const r of await q<{ user_id: string }>('SELECT user_id FROM mfa_devices GROUP BY user_id HAVING bool_or(verified_at IS NOT NULL) AND NOT bool_or(is_default)')) {
      violations.push(`I4: user ${r.user_id} has verified devices but no default`);
    }

    const state = new Map(
      (
        await q<{ id: string; devices: string; verified: string; codes: string; unused: string; generations: string; newest: Date | null; failed: number; mark: Date | null }>(
          `SELECT u.id, u.failed_mfa_attempts AS failed, u.sessions_valid_after AS mark,
                  (SELECT count(*) FROM mfa_devices d WHERE d.user_id = u.id) AS devices,
                  (SELECT count(*) FROM mfa_devices d WHERE d.user_id = u.id AND d.verified_at IS NOT NULL) AS verified,
                  (SELECT count(*) FROM recovery_codes c WHERE c.user_id = u.id) AS codes,
                  (SELECT count(*) FROM recovery_codes c WHERE c.user_id = u.id AND c.used_at IS NULL) AS unused,
                  (SELECT count(DISTINCT c.created_at) FROM recovery_codes c WHERE c.user_id = u.id) AS generations,
                  (SELECT max(c.created_at) FROM recovery_codes c WHERE c.user_id = u.id) AS newest
             FROM users u`,
        )
      ).map((r) => [
        r.id,
        { ...r, devices: Number(r.devices), verified: Number(r.verified), codes: Number(r.codes), unused: Number(r.unused), generations: Number(r.generations) },
      ]),
    );
    const hashesOf = async (userId: string) => new Set((await q<{ h: string }>('SELECT code_hash AS h FROM recovery_codes WHERE user_id = $1', [userId])).map((r) => r.h));

    // I5: whole sets.
    for (const [id, s] of state) {
      if (s.unused > 10) violations.push(`I5: user ${id} has ${s.unused} unused recovery codes`);
      if (s.generations > 1) violations.push(`I5: user ${id} has recovery codes of ${s.generations} generations`);
    }
    const markAfter = (mark: Date | null, t: number) => mark !== null && mark.getTime() > t;
    /** The sign-out mark a change made at `t` sets: the next whole second. */
    const markOf = (t: number) => (Math.floor(t / 1000) + 1) * 1000;

    // I6 + acknowledged resets and removals (R, D).
    for (const group of ['R', 'D'] as const) {
      for (const m of members[group]) {
        const s = state.get(m.user.userId)!;
        const seeded = (await hashesOf(m.user.userId)).size === 10 && [...(await hashesOf(m.user.userId))].every((h) => h.startsWith('seed-'));
        const intact = s.devices === 1 && seeded && (group === 'D' || s.failed === 3);
        const gone = s.devices === 0 && s.codes === 0 && (group === 'D' || s.failed === 0);
        if (!intact && !gone) violations.push(`I6: ${group} user ${m.user.userId} half-changed: ${s.devices} devices, ${s.codes} codes, counter ${s.failed}`);
        if (gone && !markAfter(s.mark, burstStart)) violations.push(`I6: ${group} user ${m.user.userId} lost its devices without its sign-out mark (${s.mark?.toISOString()})`);
        const op = ops.find((o) => o.subject === m.user.userId);
        if (op && acked(op)) {
          if (!gone) violations.push(`acknowledged ${group} ${op.kind} of ${m.user.userId} is missing`);
          if (!s.mark || s.mark.getTime() < markOf(op.sentAt))
            violations.push(`acknowledged ${group} ${op.kind} of ${m.user.userId}: sign-out mark ${s.mark?.toISOString()} before ${new Date(markOf(op.sentAt)).toISOString()}`);
        }
        if (!op && !intact) violations.push(`${group} user ${m.user.userId} changed without a request`);
      }
    }

    // I7 + acknowledged regenerations (G).
    for (const m of members.G) {
      const s = state.get(m.user.userId)!;
      const hashes = await hashesOf(m.user.userId);
      const seeded = [...hashes].every((h) => h.startsWith('seed-'));
      if (!seeded && (!s.newest || !s.mark || s.mark.getTime() < markOf(s.newest.getTime()))) {
        violations.push(`I7: G user ${m.user.userId}: codes made at ${s.newest?.toISOString()} without their sign-out mark (${s.mark?.toISOString()})`);
      }
      const mine = ops.filter((o) => o.subject === m.user.userId);
      const lastAckedRound = Math.max(-1, ...mine.filter(acked).map((o) => o.round));
      if (lastAckedRound < 0) continue;
      // Candidates: the acknowledged sets of the last acknowledged round, or any later (or
      // concurrent) request that was sent but not answered.
      const candidates = mine.filter((o) => o.round >= lastAckedRound);
      const matches = candidates.some((o) => {
        if (acked(o)) {
          const codes = o.data.codes as string[];
          return codes.length === hashes.size && codes.every((c) => hashes.has(codeHash(m.user.userId, c)));
        }
        return !seeded && hashes.size === o.data.quantity && s.newest !== null && s.newest.getTime() >= o.sentAt - 1000;
      });
      if (!matches) violations.push(`acknowledged regeneration of ${m.user.userId} (round ${lastAckedRound}) is missing: ${hashes.size} codes in the database`);
    }

    // Acknowledged verifications and removals (V).
    for (const m of members.V) {
      const s = state.get(m.user.userId)!;
      const mine = ops.filter((o) => o.subject === m.user.userId);
      const devices = new Map(
        (await q<{ id: string; verified: boolean }>('SELECT id, verified_at IS NOT NULL AS verified FROM mfa_devices WHERE user_id = $1', [m.user.userId])).map((d) => [
          d.id,
          d.verified,
        ]),
      );
      for (const op of mine.filter(acked)) {
        const later = mine.filter((o) => o.seq >= op.ackSeq!);
        if (op.kind === 'verify' && !later.some((o) => o.kind === 'remove-all') && devices.get(String(op.data.deviceId)) !== true) {
          violations.push(`acknowledged verification of device ${String(op.data.deviceId)} is missing`);
        }
        if (op.kind === 'remove-all' && !later.some((o) => o.kind === 'add')) {
          if (s.devices !== 0 || s.codes !== 0) violations.push(`acknowledged removal of all devices of ${m.user.userId} is missing (${s.devices} devices)`);
          if (!s.mark || s.mark.getTime() < markOf(op.sentAt)) violations.push(`acknowledged removal of all devices of ${m.user.userId}: no sign-out mark`);
        }
      }
    }

    // I8 + acknowledged policy changes (P).
    for (const accountId of policyAccounts) {
      const [a] = await q<{ required: boolean; updated: Date; mark: Date | null }>(
        'SELECT mfa_required AS required, mfa_policy_updated_at AS updated, sessions_valid_after AS mark FROM accounts WHERE id = $1',
        [accountId],
      );
      const mine = ops.filter((o) => o.subject === accountId);
      const last = mine.filter(acked).at(-1);
      const next = last ? mine.find((o) => o.round === last.round + 1) : mine[0];
      const allowed = new Set<boolean>();
      allowed.add(last ? (last.data.mfaRequired as boolean) : true);
      if (next) allowed.add(next.data.mfaRequired as boolean);
      if (!allowed.has(a!.required)) violations.push(`acknowledged policy change of ${accountId} is missing: mfa_required ${a!.required}`);
      if (a!.required && a!.updated.getTime() > burstStart && !markAfter(a!.mark, a!.updated.getTime() - 1000)) {
        violations.push(`I8: account ${accountId} turned the policy on without its sign-out mark`);
      }
    }

    expect(violations).toEqual([]);

    // The database is usable as it was left: a new process starts on it and is ready.
    const again = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...secrets });
    try {
      expect((await fetch(`${again.url}/readyz`)).status).toBe(200);
    } finally {
      expect(await again.stop()).toBe(0);
    }
  }, 90_000);
});
