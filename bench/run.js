#!/usr/bin/env node
// `npm run bench`: Twofold's sign-in cost against the argon2 limit and bare oidc-provider,
// measured side by side in one run (see bench/README.md). Starts its own servers, database and
// load generator, runs every scenario, prints one table, writes bench/results/latest.json and
// bench/results/login-latency.svg, and cleans up after itself.
//
//   node bench/run.js                    the full run (about 8 minutes on 2 cores)
//   node bench/run.js --quick            shorter steps and fewer of them (a smoke test)
//   node bench/run.js --profile login    profile Twofold (node --cpu-prof) under TOTP logins;
//                                        also: password, refresh, discovery
//   node bench/run.js --steps            CPU of each request of a sign-in and a refresh, one
//                                        at a time, Twofold next to bare oidc-provider
//   --skip-cold / --skip-memory          leave out those parts
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Cluster, Redis } from 'ioredis';
import {
  busyMs,
  cpuBusy,
  cpuMs,
  cpuStat,
  threadCpuMs,
  datastoreDelta,
  datastoreSnapshot,
  freePort,
  hasTaskset,
  httpStatus,
  loadAverage,
  pinned,
  repin,
  rssKb,
  sleep,
  spawnLogged,
  stopProcess,
  waitFor200,
} from './lib/proc.js';
import { latencyChart } from './lib/svg.js';
import { summarizeProfile } from './lib/profile.js';
import { monitorRedis } from './lib/redis-monitor.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench/results');
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const QUICK = flag('--quick');
/** --only login,refresh,doc,scale: run only these groups (memory and cold start have their own --skip-* flags). */
const ONLY = option('--only')?.split(',');
const runs = (group) => !ONLY || ONLY.includes(group);
const PROFILE = option('--profile');
const STEPS = flag('--steps');

// ---- settings -------------------------------------------------------------------------------
const PG_ADMIN_URL = process.env.BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_BASE = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
/** Redis database indexes owned by the bench (flushed before and after use). */
const REDIS_DB_TWOFOLD = Number(process.env.BENCH_REDIS_DB_TWOFOLD || 13);
const REDIS_DB_BARE = Number(process.env.BENCH_REDIS_DB_BARE || 14);
const START_FRACTION = 0.6;
const RAMP = 1.3;
/** Steps between the highest pass and the lowest miss, each halving the gap. */
const REFINEMENTS = 3;
const MAX_STEPS = QUICK ? 3 : 5;
const STEP_MS = QUICK ? { login: 4000, refresh: 3000, doc: 2500 } : { login: 7000, refresh: 4000, doc: 3000 };
const CALIBRATE_MS = QUICK ? 2500 : 4000;
const CALIBRATION_PASSES = 3;
const PAUSE_MS = 800;
const P99_BUDGET_MS = 250;
/** Target: a password + TOTP login costs at most this many times (argon2 verify + bare flow) in CPU. */
const TOTP_CPU_LIMIT = 1.2;
const MEMORY_SESSIONS = Number(option('--sessions') || 10_000);
const MEMORY_MAX_MS = QUICK ? 10_000 : 30_000;
const COLD_REPEATS = QUICK ? 1 : 3;
const PWD_USERS = QUICK ? 60 : 200;
const LOADGEN_DOC_MAX_RATE = 5000; // what one loadgen core can offer for small GETs

const cores = os.availableParallelism?.() ?? os.cpus().length;
const PIN = hasTaskset() && cores >= 2;
const SERVER_CPU = PIN ? '0' : null;
const LOAD_CPU = PIN ? '1' : null;

const SCENARIOS = {
  'A.login': { side: 'A', group: 'login', label: 'A  bare oidc-provider: code+PKCE+token', unit: 'logins/s', calibrate: 8 },
  'B.pwd': { side: 'B', group: 'login', label: 'B  Twofold password login', unit: 'logins/s', calibrate: 8 },
  'B.totp': { side: 'B', group: 'login', label: 'B  Twofold password + TOTP login', unit: 'logins/s', calibrate: 8 },
  'A.refresh': { side: 'A', group: 'refresh', label: 'A  bare refresh-token grant', unit: 'grants/s', calibrate: 40 },
  'B.refresh': { side: 'B', group: 'refresh', label: 'B  Twofold refresh-token grant', unit: 'grants/s', calibrate: 40 },
  'A.discovery': { side: 'A', group: 'doc', label: 'A  bare discovery', unit: 'req/s', calibrate: 300 },
  'B.discovery': { side: 'B', group: 'doc', label: 'B  Twofold discovery', unit: 'req/s', calibrate: 300 },
  'A.jwks': { side: 'A', group: 'doc', label: 'A  bare JWKS', unit: 'req/s', calibrate: 300 },
  'B.jwks': { side: 'B', group: 'doc', label: 'B  Twofold JWKS', unit: 'req/s', calibrate: 300 },
  // Scaling: Twofold processes behind bench/lib/proxy.js (one issuer, one Redis): 1 vs 2.
  'S1.pwd': { side: 'S1', group: 'scale', label: 'S  1 process + proxy: password login', unit: 'logins/s', calibrate: 8 },
  'S2.pwd': { side: 'S2', group: 'scale', label: 'S  2 processes + proxy: password login', unit: 'logins/s', calibrate: 8 },
  'S1.refresh': { side: 'S1', group: 'scale', label: 'S  1 process + proxy: refresh grant', unit: 'grants/s', calibrate: 40 },
  'S2.refresh': { side: 'S2', group: 'scale', label: 'S  2 processes + proxy: refresh grant', unit: 'grants/s', calibrate: 40 },
};

// ---- small helpers ----------------------------------------------------------------------------
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s`;
const log = (msg) => process.stderr.write(`[bench ${elapsed()}] ${msg}\n`);
const round = (v, d = 2) => (v == null || !Number.isFinite(v) ? null : Math.round(v * 10 ** d) / 10 ** d);
const median = (xs) => {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const cleanups = [];
async function cleanupAll() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (err) {
      log(`cleanup: ${err.message}`);
    }
  }
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: cleaning up`);
    cleanupAll().finally(() => process.exit(130));
  });
}

function redisUrl(db) {
  const u = new URL(REDIS_BASE);
  u.pathname = `/${db}`;
  return u.toString();
}

async function withPg(url, fn) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function createDatabase(prefix) {
  const name = `${prefix}_${crypto.randomBytes(5).toString('hex')}`;
  await withPg(PG_ADMIN_URL, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const drop = () =>
    withPg(PG_ADMIN_URL, async (c) => {
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await c.query(`DROP DATABASE IF EXISTS ${name}`);
    });
  cleanups.push(drop);
  return { name, url: url.toString(), drop };
}

/**
 * The bench owns its two Redis db indexes for the whole run, and says so in an owner key (named
 * outside the servers' prefixes, so an older bench, which refuses foreign keys, refuses these
 * dbs too). It refuses a db that another live run owns, that holds keys it did not write, or
 * whose bench keys were written moments ago by a run that left no owner key: flushing a db
 * another run is using wipes its sessions, interactions and refresh tokens mid-step.
 */
const OWNER_KEY = 'bench-owner';
const OWNER = JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString(), run: crypto.randomBytes(6).toString('hex') });
const ownerConns = {};

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

async function claimRedisDb(db, prefix) {
  const r = new Redis(redisUrl(db), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  try {
    const held = await r.get(OWNER_KEY);
    if (held && held !== OWNER) {
      let o = {};
      try {
        o = JSON.parse(held);
      } catch {
        // not ours to read: treated as a live owner below
      }
      if (o.host !== os.hostname() || !o.pid || pidAlive(o.pid)) {
        throw new Error(
          `Redis db ${db} is in use by another bench run (pid ${o.pid ?? '?'} on ${o.host ?? '?'}, since ${o.started ?? '?'}): set BENCH_REDIS_DB_TWOFOLD/BENCH_REDIS_DB_BARE to free indexes`,
        );
      }
    }
    const [, sample] = await r.scan('0', 'COUNT', 200);
    const foreign = sample.find((k) => k !== OWNER_KEY && !k.startsWith(prefix));
    if (foreign) throw new Error(`Redis db ${db} holds keys the bench did not write (e.g. "${foreign}"): set BENCH_REDIS_DB_TWOFOLD/BENCH_REDIS_DB_BARE to free indexes`);
    if (!held && sample.length) {
      const idle = await Promise.all(sample.slice(0, 20).map((k) => r.object('IDLETIME', k).catch(() => null)));
      const youngest = Math.min(...idle.filter((x) => x != null));
      if (youngest < 120) {
        throw new Error(
          `Redis db ${db} holds bench keys used ${youngest} s ago and no owner key: another (older) bench run is probably using it; set BENCH_REDIS_DB_TWOFOLD/BENCH_REDIS_DB_BARE to free indexes`,
        );
      }
    }
    await r.flushdb();
    await r.set(OWNER_KEY, OWNER);
  } finally {
    r.disconnect();
  }
  ownerConns[db] = new Redis(redisUrl(db), { maxRetriesPerRequest: 1 });
  cleanups.push(async () => {
    const c = ownerConns[db];
    // Only a db that is still ours is flushed: one taken over meanwhile belongs to someone else.
    if ((await c.get(OWNER_KEY)) === OWNER) await c.flushdb();
    c.disconnect();
  });
}

/** False when the db lost the owner key since the last look (flushed, or taken by someone else); the key is put back. */
async function stillOwned(db) {
  const c = ownerConns[db];
  if (!c) return true;
  if ((await c.get(OWNER_KEY)) === OWNER) return true;
  await c.set(OWNER_KEY, OWNER);
  return false;
}

function runChild(cmd, args, { env, input, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${args.join(' ')} exited ${code}: ${out} ${err}`));
    });
    child.stdin.end(input ?? '');
  });
}

// ---- the servers ------------------------------------------------------------------------------
function twofoldEnv(extra) {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    DEMO: 'false',
    // Production refuses the console SMS sender; this Vonage host is never contacted (no SMS scenario).
    SMS_PROVIDER: 'vonage',
    VONAGE_API_KEY: 'bench',
    VONAGE_API_SECRET: 'bench-secret',
    VONAGE_FROM: 'Twofold',
    VONAGE_REST_HOST: 'http://127.0.0.1:9',
    // Production refuses the console mailer too; no bench scenario sends a mail.
    MAIL_PROVIDER: 'smtp',
    SMTP_URL: 'smtp://127.0.0.1:9',
    // The per-IP / per-client entry limits still count every request (their Redis work is
    // measured) but must not refuse: all virtual users share 127.0.0.1 and one client.
    ENTRY_RATE_LIMIT: '1000000',
    ...extra,
  };
}

async function startTwofold(env, { port, cpuProf, logFile }) {
  const nodeArgs = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`] : [];
  const [cmd, args] = pinned(SERVER_CPU, [process.execPath, ...nodeArgs, path.join(ROOT, 'bin/twofold.js'), 'serve']);
  const started = performance.now();
  const child = spawnLogged(cmd, args, { cwd: ROOT, env: { ...env, PORT: String(port), ISSUER: env.ISSUER ?? `http://127.0.0.1:${port}` }, logFile });
  const readyMs = await waitFor200(`http://127.0.0.1:${port}/.well-known/openid-configuration`, child, started);
  cleanups.push(() => stopProcess(child));
  return { child, pid: child.pid, port, issuer: `http://127.0.0.1:${port}`, readyMs, started };
}

async function startBare({ port, clientId, clientSecret, logFile, cpuProf, cookieKey }) {
  const nodeArgs = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`] : [];
  const [cmd, args] = pinned(SERVER_CPU, [process.execPath, ...nodeArgs, path.join(ROOT, 'bench/bare-provider.js')]);
  const started = performance.now();
  const child = spawnLogged(cmd, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: String(port),
      REDIS_URL: redisUrl(REDIS_DB_BARE),
      REDIS_PREFIX: 'bare:',
      CLIENT_ID: clientId,
      CLIENT_SECRET: clientSecret,
      COOKIE_KEY: cookieKey,
    },
    logFile,
  });
  const readyMs = await waitFor200(`http://127.0.0.1:${port}/.well-known/openid-configuration`, child, started);
  cleanups.push(() => stopProcess(child));
  return { child, pid: child.pid, port, issuer: `http://127.0.0.1:${port}`, readyMs, started, clientId, clientSecret, cookieKey, logFile };
}

// ---- the load generator -----------------------------------------------------------------------
function startLoadgen(logFile) {
  const [cmd, args] = pinned(LOAD_CPU, [process.execPath, path.join(ROOT, 'bench/loadgen.js')]);
  const child = spawnLogged(cmd, args, { cwd: ROOT, env: { PATH: process.env.PATH }, logFile, ipc: true });
  const pending = new Map();
  let nextId = 1;
  child.on('message', (msg) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`loadgen: ${msg.error}`));
    else p.resolve(msg.result);
  });
  child.once('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`loadgen exited (${code}): ${child.logTail()}`));
    pending.clear();
  });
  cleanups.push(() => stopProcess(child, 2000));
  return {
    child,
    call(msg) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ ...msg, id });
      });
    },
  };
}

