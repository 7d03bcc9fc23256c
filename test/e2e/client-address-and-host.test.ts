import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { expectKind, interactionUid, sql, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, RP_REDIRECT, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { expectAccountPage, openAccount } from '../helpers/self-service.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { UserAgent } from '../helpers/user-agent.js';

/**
 * Who the client is and which host it asked for, as an attacker would try to fake them:
 * - behind TRUST_PROXY the client is TRUST_PROXY_HOPS entries from the right of
 *   X-Forwarded-For (what the operator's proxies appended), never the client's own leftmost one;
 * - /account's own code redemptions (the back channel, from 127.0.0.1) do not use up the per-IP
 *   token-endpoint limit, and an outside client cannot pass for the back channel;
 * - a Host (or X-Forwarded-Host) that is not ours is a 400 before oidc-provider builds a URL.
 * Three processes over one database: direct (no proxy), one proxy hop, two proxy hops; each with
 * ENTRY_RATE_LIMIT=3 and its own Redis namespace.
 */
const LIMIT = 3;
let db: TestDatabase;
/** The direct process's own database: /account's client is registered for one ISSUER per database. */
let directDb: TestDatabase;
let direct: TwofoldProcess;
let hops1: TwofoldProcess;
let hops2: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
let directClient: { clientId: string; clientSecret: string };
const secrets = clusterSecrets();
/** What /account's back-channel calls carry (derived from the first cookie key, as the server does). */
const backChannelHeader = crypto.createHmac('sha256', secrets.COOKIE_KEYS).update('twofold:back-channel').digest('base64url');

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_client_address');
  directDb = await createTestDatabase('twofold_e2e_client_address_direct');
  const env = (extra: Record<string, string>) => ({
    DATABASE_URL: db.url,
    REDIS_URL,
    ...secrets,
    REDIS_KEY_PREFIX: `${secrets.REDIS_KEY_PREFIX}${crypto.randomBytes(3).toString('hex')}:`,
    ENTRY_RATE_LIMIT: String(LIMIT),
    ...extra,
  });
  [direct, hops1, hops2] = await Promise.all([
    startTwofold({ ...env({ ALLOWED_HOSTS: 'login.example.test' }), DATABASE_URL: directDb.url }),
    startTwofold(env({ TRUST_PROXY: 'true' })),
    startTwofold(env({ TRUST_PROXY: 'true', TRUST_PROXY_HOPS: '2' })),
  ]);
  client = await confidentialClient(db.url);
  directClient = await confidentialClient(directDb.url);
}, 120_000);

afterAll(async () => {
  await Promise.all([direct?.stop(), hops1?.stop(), hops2?.stop()]);
  await Promise.all([db?.drop(), directDb?.drop()]);
});

/** A code redemption with a made-up client: 401 invalid_client normally, 429 over the per-IP limit. */
async function tokenCall(server: TwofoldProcess, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: 'nope', client_id: 'nobody' }),
  });
  await res.arrayBuffer();
  return res.status;
}

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with exactly the Host (and other headers) given, from `localAddress` if given. */
function raw(server: TwofoldProcess, init: { path: string; host: string; method?: string; headers?: Record<string, string>; body?: string; address?: string }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: init.address ?? '127.0.0.1',
        port: server.port,
        method: init.method ?? 'GET',
        path: init.path,
        headers: { host: init.host, accept: 'text/html', connection: 'close', ...init.headers },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Bytes as written (header values fetch and http.request refuse); the status line's code. */
function rawBytes(server: TwofoldProcess, head: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1', () => socket.end(head));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => (text += d));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
  });
}

/** This machine's first address that is not loopback (to reach the server from "outside"). */
function outsideAddress(): string | undefined {
  return Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
}

async function failedPasswordIp(server: TwofoldProcess, user: Fixture, forwardedFor: string): Promise<string | null> {
  const url = server === direct ? directDb.url : db.url;
  const rp = await RelyingParty.create(server.url, (server === direct ? directClient : client).clientId, (server === direct ? directClient : client).clientSecret);
  rp.agent.headers['x-forwarded-for'] = forwardedFor;
  const { page } = await rp.start();
  const refused = await submitPassword(rp.agent, page, { username: user.username, password: 'not the password' });
  expect(refused.status).toBe(401);
  const rows = await sql<{ ip: string | null }>(url, "SELECT ip FROM audit_events WHERE type = 'login.password_failed' AND subject_user_id = $1 ORDER BY id DESC LIMIT 1", [
    user.userId,
  ]);
  return rows[0]!.ip;
}

