import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs/promises';
import pg from 'pg';
import { pino } from 'pino';
import { MIGRATIONS_DIR, migrate } from '../../src/storage/migrate.js';
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
      await pool.query("INSERT INTO users (account_id, username, password_hash) VALUES ($1, 'Alice', 'x')", [accountId]);
      await expect(pool.query("INSERT INTO users (account_id, username, password_hash) VALUES ($1, 'alice', 'x')", [accountId]))
        .rejects.toMatchObject({ code: '23505' });
    });

    it('allows at most one default device per user, and only a verified one', async () => {
      const { rows: [account] } = await pool.query<{ id: string }>("INSERT INTO accounts (name) VALUES ('Devices') RETURNING id");
      const { rows: [user] } = await pool.query<{ id: string }>("INSERT INTO users (account_id, username, password_hash) VALUES ($1, 'dev-owner', 'x') RETURNING id", [account!.id]);
      const insert = (verified: boolean) => pool.query(
        `INSERT INTO mfa_devices (user_id, kind, sealed_secret, verified_at, is_default) VALUES ($1, 'totp', 's', ${verified ? 'now()' : 'NULL'}, true)`,
        [user!.id],
      );
      await expect(insert(false)).rejects.toMatchObject({ code: '23514' });
      await insert(true);
      await expect(insert(true)).rejects.toMatchObject({ code: '23505' });
    });
  });
});
