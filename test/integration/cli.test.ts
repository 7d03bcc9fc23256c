import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { verifyPassword } from '../../src/accounts/password-hasher.js';
import { runCli } from '../../src/cli/main.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let database: TestDatabase;
let pool: pg.Pool;
let dataDir: string;

async function cli(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: {
      write: (s: string) => {
        stdout += s;
        return true;
      },
    },
    stderr: {
      write: (s: string) => {
        stderr += s;
        return true;
      },
    },
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
  };
  const env = options.env ?? { DATABASE_URL: database.url, DATA_DIR: dataDir, LOG_LEVEL: 'silent', NODE_ENV: 'test' };
  const code = await runCli(args, io, env);
  return { code, stdout, stderr };
}

/** Runs with --json and returns the one JSON object printed. */
async function cliJson(args: string[], options: { stdin?: string } = {}): Promise<{ code: number; body: Record<string, unknown>; stderr: string }> {
  const run = await cli([...args, '--json'], options);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return { code: run.code, body: JSON.parse(lines[0]!) as Record<string, unknown>, stderr: run.stderr };
}

function expectOneLineError(run: Run, code: number): void {
  expect(run.code).toBe(code);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^twofold: \S/);
  expect(run.stdout + run.stderr).not.toContain('    at ');
}

beforeAll(async () => {
  database = await createTestDatabase('twofold_cli');
  pool = new pg.Pool({ connectionString: database.url, max: 2 });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twofold-cli-'));
});