// ---- provisioning -----------------------------------------------------------------------------
/** `node bin/twofold.js <args> --json` against the bench database. */
async function cli(env, args, input) {
  const out = await runChild(process.execPath, [path.join(ROOT, 'bin/twofold.js'), ...args, '--json'], { env: { ...env, LOG_LEVEL: 'warn' }, input });
  return JSON.parse(out);
}

/**
 * Many users: the CLI's own provisioning code (Provisioning.createUser from dist/, what
 * `twofold user create` runs), in one process, since a process per user costs about 1.5 s here.
 */
async function createUsers(env, accountId, prefix, count) {
  const { loadConfig } = await import(path.join(ROOT, 'dist/config/load-config.js'));
  const { createLogger } = await import(path.join(ROOT, 'dist/logger.js'));
  const { openDataServices } = await import(path.join(ROOT, 'dist/services.js'));
  const services = await openDataServices(loadConfig({ ...env, LOG_LEVEL: 'warn' }), createLogger('warn', 'stderr'));
  const users = [];
  try {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        const username = `${prefix}-${String(i).padStart(5, '0')}`;
        const password = `bench ${prefix} password ${i} ${crypto.randomBytes(4).toString('hex')}`;
        await services.provisioning.createUser({ account: accountId, username, password });
        users.push({ username, password });
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  } finally {
    await services.close();
  }
  return users;
}

// ---- measurement ------------------------------------------------------------------------------
const pidOf = {};
let benchDbName;

const childOf = {};
/** The Redis db whose loss would void a step of that side (A bare, B Twofold, S the scale servers). */
const REDIS_DB_OF_SIDE = { A: REDIS_DB_BARE, B: REDIS_DB_TWOFOLD };

async function measuredStep(loadgen, scenario, rate, durationMs) {
  const side = SCENARIOS[scenario].side;
  // The scaling scenario counts every process that serves it: its Twofold processes and the proxy.
  const pids = [].concat(pidOf[side]);
  for (const child of [].concat(childOf[side] ?? [])) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `the ${side === 'A' ? 'bare' : side === 'B' ? 'Twofold' : 'scaling-scenario'} process (pid ${child.pid}) has exited (${child.exitCode ?? child.signalCode}), not stopped by the bench:\n${child.logTail(1500)}`,
      );
    }
  }
  const sumCpu = () => pids.reduce((a, p) => a + cpuMs(p), 0);
  const sumThreads = () => pids.map(threadCpuMs).reduce((a, t) => ({ main: a.main + t.main, others: a.others + t.others }), { main: 0, others: 0 });
  const perPid = () => Object.fromEntries(pids.map((p) => [p, cpuMs(p)]));
  const p0 = perPid();
  const c0 = sumCpu();
  const th0 = sumThreads();
  const ds0 = datastoreSnapshot(benchDbName);
  const st0 = cpuStat();
  const r = await loadgen.call({ cmd: 'step', scenario, rate, durationMs });
  const c1 = sumCpu();
  const th1 = sumThreads();
  const p1 = perPid();
  const ds1 = datastoreSnapshot(benchDbName);
  const st1 = cpuStat();
  const ds = datastoreDelta(ds0, ds1);
  const ops = Math.max(1, r.ok);
  const out = {
    ...r,
    serverCpuMs: round(c1 - c0, 0),
    cpuMsPerOp: round((c1 - c0) / ops, 3),
    mainThreadMsPerOp: round((th1.main - th0.main) / ops, 3),
    otherThreadsMsPerOp: round((th1.others - th0.others) / ops, 3),
    serverUtil: round((c1 - c0) / r.wallMs, 3),
    pgMsPerOp: round(ds.pgMs / ops, 3),
    redisMsPerOp: round(ds.redisMs / ops, 3),
    cpuBusy: cpuBusy(st0, st1),
    ...(pids.length > 1 ? { cpuMsByPid: Object.fromEntries(pids.map((p) => [p, round(p1[p] - p0[p], 0)])) } : {}),
    // CPU used by other processes on this machine during the step (cores' worth): noise.
    foreignCores: round((busyMs(st0, st1) - (c1 - c0) - r.loadgenCpu * r.wallMs - ds.pgMs - ds.redisMs) / r.wallMs, 2),
    meets: r.p99 != null && r.p99 < P99_BUDGET_MS,
  };
  // A step that cannot measure the server says why and counts neither as a pass nor as a miss.
  const db = REDIS_DB_OF_SIDE[SCENARIOS[scenario].side];
  if (db != null && !(await stillOwned(db))) {
    out.invalid = `the bench's Redis db ${db} was flushed or taken over during the step (another bench run on the same db index?): the server's sessions, interactions and tokens were lost`;
    if (scenario.endsWith('.refresh')) await loadgen.call({ cmd: 'drop-tokens', side: SCENARIOS[scenario].side });
  } else {
    const starved = Object.entries(r.errors ?? {})
      .filter(([m]) => m.startsWith('starved'))
      .reduce((a, [, n]) => a + n, 0);
    // Each unanswered request holds a token: tokens run out when requests pile up. If even the
    // median operation took longer than the p99 budget, the server fell behind and the step is a
    // miss (marked as one, so the search refines below it); otherwise the pool was too small for
    // the rate and the step measured nothing.
    if (starved && r.p50 != null && r.p50 >= P99_BUDGET_MS) out.behind = `the server fell behind (p50 ${Math.round(r.p50)} ms): ${starved} operations found no token`;
    else if (starved) out.invalid = `the load generator ran out of users or tokens for this rate (${starved} operations not started)`;
  }
  if (out.invalid) out.meets = false;
  const errs =
    (r.failed ? ` failed=${r.failed} ${JSON.stringify(r.errors).slice(0, 200)}` : '') + (out.invalid ? ` NOT MEASURED: ${out.invalid}` : out.behind ? ` MISS: ${out.behind}` : '');
  log(
    `${scenario.padEnd(12)} offered ${String(rate).padStart(6)}/s achieved ${String(r.achieved).padStart(7)}/s ` +
      `p50 ${fmtMs(r.p50)} p95 ${fmtMs(r.p95)} p99 ${fmtMs(r.p99)}  cpu ${out.cpuMsPerOp} ms/op [main ${out.mainThreadMsPerOp}] (server ${Math.round(out.serverUtil * 100)}%, loadgen ${Math.round(r.loadgenCpu * 100)}%)${errs}`,
  );
  return out;
}

function fmtMs(v) {
  return v == null ? '   fail' : `${v.toFixed(v < 100 ? 1 : 0).padStart(6)}ms`.replace('ms', '');
}

/**
 * A step that cannot run (its server exited, the load generator failed) is recorded with its
 * reason and the run goes on; every later result of that scenario says it was not measured.
 */
async function guardedStep(loadgen, scenario, rate, durationMs, before) {
  try {
    await before?.(rate, durationMs);
    return await measuredStep(loadgen, scenario, rate, durationMs);
  } catch (err) {
    const reason = String(err?.message ?? err)
      .split('\n')[0]
      .slice(0, 300);
    log(`${scenario.padEnd(12)} offered ${rate}/s NOT MEASURED: ${reason}`);
    return { scenario, offered: rate, durationMs, ok: 0, failed: 0, errors: {}, error: reason, invalid: reason, meets: false };
  }
}

/**
 * Runs one group of scenarios, interleaved round by round (A, B, B', then B', B, A, ...):
 * a calibration step each at a low rate, whose server CPU per operation estimates one core's
 * capacity; then open-model steps from START_FRACTION of that estimate, each RAMP times the
 * last (re-estimated from the latest step's CPU per operation when that says more), until a
 * step misses the p99 budget; then REFINEMENTS steps, each between the highest pass and the lowest miss.
 */
async function runGroup(loadgen, scenarios, stepMs, results, caps = {}, before = {}, { calibrateMs = CALIBRATE_MS, maxSteps = MAX_STEPS, around } = {}) {
  const state = {};
  // Calibration: the same low rate for every scenario of the group, in interleaved passes
  // (A, B, B', then B', B, A, then A, B, B' again): CPU per operation like for like (the median
  // of the three, so one pass that lands on a collection or a neighbour's burst does not decide
  // it), and a first capacity estimate. `around` runs before the first pass and after the last
  // (a baseline measured in between).
  if (around) await around();
  for (let pass = 0; pass < CALIBRATION_PASSES; pass++) {
    const order = pass % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const sc of order) {
      const r = await guardedStep(loadgen, sc, SCENARIOS[sc].calibrate, calibrateMs, before[sc]);
      r.calibration = true;
      results.steps.push(r);
      const usable = !r.invalid && r.ok > 0 && r.cpuMsPerOp > 0;
      const est = usable ? 1000 / r.cpuMsPerOp : SCENARIOS[sc].calibrate * 4;
      const prev = state[sc];
      state[sc] = {
        est: prev ? Math.max(prev.est, est) : est,
        cap: caps[sc] ?? Infinity,
        last: null,
        pass: r.meets ? r.offered : (prev?.pass ?? null),
        fail: null,
        done: Boolean(r.error) || Boolean(prev?.done),
        n: 0,
      };
      await sleep(PAUSE_MS);
    }
  }
  if (around) await around();
  const roundRate = (x) => (x < 50 ? Math.max(1, Math.round(x * 10) / 10) : Math.round(x));
  for (let k = 0; k < maxSteps + 2 + REFINEMENTS; k++) {
    const order = k % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const sc of order) {
      const st = state[sc];
      if (st.done) continue;
      let rate;
      let refining = false;
      // A step run again (after a miss or a step that could not measure) is not a new step up the
      // ladder: it must not use up the steps that would find the miss.
      const again = st.fail == null && st.retry != null;
      if (st.fail != null) {
        // Refinement: halfway (geometrically) between the highest pass and the lowest miss, three times,
        // so a throughput is read to within about 7 % rather than a whole RAMP step.
        rate = st.pass != null ? Math.sqrt(st.pass * st.fail) : st.fail / RAMP;
        refining = true;
        st.refined = (st.refined ?? 0) + 1;
        if (st.refined >= REFINEMENTS || st.pass == null) st.done = true;
      } else if (st.retry != null) rate = st.retry;
      else if (st.last == null) rate = START_FRACTION * st.est;
      else rate = Math.max(st.last * RAMP, Math.min(st.last * RAMP * RAMP, st.est * (START_FRACTION * RAMP ** st.n)));
      if (rate >= st.cap) {
        rate = st.cap;
        if (st.last != null && st.last >= st.cap) {
          st.done = true;
          continue;
        }
      }
      rate = roundRate(rate);
      const r = await guardedStep(loadgen, sc, rate, stepMs, before[sc]);
      r.fraction = round(rate / st.est, 2);
      results.steps.push(r);
      if (!again) st.n++;
      if (r.error) st.done = true;
      else if (refining) {
        if (!r.invalid && r.meets) st.pass = Math.max(st.pass ?? 0, rate);
        else if (!r.invalid) st.fail = Math.min(st.fail, rate);
      } else if (r.invalid) {
        // Not measured: the same rate again next round (the loop is bounded by its rounds).
        if (st.fail == null) st.retry = rate;
        else st.done = false;
      } else if (!st.done) {
        st.last = rate;
        if (r.meets) {
          st.pass = Math.max(st.pass ?? 0, rate);
          st.retry = null;
          if (r.cpuMsPerOp > 0) st.est = Math.max(st.est, 1000 / r.cpuMsPerOp);
          if (st.n >= maxSteps) st.done = true;
        } else if (!st.retried && st.pass != null) {
          // A miss on a shared machine may be someone else's burst: the same rate once more, next round.
          st.retried = true;
          st.retry = rate;
          st.last = rate / RAMP;
        } else st.fail = rate;
        if (st.fail != null && st.pass == null && st.n >= 2) st.done = true;
      }
      await sleep(PAUSE_MS);
    }
    if (scenarios.every((sc) => state[sc].done)) break;
  }
  results.estimates = { ...(results.estimates ?? {}), ...Object.fromEntries(scenarios.map((sc) => [sc, round(state[sc].est, 1)])) };
}

