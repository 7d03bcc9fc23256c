import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

/** Secrets shared by every process of one test "cluster" (like an operator's settings). */
export function clusterSecrets(): Record<string, string> {
  return {
    COOKIE_KEYS: crypto.randomBytes(32).toString('base64url'),
    DATA_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
    // Each test cluster has its own Redis namespace: throttles and sessions never leak between runs.
    REDIS_KEY_PREFIX: `test-${crypto.randomBytes(4).toString('hex')}:`,
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface TwofoldProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  /** Milliseconds from spawn to the first 200 on discovery. */
  coldStartMs: number;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the built server (`node bin/twofold.js serve`) as a real process and waits for
 * discovery to answer. `npm test` builds dist/ before jest runs.
 */
export async function startTwofold(env: Record<string, string | undefined>, options: { port?: number; timeoutMs?: number } = {}): Promise<TwofoldProcess> {
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it)');
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const dataDir = env.DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'twofold-'));
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/twofold.js'), 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DEMO: 'false',
      SMS_PROVIDER: 'console',
      ...env,
      PORT: String(port),
      ISSUER: env.ISSUER ?? url,
      DATA_DIR: dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let coldStartMs = -1;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Twofold exited early (${child.exitCode}):\n${out}`);
    try {
      const res = await fetch(`${url}/.well-known/openid-configuration`);
      if (res.status === 200) {
        coldStartMs = Date.now() - started;
        break;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (coldStartMs < 0) {
    child.kill('SIGKILL');
    throw new Error(`Twofold did not start in time:\n${out}`);
  }
  return {
    url,
    port,
    child,
    coldStartMs,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
