import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from './mfa.js';
import type { Fixture } from './provision.js';

/** Helpers of the reliability suites (test/reliability): bulk users, batches, percentiles, a load balancer. */

/**
 * `n` more users in the template user's account, sharing its password (and so its password
 * hash: provisioning is not what these suites test, and a CLI run per user is slow).
 */
export async function moreUsers(databaseUrl: string, template: Fixture, n: number, tag: string): Promise<Fixture[]> {
  const rows = await sql<{ id: string; username: string }>(
    databaseUrl,
    `INSERT INTO users (account_id, username, username_key, password_hash)
     SELECT account_id, $2 || '-' || g, lower($2) || '-' || g, password_hash FROM users, generate_series(1, $3) g WHERE id = $1
     RETURNING id, username`,
    [template.userId, `${tag}-${crypto.randomBytes(3).toString('hex')}`, n],
  );
  return rows.map((r) => ({ accountId: template.accountId, userId: r.id, username: r.username, password: template.password }));
}

/** Runs fn over items, `size` at a time. */
export async function inBatches<T>(items: T[], size: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map((item, j) => fn(item, i + j)));
}

/** The p-th percentile (nearest rank) of `values`. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface Balancer {
  readonly url: string;
  readonly port: number;
  /** Requests forwarded to each backend, in order of `ports`. */
  readonly forwarded: number[];
  /** Requests that could not be forwarded (answered 502). */
  readonly failures: number;
  /** Why they could not (error codes). */
  readonly failureCodes: string[];
  close(): Promise<void>;
}

/** The header that pins one request to a backend (index), for tests that choose the node. */
export const PIN_HEADER = 'x-test-node';

/**
 * A small round-robin HTTP load balancer on 127.0.0.1 (node:http): each request goes to the
 * next backend, or to the one named by the PIN_HEADER. The Host header is passed on as the
 * client sent it (the balancer's own host), so every backend sees the public ISSUER's host.
 */
export async function startBalancer(ports: number[], port = 0): Promise<Balancer> {
  // A new upstream connection per request: a reused idle connection can be closed by the
  // backend (its keep-alive time-out) just as a request is written to it, which a real balancer
  // retries or avoids; this one avoids it.
  const agent = new http.Agent({ keepAlive: false });
  const forwarded = ports.map(() => 0);
  let next = 0;
  let failures = 0;
  const failureCodes: string[] = [];
  const server = http.createServer((req, res) => {
    const pinned = req.headers[PIN_HEADER];
    const index = typeof pinned === 'string' && /^\d+$/.test(pinned) && Number(pinned) < ports.length ? Number(pinned) : next++ % ports.length;
    const headers = { ...req.headers };
    delete headers[PIN_HEADER];
    forwarded[index]!++;
    const upstream = http.request({ host: '127.0.0.1', port: ports[index], method: req.method, path: req.url, headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      failures++;
      failureCodes.push(`${err.code ?? err.message} (${req.method} ${req.url?.split('?')[0]} reused=${String(upstream.reusedSocket)})`);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    });
    req.pipe(upstream);
  });
  // Clients' idle connections are closed by the clients, never under them.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    forwarded,
    get failures() {
      return failures;
    },
    failureCodes,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