/** The summary of a scenario: its best step under the p99 budget. */
function summarize(scenario, steps) {
  const all = steps.filter((s) => s.scenario === scenario);
  const mine = all.filter((s) => !s.invalid);
  const load = mine.filter((s) => !s.calibration);
  const meeting = mine.filter((s) => s.meets);
  const best = meeting.sort((a, b) => b.achieved - a.achieved)[0] ?? null;
  const cpuSamples = mine.filter((s) => s.ok > 0 && (s.meets || s.calibration)).map((s) => s.cpuMsPerOp);
  return {
    scenario,
    label: SCENARIOS[scenario].label,
    unit: SCENARIOS[scenario].unit,
    throughput: best ? best.achieved : 0,
    offered: best ? best.offered : null,
    p50: best?.p50 ?? null,
    p95: best?.p95 ?? null,
    p99: best?.p99 ?? null,
    cpuMsPerOp: round(median(cpuSamples), 3),
    mainThreadMsPerOp: round(median(mine.filter((s) => s.ok > 0 && (s.meets || s.calibration)).map((s) => s.mainThreadMsPerOp)), 3),
    otherThreadsMsPerOp: round(median(mine.filter((s) => s.ok > 0 && (s.meets || s.calibration)).map((s) => s.otherThreadsMsPerOp)), 3),
    /** One core's worth of server CPU divided by CPU per operation: capacity that queueing and noise do not hide. */
    cpuCapacity: median(cpuSamples) ? round(1000 / median(cpuSamples), 1) : null,
    /** CPU per operation at the calibration step, whose rate is the same for A and B of a group (a like-for-like comparison). */
    calibrationRate: mine.find((s) => s.calibration)?.offered ?? null,
    cpuMsAtMatchedRate: round(median(mine.filter((s) => s.calibration && s.ok > 0).map((s) => s.cpuMsPerOp)), 3),
    foreignCores: round(median(mine.map((s) => s.foreignCores)), 2),
    pgMsPerOp: round(median(mine.filter((s) => s.meets || s.calibration).map((s) => s.pgMsPerOp)), 3),
    redisMsPerOp: round(median(mine.filter((s) => s.meets || s.calibration).map((s) => s.redisMsPerOp)), 3),
    loadgenBound: Boolean(best && best.loadgenCpu > 0.9),
    /** Cores' worth of CPU the counted processes used at the best step. */
    coresUsed: best?.serverUtil ?? null,
    stepsMeeting: meeting.length,
    steps: load.length,
    stepsNotMeasured: all.length - mine.length,
    /** Why there is no number, when there is none. */
    reason: best ? null : noResultReason(all),
  };
}

/** Why a scenario has no step under the budget: not run, not measurable, or what failed. */
function noResultReason(steps) {
  if (!steps.length) return 'not run';
  const measured = steps.filter((s) => !s.invalid);
  if (!measured.length) return `not measured: ${steps[steps.length - 1].invalid}`;
  const errors = {};
  for (const st of measured) for (const [m, n] of Object.entries(st.errors ?? {})) errors[m] = (errors[m] ?? 0) + n;
  const top = Object.entries(errors).sort((a, b) => b[1] - a[1])[0];
  const ok = measured.reduce((a, st) => a + st.ok, 0);
  const failed = measured.reduce((a, st) => a + st.failed, 0);
  if (!ok) return `every operation failed (${failed}${top ? `, e.g. ${top[1]} x "${top[0].slice(0, 120)}"` : ''})`;
  const lowest = Math.min(...measured.map((st) => st.p99 ?? Infinity));
  return `no step had p99 < ${P99_BUDGET_MS} ms (best p99 ${Number.isFinite(lowest) ? `${lowest} ms` : 'fail'}; ${failed} of ${ok + failed} operations failed${top ? `, e.g. ${top[1]} x "${top[0].slice(0, 120)}"` : ''})`;
}

// ---- scaling: Twofold processes behind a proxy ---------------------------------------------------
const CLUSTER_DEFAULT = 'redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003';

/** BENCH_REDIS_CLUSTER_URL, else the cluster on 127.0.0.1:7001 when one answers with cluster_state:ok. */
async function findCluster() {
  if (process.env.BENCH_REDIS_CLUSTER_URL) return process.env.BENCH_REDIS_CLUSTER_URL;
  const r = new Redis({ host: '127.0.0.1', port: 7001, lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 500, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return /cluster_state:ok/.test(String(await r.cluster('INFO'))) ? CLUSTER_DEFAULT : null;
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
}

/** A client of the cluster a REDIS_URL names (Twofold's own parser, from dist/). */
async function openCluster(url) {
  const { parseRedisUrl } = await import(path.join(ROOT, 'dist/storage/redis-url.js'));
  const t = parseRedisUrl(url);
  if (t.kind !== 'cluster') throw new Error('BENCH_REDIS_CLUSTER_URL must be a redis+cluster:// URL');
  const redisOptions = { username: t.username, password: t.password, ...(t.tls ? { tls: {} } : {}) };
  const c = new Cluster(t.nodes, { redisOptions, enableOfflineQueue: true });
  c.on('error', () => {});
  await new Promise((resolve, reject) => {
    c.once('ready', resolve);
    c.once('end', () => reject(new Error('Redis Cluster: connection ended')));
  });
  return c;
}

/** Each master's keys under `prefix` (the bench only ever reads or deletes its own keys on a cluster). */
async function clusterKeys(cluster, prefix) {
  const out = [];
  for (const node of cluster.nodes('master')) {
    let cursor = '0';
    const keys = [];
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    out.push({ node, keys });
  }
  return out;
}

async function clusterUsedMemory(cluster) {
  let total = 0;
  for (const node of cluster.nodes('master')) total += Number(String(await node.info('memory')).match(/used_memory:(\d+)/)[1]);
  return total;
}

async function clusterKeyBytes(cluster, prefix) {
  let keys = 0;
  let bytes = 0;
  let longLived = 0;
  for (const { node, keys: list } of await clusterKeys(cluster, prefix)) {
    for (let i = 0; i < list.length; i += 500) {
      const pipe = node.pipeline();
      for (const k of list.slice(i, i + 500)) pipe.memory('USAGE', k, 'SAMPLES', '0').pttl(k);
      const res = await pipe.exec();
      for (let j = 0; j < res.length; j += 2) {
        const size = Number(res[j][1] ?? 0);
        const ttl = Number(res[j + 1][1] ?? -1);
        bytes += size;
        if (ttl === -1 || ttl > 3_600_000) longLived += size;
        keys++;
      }
    }
  }
  return { keys, bytes, longLived };
}

/** Deletes the keys under `prefix` on every master, one key per command (no command crosses slots). */
async function deleteClusterKeys(cluster, prefix) {
  let n = 0;
  for (const { node, keys } of await clusterKeys(cluster, prefix)) {
    for (let i = 0; i < keys.length; i += 500) {
      const pipe = node.pipeline();
      for (const k of keys.slice(i, i + 500)) pipe.unlink(k);
      await pipe.exec();
      n += Math.min(500, keys.length - i);
    }
  }
  return n;
}

/** The proxy child (bench/lib/proxy.js) and its IPC: set the backends, read its counters. */
async function startProxy(logDir) {
  const port = await freePort();
  const [cmd, args] = pinned(LOAD_CPU, [process.execPath, path.join(ROOT, 'bench/lib/proxy.js')]);
  const child = spawnLogged(cmd, args, { cwd: ROOT, env: { PATH: process.env.PATH, PORT: String(port) }, logFile: path.join(logDir, 'proxy.log'), ipc: true });
  cleanups.push(() => stopProcess(child, 3000));
  let nextId = 1;
  const call = (msg, timeoutMs = 2000) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        child.off('message', onMessage);
        reject(new Error('proxy: no answer'));
      }, timeoutMs);
      const onMessage = (m) => {
        if (m.id !== id) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m);
      };
      child.on('message', onMessage);
      child.send({ ...msg, id });
    });
  for (let i = 0; ; i++) {
    try {
      if ((await httpStatus(`http://127.0.0.1:${port}/`, 500)) === 503) break;
    } catch (err) {
      if (i > 100 || child.exitCode !== null) throw new Error(`the proxy did not start: ${err.message}\n${child.logTail()}`, { cause: err });
    }
    await sleep(50);
  }
  return { child, pid: child.pid, port, url: `http://127.0.0.1:${port}`, call };
}

const SCALE_PINNING = PIN
  ? 'Twofold #1 on CPU 0, Twofold #2 on CPU 1; the proxy and the load generator on CPU 1 too; Postgres and Redis unpinned'
  : 'unpinned (taskset missing or one CPU)';

/**
 * The scaling scenario: two more Twofold processes on the same database and Redis (a Redis
 * Cluster when there is one, under a key prefix of this run) with one issuer, the proxy's URL.
 * "1 process" sends every request through the proxy to #1, "2 processes" round-robins over
 * both; CPU counts the Twofold processes and the proxy. On 2 cores the second process shares
 * its core with the proxy and the load generator, so this measures how much the second
 * process adds on this machine, and what each core used yields, not a clean 2x.
 */
