import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { migrate } from '../../src/storage/migrate.js';
import { createDataStore, type DataStore } from '../../src/storage/repositories/index.js';
import { PostgresChangeFeed, type Change } from '../../src/storage/change-feed.js';
import { cachedLookups, type Lookups } from '../../src/storage/cached-lookups.js';
import { signOutMark } from '../../src/oidc/session-validity.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

const logger = pino({ level: 'silent' });

/** Polls until `check` holds (a notification is delivered asynchronously, in milliseconds). */
async function eventually(check: () => Promise<boolean>, timeoutMs = 3000): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 2));
  }
  return Date.now() - started;
}

describe('in-memory sign-in states and clients, kept only while Postgres announces changes', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let data: DataStore;
  let feed: PostgresChangeFeed;
  let lookups: Lookups;
  const changes: Change[] = [];
  let accountId: string;
  let userId: string;
  let queries = 0;

  beforeAll(async () => {
    db = await createTestDatabase('twofold_cache');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await migrate(pool, logger);
    // Counts the reads that reach Postgres, so a test can tell a kept answer from a fresh one.
    const counted = Object.create(pool) as pg.Pool;
    counted.query = ((text: string, values?: unknown[]) => (queries++, pool.query(text, values))) as pg.Pool['query'];
    data = createDataStore(counted, { enrolmentTtlSeconds: 600 });
    feed = new PostgresChangeFeed(db.url, logger);
    feed.subscribe((c) => changes.push(c));
    await feed.start();
    lookups = cachedLookups(data, feed);
    accountId = (await data.accounts.create('Acme')).id;
    userId = (await data.users.create({ accountId, username: 'ada', usernameKey: 'ada', role: 'user', isSupport: false, passwordHash: 'x' })).id;
  });

  afterAll(async () => {
    await feed?.close();
    await pool?.end();
    await db?.drop();
  });

  it('answers a repeated read from memory', async () => {
    expect(feed.live).toBe(true);
    await lookups.findAuthState(userId);
    const before = queries;
    const state = await lookups.findAuthState(userId);
    expect(state?.user.username).toBe('ada');
    expect(queries).toBe(before);
  });

  it('a sign-out mark written by another connection ends the kept state within milliseconds', async () => {
    await lookups.findAuthState(userId);
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    const mark = signOutMark();
    await other.query('UPDATE users SET sessions_valid_after = $2 WHERE id = $1', [userId, mark]);
    await other.end();
    const ms = await eventually(async () => (await lookups.findAuthState(userId))?.sessionsValidAfter?.getTime() === mark.getTime());
    expect(ms).toBeLessThan(1000);
  });

  it('an account-wide mark, a lock and a verified device each reach the kept state', async () => {
    await lookups.findAuthState(userId);
    const mark = new Date(signOutMark().getTime() + 5000);
    await pool.query('UPDATE accounts SET sessions_valid_after = $2 WHERE id = $1', [accountId, mark]);
    await eventually(async () => (await lookups.findAuthState(userId))?.sessionsValidAfter?.getTime() === mark.getTime());

    await pool.query('UPDATE users SET locked_at = now() WHERE id = $1', [userId]);
    await eventually(async () => Boolean((await lookups.findAuthState(userId))?.user.lockedAt));
    await pool.query('UPDATE users SET locked_at = NULL WHERE id = $1', [userId]);
    await eventually(async () => !(await lookups.findAuthState(userId))?.user.lockedAt);

    expect((await lookups.findAuthState(userId))?.hasVerifiedDevice).toBe(false);
    await pool.query(`INSERT INTO mfa_devices (user_id, kind, nickname, sealed_secret, verified_at) VALUES ($1, 'totp', 'Phone', 'sealed', now())`, [userId]);
    await eventually(async () => (await lookups.findAuthState(userId))?.hasVerifiedDevice === true);
  });

  it('counters that change on every sign-in announce nothing', async () => {
    const seen = changes.length;
    await pool.query('UPDATE users SET failed_mfa_attempts = failed_mfa_attempts + 1 WHERE id = $1', [userId]);
    await pool.query('UPDATE mfa_devices SET last_used_at = now() WHERE user_id = $1', [userId]);
    await pool.query(`SELECT pg_notify('twofold_changes', 'client:probe')`);
    await eventually(async () => changes.slice(seen).some((c) => c.kind === 'client' && c.id === 'probe'));
    expect(changes.slice(seen).filter((c) => c.kind !== 'client')).toEqual([]);
  });

  it('a client is found as soon as it is created, and a changed client is read again', async () => {
    expect(await lookups.findClient('new-app')).toBeUndefined();
    await data.clients.create({ client_id: 'new-app', redirect_uris: ['https://a.example/cb'] });
    expect((await lookups.findClient('new-app'))?.redirect_uris).toEqual(['https://a.example/cb']);
    await data.clients.upsert({ client_id: 'new-app', redirect_uris: ['https://b.example/cb'] });
    await eventually(async () => JSON.stringify((await lookups.findClient('new-app'))?.redirect_uris) === '["https://b.example/cb"]');
  });

  it('while the notification connection is gone every read goes to Postgres; once it is back, memory is used again', async () => {
    await lookups.findAuthState(userId);
    await pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`);
    await eventually(async () => !feed.live);
    // A change made while nobody listens is still seen: nothing is served from memory.
    const mark = new Date(signOutMark().getTime() + 10_000);
    await pool.query('UPDATE users SET sessions_valid_after = $2 WHERE id = $1', [userId, mark]);
    const before = queries;
    expect((await lookups.findAuthState(userId))?.sessionsValidAfter?.getTime()).toBe(mark.getTime());
    expect(queries).toBe(before + 1);
    await eventually(async () => feed.live, 5000);
    await lookups.findAuthState(userId);
    const after = queries;
    await lookups.findAuthState(userId);
    expect(queries).toBe(after);
  });

  it("a sign-in's read always reaches Postgres, and keeps what it read for the requests that follow", async () => {
    await eventually(async () => feed.live, 5000);
    const kept = (await lookups.findAuthState(userId))!.user.failedMfaAttempts;
    // A counter change announces nothing (no cached request depends on it): memory keeps the old row...
    await pool.query('UPDATE users SET failed_mfa_attempts = $2 WHERE id = $1', [userId, kept + 3]);
    expect((await lookups.findAuthState(userId))?.user.failedMfaAttempts).toBe(kept);
    // ...but the sign-in's read sees the row as it is, with one query, each time.
    let before = queries;
    expect((await lookups.readAuthState(userId))?.user.failedMfaAttempts).toBe(kept + 3);
    expect((await lookups.readAuthState(userId))?.user.failedMfaAttempts).toBe(kept + 3);
    expect(queries).toBe(before + 2);
    // What it read is what the next request finds in memory, without a query.
    before = queries;
    expect((await lookups.findAuthState(userId))?.user.failedMfaAttempts).toBe(kept + 3);
    expect(queries).toBe(before);
    await pool.query('UPDATE users SET failed_mfa_attempts = $2 WHERE id = $1', [userId, kept]);
    await lookups.readAuthState(userId);
  });

  it("a sign-in's read brings the user's live devices in the same query, and memory keeps none of them", async () => {
    await eventually(async () => feed.live, 5000);
    const other = (await data.users.create({ accountId, username: 'grace', usernameKey: 'grace', role: 'user', isSupport: false, passwordHash: 'x' })).id;
    const device = (kind: 'totp' | 'sms', nickname: string) => ({
      id: crypto.randomUUID(),
      userId: other,
      kind,
      nickname,
      sealedSecret: kind === 'totp' ? 'sealed' : null,
      phoneE164: kind === 'sms' ? '+15550100' : null,
    });
    const first = await data.devices.create(device('totp', 'first'));
    const second = await data.devices.create(device('sms', 'second'));
    await data.transaction((tx) => tx.devices.markVerified(other, second.id, true));
    await data.devices.acceptTimeStep(first.id, 59_000_123);
    // An enrolment older than the pending TTL is gone for every reader, this one too.
    const expired = await data.devices.create(device('totp', 'expired'));
    await pool.query("UPDATE mfa_devices SET created_at = now() - interval '1 hour' WHERE id = $1", [expired.id]);

    let before = queries;
    const read = (await lookups.readAuthState(other, true))!;
    expect(queries).toBe(before + 1);
    // The same devices, order and types as the devices' own listing.
    expect(read.devices).toEqual(await data.devices.listForUser(other));
    expect(read.devices!.map((d) => d.nickname)).toEqual(['second', 'first']);
    expect(read.devices![0]!.verifiedAt).toBeInstanceOf(Date);
    expect(read.devices![1]).toMatchObject({ verifiedAt: null, lastTimeStep: 59_000_123, lastUsedAt: expect.any(Date), createdAt: expect.any(Date) });
    expect(read.recoveryCodesLeft).toBe(0);
    // The next request's read comes from memory, without the sign-in's extras.
    before = queries;
    const kept = (await lookups.findAuthState(other))!;
    expect(queries).toBe(before);
    expect(kept.devices).toBeUndefined();
    expect(kept.recoveryCodesLeft).toBeUndefined();
    expect(kept.hasVerifiedDevice).toBe(true);
    // The same read by username, as a password sign-in starts.
    expect((await data.users.findAuthStateByUsernameKey('grace'))!.devices).toEqual(read.devices);
    expect((await data.users.findAuthStateByUsernameKey('ada'))!.devices).toEqual(await data.devices.listForUser(userId));
  });

  it('a connection that goes silent (a network partition, no error) stops memory being used within the heartbeat', async () => {
    // A TCP relay to Postgres that can stop passing bytes while keeping both sockets open.
    let silent = false;
    const relay = net.createServer((inbound) => {
      const outbound = net.connect(5432, '127.0.0.1');
      inbound.on('data', (d) => !silent && outbound.write(d));
      outbound.on('data', (d) => !silent && inbound.write(d));
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    const url = new URL(db.url);
    url.host = `127.0.0.1:${(relay.address() as net.AddressInfo).port}`;
    const partitioned = new PostgresChangeFeed(url.toString(), logger, { heartbeatMs: 100, heartbeatTimeoutMs: 200 });
    try {
      await partitioned.start();
      expect(partitioned.live).toBe(true);
      const local = cachedLookups(data, partitioned);
      await local.findAuthState(userId);
      silent = true;
      const ms = await eventually(async () => !partitioned.live, 3000);
      expect(ms).toBeLessThan(1000);
      // Nothing is served from memory meanwhile.
      const before = queries;
      await local.findAuthState(userId);
      expect(queries).toBe(before + 1);
    } finally {
      await partitioned.close();
      relay.close();
    }
  });
});
