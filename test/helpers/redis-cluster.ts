import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { portOpen, redisPing } from './private-stores.js';

/**
 * A Redis Cluster of three masters on loopback (no replicas). `REDIS_CLUSTER_URL` names one
 * that is already running (the CI script starts it); otherwise a throwaway cluster is started
 * in a temporary directory on free ports and removed by `close()`.
 */

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface TestRedisCluster {
  /** `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3` */
  readonly url: string;
  readonly ports: number[];
  /** SIGKILLs one master (an outage); only for a cluster this helper started. */
  stopMaster(index: number): Promise<void>;
  /** Starts it again on its port with its node file; resolves when the cluster says ok. */
  startMaster(index: number): Promise<void>;
  /** Stops and removes a cluster this helper started; leaves a shared one alone. */
  close(): Promise<void>;
}

/** The cluster of REDIS_CLUSTER_URL, or a new private one. */
export async function testRedisCluster(): Promise<TestRedisCluster> {
  const shared = process.env.REDIS_CLUSTER_URL;
  if (!shared) return startPrivateRedisCluster();
  const ports = shared
    .replace(/^rediss?\+cluster:\/\//, '')
    .split(',')
    .map((hp) => Number(hp.split(':').at(-1)));
  const refuse = async () => {
    throw new Error('the shared cluster of REDIS_CLUSTER_URL is never stopped by a test');
  };
  return { url: shared, ports, stopMaster: refuse, startMaster: refuse, close: async () => {} };
}

/** A port P that is free, with P + 10000 (the cluster bus) free too. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (taken.has(port)) continue;
    if (!(await canListen(port)) || !(await canListen(port + 10_000))) continue;
    taken.add(port);
    return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function clusterOk(port: number): Promise<boolean> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info']);
    return /cluster_state:ok/.test(stdout);
  } catch {
    return false;
  }
}

/** True when every node of `ports` reports the cluster healthy. */
async function allOk(ports: number[]): Promise<boolean> {
  return (await Promise.all(ports.map(clusterOk))).every(Boolean);
}

export async function startPrivateRedisCluster(): Promise<TestRedisCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twofold-redis-cluster-'));
  const taken = new Set<number>();
  const ports = [await freeClusterPort(taken), await freeClusterPort(taken), await freeClusterPort(taken)];
  const children: (ChildProcess | undefined)[] = [];

  const start = async (i: number) => {
    const port = ports[i]!;
    // Redis's default node timeout (15 s): a dead master is noticed by the client long before
    // the cluster marks it failed, as in production.
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        path.join(dir, `nodes-${port}.conf`),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
      ],
      { stdio: 'ignore' },
    );
    children[i] = child;
    const deadline = Date.now() + 10_000;
    while (!(await redisPing(port))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`);
      await sleep(20);
    }
  };
  const stop = async (i: number) => {
    const c = children[i];
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
    while (await portOpen(ports[i]!)) await sleep(10);
  };
  const waitOk = async (limitMs: number) => {
    const deadline = Date.now() + limitMs;
    while (!(await allOk(ports))) {
      if (Date.now() > deadline) throw new Error('the Redis Cluster did not report cluster_state:ok in time');
      await sleep(50);
    }
  };

  // A test run that ends without close() (a crash, a timeout) must not leave servers behind.
  const killAll = () => children.forEach((c) => c?.kill('SIGKILL'));
  process.once('exit', killAll);

  try {
    await Promise.all(ports.map((_, i) => start(i)));
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    await waitOk(20_000);
  } catch (err) {
    await Promise.all(ports.map((_, i) => stop(i)));
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    ports,
    stopMaster: stop,
    async startMaster(i) {
      await start(i);
      await waitOk(20_000);
    },
    async close() {
      process.off('exit', killAll);
      await Promise.all(ports.map((_, i) => stop(i)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
