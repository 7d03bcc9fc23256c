import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { usernameKeyOf } from '../../src/accounts/username.js';
import { MIGRATIONS_DIR, migrate } from '../../src/storage/migrate.js';
import { UsersRepository } from '../../src/storage/repositories/users-repository.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

const logger = pino({ level: 'silent' });

async function migrationFiles(): Promise<string[]> {
  return (await fs.readdir(MIGRATIONS_DIR)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
}

describe('migrations against a real Postgres', () => {
  const databases: TestDatabase[] = [];
  const pools: pg.Pool[] = [];
  let files: string[];

  async function freshPool(): Promise<pg.Pool> {
    const db = await createTestDatabase('twofold_mig');
    databases.push(db);
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    pools.push(pool);
    return pool;
  }

  beforeAll(async () => {
    files = await migrationFiles();
    expect(files.length).toBeGreaterThan(0);
  });

  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await Promise.all(databases.map((d) => d.drop()));
  });

  it('applies every migration once, in order; a second run applies nothing', async () => {
    const pool = await freshPool();
    expect(await migrate(pool, logger)).toEqual(files);
    expect(await migrate(pool, logger)).toEqual([]);
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
    expect(rows.map((r) => r.name)).toEqual(files);
  });

  it('two migrators started at once on a fresh database both succeed, each migration applied exactly once', async () => {
    const pool = await freshPool();
    const second = new pg.Pool({ connectionString: (pool.options as { connectionString: string }).connectionString, max: 4 });
    pools.push(second);
    const [a, b] = await Promise.all([migrate(pool, logger), migrate(second, logger)]);
    expect([...a, ...b].sort()).toEqual(files);
    expect(a.length === 0 || b.length === 0).toBe(true); // the lock holder applied them all
    const { rows } = await pool.query<{ name: string; n: string }>('SELECT name, count(*) AS n FROM schema_migrations GROUP BY name ORDER BY name');
    expect(rows).toEqual(files.map((name) => ({ name, n: '1' })));
  });

  it('0005 gives existing users their canonical username key, and the server finds them by it', async () => {
    const pool = await freshPool();
    const before = await fs.mkdtemp(path.join(os.tmpdir(), 'twofold-mig-'));
    for (const f of files.filter((name) => name < '0005')) await fs.copyFile(path.join(MIGRATIONS_DIR, f), path.join(before, f));
    await migrate(pool, logger, before);
    const {
      rows: [account],
    } = await pool.query<{ id: string }>("INSERT INTO accounts (name) VALUES ('Before Keys') RETURNING id");
    await pool.query("INSERT INTO users (account_id, username, password_hash) VALUES ($1, 'Admin@Example.com', 'x'), ($1, 'bob', 'x')", [account!.id]);
    expect(await migrate(pool, logger)).toContain('0005_username_key.sql');
    const { rows } = await pool.query<{ username: string; username_key: string }>('SELECT username, username_key FROM users ORDER BY username');
    expect(rows).toEqual([
      { username: 'Admin@Example.com', username_key: 'admin@example.com' },
      { username: 'bob', username_key: 'bob' },
    ]);
    const users = new UsersRepository(pool);
    expect((await users.findByUsernameKey(usernameKeyOf('ADMİN@ｅxample.com')!))?.username).toBe('Admin@Example.com');
  });

  describe('schema', () => {
    let pool: pg.Pool;
    beforeAll(async () => {
      pool = await freshPool();
      await migrate(pool, logger);
    });

    it('requires MFA on a new account by default', async () => {
      const { rows } = await pool.query<{ mfa_required: boolean }>("INSERT INTO accounts (name) VALUES ('Default Policy') RETURNING mfa_required");
      expect(rows[0]!.mfa_required).toBe(true);
    });

    it('keeps usernames unique regardless of case', async () => {
      const { rows } = await pool.query<{ id: string }>("INSERT INTO accounts (name) VALUES ('Unique Names') RETURNING id");
      const accountId = rows[0]!.id;
      await pool.query("INSERT INTO users (account_id, username, username_key, password_hash) VALUES ($1, 'Alice', 'alice', 'x')", [accountId]);
      await expect(pool.query("INSERT INTO users (account_id, username, username_key, password_hash) VALUES ($1, 'alice', 'alice-2', 'x')", [accountId])).rejects.toMatchObject({
        code: '23505',
      });
    });

    it('keeps canonical username keys unique, and a user needs one', async () => {
      const { rows } = await pool.query<{ id: string }>("INSERT INTO accounts (name) VALUES ('Unique Keys') RETURNING id");
      const accountId = rows[0]!.id;
      await pool.query("INSERT INTO users (account_id, username, username_key, password_hash) VALUES ($1, 'Key-One', 'key-one', 'x')", [accountId]);
      await expect(pool.query("INSERT INTO users (account_id, username, username_key, password_hash) VALUES ($1, 'other', 'key-one', 'x')", [accountId])).rejects.toMatchObject({
        code: '23505',
      });
      await expect(pool.query("INSERT INTO users (account_id, username, password_hash) VALUES ($1, 'no-key', 'x')", [accountId])).rejects.toMatchObject({ code: '23502' });
    });

    it('allows at most one default device per user, and only a verified one', async () => {
      const {
        rows: [account],
      } = await pool.query<{ id: string }>("INSERT INTO accounts (name) VALUES ('Devices') RETURNING id");
      const {
        rows: [user],
      } = await pool.query<{ id: string }>("INSERT INTO users (account_id, username, username_key, password_hash) VALUES ($1, 'dev-owner', 'dev-owner', 'x') RETURNING id", [
        account!.id,
      ]);
      const insert = (verified: boolean) =>
        pool.query(`INSERT INTO mfa_devices (user_id, kind, sealed_secret, verified_at, is_default) VALUES ($1, 'totp', 's', ${verified ? 'now()' : 'NULL'}, true)`, [user!.id]);
      await expect(insert(false)).rejects.toMatchObject({ code: '23514' });
      await insert(true);
      await expect(insert(true)).rejects.toMatchObject({ code: '23505' });
    });
  });
});