afterAll(async () => {
  await pool?.end();
  await database?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('twofold CLI, good input', () => {
  it('migrate applies the schema, then nothing', async () => {
    const first = await cliJson(['migrate']);
    expect(first.code).toBe(0);
    expect((first.body.applied as string[]).length).toBeGreaterThan(0);
    const second = await cli(['migrate']);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/up to date/);
  });

  it('account create prints the id (text), MFA required by default', async () => {
    const run = await cli(['account', 'create', '--name', 'Acme Text']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const id = /[0-9a-f-]{36}/.exec(run.stdout)?.[0];
    expect(id).toMatch(UUID);
    expect(run.stdout).toMatch(/MFA required: yes/);
    const { rows } = await pool.query('SELECT name, mfa_required FROM accounts WHERE id = $1', [id]);
    expect(rows).toEqual([{ name: 'Acme Text', mfa_required: true }]);
  });

  it('account create --json prints exactly one JSON object', async () => {
    const { code, body } = await cliJson(['account', 'create', '--name', 'Acme']);
    expect(code).toBe(0);
    expect(body).toEqual({ accountId: expect.stringMatching(UUID), name: 'Acme', mfaRequired: true });
  });

  it('a duplicate account name (any case) is a conflict', async () => {
    const run = await cli(['account', 'create', '--name', 'ACME']);
    expectOneLineError(run, 1);
    const { code, body } = await cliJson(['account', 'create', '--name', 'acme']);
    expect(code).toBe(1);
    expect(body).toEqual({ error: 'conflict', message: expect.any(String) });
  });

  it('user create generates a password, prints it once with a warning, and stores its hash', async () => {
    const run = await cli(['user', 'create', '--account', 'Acme', '--username', 'Bob']);
    expect(run.code).toBe(0);
    const password = /Password: (\S+)/.exec(run.stdout)?.[1];
    expect(password).toHaveLength(20);
    expect(run.stdout).toMatch(/store it now/i);
    const { rows } = await pool.query<{ password_hash: string; role: string; is_support: boolean }>("SELECT password_hash, role, is_support FROM users WHERE username = 'Bob'");
    expect(rows[0]).toMatchObject({ role: 'user', is_support: false });
    expect(await verifyPassword(rows[0]!.password_hash, password!)).toBe(true);

    const json = await cliJson(['user', 'create', '--account', 'Acme', '--username', 'carol', '--role', 'admin']);
    expect(json.code).toBe(0);
    expect(json.body).toEqual({
      userId: expect.stringMatching(UUID),
      username: 'carol',
      accountId: expect.stringMatching(UUID),
      role: 'admin',
      support: false,
      email: null,
      emailVerified: false,
      password: expect.stringMatching(/^\S{20}$/),
    });
  });

  it('user create --email and user set-email store the address normalised and verified; a taken one (any case) is a conflict', async () => {
    const created = await cliJson(['user', 'create', '--account', 'Acme', '--username', 'erin', '--email', '  Erin.Smith@Example.COM ']);
    expect(created.code).toBe(0);
    expect(created.body).toMatchObject({ username: 'erin', email: 'erin.smith@example.com', emailVerified: true });
    const stored = async (id: unknown) =>
      (await pool.query<{ email: string | null; email_verified: boolean }>('SELECT email, email_verified FROM users WHERE id = $1', [id])).rows[0];
    expect(await stored(created.body.userId)).toEqual({ email: 'erin.smith@example.com', email_verified: true });

    const taken = await cli(['user', 'create', '--account', 'Acme', '--username', 'frank', '--email', 'ERIN.SMITH@example.com']);
    expectOneLineError(taken, 1);
    expect(taken.stderr).toMatch(/email address is already used/);
    expect((await pool.query("SELECT 1 FROM users WHERE username = 'frank'")).rowCount).toBe(0);

    const frank = await cliJson(['user', 'create', '--account', 'Acme', '--username', 'frank']);
    expect(await stored(frank.body.userId)).toEqual({ email: null, email_verified: false });
    const set = await cliJson(['user', 'set-email', 'FRANK', 'Frank@Example.org']);
    expect(set.code).toBe(0);
    expect(set.body).toEqual({ userId: frank.body.userId, username: 'frank', email: 'frank@example.org', emailVerified: true, previousEmail: null });
    const text = await cli(['user', 'set-email', 'frank', 'frank2@example.org']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/frank2@example\.org \(verified\); was frank@example\.org/);

    const dup = await cliJson(['user', 'set-email', 'frank', 'erin.smith@EXAMPLE.com']);
    expect(dup.code).toBe(1);
    expect(dup.body).toEqual({ error: 'conflict', message: 'That email address is already used by another user.' });
    expect(await stored(frank.body.userId)).toEqual({ email: 'frank2@example.org', email_verified: true });
  });

  it('user create --password-stdin takes the password from stdin (one trailing newline trimmed)', async () => {
    const { code, body } = await cliJson(['user', 'create', '--account', 'Acme', '--username', 'dave', '--support', '--password-stdin'], { stdin: 'correct horse battery \n' });
    expect(code).toBe(0);
    expect(body).not.toHaveProperty('password');
    expect(body).toMatchObject({ username: 'dave', support: true, role: 'user' });
    const { rows } = await pool.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [body.userId]);
    expect(await verifyPassword(rows[0]!.password_hash, 'correct horse battery ')).toBe(true);
  });

  it('a duplicate username, in any case, is a conflict (exit 1)', async () => {
    const run = await cli(['user', 'create', '--account', 'Acme', '--username', 'BOB']);
    expectOneLineError(run, 1);
    expect(run.stderr).toMatch(/taken/);
    const { code, body } = await cliJson(['user', 'create', '--account', 'Acme', '--username', 'bob']);
    expect(code).toBe(1);
    expect(body.error).toBe('conflict');
  });

  it('a username that only looks like a taken one (İ, fullwidth, combining marks) is refused with one line', async () => {
    expect((await cliJson(['user', 'create', '--account', 'Acme', '--username', 'kim@example.com'])).code).toBe(0);
    for (const lookAlike of ['K\u0130M@example.com', '\uff4b\uff49\uff4d@example.com', 'ki\u0301m@example.com']) {
      const run = await cli(['user', 'create', '--account', 'Acme', '--username', lookAlike]);
      expectOneLineError(run, 2);
      expect(run.stderr).toMatch(/Username must be 1-200 ASCII characters/);
    }
    const sameInAnotherCase = await cli(['user', 'create', '--account', 'Acme', '--username', 'KIM@Example.COM']);
    expectOneLineError(sameInAnotherCase, 1);
    expect(sameInAnotherCase.stderr).toMatch(/taken/);
    const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE username_key = 'kim@example.com'");
    expect(rows[0]!.n).toBe(1);
  });

  it('client create: public, confidential with a generated secret, first-party', async () => {
    const pub = await cliJson(['client', 'create', '--client-id', 'spa', '--redirect-uri', 'http://localhost:5173/cb', '--public']);
    expect(pub.code).toBe(0);
    expect(pub.body).toMatchObject({ clientId: 'spa', clientSecret: null, public: true, firstParty: false });

    const conf = await cli([
      'client',
      'create',
      '--client-id',
      'web',
      '--redirect-uri',
      'https://app.example/cb',
      '--redirect-uri',
      'https://app.example/cb2',
      '--post-logout-redirect-uri',
      'https://app.example/',
    ]);
    expect(conf.code).toBe(0);
    expect(conf.stdout).toMatch(/Client secret: \S{32,}/);
    expect(conf.stdout).toMatch(/store it now/i);

    const first = await cliJson([
      'client',
      'create',
      '--client-id',
      'portal',
      '--redirect-uri',
      'https://portal.example/cb',
      '--secret',
      'a-very-long-operator-chosen-secret-0123456789',
      '--first-party',
    ]);
    expect(first.code).toBe(0);
    expect(first.body).toMatchObject({ clientId: 'portal', clientSecret: 'a-very-long-operator-chosen-secret-0123456789', firstParty: true, public: false });

    const { rows } = await pool.query<{ client_id: string; metadata: Record<string, unknown> }>('SELECT client_id, metadata FROM oidc_clients ORDER BY client_id');
    const byId = Object.fromEntries(rows.map((r) => [r.client_id, r.metadata]));
    expect(byId.spa).toMatchObject({ token_endpoint_auth_method: 'none', first_party: false });
    expect(byId.spa).not.toHaveProperty('client_secret');
    expect(byId.web).toMatchObject({
      redirect_uris: ['https://app.example/cb', 'https://app.example/cb2'],
      post_logout_redirect_uris: ['https://app.example/'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    expect(byId.portal).toMatchObject({ first_party: true });
  });

  it('account set-mfa-required false, then true (which signs the account out)', async () => {
    const off = await cliJson(['account', 'set-mfa-required', 'acme', 'false']);
    expect(off.code).toBe(0);
    expect(off.body).toMatchObject({ name: 'Acme', mfaRequired: false, sessionsEnded: false });
    let { rows } = await pool.query("SELECT mfa_required, sessions_valid_after FROM accounts WHERE name = 'Acme'");
    expect(rows[0]).toEqual({ mfa_required: false, sessions_valid_after: null });

    const on = await cli(['account', 'set-mfa-required', String(off.body.accountId), 'TRUE']);
    expect(on.code).toBe(0);
    expect(on.stdout).toMatch(/MFA is now required/);
    expect(on.stdout).toMatch(/signed out/);
    ({ rows } = await pool.query("SELECT mfa_required, sessions_valid_after FROM accounts WHERE name = 'Acme'"));
    expect(rows[0].mfa_required).toBe(true);
    expect(rows[0].sessions_valid_after).toBeInstanceOf(Date);

    const events = await pool.query("SELECT type, details FROM audit_events WHERE account_id = $1 AND type = 'policy.changed' ORDER BY id", [off.body.accountId]);
    expect(events.rows.map((e) => e.details.mfaRequired)).toEqual([false, true]);
  });

  it('user unlock clears the lock and the failure counter (username in any case)', async () => {
    await pool.query("UPDATE users SET failed_mfa_attempts = 7, locked_at = now(), locked_reason = 'too_many_mfa_failures' WHERE username = 'Bob'");
    const { code, body } = await cliJson(['user', 'unlock', 'bOB']);
    expect(code).toBe(0);
    expect(body).toMatchObject({ username: 'Bob', unlocked: true, wasLocked: true });
    const { rows } = await pool.query("SELECT failed_mfa_attempts, locked_at, locked_reason FROM users WHERE username = 'Bob'");
    expect(rows[0]).toEqual({ failed_mfa_attempts: 0, locked_at: null, locked_reason: null });
    const audit = await pool.query("SELECT count(*)::int AS n FROM audit_events WHERE type = 'user.unlocked' AND subject_user_id = $1", [body.userId]);
    expect(audit.rows[0].n).toBe(1);
  });

  it('user reset-mfa removes the devices, resets the counter and ends the sessions', async () => {
    const {
      rows: [user],
    } = await pool.query<{ id: string }>("UPDATE users SET failed_mfa_attempts = 3 WHERE username = 'carol' RETURNING id");
    await pool.query("INSERT INTO mfa_devices (user_id, kind, sealed_secret, verified_at, is_default) VALUES ($1, 'totp', 'sealed', now(), true)", [user!.id]);
    await pool.query("INSERT INTO mfa_devices (user_id, kind, phone_e164) VALUES ($1, 'sms', '+447700900123')", [user!.id]);
    await pool.query("INSERT INTO mfa_devices (user_id, kind, nickname, credential_id, config, verified_at) VALUES ($1, 'passkey', 'Work laptop', 'cred-1', '{}', now())", [
      user!.id,
    ]);
    const run = await cli(['user', 'reset-mfa', 'Carol']);
    expect(run.code).toBe(0);
    // Each device by its kind's own words: a passkey by its name, a number only masked.
    expect(run.stdout).toMatch(/removed 3 devices \(Mobile Passcode, Passkey \("Work laptop"\), SMS \(•••• 0123\)\)/u);
    expect(run.stdout).not.toContain('7700900');
    const devices = await pool.query('SELECT count(*)::int AS n FROM mfa_devices WHERE user_id = $1', [user!.id]);
    expect(devices.rows[0].n).toBe(0);
    const { rows } = await pool.query('SELECT failed_mfa_attempts, sessions_valid_after FROM users WHERE id = $1', [user!.id]);
    expect(rows[0].failed_mfa_attempts).toBe(0);
    expect(rows[0].sessions_valid_after).toBeInstanceOf(Date);
    const types = await pool.query('SELECT type FROM audit_events WHERE subject_user_id = $1 ORDER BY id', [user!.id]);
    expect(types.rows.map((r) => r.type)).toEqual(expect.arrayContaining(['mfa.reset', 'sessions.revoked']));

    const json = await cliJson(['user', 'reset-mfa', String(user!.id)]);
    expect(json.body).toMatchObject({ userId: user!.id, username: 'carol', devicesRemoved: 0, removedDevices: [], sessionsEnded: true });
    await pool.query("INSERT INTO mfa_devices (user_id, kind, nickname, credential_id, config, verified_at) VALUES ($1, 'passkey', 'Key', 'cred-2', '{}', now())", [user!.id]);
    const again = await cliJson(['user', 'reset-mfa', 'carol']);
    expect(again.body).toMatchObject({ devicesRemoved: 1, removedDevices: [{ kind: 'passkey', name: 'Passkey ("Key")' }] });
  });

  it("support requests, approve and reject: the queue, a decision once, never by the requester's account or a non-support user", async () => {
    await cliJson(['account', 'create', '--name', 'Kiosk Co']);
    await cliJson(['account', 'create', '--name', 'Helpdesk']);
    const admin = await cliJson(['user', 'create', '--account', 'Kiosk Co', '--username', 'kiosk-admin', '--role', 'admin']);
    await cliJson(['user', 'create', '--account', 'Kiosk Co', '--username', 'kiosk-helper', '--support']);
    const helper = await cliJson(['user', 'create', '--account', 'Helpdesk', '--username', 'helper', '--support']);
    const kiosk = await pool.query<{ id: string }>("SELECT id FROM accounts WHERE name = 'Kiosk Co'");
    const filed = await pool.query<{ id: string }>('INSERT INTO mfa_disable_requests (account_id, requested_by, reason) VALUES ($1, $2, $3) RETURNING id', [
      kiosk.rows[0]!.id,
      admin.body.userId,
      'Kiosk terminals\nhave no phones.',
    ]);
    const id = filed.rows[0]!.id;

    const listed = await cli(['support', 'requests']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`${id}  pending`);
    expect(listed.stdout).toContain('account "Kiosk Co"  by kiosk-admin: Kiosk terminals have no phones.');
    const pending = await cliJson(['support', 'requests', '--status', 'pending']);
    expect(pending.body.requests).toEqual([
      expect.objectContaining({ id, status: 'pending', accountName: 'Kiosk Co', requesterUsername: 'kiosk-admin', reason: 'Kiosk terminals\nhave no phones.' }),
    ]);
    expect((await cliJson(['support', 'requests', '--status', 'approved'])).body).toEqual({ requests: [] });

    const byAdmin = await cliJson(['support', 'approve', id, '--as', 'kiosk-admin']);
    expect(byAdmin).toMatchObject({ code: 1, body: { error: 'support_required' } });
    const byMember = await cliJson(['support', 'approve', id, '--as', 'kiosk-helper']);
    expect(byMember).toMatchObject({ code: 1, body: { error: 'self_approval' } });

    const approved = await cliJson(['support', 'approve', id, '--as', 'helper', '--note', 'Approved for kiosks.']);
    expect(approved.code).toBe(0);
    expect(approved.body).toMatchObject({ id, status: 'approved', decidedBy: helper.body.userId, note: 'Approved for kiosks.', requestedBy: admin.body.userId });
    const account = await pool.query('SELECT mfa_required, mfa_policy_updated_by FROM accounts WHERE id = $1', [kiosk.rows[0]!.id]);
    expect(account.rows[0]).toEqual({ mfa_required: false, mfa_policy_updated_by: helper.body.userId });
    const types = await pool.query('SELECT type FROM audit_events WHERE account_id = $1 ORDER BY id', [kiosk.rows[0]!.id]);
    expect(types.rows.map((r) => r.type)).toEqual(expect.arrayContaining(['policy.disable_approved', 'policy.changed']));

    const again = await cli(['support', 'reject', id, '--as', 'helper']);
    expectOneLineError(again, 1);
    expect(again.stderr).toMatch(/already been decided/);
    const text = await cli(['support', 'requests', '--status', 'approved']);
    expect(text.stdout).toContain(`${id}  approved`);
  });

  it('help lists every command', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    for (const command of [
      'serve',
      'migrate',
      'account create',
      'account set-mfa-required',
      'user create',
      'user unlock',
      'user reset-mfa',
      'user set-email',
      'client create',
      'support requests',
      'support approve',
      'support reject',
    ]) {
      expect(run.stdout).toContain(`twofold ${command}`);
    }
    const sub = await cli(['user', 'create', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--password-stdin');
  });
});

describe('twofold CLI, bad input: one line on stderr, non-zero exit, no stack trace', () => {
  const cases: [string, string[], number, RegExp, string?][] = [
    ['no command', [], 2, /missing command/],
    ['unknown command', ['frobnicate'], 2, /unknown command "frobnicate"/],
    ['unknown sub-command', ['account', 'delete'], 2, /unknown command "account delete"/],
    ['unknown flag', ['account', 'create', '--name', 'X', '--colour', 'red'], 2, /unknown option --colour/],
    ['missing --name', ['account', 'create'], 2, /missing --name/],
    ['--name without its value', ['account', 'create', '--name'], 2, /--name needs a value/],
    ['a value for a boolean flag', ['user', 'create', '--account', 'Acme', '--username', 'x', '--support=yes'], 2, /--support takes no value/],
    ['an extra argument', ['user', 'unlock', 'bob', 'alice'], 2, /unexpected argument "alice"/],
    ['a missing argument', ['account', 'set-mfa-required', 'Acme'], 2, /missing REQUIRED/],
    ['bad role', ['user', 'create', '--account', 'Acme', '--username', 'eve', '--role', 'root'], 2, /--role must be one of: user, admin/],
    ['bad boolean', ['account', 'set-mfa-required', 'Acme', 'maybe'], 2, /expected true or false/],
    ['unknown account', ['user', 'create', '--account', 'Nope', '--username', 'eve'], 1, /No account "Nope"/],
    ['unknown account for the policy', ['account', 'set-mfa-required', 'Nope', 'true'], 1, /No account "Nope"/],
    ['unknown user to unlock', ['user', 'unlock', 'nobody'], 1, /No user "nobody"/],
    ['unknown user to reset', ['user', 'reset-mfa', 'nobody'], 1, /No user "nobody"/],
    ['a bad email', ['user', 'create', '--account', 'Acme', '--username', 'eve', '--email', 'eve@'], 2, /Enter a valid email address/],
    ['an email with a space', ['user', 'set-email', 'bob', 'bob smith@example.com'], 2, /Enter a valid email address/],
    ['an email with two @', ['user', 'set-email', 'bob', 'bob@x@example.com'], 2, /Enter a valid email address/],
    ['an email of 255 characters', ['user', 'set-email', 'bob', `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(58)}.com`], 2, /Enter a valid email address/],
    ['set-email without the address', ['user', 'set-email', 'bob'], 2, /missing EMAIL/],
    ['set-email of an unknown user', ['user', 'set-email', 'nobody', 'nobody@example.com'], 1, /No user "nobody"/],
    ['short password on stdin', ['user', 'create', '--account', 'Acme', '--username', 'eve', '--password-stdin'], 2, /at least 12 characters/, 'short pass1\n'],
    ['common password on stdin', ['user', 'create', '--account', 'Acme', '--username', 'eve', '--password-stdin'], 2, /commonly used password/, 'Qwerty123456\n'],
    ['overlong password on stdin', ['user', 'create', '--account', 'Acme', '--username', 'eve', '--password-stdin'], 2, /at most 256 characters/, `${'p'.repeat(257)}\n`],
    ['invalid redirect URI', ['client', 'create', '--client-id', 'bad', '--redirect-uri', 'not a uri'], 2, /Not a valid URI/],
    ['--public with --secret', ['client', 'create', '--client-id', 'bad', '--redirect-uri', 'https://x.example/cb', '--public', '--secret', 'x'], 2, /--public and --secret/],
    ['missing --redirect-uri', ['client', 'create', '--client-id', 'bad'], 2, /missing --redirect-uri/],
    ['a repeated single-valued flag', ['account', 'create', '--name', 'A', '--name', 'B'], 2, /--name is given more than once/],
    ['an unknown request status', ['support', 'requests', '--status', 'open'], 2, /--status must be one of: pending, approved, rejected/],
    ['approve without --as', ['support', 'approve', '00000000-0000-4000-8000-000000000000'], 2, /missing --as/],
    ['approve without the request', ['support', 'approve', '--as', 'helper'], 2, /missing REQUEST_ID/],
    ['approve an unknown request', ['support', 'approve', '00000000-0000-4000-8000-000000000000', '--as', 'helper'], 1, /No such request/],
    ['approve a malformed request id', ['support', 'approve', 'not-an-id', '--as', 'helper'], 1, /No such request/],
    ['approve as an unknown user', ['support', 'approve', '00000000-0000-4000-8000-000000000000', '--as', 'nobody'], 1, /No user "nobody"/],
    ['approve as a user without the support flag', ['support', 'approve', '00000000-0000-4000-8000-000000000000', '--as', 'bob'], 1, /Only support/],
    ['reject with an overlong note', ['support', 'reject', '00000000-0000-4000-8000-000000000000', '--as', 'helper', '--note', 'x'.repeat(1001)], 2, /at most 1000 characters/],
    ['reject with a control character in the note', ['support', 'reject', '00000000-0000-4000-8000-000000000000', '--as', 'helper', '--note', 'a\u0007b'], 2, /cannot be shown/],
  ];

  // One object per row: a row shorter than the callback's parameter list would make Jest pass `done`.
  it.each(cases.map(([label, args, code, message, stdin]) => ({ label, args, code, message, stdin })))('$label', async ({ args, code, message, stdin }) => {
    const run = await cli(args, { stdin });
    expectOneLineError(run, code);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });

  it('with --json, the error is one JSON object on stdout with a stable code', async () => {
    const usage = await cliJson(['account', 'create', '--nmae', 'X']);
    expect(usage.code).toBe(2);
    expect(usage.body).toEqual({ error: 'usage_error', message: expect.stringMatching(/unknown option --nmae/) });
    const missing = await cliJson(['user', 'unlock', 'nobody']);
    expect(missing.code).toBe(1);
    expect(missing.body).toEqual({ error: 'not_found', message: 'No user "nobody".' });
    const invalid = await cliJson(['user', 'create', '--account', 'Acme', '--username', 'eve', '--password-stdin'], { stdin: '1234567' });
    expect(invalid.code).toBe(2);
    expect(invalid.body.error).toBe('validation_failed');
  });

  it('bad settings print the named setting and exit 2', async () => {
    const run = await cli(['migrate'], { env: { DATABASE_URL: 'mysql://nope', DATA_DIR: dataDir, LOG_LEVEL: 'silent', NODE_ENV: 'test' } });
    expectOneLineError(run, 2);
    expect(run.stderr).toMatch(/DATABASE_URL/);
  });

  it('an unreachable database is one line, exit 1', async () => {
    const run = await cli(['migrate'], { env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', DATA_DIR: dataDir, LOG_LEVEL: 'silent', NODE_ENV: 'test' } });
    expectOneLineError(run, 1);
    expect(run.stderr).toMatch(/cannot use the database/);
  });
});

describe('bin/twofold.js in embedded mode (no DATABASE_URL)', () => {
  const execFileAsync = promisify(execFile);
  const main = path.join(ROOT, 'dist', 'cli', 'main.js');
  let embeddedDir: string;

  beforeAll(async () => {
    embeddedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twofold-embedded-'));
    if (!fs.existsSync(main) || isStale(main)) {
      // tsc emits even when some other file has a type error; the CLI only needs its own files.
      await execFileAsync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT }).catch(() => undefined);
    }
    if (!fs.existsSync(main)) throw new Error('dist/cli/main.js is missing: `npx tsc -p tsconfig.build.json` did not build it');
  }, 180_000);

  afterAll(() => {
    if (embeddedDir) fs.rmSync(embeddedDir, { recursive: true, force: true });
  });

  function twofold(args: string[]): Promise<Run> {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && !['DATABASE_URL', 'REDIS_URL', 'LOG_LEVEL', 'NODE_OPTIONS'].includes(key)) env[key] = value;
    }
    Object.assign(env, { DATA_DIR: embeddedDir, NODE_ENV: 'test' });
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'twofold.js'), ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.stdin.end();
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  it('creates an account, and a second command sees it', async () => {
    const created = await twofold(['account', 'create', '--name', 'Embedded Co', '--json']);
    expect(created.stderr).not.toContain('    at ');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ accountId: expect.stringMatching(UUID), name: 'Embedded Co', mfaRequired: true });
    expect(fs.existsSync(path.join(embeddedDir, 'pg'))).toBe(true);
    expect(fs.existsSync(path.join(embeddedDir, 'pg.lock'))).toBe(false); // released at exit

    const user = await twofold(['user', 'create', '--account', 'embedded co', '--username', 'emma', '--json']);
    expect(user.code).toBe(0);
    expect(JSON.parse(user.stdout)).toMatchObject({ username: 'emma', accountId: JSON.parse(created.stdout).accountId });

    const again = await twofold(['account', 'create', '--name', 'Embedded Co']);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
  }, 120_000);
});

/** True when any source file is newer than the compiled CLI. */
function isStale(built: string): boolean {
  const builtAt = fs.statSync(built).mtimeMs;
  const newer = (dir: string): boolean =>
    fs.readdirSync(dir, { withFileTypes: true }).some((entry) => {
      const p = path.join(dir, entry.name);
      return entry.isDirectory() ? newer(p) : entry.isFile() && fs.statSync(p).mtimeMs > builtAt;
    });
  return newer(path.join(ROOT, 'src'));
}
