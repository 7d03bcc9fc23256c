import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { signInWithPassword } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

/**
 * Graceful shutdown under load. One Twofold process takes a steady load from 20 keep-alive
 * clients (discovery, JWKS, userinfo, health) and 3 clients signing in again and again, plus one
 * request kept in flight on purpose (a token request whose body arrives slowly). SIGTERM comes
 * in the middle; the clients keep going until they are refused or the process is gone.
 *
 *  - every request the process had accepted before the signal completes (no 5xx, no reset), the
 *    slow one included;
 *  - after the signal the listener is closed: a new connection is refused while the slow
 *    request is still being served, and nothing sent a second after the signal is served;
 *  - the process exits by itself with code 0 within 12 s.
 *
 * A keep-alive request that meets a connection the server closed while idle, before any answer,
 * is retried once on a new connection, as browsers and HTTP clients do (RFC 9112 §9.3.1).
 */

const CLIENTS = 20;
const SIGN_IN_CLIENTS = 3;
const BEFORE_SIGNAL_MS = 2500;
const EXIT_BOUND_MS = 12_000;
/** A request written this long before the signal counts as accepted. */
const ACCEPTED_MARGIN_MS = 20;

let db: TestDatabase;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
let user: Fixture;
let accessToken: string;

beforeAll(async () => {
  db = await createTestDatabase('twofold_rel_shutdown');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets(), ENTRY_RATE_LIMIT: '1000000' });
  client = await confidentialClient(db.url, { firstParty: true });
  user = await accountWithUser(db.url, { mfaRequired: false });
  accessToken = (await signInWithPassword(server.url, client, user)).tokens.access_token;
}, 60_000);

afterAll(async () => {
  if (server?.child.exitCode === null && server.child.signalCode === null) await server.stop('SIGKILL');
  await db?.drop();
});

type Kind = 'ok' | '5xx' | 'refused' | 'reset';

interface Result {
  path: string;
  kind: Kind;
  status?: number;
  code?: string;
  /** When the request was completely written (0: never). */
  writtenAt: number;
  doneAt: number;
  reused: boolean;
  retried: boolean;
}

function once(port: number, path: string, headers: Record<string, string>, agent: http.Agent | false): Promise<Result> {
  return new Promise((resolve) => {
    let writtenAt = 0;
    let settled = false;
    const finish = (r: Omit<Result, 'path' | 'writtenAt' | 'doneAt' | 'reused' | 'retried'>) => {
      if (settled) return;
      settled = true;
      resolve({ path, writtenAt, doneAt: Date.now(), reused: req.reusedSocket, retried: false, ...r });
    };
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET', headers, agent }, (res) => {
      res.resume();
      res.on('end', () => finish({ kind: res.statusCode! >= 500 ? '5xx' : 'ok', status: res.statusCode }));
      res.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'reset', code: err.code, status: res.statusCode }));
      res.on('aborted', () => finish({ kind: 'reset', code: 'aborted', status: res.statusCode }));
    });
    req.on('finish', () => (writtenAt = Date.now()));
    req.on('error', (err: NodeJS.ErrnoException) => finish({ kind: err.code === 'ECONNREFUSED' ? 'refused' : 'reset', code: err.code }));
    req.end();
  });
}