const statusesOf = async (n: number, call: (i: number) => Promise<number>) => {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push(await call(i));
  return statuses;
};
const underLimit = (statuses: number[]) => statuses.slice(0, LIMIT).every((s) => s !== 429);

describe('the client address behind TRUST_PROXY', () => {
  test('one hop: the rightmost X-Forwarded-For entry is the client (audit ip), whatever the client wrote on the left', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    expect(await failedPasswordIp(hops1, user, '1.2.3.4, 203.0.113.20')).toBe('203.0.113.20');
    expect(await failedPasswordIp(hops1, user, '203.0.113.21')).toBe('203.0.113.21');
  });

  test('one hop: rotating a made-up leftmost entry does not escape the per-IP token limit', async () => {
    const statuses = await statusesOf(LIMIT + 2, (i) => tokenCall(hops1, { 'x-forwarded-for': `198.18.0.${i + 1}, 203.0.113.30` }));
    expect(underLimit(statuses)).toBe(true);
    expect(statuses.slice(LIMIT)).toEqual([429, 429]);
  });

  test('two hops: the second entry from the right is the client', async () => {
    const user = await accountWithUser(db.url, { mfaRequired: false });
    expect(await failedPasswordIp(hops2, user, '1.2.3.4, 203.0.113.40, 10.0.0.1')).toBe('203.0.113.40');
    // Rotating the leftmost entry: the same client, limited.
    const same = await statusesOf(LIMIT + 1, (i) => tokenCall(hops2, { 'x-forwarded-for': `198.18.1.${i + 1}, 203.0.113.41, 10.0.0.1` }));
    expect(underLimit(same)).toBe(true);
    expect(same[LIMIT]).toBe(429);
    // Different clients behind the same two proxies are not one another's limit.
    const different = await statusesOf(LIMIT + 2, (i) => tokenCall(hops2, { 'x-forwarded-for': `9.9.9.9, 203.0.113.${50 + i}, 10.0.0.1` }));
    expect(different.every((s) => s !== 429)).toBe(true);
  });

  test('parallel token calls get exactly the per-IP places, and a client spread over many IPs exactly its own', async () => {
    const basic = (clientId: string) => ({ authorization: `Basic ${Buffer.from(`${clientId}:wrong-secret`).toString('base64')}` });
    // One IP, one client: the per-IP bucket (LIMIT) is the one that refuses.
    const oneIp = await Promise.all(Array.from({ length: LIMIT + 5 }, () => tokenCall(hops1, { 'x-forwarded-for': '203.0.113.70', ...basic('racer-one-ip') })));
    expect(oneIp.filter((s) => s !== 429)).toHaveLength(LIMIT);
    // One client from as many IPs as calls: its own bucket (twice LIMIT) refuses the rest.
    const spread = await Promise.all(Array.from({ length: 2 * LIMIT + 4 }, (_, i) => tokenCall(hops1, { 'x-forwarded-for': `203.0.113.${100 + i}`, ...basic('racer-many-ips') })));
    expect(spread.filter((s) => s !== 429)).toHaveLength(2 * LIMIT);
  });

  test('without TRUST_PROXY the header is ignored: the socket address is the client', async () => {
    const user = await accountWithUser(directDb.url, { mfaRequired: false });
    expect(await failedPasswordIp(direct, user, '1.2.3.4, 203.0.113.60')).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });
});