async function scalePhase(results, { env, loadgen, logDir, clientSecret }) {
  const scale = { pinning: SCALE_PINNING };
  results.scale = scale;
  const clusterUrl = await findCluster();
  let cluster = null;
  let prefix = 'twofold:';
  if (clusterUrl) {
    // A cluster the bench does not own: its keys live under a prefix of this run, and only those are read and deleted.
    cluster = await openCluster(clusterUrl);
    prefix = `twofold-bench-${JSON.parse(OWNER).run}:`;
    cleanups.push(async () => {
      const n = await deleteClusterKeys(cluster, prefix);
      log(`Redis Cluster: deleted the ${n} keys under ${prefix}`);
      cluster.disconnect();
    });
  }
  scale.redis = clusterUrl ? { kind: 'cluster', masters: cluster.nodes('master').length, prefix } : { kind: 'single', db: REDIS_DB_TWOFOLD, prefix };
  const proxy = await startProxy(logDir);
  const sEnv = { ...env, ISSUER: proxy.url, REDIS_URL: clusterUrl ?? env.REDIS_URL, REDIS_KEY_PREFIX: prefix };
  const t1 = await startTwofold(sEnv, { port: await freePort(), logFile: path.join(logDir, 'scale-1.log') });
  const t2 = await startTwofold(sEnv, { port: await freePort(), logFile: path.join(logDir, 'scale-2.log') });
  repin(t2.pid, PIN ? '1' : null);
  log(
    `scaling: proxy pid ${proxy.pid} at ${proxy.url} -> Twofold pids ${t1.pid}, ${t2.pid}; Redis ${clusterUrl ? `Cluster (${scale.redis.masters} masters, prefix ${prefix})` : `db ${REDIS_DB_TWOFOLD}`}; ${SCALE_PINNING}`,
  );
  pidOf.S1 = [t1.pid, proxy.pid];
  pidOf.S2 = [t1.pid, t2.pid, proxy.pid];
  childOf.S1 = [t1.child, proxy.child];
  childOf.S2 = [t1.child, t2.child, proxy.child];
  if (!clusterUrl) {
    REDIS_DB_OF_SIDE.S1 = REDIS_DB_TWOFOLD;
    REDIS_DB_OF_SIDE.S2 = REDIS_DB_TWOFOLD;
  }
  let mode = null;
  const setMode = async (n) => {
    if (mode === n) return;
    await proxy.call({ backends: (n === 1 ? [t1] : [t1, t2]).map((t) => `http://127.0.0.1:${t.port}`) });
    mode = n;
  };
  await loadgen.call({ cmd: 'config', targets: { S: { issuer: proxy.url, clientId: 'bench-rp', clientSecret } } });
  try {
    await setMode(2);
    await loadgen.call({ cmd: 'warmup', scenario: 'S2.pwd', count: 40, concurrency: 4 });

    // Signed-in sessions through the proxy: the refresh pool, Redis (Cluster) memory and Postgres writes per login.
    const pg0 = await pgStats();
    const used0 = cluster ? await clusterUsedMemory(cluster) : null;
    const keys0 = cluster ? await clusterKeyBytes(cluster, prefix) : null;
    const fill = await loadgen.call({ cmd: 'fill', side: 'S', count: QUICK ? 600 : 1500, maxMs: QUICK ? 12_000 : 30_000, concurrency: 8 });
    await sleep(1000);
    const n = Math.max(1, fill.ok);
    if (cluster) {
      const used1 = await clusterUsedMemory(cluster);
      const keys = await clusterKeyBytes(cluster, prefix);
      scale.clusterMemory = {
        sessions: fill.ok,
        usedMemoryBytesPerSession: round((used1 - used0) / n, 0),
        memoryUsageBytesPerSession: round((keys.bytes - keys0.bytes) / n, 0),
        longLivedBytesPerSession: round((keys.longLived - keys0.longLived) / n, 0),
        keysPerSession: round((keys.keys - keys0.keys) / n, 2),
        prefixBytes: Buffer.byteLength(prefix),
      };
      log(
        `Redis Cluster memory: ${fill.ok} sessions, used_memory (all masters) ${scale.clusterMemory.usedMemoryBytesPerSession} B/session, MEMORY USAGE ${scale.clusterMemory.memoryUsageBytesPerSession} B (long-lived ${scale.clusterMemory.longLivedBytesPerSession} B)`,
      );
    }
    // Backends flush their statistics when idle for about 10 s.
    await sleep(10_500);
    const pg1 = await pgStats();
    scale.fill = { ok: fill.ok, failed: fill.failed, errors: fill.errors, seconds: round(fill.ms / 1000, 1) };
    scale.postgresPerLogin = Object.fromEntries(Object.keys(pg1).map((k) => [k, round((pg1[k] - pg0[k]) / n, 2)]));
    scale.postgresPerLogin.rowsWritten = round((pg1.tup_inserted + pg1.tup_updated + pg1.tup_deleted - pg0.tup_inserted - pg0.tup_updated - pg0.tup_deleted) / n, 2);
    log(`Postgres per password login (${fill.ok} via the proxy): ${JSON.stringify(scale.postgresPerLogin)}`);

    const topUp = async (rate) => {
      const pools = await loadgen.call({ cmd: 'pools' });
      const need = Math.min(2000, Math.ceil(rate * 1.2));
      if (pools.tokens.S >= need) return;
      await setMode(2);
      await loadgen.call({ cmd: 'fill', side: 'S', count: need - pools.tokens.S, maxMs: QUICK ? 8000 : 15_000, concurrency: 8 });
    };
    const before = {
      'S1.pwd': () => setMode(1),
      'S2.pwd': () => setMode(2),
      'S1.refresh': async (rate) => {
        await topUp(rate);
        await setMode(1);
      },
      'S2.refresh': async (rate) => {
        await topUp(rate);
        await setMode(2);
      },
    };
    log('scaling: password logins, 1 vs 2 processes');
    await runGroup(loadgen, ['S1.pwd', 'S2.pwd'], STEP_MS.login, results, {}, before);
    log('scaling: refresh-token grant, 1 vs 2 processes');
    await runGroup(loadgen, ['S1.refresh', 'S2.refresh'], STEP_MS.refresh, results, {}, before);
    scale.proxy = (await proxy.call({ stats: true }).catch(() => ({}))).stats ?? null;
  } finally {
    await stopProcess(t1.child);
    await stopProcess(t2.child);
    await stopProcess(proxy.child, 3000);
  }
}

/** Scaling, 1 vs 2 processes, from the step summaries. */
function scaleSummary(s) {
  const out = {};
  for (const kind of ['pwd', 'refresh']) {
    const one = s[`S1.${kind}`];
    const two = s[`S2.${kind}`];
    if (!one && !two) continue;
    out[kind] = {
      unit: one?.unit ?? two?.unit,
      oneProcess: one?.throughput || null,
      twoProcesses: two?.throughput || null,
      speedup: one?.throughput && two?.throughput ? round(two.throughput / one.throughput, 2) : null,
      perCoreUsedOne: one?.coresUsed ? round(one.throughput / one.coresUsed, 1) : null,
      perCoreUsedTwo: two?.coresUsed ? round(two.throughput / two.coresUsed, 1) : null,
      reasonOne: one?.reason ?? null,
      reasonTwo: two?.reason ?? null,
    };
  }
  return out;
}

function scaleTargets(scale) {
  const out = [];
  const names = { pwd: 'password logins/s', refresh: 'refresh grants/s' };
  for (const [kind, v] of Object.entries(scale.summary ?? {})) {
    const name = `${names[kind]}, 2 processes vs 1 behind the proxy`;
    if (v.speedup == null) {
      out.push({ ...unmeasured(name, null, v.reasonOne ? `1 process: ${v.reasonOne}` : `2 processes: ${v.reasonTwo}`), info: true });
      continue;
    }
    out.push({
      name,
      measured: `${v.twoProcesses}/s vs ${v.oneProcess}/s (x${v.speedup}); per core used (Twofold + proxy CPU): ${v.perCoreUsedTwo ?? '-'} vs ${v.perCoreUsedOne ?? '-'}/s (2 cores shared with the load generator: see the scaling table)`,
      value: v.speedup,
      limit: null,
      met: null,
      info: true,
    });
  }
  const name = 'Redis Cluster memory per signed-in session <= 2 KB (2048 B)';
  const m = scale.clusterMemory;
  if (scale.redis?.kind !== 'cluster') out.push(unmeasured(name, 2048, 'no Redis Cluster (BENCH_REDIS_CLUSTER_URL unset and none answers on 127.0.0.1:7001)'));
  else if (!m?.sessions) out.push(unmeasured(name, 2048, `no session was made through the proxy (${JSON.stringify(scale.fill?.errors ?? {}).slice(0, 160)})`));
  else
    out.push({
      name,
      measured: `${m.usedMemoryBytesPerSession} B by used_memory summed over the masters (${m.memoryUsageBytesPerSession} B by MEMORY USAGE of the keys written; ${m.longLivedBytesPerSession} B long-lived) over ${m.sessions} sessions`,
      value: m.usedMemoryBytesPerSession,
      limit: 2048,
      met: m.usedMemoryBytesPerSession <= 2048,
    });
  return out;
}

// ---- memory -----------------------------------------------------------------------------------
async function redisInfoMemory(r) {
  const info = await r.info('memory');
  return Number(info.match(/used_memory:(\d+)/)[1]);
}

/** Keys of one db with MEMORY USAGE each, grouped by model (the part before the first ':'). */
async function keyBreakdown(db, prefix) {
  const r = new Redis(redisUrl(db), { lazyConnect: true });
  await r.connect();
  try {
    const byType = {};
    let cursor = '0';
    let keys = 0;
    let bytes = 0;
    do {
      const [next, batch] = await r.scan(cursor, 'COUNT', 1000);
      cursor = next;
      if (!batch.length) continue;
      const pipe = r.pipeline();
      const mine = batch.filter((k) => k.startsWith(prefix));
      for (const k of mine) pipe.memory('USAGE', k, 'SAMPLES', '0').pttl(k);
      const res = await pipe.exec();
      mine.forEach((k, i) => {
        const size = Number(res[2 * i][1] ?? 0);
        const ttl = Number(res[2 * i + 1][1] ?? -1);
        const type = k.slice(prefix.length).split(':')[0];
        byType[type] ??= { keys: 0, bytes: 0, longLivedBytes: 0 };
        byType[type].keys++;
        byType[type].bytes += size;
        // Outlives the sign-in by more than an hour (sessions, grants, refresh tokens, their indexes).
        if (ttl === -1 || ttl > 3_600_000) byType[type].longLivedBytes += size;
        keys++;
        bytes += size;
      });
    } while (cursor !== '0');
    return { keys, bytes, byType };
  } finally {
    r.disconnect();
  }
}

async function memoryPhase(loadgen, side, db, prefix, pid) {
  const admin = new Redis(redisUrl(db), { lazyConnect: true });
  await admin.connect();
  try {
    await admin.flushdb();
    await admin.set(OWNER_KEY, OWNER);
    await sleep(500);
    const used0 = await redisInfoMemory(admin);
    const rss0 = rssKb(pid);
    const fill = await loadgen.call({ cmd: 'fill', side, count: MEMORY_SESSIONS, maxMs: MEMORY_MAX_MS, concurrency: 8 });
    await sleep(1000);
    const used1 = await redisInfoMemory(admin);
    const rss1 = rssKb(pid);
    const keys = await keyBreakdown(db, prefix);
    const n = Math.max(1, fill.ok);
    const perType = Object.fromEntries(
      Object.entries(keys.byType)
        .sort((a, b) => b[1].bytes - a[1].bytes)
        .map(([t, v]) => [t, { keys: v.keys, bytesPerSession: round(v.bytes / n, 0), longLived: v.longLivedBytes > v.bytes / 2 }]),
    );
    const result = {
      side,
      sessions: fill.ok,
      failed: fill.failed,
      errors: fill.errors,
      seconds: round(fill.ms / 1000, 1),
      usedMemoryBytesPerSession: round((used1 - used0) / n, 0),
      memoryUsageBytesPerSession: round(keys.bytes / n, 0),
      /** Only keys that outlive the sign-in by over an hour (not the 60 s code or the 10 min access token). */
      longLivedBytesPerSession: round(Object.values(keys.byType).reduce((a, v) => a + v.longLivedBytes, 0) / n, 0),
      keysPerSession: round(keys.keys / n, 2),
      rssBytesPerSession: rss0 && rss1 ? round(((rss1 - rss0) * 1024) / n, 0) : null,
      rssKb: { before: rss0, after: rss1 },
      perType,
    };
    log(
      `memory ${side}: ${fill.ok} sessions in ${result.seconds} s: Redis used_memory ${result.usedMemoryBytesPerSession} B/session ` +
        `(MEMORY USAGE sum ${result.memoryUsageBytesPerSession} B, long-lived ${result.longLivedBytesPerSession} B, ${result.keysPerSession} keys), RSS ${result.rssBytesPerSession} B/session`,
    );
    return result;
  } finally {
    admin.disconnect();
  }
}

