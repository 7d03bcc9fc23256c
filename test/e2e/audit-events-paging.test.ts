import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { api, enrolAndSignIn, expectStatus, type SignedIn } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { sql } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

/**
 * Paging through an account's audit trail over the admin API: newest first by event id, across
 * ids of one, two and three digits, with nothing skipped or repeated between pages.
 */
let db: TestDatabase;
let server: TwofoldProcess;
let target: Fixture;
let support: SignedIn;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_audit_paging');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets() });
  // First, so its own events have the smallest ids (one digit).
  target = await accountWithUser(db.url, { mfaRequired: false });
  const client = await confidentialClient(db.url);
  const supportUser = await accountWithUser(db.url, { mfaRequired: true, support: true });
  support = await enrolAndSignIn(server.url, client, supportUser);
  // Then many more, in the target account and in another one in between.
  await sql(
    db.url,
    `INSERT INTO audit_events (type, account_id, details)
     SELECT 'login.password_failed', CASE WHEN g % 7 = 0 THEN $2::uuid ELSE $1::uuid END, jsonb_build_object('n', g)
     FROM generate_series(1, 160) g`,
    [target.accountId, supportUser.accountId],
  );
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

describe('GET /admin/v1/accounts/{accountId}/audit-events', () => {
  test('pages of 25 list every event of the account once, strictly newest first', async () => {
    const expected = (await sql<{ id: string }>(db.url, 'SELECT id FROM audit_events WHERE account_id = $1 ORDER BY id DESC', [target.accountId])).map((r) => r.id);
    expect(expected.length).toBeGreaterThan(100);
    expect(expected.some((id) => id.length === 1) && expected.some((id) => id.length === 3)).toBe(true);

    const seen: string[] = [];
    let before: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const res = await api(server.url, support.accessToken, 'GET', `/accounts/${target.accountId}/audit-events?limit=25${before ? `&before=${before}` : ''}`);
      expectStatus(res, 200);
      const ids = (res.json.events as Array<{ id: string }>).map((e) => e.id);
      seen.push(...ids);
      before = res.json.nextBefore as string | null;
      if (before === null) break;
      expect(before).toBe(ids[ids.length - 1]);
    }
    expect(before).toBeNull();
    for (let i = 1; i < seen.length; i++) expect(BigInt(seen[i]!)).toBeLessThan(BigInt(seen[i - 1]!));
    expect(seen).toEqual(expected);
  });

  test('one page of 200 is newest first too', async () => {
    const res = await api(server.url, support.accessToken, 'GET', `/accounts/${target.accountId}/audit-events?limit=200`);
    expectStatus(res, 200);
    const ids = (res.json.events as Array<{ id: string }>).map((e) => Number(e.id));
    expect(ids.length).toBeGreaterThan(100);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
  });
});