describe("/account's back channel and the per-IP token limit", () => {
  test('many /account sign-ins in a row succeed while an outside client from the same IP is limited; a forged marker is not honoured', async () => {
    const user = await accountWithUser(directDb.url, { mfaRequired: false });
    // Twice the limit of sign-ins from 127.0.0.1: each redeems its code at the token endpoint.
    for (let i = 0; i < 2 * LIMIT; i++) {
      const { page } = await openAccount(new UserAgent(), direct.url, user);
      expectAccountPage(page);
    }
    // An outside client from the same address (the test runs on 127.0.0.1 too) is limited.
    const outside = await statusesOf(LIMIT + 1, () => tokenCall(direct));
    expect(underLimit(outside)).toBe(true);
    expect(outside[LIMIT]).toBe(429);
    // ... while /account sign-ins still work.
    expectAccountPage((await openAccount(new UserAgent(), direct.url, user)).page);
    // A made-up marker is not the back channel.
    expect(await tokenCall(direct, { 'x-twofold-back-channel': crypto.randomBytes(32).toString('base64url') })).toBe(429);
    expect(await tokenCall(direct, { 'x-twofold-back-channel': '' })).toBe(429);
    // Control: the real marker over a loopback socket is the back channel (not counted).
    expect(await tokenCall(direct, { 'x-twofold-back-channel': backChannelHeader })).toBe(401);
  });

  test('even the real marker is not honoured from a socket that is not loopback (with or without X-Forwarded-For: 127.0.0.1)', async () => {
    const address = outsideAddress();
    if (!address) {
      console.log('no non-loopback IPv4 address on this machine: the outside-socket check is skipped');
      return;
    }
    const call = (server: TwofoldProcess, extra: Record<string, string> = {}) =>
      raw(server, {
        address,
        method: 'POST',
        path: '/token',
        host: new URL(server.url).host,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'x-twofold-back-channel': backChannelHeader, ...extra },
        body: 'grant_type=authorization_code&code=nope&client_id=nobody',
      }).then((r) => r.status);
    const fromOutside = await statusesOf(LIMIT + 1, () => call(direct));
    expect(underLimit(fromOutside)).toBe(true);
    expect(fromOutside[LIMIT]).toBe(429);
    const claimingLoopback = await statusesOf(LIMIT + 1, () => call(hops1, { 'x-forwarded-for': '127.0.0.1' }));
    expect(underLimit(claimingLoopback)).toBe(true);
    expect(claimingLoopback[LIMIT]).toBe(429);
  });
});