// ---- cold start -------------------------------------------------------------------------------
const coldDetails = [];
async function coldStart(label, env, logFile) {
  const port = await freePort();
  const [cmd, args] = pinned(SERVER_CPU, [process.execPath, path.join(ROOT, 'bin/twofold.js'), 'serve']);
  const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const started = performance.now();
  const child = spawnLogged(cmd, args, { cwd: ROOT, env: { ...env, PORT: String(port) }, logFile });
  try {
    const ms = await waitFor200(`http://127.0.0.1:${port}/.well-known/openid-configuration`, child, started, { timeoutMs: 60_000, intervalMs: 10 });
    // Twofold logs how long startServer took (stores, migrations, keys, listen); the rest is Node start-up and module loading.
    const text = fs.readFileSync(logFile, 'utf8').slice(logStart);
    const m = text.match(/"startupMs":(\d+)/);
    const server = m ? Number(m[1]) : null;
    log(`cold start ${label}: ${Math.round(ms)} ms${server != null ? ` (startServer ${server} ms, node + module loading ${Math.round(ms - server)} ms)` : ''}`);
    coldDetails.push({ label, ms: round(ms, 0), startServerMs: server });
    return round(ms, 0);
  } finally {
    await stopProcess(child);
  }
}

// ---- output -----------------------------------------------------------------------------------
/** A row formatter for columns given as [title, width, left-aligned?]. */
function tableRow(cols) {
  return (vals) => cols.map(([, w, left], i) => pad(vals[i], w, left)).join(' ');
}

/** The title line of such a table and its rule. */
function tableHead(row, cols) {
  const head = row(cols.map((c) => c[0]));
  return [head, '-'.repeat(head.length)];
}

function pad(s, n, right = false) {
  s = s == null ? '-' : String(s);
  return right ? s.padEnd(n) : s.padStart(n);
}

const PAIRS = { 'B.pwd': 'A.login', 'B.totp': 'A.login', 'B.refresh': 'A.refresh', 'B.discovery': 'A.discovery', 'B.jwks': 'A.jwks' };

function printTable(res) {
  const lines = [];
  const s = res.summary;
  const A0 = res.argon2;
  const a0Cap = round(1000 / A0.cpuMsPerVerify, 1);
  lines.push('');
  lines.push(
    `Twofold benchmark  ${res.meta.date}  node ${res.meta.node}  ${res.meta.cpus} CPUs (${res.meta.cpuModel})  servers pinned to CPU ${SERVER_CPU ?? '-'}, load generator to CPU ${LOAD_CPU ?? '-'}`,
  );
  lines.push(`thr = highest achieved rate of a step with p99 < ${P99_BUDGET_MS} ms (open model, server on one core); p50/p95/p99 at that step.`);
  lines.push(
    'CPU = server process CPU time (all threads) per operation, main = its main thread only; cap = 1000 / CPU ms (one core fully used); PG = Postgres backend CPU per op.',
  );
  lines.push('B/A thr = Twofold vs bare throughput; B/A cap = bare CPU / Twofold CPU per op at the same offered rate (the interleaved calibration steps);');
  lines.push('B/A0 = logins/s per core vs argon2 verifications/s per core; other = CPU of other processes on the machine (cores).');
  lines.push('');
  const cols = [
    ['scenario', 41, true],
    ['thr/s', 9],
    ['p50', 7],
    ['p95', 7],
    ['p99', 7],
    ['CPU ms', 8],
    ['main', 7],
    ['cap/s', 8],
    ['PG ms', 7],
    ['B/A thr', 8],
    ['B/A cap', 8],
    ['B/A0 thr', 9],
    ['B/A0 cap', 9],
    ['other', 6],
  ];
  const row = tableRow(cols);
  lines.push(...tableHead(row, cols));
  lines.push(row(['A0 argon2id verify, production params', A0.perSecond, A0.serial.wallMsPerVerify, '', '', A0.cpuMsPerVerify, '', a0Cap, '', '', '', '', '', '']));
  if (A0.paced)
    lines.push(row([`A0 the same, one every ${round(1000 / A0.paced.rate, 0)} ms`, A0.paced.rate, '', '', '', A0.paced.cpuMsPerVerify, '', '', '', '', '', '', '', '']));
  if (A0.pacedAround) lines.push(row(['A0 paced, around the login calibration', A0.pacedAround.rate, '', '', '', A0.pacedAround.cpuMsPerVerify, '', '', '', '', '', '', '', '']));
  for (const key of Object.keys(SCENARIOS)) {
    const r = s[key];
    if (!r || SCENARIOS[key].group === 'scale') continue;
    const a = PAIRS[key] ? s[PAIRS[key]] : null;
    const login = SCENARIOS[key].group === 'login';
    lines.push(
      row([
        r.label,
        `${r.throughput}${r.loadgenBound ? '*' : ''}`,
        r.p50,
        r.p95,
        r.p99,
        r.cpuMsPerOp,
        r.mainThreadMsPerOp,
        r.cpuCapacity,
        r.pgMsPerOp,
        a && a.throughput ? round(r.throughput / a.throughput, 2) : '',
        a && a.cpuMsAtMatchedRate && r.cpuMsAtMatchedRate ? round(a.cpuMsAtMatchedRate / r.cpuMsAtMatchedRate, 2) : '',
        login ? round(r.throughput / A0.perSecond, 2) : '',
        login && r.cpuCapacity ? round(r.cpuCapacity / a0Cap, 2) : '',
        r.foreignCores,
      ]),
    );
  }
  if (Object.values(s).some((r) => r.loadgenBound)) lines.push('* the load generator core was over 90% busy at that step: the server may have more headroom.');
  for (const [key, r] of Object.entries(s)) if (r.reason && SCENARIOS[key].group !== 'scale') lines.push(`  ${r.label}: no value: ${r.reason}`);
  for (const r of Object.values(s)) if (r.stepsNotMeasured) lines.push(`  ${r.label}: ${r.stepsNotMeasured} step(s) not measured (see latest.json, steps[].invalid)`);
  if (res.scale) lines.push(...scaleTable(res));
  if (res.memory) {
    lines.push('');
    lines.push(
      `${pad('memory per signed-in session', 41, true)} ${pad('sessions', 9)} ${pad('Redis used_memory', 18)} ${pad('MEMORY USAGE sum', 17)} ${pad('long-lived', 11)} ${pad('keys', 6)} ${pad('server RSS', 11)}`,
    );
    for (const m of res.memory) {
      lines.push(
        `${pad(m.side === 'A' ? 'A  bare oidc-provider' : 'B  Twofold (password login)', 41, true)} ${pad(m.sessions, 9)} ${pad(`${m.usedMemoryBytesPerSession} B`, 18)} ${pad(`${m.memoryUsageBytesPerSession} B`, 17)} ${pad(`${m.longLivedBytesPerSession} B`, 11)} ${pad(m.keysPerSession, 6)} ${pad(m.rssBytesPerSession == null ? '-' : `${m.rssBytesPerSession} B`, 11)}`,
      );
    }
    const b = res.memory.find((m) => m.side === 'B');
    if (b)
      lines.push(
        `  Twofold by key type (B/session, L = long-lived): ${Object.entries(b.perType)
          .map(([t, v]) => `${t} ${v.bytesPerSession}${v.longLived ? ' L' : ''}`)
          .join(', ')}`,
      );
    const short = res.memory.some((m) => m.sessions < MEMORY_SESSIONS);
    if (short) lines.push(`  (fewer than ${MEMORY_SESSIONS} sessions: as many as fit in ${MEMORY_MAX_MS / 1000} s per server; bytes are divided by the count created)`);
  }
  if (res.coldStart) {
    lines.push('');
    lines.push(`${pad('cold start: spawn to first 200 on discovery', 48, true)} ${pad('ms', 8)}`);
    for (const [k, v] of Object.entries(res.coldStart)) if (typeof v === 'number') lines.push(`${pad(k, 48, true)} ${pad(v, 8)}`);
  }
  lines.push('');
  lines.push('Targets:');
  for (const t of res.targets) lines.push(`  [${t.info ? 'info' : t.met == null ? ' ?  ' : t.met ? ' ok ' : 'MISS'}] ${t.name}: ${t.measured}`);
  lines.push('');
  if (res.meta.otherCoresAtStart > 0.3)
    lines.push(`WARNING: other processes kept ${res.meta.otherCoresAtStart} CPUs busy before the run started (see "other"): absolute numbers are depressed and noisy.`);
  lines.push(`Machine: load average ${res.meta.loadAverageStart.join(' ')} at start, ${res.meta.loadAverageEnd.join(' ')} at the end; total ${res.meta.seconds} s.`);
  return lines.join('\n');
}

/** The scaling scenario's table: 1 vs 2 Twofold processes behind the proxy. */
function scaleTable(res) {
  const sc = res.scale;
  const lines = [''];
  if (sc.error && !sc.summary) {
    lines.push(`scaling (1 vs 2 Twofold processes behind a proxy): not measured: ${sc.error}`);
    return lines;
  }
  const redis = sc.redis?.kind === 'cluster' ? `Redis Cluster, ${sc.redis.masters} masters, keys under ${sc.redis.prefix}` : `one Redis (db ${sc.redis?.db})`;
  lines.push(`scaling: Twofold processes behind bench/lib/proxy.js (round robin, keep-alive), one issuer, ${redis}, the same Postgres; ${sc.pinning}.`);
  lines.push('CPU and cores = all Twofold processes of the step + the proxy (from /proc); per core = thr / cores used at that step; cap = 1000 / CPU ms.');
  lines.push('With 2 cores the second process shares CPU 1 with the proxy and the load generator: "2 processes" shows what a second core adds here, not a clean 2x.');
  const cols = [
    ['scenario', 41, true],
    ['thr/s', 9],
    ['p50', 7],
    ['p99', 7],
    ['CPU ms', 8],
    ['cores', 6],
    ['per core', 9],
    ['cap/s', 8],
    ['PG ms', 7],
    ['2 vs 1', 7],
    ['other', 6],
  ];
  const row = tableRow(cols);
  lines.push(...tableHead(row, cols));
  for (const key of ['S1.pwd', 'S2.pwd', 'S1.refresh', 'S2.refresh']) {
    const r = res.summary[key];
    if (!r) continue;
    const kind = key.split('.')[1];
    const two = key.startsWith('S2') ? sc.summary?.[kind] : null;
    lines.push(
      row([
        r.label,
        `${r.throughput}${r.loadgenBound ? '*' : ''}`,
        r.p50,
        r.p99,
        r.cpuMsPerOp,
        round(r.coresUsed, 2),
        r.coresUsed ? round(r.throughput / r.coresUsed, 1) : '',
        r.cpuCapacity,
        r.pgMsPerOp,
        two?.speedup ?? '',
        r.foreignCores,
      ]),
    );
    if (r.reason) lines.push(`  ${r.label}: no value: ${r.reason}`);
  }
  for (const kind of ['pwd', 'refresh']) {
    const one = res.summary[`S1.${kind}`];
    const two = res.summary[`S2.${kind}`];
    // Two processes that together got little more than one process did: the machine was the limit.
    if (one?.coresUsed && two?.coresUsed && two.coresUsed < 1.3 * one.coresUsed)
      lines.push(
        `  ${two.label}: its best step used ${round(two.coresUsed, 2)} cores (1 process: ${round(one.coresUsed, 2)}; other processes ${two.foreignCores} cores): the second core was not free, so "2 vs 1" here is not Twofold's scaling; "per core" is the comparable figure.`,
      );
  }
  const pgw = sc.postgresPerLogin;
  if (pgw)
    lines.push(
      `Postgres per password login (${sc.fill.ok} logins through the proxy): ${pgw.xacts} transactions, ${pgw.rowsWritten} rows written (${pgw.tup_inserted} inserted, ${pgw.tup_updated} updated, ${pgw.tup_deleted} deleted)`,
    );
  const m = sc.clusterMemory;
  if (m)
    lines.push(
      `Redis Cluster memory per signed-in session (${m.sessions}): used_memory ${m.usedMemoryBytesPerSession} B, MEMORY USAGE ${m.memoryUsageBytesPerSession} B, long-lived ${m.longLivedBytesPerSession} B, ${m.keysPerSession} keys (key prefix ${m.prefixBytes} bytes; the default twofold: is 8)`,
    );
  else if (sc.redis?.kind !== 'cluster') lines.push('Redis Cluster memory: no cluster (set BENCH_REDIS_CLUSTER_URL, or run one on 127.0.0.1:7001-7003)');
  if (sc.error) lines.push(`scaling: stopped early: ${sc.error}`);
  return lines;
}

