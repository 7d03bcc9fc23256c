import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './twofold-server.js';

/**
 * Stores a test may stop and start again: its own redis-server and its own Postgres cluster,
 * both on a free loopback port. The shared services of the machine are never touched.
 */

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** One RESP PING; true on +PONG. */
export function redisPing(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
    socket.once('error', () => done(false));
  });
}

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** Starts redis-server (again) on the same port; resolves when it answers PING. */
  start(): Promise<void>;
  /** Stops it (SIGKILL: an outage, not a maintenance) and waits until the port is closed. */
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const redis: PrivateRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
        stdio: 'ignore',
      });
      const deadline = Date.now() + 10_000;
      while (!(await redisPing(port))) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`);
        await sleep(20);
      }
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
      while (await portOpen(port)) await sleep(10);
    },
  };
  await redis.start();
  return redis;
}

export interface PrivatePostgres {
  readonly port: number;
  /** The `postgres` database of the cluster, user postgres, trust auth. */
  readonly url: string;
  start(): Promise<void>;
  /** `pg_ctl stop -m immediate`: every connection is cut at once, as in a crash or failover. */
  stop(): Promise<void>;
  /** Stops the cluster and removes its directory. */
  destroy(): Promise<void>;
  /** True when the server accepts a TCP connection. */
  answers(): Promise<boolean>;
}

function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', name))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`no ${name} under ${root}`);
  return path.join(root, versions[0]!, 'bin', name);
}

/** initdb refuses root: as root, run the cluster's tools as the `postgres` OS user. */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

/** A new Postgres cluster in a temporary directory, listening on 127.0.0.1 only, on a free port. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twofold-pg-'));
  const data = path.join(dir, 'data');
  fs.mkdirSync(data, { mode: 0o700 });
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    fs.chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    fs.chownSync(data, Number(stdout.trim()), Number(gid.trim()));
  }
  const pgCtl = postgresBin('pg_ctl');
  await run(...asPostgres(postgresBin('initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-locale', '-E', 'UTF8']));
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100`;
  const pg: PrivatePostgres = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await run(...asPostgres(pgCtl, ['-D', data, '-l', path.join(dir, 'server.log'), '-o', options, '-w', '-t', '30', 'start']));
    },
    async stop() {
      await run(...asPostgres(pgCtl, ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']));
      while (await portOpen(port)) await sleep(10);
    },
    async destroy() {
      await run(...asPostgres(pgCtl, ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop'])).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
    answers: () => portOpen(port),
  };
  await pg.start();
  return pg;
}

export interface PrivateSentinel {
  /** `redis+sentinel://127.0.0.1:P/twofold`: the Sentinel that knows `redis` as master "twofold". */
  readonly url: string;
  stop(): Promise<void>;
}

/** A Sentinel (redis-server in sentinel mode) on a free port, watching `redis` as master "twofold". */
export async function startPrivateSentinel(redis: PrivateRedis): Promise<PrivateSentinel> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twofold-sentinel-'));
  const conf = path.join(dir, 'sentinel.conf');
  fs.writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor twofold 127.0.0.1 ${redis.port} 1\n`);
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(await redisPing(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-sentinel did not start on port ${port}`);
    await sleep(20);
  }
  return {
    url: `redis+sentinel://127.0.0.1:${port}/twofold`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
