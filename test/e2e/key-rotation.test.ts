import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { decodeProtectedHeader } from 'jose';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { accountWithUser, cli, confidentialClient, type Fixture } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

let db: TestDatabase;
let a: TwofoldProcess;
let b: TwofoldProcess;
let user: Fixture;
let client: { clientId: string; clientSecret: string };
let secrets: Record<string, string>;

const jwksKids = async (p: TwofoldProcess) => ((await (await fetch(`${p.url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
const until = async (what: string, check: () => Promise<boolean>, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out waiting for ${what}: ${JSON.stringify(await jwksKids(a))}\n${a
      .output()
      .split('\n')
      .filter((l) => !l.includes('audit'))
      .slice(-8)
      .join('\n')}`,
  );
};

async function signIn(rp: RelyingParty) {
  rp.agent.clearCookies();
  const { page, finish } = await rp.start();
  const next = await rp.agent.submit(page, '/login', { username: user.username, password: user.password });
  return finish(callbackOf(next.html.includes('/consent"') ? await rp.agent.submit(next, '/consent') : next));
}

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_keys');
  secrets = clusterSecrets();
  const shared = { DATABASE_URL: db.url, REDIS_URL, KEY_REFRESH_SECONDS: '1', ...secrets };
  a = await startTwofold(shared);
  b = await startTwofold({ ...shared, ISSUER: a.url });
  user = await accountWithUser(db.url, { mfaRequired: false });
  client = await confidentialClient(db.url, { firstParty: true });
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await db?.drop();
});

describe('signing-key rotation (twofold keys rotate)', () => {
  test('new keys are published before they sign, old tokens keep verifying, every process agrees', async () => {
    const rp = await RelyingParty.create(a.url, client.clientId, client.clientSecret);
    const before = await signIn(rp);
    const oldKid = decodeProtectedHeader(before.id_token!).kid!;
    const initial = await jwksKids(a);
    expect(initial).toContain(oldKid);
    expect(await jwksKids(b)).toEqual(initial);

    // The operator's CLI runs with the cluster's settings (its DATA_ENCRYPTION_KEY seals the keys).
    const rotated = await cli(db.url, ['keys', 'rotate', '--delay', '4'], undefined, secrets);
    const newKids = (rotated.keys as { kid: string }[]).map((k) => k.kid);
    expect(newKids).toHaveLength(2);

    // Published on both processes within a refresh, while the old key still signs.
    await until('the new keys in JWKS', async () => (await jwksKids(a)).length === 4 && (await jwksKids(b)).length === 4);
    expect(await jwksKids(b)).toEqual(await jwksKids(a));
    const during = await signIn(rp);
    expect(decodeProtectedHeader(during.id_token!).kid).toBe(oldKid);

    // After activation the new RS256 key signs; the old token still verifies against JWKS.
    await until('the new key signing', async () => newKids.includes(decodeProtectedHeader((await signIn(rp)).id_token!).kid!));
    await expect(rp.verifyIdToken(before.id_token!)).resolves.toMatchObject({ sub: user.userId });
    const after = await signIn(rp);
    await expect(rp.verifyIdToken(after.id_token!)).resolves.toMatchObject({ sub: user.userId });
    // Each process switches at its next refresh: within a second they serve the same document.
    await until('both processes agreeing', async () => JSON.stringify(await jwksKids(a)) === JSON.stringify(await jwksKids(b)));

    // Once the old keys' retirement time passes (simulated: it is an hour away), they leave JWKS.
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    await sql.query("UPDATE signing_keys SET retired_at = now() - interval '1 second' WHERE retired_at IS NOT NULL");
    await sql.end();
    await until('the old keys leaving JWKS', async () => !(await jwksKids(a)).includes(oldKid) && !(await jwksKids(b)).includes(oldKid));
    expect((await jwksKids(a)).sort()).toEqual([...newKids].sort());
    await expect(rp.verifyIdToken(after.id_token!)).resolves.toMatchObject({ sub: user.userId });
  });

  test('bad --delay is a usage error', async () => {
    await expect(cli(db.url, ['keys', 'rotate', '--delay', 'soon'], undefined, secrets)).rejects.toThrow(/--delay/);
  });
});