/** A target that has no number: says why, and counts as neither met nor missed. */
const unmeasured = (name, limit, reason) => ({ name, measured: `no value: ${reason}`, value: null, limit, met: null });
const num = (v) => typeof v === 'number' && Number.isFinite(v);

/** Which paced verify the login budget used, with the others measured. */
function verifyOf(A0) {
  const start = A0?.paced ? `${A0.paced.cpuMsPerVerify} ms at the start of the run` : 'not paced at the start';
  return A0?.pacedAround ? `paced around the calibration: ${A0.pacedAround.runs.map((r) => r.cpuMsPerVerify).join(' and ')} ms; ${start}` : start;
}

function targetsOf(res) {
  const s = res.summary;
  const A0 = res.argon2;
  const out = [];
  const totp = s['B.totp'];
  const bare = s['A.login'];
  {
    const name = `password+TOTP login CPU <= ${TOTP_CPU_LIMIT} x (argon2 verify + bare flow)`;
    // Like for like: both logins at the same offered rate (the calibration steps, run back to back).
    // ... and the verify too: A0 paced at that rate, where it costs more than back to back.
    const b = totp?.cpuMsAtMatchedRate ?? totp?.cpuMsPerOp;
    const a = bare?.cpuMsAtMatchedRate ?? bare?.cpuMsPerOp;
    const pacedOf = (p) => (p?.rate === totp?.calibrationRate && num(p?.cpuMsPerVerify) ? p.cpuMsPerVerify : undefined);
    const v = pacedOf(A0?.pacedAround) ?? pacedOf(A0?.paced) ?? A0?.cpuMsPerVerify;
    if (!num(v)) out.push(unmeasured(name, TOTP_CPU_LIMIT, 'no argon2 ceiling'));
    else if (!num(b)) out.push(unmeasured(name, TOTP_CPU_LIMIT, `B TOTP login: ${totp?.reason ?? 'not run'}`));
    else if (!num(a)) out.push(unmeasured(name, TOTP_CPU_LIMIT, `A bare login: ${bare?.reason ?? 'not run'}`));
    else {
      const budget = TOTP_CPU_LIMIT * (v + a);
      out.push({
        name,
        measured: `${b} ms vs ${TOTP_CPU_LIMIT} x (${v} + ${a}) = ${round(budget, 2)} ms at ${totp.calibrationRate} logins/s each (ratio ${round(b / (v + a), 2)}x; the verify ${verifyOf(A0)}); with the back-to-back verify (${A0.cpuMsPerVerify} ms): ${round(b / (A0.cpuMsPerVerify + a), 2)}x; with Postgres backend CPU: ${round((b + (totp.pgMsPerOp ?? 0)) / (v + a + (bare.pgMsPerOp ?? 0)), 2)}x; over the load steps: ${totp.cpuMsPerOp} vs ${bare.cpuMsPerOp} ms`,
        value: round(b / (v + a), 3),
        limit: TOTP_CPU_LIMIT,
        met: b <= budget,
      });
    }
  }
  {
    const name = 'password+TOTP logins/s per core >= 0.7 x argon2 ceiling';
    if (!num(A0?.perSecond) || !A0.perSecond) out.push(unmeasured(name, 0.7, 'no argon2 ceiling'));
    else if (!totp?.throughput) out.push(unmeasured(name, 0.7, `B TOTP login: ${totp?.reason ?? 'not run'}`));
    else
      out.push({
        name,
        measured: `${totp.throughput}/s vs 0.7 x ${A0.perSecond}/s = ${round(0.7 * A0.perSecond, 1)}/s (ratio ${round(totp.throughput / A0.perSecond, 2)}; by CPU: ${totp.cpuCapacity} vs ${round(1000 / A0.cpuMsPerVerify, 1)} per core, ratio ${round(A0.cpuMsPerVerify / totp.cpuMsPerOp, 2)})`,
        value: round(totp.throughput / A0.perSecond, 3),
        limit: 0.7,
        met: totp.throughput >= 0.7 * A0.perSecond,
      });
  }
  for (const [b, a, label] of [
    ['B.refresh', 'A.refresh', 'refresh grant'],
    ['B.discovery', 'A.discovery', 'discovery'],
    ['B.jwks', 'A.jwks', 'JWKS'],
  ]) {
    const name = `${label} throughput >= 0.8 x bare`;
    if (!s[a] && !s[b]) continue;
    const byCpu =
      num(s[a]?.cpuMsAtMatchedRate) && num(s[b]?.cpuMsAtMatchedRate)
        ? `by CPU at ${s[b].calibrationRate}/s each: ${s[b].cpuMsAtMatchedRate} vs ${s[a].cpuMsAtMatchedRate} ms/op (ratio ${round(s[a].cpuMsAtMatchedRate / s[b].cpuMsAtMatchedRate, 2)})`
        : 'no CPU ratio (a calibration step was not measured)';
    if (!s[a]?.throughput) out.push(unmeasured(name, 0.8, `A ${label}: ${s[a]?.reason ?? 'not run'}; ${byCpu}`));
    else if (!s[b]?.throughput) out.push(unmeasured(name, 0.8, `B ${label}: ${s[b]?.reason ?? 'not run'}; ${byCpu}`));
    else {
      const ratio = s[b].throughput / s[a].throughput;
      const bound = s[a].loadgenBound || s[b].loadgenBound ? ' (load-generator bound: a lower bound)' : '';
      out.push({
        name,
        measured: `${s[b].throughput}/s vs ${s[a].throughput}/s (ratio ${round(ratio, 2)})${bound}; ${byCpu}`,
        value: round(ratio, 3),
        limit: 0.8,
        met: ratio >= 0.8,
      });
    }
  }
  if (res.memory) {
    const name = 'Redis memory per signed-in session <= 2 KB (2048 B)';
    const mem = res.memory.find((m) => m.side === 'B');
    if (!mem?.sessions || !num(mem.usedMemoryBytesPerSession)) out.push(unmeasured(name, 2048, `no Twofold session was made (${JSON.stringify(mem?.errors ?? {}).slice(0, 160)})`));
    else
      out.push({
        name,
        measured: `${mem.usedMemoryBytesPerSession} B by used_memory (${mem.memoryUsageBytesPerSession} B by MEMORY USAGE; ${mem.longLivedBytesPerSession} B once the 60 s code and 10 min access token expire) over ${mem.sessions} sessions`,
        value: mem.usedMemoryBytesPerSession,
        limit: 2048,
        met: mem.usedMemoryBytesPerSession <= 2048,
      });
  }
  const cs = res.coldStart;
  if (cs) {
    for (const [name, key, limit] of [
      ['cold start, existing database, Postgres + Redis < 1.5 s', 'Postgres+Redis, existing database (median)', 1500],
      ['cold start, existing database, embedded < 3 s', 'embedded, existing DATA_DIR (median)', 3000],
    ]) {
      const v = cs[key];
      if (!num(v)) out.push(unmeasured(name, limit, cs.error ?? 'no run started'));
      else out.push({ name, measured: `${v} ms`, value: v, limit, met: v < limit });
    }
  }
  if (res.scale) out.push(...scaleTargets(res.scale));
  return out;
}

function chart(res) {
  const panels = ['A.login', 'B.pwd', 'B.totp']
    .filter((sc) => res.steps.some((s) => s.scenario === sc))
    .map((sc) => ({
      title: SCENARIOS[sc].label.replace(/^[AB]\s+/, ''),
      // Every step, the calibration ones too (one point per offered rate: the latest).
      steps: [...new Map(res.steps.filter((s) => s.scenario === sc).map((s) => [s.offered, s])).values()],
      note: `best under budget: ${res.summary[sc]?.throughput ?? 0} logins/s, ${res.summary[sc]?.cpuMsPerOp ?? '-'} ms CPU/login`,
    }));
  return latencyChart(panels, {
    title: 'Login latency vs offered load (open model, server on one core)',
    subtitle: `${res.meta.date}; argon2 ceiling ${res.argon2.perSecond} verifications/s/core; crosses = step with failures beyond that percentile`,
  });
}

// ---- main -------------------------------------------------------------------------------------
async function setup(results, { pwdUsers, totpUsers, initialEnrol = totpUsers, logDir }) {
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm run bench does)');
  const db = await createDatabase('twofold_bench');
  benchDbName = db.name;
  await claimRedisDb(REDIS_DB_TWOFOLD, 'twofold:');
  await claimRedisDb(REDIS_DB_BARE, 'bare:');
  const env = twofoldEnv({
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl(REDIS_DB_TWOFOLD),
    REDIS_KEY_PREFIX: 'twofold:',
    COOKIE_KEYS: crypto.randomBytes(32).toString('base64url'),
    DATA_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'twofold-bench-data-')),
  });
  cleanups.push(() => fs.rmSync(env.DATA_DIR, { recursive: true, force: true }));

  // Accounts and the client through the CLI (the first command also migrates the database).
  log(`database ${db.name}; provisioning with the CLI`);
  const pwdAccount = await cli(env, ['account', 'create', '--name', 'Bench password only']);
  const [totpAccount] = await Promise.all([
    cli(env, ['account', 'create', '--name', 'Bench MFA required']),
    cli(env, ['account', 'set-mfa-required', pwdAccount.accountId, 'false']),
  ]);
  const clientSecret = crypto.randomBytes(24).toString('hex');
  await cli(env, ['client', 'create', '--client-id', 'bench-rp', '--redirect-uri', 'http://rp.test/callback', '--secret', clientSecret, '--first-party']);
  const t = performance.now();
  const [pwd, totp] = await Promise.all([createUsers(env, pwdAccount.accountId, 'pwd', pwdUsers), createUsers(env, totpAccount.accountId, 'totp', totpUsers)]);
  log(`created ${pwd.length} password-only users and ${totp.length} MFA users in ${Math.round(performance.now() - t)} ms`);

  const twofold = await startTwofold(env, { port: await freePort(), logFile: path.join(logDir, 'twofold.log') });
  const bareSecret = crypto.randomBytes(24).toString('hex');
  const bare = await startBare({
    port: await freePort(),
    clientId: 'bench-bare',
    clientSecret: bareSecret,
    cookieKey: crypto.randomBytes(32).toString('base64url'),
    logFile: path.join(logDir, 'bare.log'),
  });
  pidOf.A = bare.pid;
  pidOf.B = twofold.pid;
  childOf.A = bare.child;
  childOf.B = twofold.child;
  log(`Twofold pid ${twofold.pid} at ${twofold.issuer}; bare oidc-provider pid ${bare.pid} at ${bare.issuer}`);

  const loadgen = startLoadgen(path.join(logDir, 'loadgen.log'));
  await loadgen.call({
    cmd: 'config',
    targets: {
      A: { issuer: bare.issuer, clientId: 'bench-bare', clientSecret: bareSecret },
      B: { issuer: twofold.issuer, clientId: 'bench-rp', clientSecret, pwdUsers: pwd, totpUsers: totp },
    },
  });

  // Each MFA user enrols a Mobile Passcode through the real forced-enrolment sign-in. The
  // server may use both cores for this setup; it is pinned back to one core afterwards.
  const te = performance.now();
  repin(twofold.pid, PIN ? '0,1' : null);
  const enrol = await loadgen.call({ cmd: 'enrol', count: initialEnrol, concurrency: 8, maxMs: 180_000 });
  repin(twofold.pid, SERVER_CPU);
  log(
    `enrolled ${enrol.enrolled} TOTP devices through the forced-enrolment flow in ${Math.round(performance.now() - te)} ms${enrol.failed ? ` (${enrol.failed} failed: ${JSON.stringify(enrol.errors)})` : ''}`,
  );
  if (enrol.enrolled < Math.min(20, initialEnrol)) throw new Error(`TOTP enrolment failed: ${JSON.stringify(enrol.errors)}\n${twofold.child.logTail()}`);
  results.setup = {
    database: db.name,
    pwdUsers: pwd.length,
    mfaUsersCreated: totp.length,
    totpEnrolledAtSetup: enrol.enrolled,
    twofoldReadyMs: round(twofold.readyMs, 0),
    bareReadyMs: round(bare.readyMs, 0),
  };
  return { db, env, twofold, bare, loadgen, enrolled: enrol.enrolled, mfaUsers: totp.length, clientSecret };
}