describe('hostile Host headers', () => {
  const noStackInLog = (server: TwofoldProcess) => {
    const log = server.output();
    expect(log).not.toMatch(/"stack"|\\n\s+at /);
    expect(log).not.toMatch(/"level":50/);
  };

  test('a Host that is not ours is a 400 at discovery, /auth, /interaction, /account and /token: no 500, no echo, no stack in the log', async () => {
    const rp = await RelyingParty.create(direct.url, directClient.clientId, directClient.clientSecret);
    const { page } = await rp.start();
    expectKind(page, 'login');
    const uid = interactionUid(page);
    const authPath = `/auth?${new URLSearchParams({ client_id: directClient.clientId, redirect_uri: RP_REDIRECT, response_type: 'code', scope: 'openid', state: 's' })}`;
    const paths: Array<[string, string]> = [
      ['GET', '/.well-known/openid-configuration'],
      ['GET', authPath],
      ['GET', `/interaction/${uid}`],
      ['POST', `/interaction/${uid}/login`],
      ['GET', '/account'],
      ['POST', '/token'],
      ['GET', '/jwks'],
    ];
    const port = direct.port;
    const hosts = [
      'evil.example',
      `evil.example:${port}`,
      `127.0.0.1:${port}/evil`,
      `127.0.0.1:${port}@evil.example`,
      `127.0.0.1:${port}\tjunk`,
      `127.0.0.1:1`,
      `localhost:1`,
      `127.0.0.1:${port}, evil.example`,
      'e'.repeat(6000),
    ];
    for (const [method, path] of paths) {
      for (const host of hosts) {
        const headers: Record<string, string> =
          method === 'POST'
            ? { 'content-type': 'application/x-www-form-urlencoded', cookie: rp.agent.cookiesFor(`${direct.url}${path}`) }
            : { cookie: rp.agent.cookiesFor(`${direct.url}${path}`) };
        const res = await raw(direct, { method, path, host, headers, body: method === 'POST' ? 'username=x&password=y' : undefined });
        if (res.status !== 400) throw new Error(`${method} ${path} with Host ${JSON.stringify(host.slice(0, 60))}: ${res.status}\n${res.body.slice(0, 500)}`);
        expect(res.headers.location).toBeUndefined();
        expect(res.body).not.toContain('evil.example');
        expect(res.body).not.toMatch(/\n\s+at /);
      }
    }
    // The interaction is still usable with our Host: nothing was consumed by the refusals.
    expect((await rp.agent.request(`${direct.url}/interaction/${uid}`)).status).toBe(200);
    noStackInLog(direct);
  });

  test('bytes no client library would send: folded, CR-injected and absolute-form targets', async () => {
    const port = direct.port;
    const heads = [
      `GET /.well-known/openid-configuration HTTP/1.1\r\nHost: evil.example\r\n 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      `GET /.well-known/openid-configuration HTTP/1.1\r\nHost: 127.0.0.1:${port}\rX-Evil: 1\r\nConnection: close\r\n\r\n`,
      `GET /.well-known/openid-configuration HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      `GET /.well-known/openid-configuration HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n`,
      `GET /account HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n`,
      `GET http://evil.example/.well-known/openid-configuration HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      `GET * HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    ];
    for (const head of heads) {
      const { status, text } = await rawBytes(direct, head);
      if (status !== 400) throw new Error(`${JSON.stringify(head)}: ${status}\n${text.slice(0, 500)}`);
      expect(text).not.toContain('evil.example');
    }
    noStackInLog(direct);
  });

  test('behind TRUST_PROXY, X-Forwarded-Host and X-Forwarded-Proto are checked the same way', async () => {
    const path = '/.well-known/openid-configuration';
    const host = new URL(hops1.url).host;
    for (const headers of [{ 'x-forwarded-host': 'evil.example' }, { 'x-forwarded-host': `evil.example, ${host}` }, { 'x-forwarded-proto': 'javascript' }] as Array<
      Record<string, string>
    >) {
      const res = await raw(hops1, { path, host, headers });
      if (res.status !== 400) throw new Error(`${JSON.stringify(headers)}: ${res.status}\n${res.body.slice(0, 500)}`);
      expect(res.body).not.toContain('evil.example');
    }
    // The public host named by the proxy is ours.
    const balanced = await raw(hops1, { path, host: 'backend.internal:3000', headers: { 'x-forwarded-host': host, 'x-forwarded-proto': 'http' } });
    expect(balanced.status).toBe(200);
    expect(JSON.parse(balanced.body).token_endpoint).toBe(`${hops1.url}/token`);
    noStackInLog(hops1);
  });

  test("discovery lists URLs under ISSUER: with ISSUER's host, with this node's loopback name, never the client's", async () => {
    const urlsOf = (body: string) =>
      Object.entries(JSON.parse(body) as Record<string, unknown>)
        .filter(([, v]) => typeof v === 'string' && /^https?:/.test(v))
        .map(([, v]) => v as string);
    for (const host of [new URL(direct.url).host, `localhost:${direct.port}`, `LOCALHOST:${direct.port}`]) {
      const res = await raw(direct, { path: '/.well-known/openid-configuration', host, headers: { accept: 'application/json' } });
      expect(res.status).toBe(200);
      const urls = urlsOf(res.body);
      expect(urls.length).toBeGreaterThan(5);
      for (const url of urls) expect(url.startsWith(`${direct.url}/`) || url === direct.url).toBe(true);
    }
    // A host the operator allowed (ALLOWED_HOSTS) is served under its own name.
    const allowed = await raw(direct, { path: '/.well-known/openid-configuration', host: 'LOGIN.example.test', headers: { accept: 'application/json' } });
    expect(allowed.status).toBe(200);
    expect(JSON.parse(allowed.body).token_endpoint).toBe('http://login.example.test/token');
  });

  test('/healthz and /readyz answer load balancers probing by IP, whatever the Host', async () => {
    for (const path of ['/healthz', '/readyz']) {
      for (const host of ['10.1.2.3:8080', 'evil.example']) expect((await raw(direct, { path, host, headers: { accept: 'application/json' } })).status).toBe(200);
    }
  });
});