describe('SIGTERM under load', () => {
  test('in-flight requests complete, new connections are refused, the process exits 0 in time', async () => {
    const port = server.port;
    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    const results: Result[] = [];
    let sigtermAt = 0;
    let exitedAt = 0;
    const exited = new Promise<number | null>((resolve) =>
      server.child.once('exit', (code) => {
        exitedAt = Date.now();
        resolve(code);
      }),
    );
    const started = Date.now();
    const loadEnds = () => exitedAt > 0 || (sigtermAt > 0 && Date.now() > sigtermAt + EXIT_BOUND_MS);
    const accepted = (r: Result) => r.writtenAt > 0 && sigtermAt > 0 && r.writtenAt <= sigtermAt - ACCEPTED_MARGIN_MS;

    const paths: [string, Record<string, string>][] = [
      ['/.well-known/openid-configuration', {}],
      ['/jwks', {}],
      ['/me', { authorization: `Bearer ${accessToken}` }],
      ['/healthz', {}],
    ];
    async function steadyClient(i: number): Promise<void> {
      for (let n = 0; !loadEnds(); n++) {
        const [path, headers] = paths[(i + n) % paths.length]!;
        let r = await once(port, path, headers, agent);
        // A kept-alive connection closed by the server while idle, before any answer: retry once, fresh.
        if (r.kind === 'reset' && r.reused && r.status === undefined && !accepted(r)) {
          r = { ...(await once(port, path, headers, false)), retried: true };
        }
        results.push(r);
        if (r.kind === 'refused') return; // the server is gone for this client
      }
    }

    // Sign-ins: a new browser each time, password only.
    const signIns = { done: 0, failedBeforeSignal: [] as string[], serverErrors: [] as string[] };
    async function signingInClient(): Promise<void> {
      while (!loadEnds() && sigtermAt === 0) {
        try {
          const { tokens } = await signInWithPassword(server.url, client, user);
          if (!tokens.id_token) throw new Error('no ID token');
          signIns.done++;
        } catch (err) {
          const text = String((err as Error).message);
          if (/\b5\d\d\b/.test(text) && !/ECONNREFUSED|fetch failed/.test(text)) signIns.serverErrors.push(text.slice(0, 300));
          if (sigtermAt === 0) signIns.failedBeforeSignal.push(text.slice(0, 300));
          return;
        }
      }
    }

    // The slow request: headers and half the body now, the rest after the signal.
    const slow = new Promise<{ status: number; aliveWhenFinished: boolean; answeredAt: number }>((resolve, reject) => {
      const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x'.repeat(43), client_id: client.clientId, client_secret: client.clientSecret }).toString();
      const socket = net.connect({ host: '127.0.0.1', port });
      let answer = '';
      let aliveWhenFinished = false;
      socket.on('data', (d) => (answer += d));
      socket.on('error', reject);
      let rest: NodeJS.Timeout | undefined;
      socket.on('close', () => {
        clearInterval(rest);
        const status = Number(answer.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0);
        resolve({ status, aliveWhenFinished, answeredAt: Date.now() });
      });
      socket.on('connect', () => {
        socket.write(
          `POST /token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 20)}`,
        );
        rest = setInterval(() => {
          if (sigtermAt > 0 && Date.now() > sigtermAt + 1500) {
            clearInterval(rest);
            aliveWhenFinished = server.child.exitCode === null;
            socket.write(body.slice(20));
          }
        }, 20);
      });
    });

    const load = [...Array.from({ length: CLIENTS }, (_, i) => steadyClient(i)), ...Array.from({ length: SIGN_IN_CLIENTS }, () => signingInClient())];
    await new Promise((r) => setTimeout(r, BEFORE_SIGNAL_MS));
    server.child.kill('SIGTERM');
    sigtermAt = Date.now();

    // 300 ms later: the listener is closed (a new connection is refused) while the process is
    // still serving the slow request.
    await new Promise((r) => setTimeout(r, 300));
    const probe = await once(port, '/healthz', {}, false);
    const aliveAtProbe = server.child.exitCode === null;

    let bound: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => (bound = setTimeout(() => r('timeout'), EXIT_BOUND_MS + 2000)))]);
    clearTimeout(bound);
    await Promise.all(load);
    const slowAnswer = await slow;
    agent.destroy();

    const before = results.filter((r) => r.doneAt < sigtermAt);
    const afterSignal = results.filter((r) => r.doneAt >= sigtermAt);
    const count = (rs: Result[], k: Kind) => rs.filter((r) => r.kind === k).length;
    console.log(
      `graceful shutdown: ${results.length} requests (${before.length} answered before SIGTERM, ${((sigtermAt - started) / 1000).toFixed(1)} s in); ` +
        `after SIGTERM: ${count(afterSignal, 'ok')} ok, ${count(afterSignal, 'refused')} refused, ${count(results, 'reset')} reset, ${count(results, '5xx')} 5xx, ` +
        `${results.filter((r) => r.retried).length} retried; ${signIns.done} sign-ins; slow request ${slowAnswer.status} ${slowAnswer.answeredAt - sigtermAt} ms after SIGTERM; ` +
        `exit ${String(code)} ${exitedAt ? exitedAt - sigtermAt : '-'} ms after SIGTERM`,
    );

    expect(code).toBe(0);
    expect(exitedAt - sigtermAt).toBeLessThan(EXIT_BOUND_MS);
    // The load was real.
    expect(before.length).toBeGreaterThan(200);
    expect(signIns.done).toBeGreaterThan(0);
    expect(signIns.failedBeforeSignal).toEqual([]);
    expect(signIns.serverErrors).toEqual([]);
    const show = (rs: Result[]) => ({
      count: rs.length,
      first: rs.slice(0, 3).map((r) => `${r.kind} ${r.status ?? r.code} ${r.path} written ${r.writtenAt ? r.writtenAt - sigtermAt : '-'} ms after SIGTERM`),
    });
    // No 5xx, and no accepted request cut off.
    expect(show(results.filter((r) => r.kind === '5xx'))).toEqual(show([]));
    expect(show(results.filter((r) => r.kind === 'reset' && accepted(r)))).toEqual(show([]));
    expect(show(results.filter((r) => r.kind === 'refused' && r.doneAt < sigtermAt))).toEqual(show([]));
    // The slow request, in flight at the signal, was answered (not a 5xx) while the process lived on for it.
    expect(slowAnswer.aliveWhenFinished).toBe(true);
    expect(slowAnswer.status).toBeGreaterThanOrEqual(200);
    expect(slowAnswer.status).toBeLessThan(500);
    // After the signal the listener is closed: refused while the process was still running,
    // and nothing sent a second after the signal was served.
    expect(aliveAtProbe).toBe(true);
    expect(probe.kind).toBe('refused');
    expect(show(results.filter((r) => r.kind === 'ok' && r.writtenAt > sigtermAt + 1000))).toEqual(show([]));
    expect(server.output()).toContain('shutting down');
  }, 60_000);
});