async function argon2Ceiling(pacedOnly = false) {
  const paced = [SCENARIOS['B.totp'].calibrate, ((pacedOnly ? 1 : 2) * CALIBRATE_MS) / 1000];
  const [cmd, args] = pinned(SERVER_CPU, [process.execPath, path.join(ROOT, 'bench/argon2-ceiling.js'), pacedOnly ? '0' : QUICK ? '2' : '4', ...paced.map(String)]);
  const out = await runChild(cmd, args, { env: { PATH: process.env.PATH } });
  const r = JSON.parse(out.trim().split('\n').pop());
  if (pacedOnly) log(`A0 paced around the login calibration: ${r.paced?.cpuMsPerVerify} ms per verify at ${r.paced?.rate}/s`);
  else
    log(`A0 argon2 ceiling: ${r.perSecond} verifications/s on one core, ${r.cpuMsPerVerify} ms CPU per verify back to back, ${r.paced?.cpuMsPerVerify} ms at ${r.paced?.rate}/s`);
  return r;
}

/**
 * The paced verify again just before and just after the login calibration passes, so the
 * argon2 part of the budget is read in the same minutes as the sign-ins it is compared with
 * (this machine's speed drifts over a run). Their mean is the budget's verify.
 */
function argon2AroundCalibration(argon2) {
  const runs = [];
  return async () => {
    const r = (await argon2Ceiling(true)).paced;
    if (!r || !num(r.cpuMsPerVerify)) return;
    runs.push(r);
    argon2.pacedAround = { rate: r.rate, runs, cpuMsPerVerify: round(runs.reduce((sum, x) => sum + x.cpuMsPerVerify, 0) / runs.length, 2) };
  };
}

async function main() {
  fs.mkdirSync(RESULTS, { recursive: true });
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twofold-bench-logs-'));
  if (PIN) repin(process.pid, LOAD_CPU);
  const results = {
    meta: {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cores,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      pinned: PIN,
      serverCpu: SERVER_CPU,
      loadgenCpu: LOAD_CPU,
      quick: QUICK,
      startFraction: START_FRACTION,
      ramp: RAMP,
      maxSteps: MAX_STEPS,
      stepMs: STEP_MS,
      p99BudgetMs: P99_BUDGET_MS,
      loadAverageStart: loadAverage(),
      logs: logDir,
    },
    steps: [],
  };
  log(`pinning: ${PIN ? `servers on CPU ${SERVER_CPU}, load generator on CPU ${LOAD_CPU}` : 'not available (taskset missing or one CPU)'}; logs in ${logDir}`);

  {
    // Nothing of ours runs yet: whatever keeps the CPUs busy now is someone else's work.
    const a = cpuStat();
    await sleep(1000);
    const other = busyMs(a, cpuStat()) / 1000;
    results.meta.otherCoresAtStart = round(other, 2);
    if (other > 0.3) log(`WARNING: other processes keep ${round(other, 2)} of ${cores} CPUs busy: numbers will be noisy (ratios of interleaved runs less so)`);
  }

  if (PROFILE) return profileMode(results, logDir);
  if (STEPS) return stepsMode(results, logDir);

  results.argon2 = await argon2Ceiling();
  // MFA users: a device gives at most one code per 30 s time step, so a TOTP load step needs
  // about rate x seconds enrolled users with an unused step. Users are created up front and
  // enrolled (through the real forced-enrolment flow) as the offered rate grows.
  const mfaUsers = QUICK ? 150 : 420;
  const { loadgen, twofold, bare, env, enrolled, clientSecret } = await setup(results, { pwdUsers: PWD_USERS, totpUsers: mfaUsers, initialEnrol: QUICK ? 60 : 150, logDir });
  let enrolledTotal = enrolled;
  const ensureTotp = async (rate, stepMs) => {
    const need = Math.ceil(rate * (stepMs / 1000) * 1.05) + 2;
    const pools = await loadgen.call({ cmd: 'pools' });
    if (pools.totpReady >= need || pools.totpLeft === 0) return;
    const t = performance.now();
    repin(twofold.pid, PIN ? '0,1' : null);
    try {
      const r = await loadgen.call({ cmd: 'enrol', count: Math.min(pools.totpLeft, Math.ceil((need - pools.totpReady) * 1.1)), concurrency: 8 });
      enrolledTotal = r.enrolled;
      log(`enrolled ${r.enrolled} TOTP devices so far (+${r.ok} in ${Math.round(performance.now() - t)} ms${r.failed ? `, ${r.failed} failed: ${JSON.stringify(r.errors)}` : ''})`);
    } finally {
      repin(twofold.pid, SERVER_CPU);
    }
    await sleep(PAUSE_MS);
  };

  if (!flag('--skip-memory')) {
    results.memory = [];
    for (const [side, db, prefix, pid] of [
      ['A', REDIS_DB_BARE, 'bare:', bare.pid],
      ['B', REDIS_DB_TWOFOLD, 'twofold:', twofold.pid],
    ]) {
      results.memory.push(
        await memoryPhase(loadgen, side, db, prefix, pid).catch((err) => {
          log(`memory ${side}: not measured: ${err.message}`);
          return { side, sessions: 0, error: err.message };
        }),
      );
    }
  } else {
    await loadgen.call({ cmd: 'fill', side: 'A', count: 300, maxMs: 20_000, concurrency: 8 });
    await loadgen.call({ cmd: 'fill', side: 'B', count: 300, maxMs: 20_000, concurrency: 8 });
  }

  log('warm-up');
  for (const [sc, n] of [
    ['A.login', 60],
    ['B.pwd', 40],
    ['A.refresh', 100],
    ['B.refresh', 100],
    ['A.discovery', 500],
    ['B.discovery', 500],
    ['A.jwks', 300],
    ['B.jwks', 300],
  ]) {
    await loadgen.call({ cmd: 'warmup', scenario: sc, count: n, concurrency: 4 });
  }

  if (runs('login')) {
    log('logins');
    await runGroup(
      loadgen,
      ['A.login', 'B.pwd', 'B.totp'],
      STEP_MS.login,
      results,
      { 'B.totp': mfaUsers / (STEP_MS.login / 1000) / 1.05 },
      { 'B.totp': ensureTotp },
      {
        around: argon2AroundCalibration(results.argon2),
      },
    );
  }
  results.setup.totpEnrolled = enrolledTotal;
  if (runs('refresh')) {
    log('refresh-token grant');
    // Enough tokens for what can be in flight at once (each refresh puts its successor back).
    const topUp = (side) => async (rate) => {
      const pools = await loadgen.call({ cmd: 'pools' });
      const need = Math.min(2000, Math.ceil(rate * 1.2));
      if (pools.tokens[side] < need) await loadgen.call({ cmd: 'fill', side, count: need - pools.tokens[side], maxMs: QUICK ? 8000 : 15_000, concurrency: 8 });
    };
    await runGroup(loadgen, ['A.refresh', 'B.refresh'], STEP_MS.refresh, results, {}, { 'A.refresh': topUp('A'), 'B.refresh': topUp('B') });
  }
  if (runs('doc')) {
    log('discovery and JWKS');
    const docCaps = { 'A.discovery': LOADGEN_DOC_MAX_RATE, 'B.discovery': LOADGEN_DOC_MAX_RATE, 'A.jwks': LOADGEN_DOC_MAX_RATE, 'B.jwks': LOADGEN_DOC_MAX_RATE };
    await runGroup(loadgen, ['A.discovery', 'B.discovery', 'A.jwks', 'B.jwks'], STEP_MS.doc, results, docCaps, {}, { calibrateMs: STEP_MS.doc, maxSteps: QUICK ? 3 : 4 });
  }
  if (runs('scale') && !flag('--skip-scale')) {
    log('scaling: 1 vs 2 Twofold processes behind a round-robin proxy');
    await scalePhase(results, { env, loadgen, logDir, clientSecret }).catch((err) => {
      log(`scaling: not measured: ${err.stack ?? err}`);
      results.scale = { ...(results.scale ?? {}), error: String(err?.message ?? err).split('\n')[0] };
    });
  }
  results.pools = await loadgen.call({ cmd: 'pools' });

  await loadgen.call({ cmd: 'exit' }).catch(() => undefined);
  await stopProcess(bare.child);
  await stopProcess(twofold.child);

  if (!flag('--skip-cold')) {
    log('cold starts');
    results.coldStart = {};
    await coldStarts(results, env, logDir).catch((err) => {
      log(`cold starts: not measured: ${err.message}`);
      results.coldStart.error = String(err?.message ?? err)
        .split('\n')[0]
        .slice(0, 200);
    });
  }

  results.summary = Object.fromEntries(
    Object.keys(SCENARIOS)
      .filter((sc) => runs(SCENARIOS[sc].group) && (SCENARIOS[sc].group !== 'scale' || results.scale))
      .map((sc) => [sc, summarize(sc, results.steps)]),
  );
  if (results.scale) results.scale.summary = scaleSummary(results.summary);
  results.targets = targetsOf(results);
  results.meta.loadAverageEnd = loadAverage();
  results.meta.seconds = round((performance.now() - t0) / 1000, 0);
  const table = printTable(results);
  results.table = table;
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(RESULTS, 'login-latency.svg'), chart(results));
  process.stdout.write(`${table}\n\nWrote bench/results/latest.json and bench/results/login-latency.svg\n`);
}

/** Cold starts (see the README): spawn to the first 200 on discovery, in each configuration. */
async function coldStarts(results, env, logDir) {
  const cs = results.coldStart;
  const pgEnv = { ...env };
  const existing = [];
  // Keep the whole run within its 10 minutes on a busy machine: fewer repeats when late.
  const repeats = performance.now() - t0 > 420_000 ? Math.min(2, COLD_REPEATS) : COLD_REPEATS;
  for (let i = 0; i < repeats; i++) existing.push(await coldStart('Postgres+Redis, existing database', pgEnv, path.join(logDir, 'cold.log')));
  cs['Postgres+Redis, existing database (median)'] = median(existing);
  cs['Postgres+Redis, existing database (runs)'] = existing;
  const fresh = await createDatabase('twofold_bench_cold');
  cs['Postgres+Redis, new empty database (migrations)'] = await coldStart(
    'Postgres+Redis, new empty database',
    { ...pgEnv, DATABASE_URL: fresh.url },
    path.join(logDir, 'cold.log'),
  );
  await fresh.drop();
  cleanups.splice(cleanups.indexOf(fresh.drop), 1);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twofold-bench-embedded-'));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  // The embedded default: no DATABASE_URL, no REDIS_URL, nothing else set (development secrets and the demo seed in DATA_DIR).
  const embeddedEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'info' };
  cs['embedded, fresh DATA_DIR'] = await coldStart('embedded, fresh DATA_DIR', embeddedEnv, path.join(logDir, 'cold.log'));
  const emb = [];
  for (let i = 0; i < repeats; i++) emb.push(await coldStart('embedded, existing DATA_DIR', embeddedEnv, path.join(logDir, 'cold.log')));
  cs['embedded, existing DATA_DIR (median)'] = median(emb);
  cs['embedded, existing DATA_DIR (runs)'] = emb;
  results.coldStart = cs;
  results.coldStartDetails = coldDetails;
  const [icmd, iargs] = pinned(SERVER_CPU, [
    process.execPath,
    '--input-type=module',
    '-e',
    "const t = performance.now(); await import('./dist/server.js'); process.stdout.write(String(Math.round(performance.now() - t)))",
  ]);
  const imp = await runChild(icmd, iargs, { env: { PATH: process.env.PATH } }).catch(() => null);
  if (imp) cs['import of dist/server.js alone'] = Number(imp.trim().split('\n').pop());
}

