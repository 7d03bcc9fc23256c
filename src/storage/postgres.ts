import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { AppError } from '../http/app-error.js';

export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Postgres text cannot hold U+0000 (the query fails): such a string matches no stored value. */
export const storableText = (s: string): boolean => !s.includes('\u0000');

export interface Database {
  readonly pool: pg.Pool;
  readonly mode: 'postgres' | 'embedded';
  close(): Promise<void>;
}

/** Runs fn inside one transaction; rolls back on any error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

const POOL_SIZE = 10;

function createPool(options: pg.PoolConfig, logger: Logger): pg.Pool {
  const pool = new pg.Pool({ max: POOL_SIZE, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30000, ...options });
  // An idle client losing its server must not crash the process; the pool replaces it.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'postgres idle client error'));
  return pool;
}

export async function openDatabase(settings: { databaseUrl?: string; dataDir: string }, logger: Logger): Promise<Database> {
  if (settings.databaseUrl) {
    const pool = createPool({ connectionString: settings.databaseUrl }, logger);
    return { pool, mode: 'postgres', close: () => pool.end() };
  }
  return openEmbedded(settings.dataDir, logger);
}

/** Where the embedded database is served while its owner runs. */
interface SocketAddress {
  pid: number;
  host: string;
  port: number;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data directory's lock, or returns the pid of the live process that holds it. */
function takeLock(lockPath: string): { acquired: true } | { acquired: false; ownerPid: number } {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx', mode: 0o600 });
      return { acquired: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const ownerPid = Number(fs.readFileSync(lockPath, 'utf8').trim());
      if (Number.isInteger(ownerPid) && ownerPid > 0 && ownerPid !== process.pid && processAlive(ownerPid)) {
        return { acquired: false, ownerPid };
      }
      fs.rmSync(lockPath, { force: true }); // stale lock of a process that died
    }
  }
  throw new AppError('store_unavailable', `could not take the embedded database lock ${lockPath}`);
}

/**
 * PGlite is single-process: exactly one process owns the directory (lock file) and serves it
 * to local clients through pglite-socket; others (the CLI while the server runs) connect there.
 */
async function openEmbedded(dataDir: string, logger: Logger): Promise<Database> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lockPath = path.join(dataDir, 'pg.lock');
  const addressPath = path.join(dataDir, 'pg-socket.json');

  for (let attempt = 0; attempt < 50; attempt++) {
    const lock = takeLock(lockPath);
    if (!lock.acquired) {
      const address = readAddress(addressPath);
      if (address && address.pid === lock.ownerPid) {
        logger.debug({ pid: address.pid }, 'connecting to the embedded database served by the running server');
        const pool = createPool({ host: address.host, port: address.port, user: 'postgres', database: 'postgres', max: 2 }, logger);
        return { pool, mode: 'embedded', close: () => pool.end() };
      }
      await new Promise((r) => setTimeout(r, 200)); // the owner is still starting
      continue;
    }
    try {
      return await serveEmbedded(dataDir, lockPath, addressPath, logger);
    } catch (err) {
      fs.rmSync(lockPath, { force: true });
      throw err;
    }
  }
  throw new AppError('store_unavailable', 'the embedded database is locked by another process that is not serving it');
}

function readAddress(file: string): SocketAddress | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as SocketAddress;
  } catch {
    return undefined;
  }
}

async function serveEmbedded(dataDir: string, lockPath: string, addressPath: string, logger: Logger): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create(path.join(dataDir, 'pg'));
  // A Unix socket inside the private data directory keeps other local users out;
  // loopback TCP only when the path is too long for a socket name.
  const socketDir = dataDir;
  const socketPath = path.join(socketDir, '.s.PGSQL.5432');
  const useUnixSocket = process.platform !== 'win32' && socketPath.length < 100;
  if (useUnixSocket) fs.rmSync(socketPath, { force: true });
  const server = new PGLiteSocketServer({
    db,
    ...(useUnixSocket ? { path: socketPath } : { host: '127.0.0.1', port: 0 }),
    maxConnections: 64,
  });
  await server.start();
  let address: SocketAddress;
  if (useUnixSocket) {
    address = { pid: process.pid, host: socketDir, port: 5432 };
  } else {
    const [host, port] = server.getServerConn().split(':');
    address = { pid: process.pid, host: host!, port: Number(port) };
  }
  fs.writeFileSync(addressPath, JSON.stringify(address), { mode: 0o600 });
  const pool = createPool({ host: address.host, port: address.port, user: 'postgres', database: 'postgres' }, logger);
  logger.info({ dataDir }, 'embedded Postgres (PGlite) in use: one process owns it, not for multi-node use');
  return {
    pool,
    mode: 'embedded',
    async close() {
      await pool.end();
      await server.stop();
      await db.close();
      fs.rmSync(addressPath, { force: true });
      fs.rmSync(lockPath, { force: true });
    },
  };
}