// ---- profiling mode ---------------------------------------------------------------------------
const PROFILES = {
  login: { scenario: 'B.totp', rate: 10, seconds: 20 },
  password: { scenario: 'B.pwd', rate: 12, seconds: 20 },
  refresh: { scenario: 'B.refresh', rate: 150, seconds: 15 },
  discovery: { scenario: 'B.discovery', rate: 800, seconds: 12 },
  bare: { scenario: 'A.login', rate: 30, seconds: 20 },
  'bare-refresh': { scenario: 'A.refresh', rate: 150, seconds: 15 },
};

async function pgStats() {
  const url = new URL(PG_ADMIN_URL);
  return withPg(url.toString(), async (c) => {
    const { rows } = await c.query('SELECT xact_commit + xact_rollback AS xacts, tup_inserted, tup_updated, tup_deleted, tup_fetched FROM pg_stat_database WHERE datname = $1', [
      benchDbName,
    ]);
    return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]));
  });
}

/**
 * Redis commands per operation (sequential operations, MONITOR on the scenario's db), and for
 * Twofold the Postgres transactions (each autocommit query is one) and rows written per operation
 * from pg_stat_database (which backends flush within about 10 s, hence the wait).
 */
async function redisCommandsPerOp(loadgen, scenario, count = 20) {
  const db = SCENARIOS[scenario].side === 'A' ? REDIS_DB_BARE : REDIS_DB_TWOFOLD;
  const mon = monitorRedis(REDIS_BASE, db);
  await mon.ready;
  try {
    const pg0 = SCENARIOS[scenario].side === 'B' ? await pgStats() : null;
    const r = await loadgen.call({ cmd: 'warmup', scenario, count, concurrency: 1 });
    await sleep(200);
    const { total, sent, byCommand } = mon.snapshot();
    const n = Math.max(1, r.ok);
    let postgres = null;
    if (pg0) {
      await sleep(11_000);
      const pg1 = await pgStats();
      postgres = Object.fromEntries(Object.keys(pg1).map((k) => [`${k}PerOp`, round((pg1[k] - pg0[k]) / n, 1)]));
    }
    return {
      scenario,
      ops: r.ok,
      postgres,
      perOp: round(total / n, 1),
      sentPerOp: round(sent / n, 1),
      byCommand: Object.fromEntries(
        Object.entries(byCommand)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, round(v / n, 1)]),
      ),
    };
  } finally {
    mon.close();
  }
}

/**
 * Where a sign-in's CPU goes: each request of the flow, one at a time (a short pause before
 * each, as at a low rate), with the server's CPU (main thread, all threads) read around it.
 */
async function stepsMode(results, logDir) {
  const count = QUICK ? 30 : 80;
  const argon2 = await argon2Ceiling();
  const { loadgen, twofold, bare } = await setup(results, { pwdUsers: count + 10, totpUsers: count + 20, initialEnrol: count + 20, logDir });
  await loadgen.call({ cmd: 'fill', side: 'A', count: count + 20, maxMs: 30_000, concurrency: 4 });
  await loadgen.call({ cmd: 'fill', side: 'B', count: count + 20, maxMs: 30_000, concurrency: 4 });
  await sleep(31_000); // every enrolled device has an unused time step again
  const runs = [];
  for (const scenario of ['A.login', 'B.pwd', 'B.totp', 'A.refresh', 'B.refresh']) {
    const pid = SCENARIOS[scenario].side === 'A' ? bare.pid : twofold.pid;
    // A few first, unmeasured: the first requests of a process compile its code.
    await loadgen.call({ cmd: 'warmup', scenario: scenario === 'B.totp' ? 'B.pwd' : scenario, count: 10, concurrency: 1 });
    const r = await loadgen.call({ cmd: 'step-costs', scenario, count, pid });
    log(`${scenario}: ${r.ok} of ${count} measured${Object.keys(r.errors).length ? `, errors ${JSON.stringify(r.errors)}` : ''}`);
    runs.push(r);
  }
  await loadgen.call({ cmd: 'exit' }).catch(() => undefined);
  const lines = [`\nCPU per request, one request at a time (${count} operations each; ms of the server process: main thread / all threads)`];
  const perOp = {};
  for (const r of runs) {
    const n = Math.max(1, r.ok);
    let main = 0;
    let all = 0;
    lines.push(`\n${SCENARIOS[r.scenario].label}`);
    for (const [route, v] of Object.entries(r.routes)) {
      main += v.mainMs / n;
      all += v.allMs / n;
      lines.push(`  ${pad(route, 34, true)} ${pad(round(v.requests / n, 1), 4)} x ${pad(round(v.mainMs / n, 2), 7)} / ${pad(round(v.allMs / n, 2), 7)} ms`);
    }
    lines.push(`  ${pad('per operation', 41, true)} ${pad(round(main, 2), 7)} / ${pad(round(all, 2), 7)} ms`);
    perOp[r.scenario] = { mainMs: round(main, 2), allMs: round(all, 2), routes: r.routes, ok: r.ok };
  }
  const a = perOp['A.login'];
  const b = perOp['B.totp'];
  if (a && b) {
    const floor = argon2.cpuMsPerVerify + a.allMs;
    // Each sign-in's verify follows an idle pause here too: the paced verify is the like-for-like one.
    const paced = argon2.paced
      ? `; with the verify paced at ${argon2.paced.rate}/s (${argon2.paced.cpuMsPerVerify} ms): ${round(b.allMs / (argon2.paced.cpuMsPerVerify + a.allMs), 2)}x`
      : '';
    lines.push(`\npassword + TOTP login: ${b.allMs} ms vs argon2 ${argon2.cpuMsPerVerify} + bare ${a.allMs} = ${round(floor, 2)} ms (ratio ${round(b.allMs / floor, 2)}x${paced})`);
  }
  if (perOp['A.refresh'] && perOp['B.refresh'])
    lines.push(
      `refresh grant: ${perOp['B.refresh'].allMs} ms vs bare ${perOp['A.refresh'].allMs} ms (ratio ${round(perOp['A.refresh'].allMs / perOp['B.refresh'].allMs, 2)} by CPU)`,
    );
  fs.writeFileSync(path.join(RESULTS, 'steps.json'), `${JSON.stringify({ date: new Date().toISOString(), count, argon2, perOp }, null, 2)}\n`);
  lines.push(`\nWrote ${path.relative(ROOT, path.join(RESULTS, 'steps.json'))}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function profileMode(results, logDir) {
  const p = PROFILES[PROFILE];
  if (!p) throw new Error(`--profile takes one of: ${Object.keys(PROFILES).join(', ')}`);
  const side = SCENARIOS[p.scenario].side;
  const totpUsers = p.scenario === 'B.totp' ? Math.ceil(p.rate * p.seconds * 1.1) + 50 : 40;
  const { loadgen, twofold, bare, env } = await setup(results, { pwdUsers: 60, totpUsers, initialEnrol: totpUsers, logDir });
  if (p.scenario.endsWith('.refresh')) await loadgen.call({ cmd: 'fill', side, count: 1000, maxMs: 30_000, concurrency: 8 });
  // The bare server's Redis commands are counted beside Twofold's: its refresh grants need tokens too.
  if (p.scenario === 'B.refresh') await loadgen.call({ cmd: 'fill', side: 'A', count: 40, maxMs: 15_000, concurrency: 4 });
  // Restart the server under the profiler (same database and Redis: users, devices and tokens stay).
  const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twofold-cpuprof-'));
  let prof;
  if (side === 'B') {
    await stopProcess(twofold.child);
    prof = await startTwofold(env, { port: twofold.port, cpuProf: profDir, logFile: path.join(logDir, 'twofold-profiled.log') });
  } else {
    await stopProcess(bare.child);
    prof = await startBare({ ...bare, port: bare.port, cpuProf: profDir, logFile: path.join(logDir, 'bare-profiled.log') });
  }
  pidOf[side] = prof.pid;
  childOf[side] = prof.child;
  await loadgen.call({ cmd: 'warmup', scenario: p.scenario === 'B.totp' ? 'B.pwd' : p.scenario, count: 30, concurrency: 2 });
  const loadStartMs = performance.now() - prof.started;
  const step = await measuredStep(loadgen, p.scenario, p.rate, p.seconds * 1000);
  const loadEndMs = performance.now() - prof.started;
  const commands = await redisCommandsPerOp(loadgen, p.scenario);
  const bareCommands =
    side === 'B' && p.scenario !== 'B.discovery' ? await redisCommandsPerOp(loadgen, p.scenario.endsWith('refresh') ? 'A.refresh' : 'A.login').catch(() => null) : null;
  await loadgen.call({ cmd: 'exit' }).catch(() => undefined);
  await stopProcess(prof.child, 15_000);
  const file = fs
    .readdirSync(profDir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(profDir, f))[0];
  if (!file) throw new Error(`no .cpuprofile written in ${profDir} (the server did not exit cleanly?)\n${prof.child.logTail()}`);
  const summary = summarizeProfile(file, 30, { skipMs: loadStartMs, untilMs: loadEndMs });
  const kept = path.join(RESULTS, `profile-${PROFILE}.cpuprofile`);
  fs.copyFileSync(file, kept);
  const out = {
    scenario: p.scenario,
    rate: p.rate,
    seconds: p.seconds,
    step,
    redisCommands: commands,
    bareRedisCommands: bareCommands,
    profile: { ...summary, file: path.relative(ROOT, kept) },
  };
  fs.writeFileSync(path.join(RESULTS, `profile-${PROFILE}.json`), `${JSON.stringify(out, null, 2)}\n`);
  const lines = [];
  lines.push(
    `\nProfile of ${side === 'B' ? 'Twofold' : 'bare oidc-provider'} under ${p.scenario} at ${p.rate}/s for ${p.seconds} s (node --cpu-prof; only samples during the load)`,
  );
  lines.push(
    `server CPU ${step.cpuMsPerOp} ms/op incl. profiler overhead (all threads); main thread busy ${summary.busyMs} ms of ${summary.totalMs} ms = ${round(summary.busyMs / Math.max(1, step.ok), 2)} ms per op; Postgres backends ${step.pgMsPerOp} ms/op`,
  );
  lines.push(
    `Redis commands per op (${commands.scenario}, sequential): ${commands.perOp}, ${commands.sentPerOp} sent (the rest run by scripts) ${JSON.stringify(commands.byCommand)}`,
  );
  if (commands.postgres) lines.push(`Postgres per op (${commands.scenario}): ${JSON.stringify(commands.postgres)} (the bench's own connections add a few)`);
  if (bareCommands && !bareCommands.ops) lines.push(`  bare oidc-provider (${bareCommands.scenario}): not measured, no operation succeeded`);
  else if (bareCommands)
    lines.push(`  bare oidc-provider (${bareCommands.scenario}): ${bareCommands.perOp}, ${bareCommands.sentPerOp} sent ${JSON.stringify(bareCommands.byCommand)}`);
  lines.push('\nTop self time by package (share of main-thread busy time):');
  for (const r of summary.packages.slice(0, 15)) lines.push(`  ${String(r.selfMs).padStart(8)} ms ${String(r.shareOfBusy).padStart(5)}%  ${r.name}`);
  lines.push('\nTop self time by function:');
  for (const r of summary.functions) lines.push(`  ${String(r.selfMs).padStart(8)} ms ${String(r.shareOfBusy).padStart(5)}%  ${r.name}`);
  lines.push(`\nWrote ${path.relative(ROOT, path.join(RESULTS, `profile-${PROFILE}.json`))} and ${path.relative(ROOT, kept)} (open it in Chrome DevTools > Performance).`);
  process.stdout.write(`${lines.join('\n')}\n`);
  fs.rmSync(profDir, { recursive: true, force: true });
}

main()
  .catch((err) => {
    process.stderr.write(`\nbench failed: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    if (!interrupted) await cleanupAll();
  });
