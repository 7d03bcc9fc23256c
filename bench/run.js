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
//   --skip-cold / --skip-memory          leave out those parts
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
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
const PROFILE = option('--profile');

// ---- settings -------------------------------------------------------------------------------
const PG_ADMIN_URL = process.env.BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_BASE = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
/** Redis database indexes owned by the bench (flushed before and after use). */
const REDIS_DB_TWOFOLD = Number(process.env.BENCH_REDIS_DB_TWOFOLD || 13);
const REDIS_DB_BARE = Number(process.env.BENCH_REDIS_DB_BARE || 14);
const START_FRACTION = 0.6;
const RAMP = 1.3;
const MAX_STEPS = QUICK ? 3 : 5;
const STEP_MS = QUICK ? { login: 4000, refresh: 3000, doc: 2500 } : { login: 7000, refresh: 4000, doc: 3000 };
const CALIBRATE_MS = QUICK ? 2500 : 4000;
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

/** The bench owns its two Redis db indexes: refuse ones that hold keys of anything else. */
async function claimRedisDb(db, prefix) {
  const r = new Redis(redisUrl(db), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  try {
    const [, sample] = await r.scan('0', 'COUNT', 200);
    const foreign = sample.find((k) => !k.startsWith(prefix));
    if (foreign) throw new Error(`Redis db ${db} holds keys the bench did not write (e.g. "${foreign}"): set BENCH_REDIS_DB_TWOFOLD/BENCH_REDIS_DB_BARE to free indexes`);
    await r.flushdb();
  } finally {
    r.disconnect();
  }
  cleanups.push(async () => {
    const c = new Redis(redisUrl(db), { lazyConnect: true, maxRetriesPerRequest: 1 });
    await c.connect();
    await c.flushdb();
    c.disconnect();
  });
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

async function measuredStep(loadgen, scenario, rate, durationMs) {
  const pid = pidOf[SCENARIOS[scenario].side];
  const child = childOf[SCENARIOS[scenario].side];
  if (child && (child.exitCode !== null || child.signalCode !== null)) {
    throw new Error(
      `the ${SCENARIOS[scenario].side === 'A' ? 'bare' : 'Twofold'} server (pid ${pid}) has exited (${child.exitCode ?? child.signalCode}), not stopped by the bench:\n${child.logTail(1500)}`,
    );
  }
  const c0 = cpuMs(pid);
  const th0 = threadCpuMs(pid);
  const ds0 = datastoreSnapshot(benchDbName);
  const st0 = cpuStat();
  const r = await loadgen.call({ cmd: 'step', scenario, rate, durationMs });
  const c1 = cpuMs(pid);
  const th1 = threadCpuMs(pid);
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
    // CPU used by other processes on this machine during the step (cores' worth): noise.
    foreignCores: round((busyMs(st0, st1) - (c1 - c0) - r.loadgenCpu * r.wallMs - ds.pgMs - ds.redisMs) / r.wallMs, 2),
    meets: r.p99 != null && r.p99 < P99_BUDGET_MS,
  };
  const errs = r.failed ? ` failed=${r.failed} ${JSON.stringify(r.errors).slice(0, 200)}` : '';
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
 * Runs one group of scenarios, interleaved round by round (A, B, B', then B', B, A, ...):
 * a calibration step each at a low rate, whose server CPU per operation estimates one core's
 * capacity; then open-model steps from START_FRACTION of that estimate, each RAMP times the
 * last (re-estimated from the latest step's CPU per operation when that says more), until a
 * step misses the p99 budget; then one step between the last pass and the first miss.
 */
async function runGroup(loadgen, scenarios, stepMs, results, caps = {}, before = {}, { calibrateMs = CALIBRATE_MS, maxSteps = MAX_STEPS } = {}) {
  const state = {};
  // Calibration: the same low rate for every scenario of the group, in two interleaved passes
  // (A, B, B' then B', B, A): CPU per operation like for like, and a first capacity estimate.
  for (const order of [scenarios, [...scenarios].reverse()]) {
    for (const sc of order) {
      await before[sc]?.(SCENARIOS[sc].calibrate, calibrateMs);
      const r = await measuredStep(loadgen, sc, SCENARIOS[sc].calibrate, calibrateMs);
      r.calibration = true;
      results.steps.push(r);
      const est = r.cpuMsPerOp > 0 ? 1000 / r.cpuMsPerOp : SCENARIOS[sc].calibrate * 4;
      const prev = state[sc];
      state[sc] = {
        est: prev ? Math.max(prev.est, est) : est,
        cap: caps[sc] ?? Infinity,
        last: null,
        pass: r.meets ? r.offered : (prev?.pass ?? null),
        fail: null,
        done: false,
        n: 0,
      };
      await sleep(PAUSE_MS);
    }
  }
  const roundRate = (x) => (x < 50 ? Math.max(1, Math.round(x * 10) / 10) : Math.round(x));
  for (let k = 0; k < maxSteps + 2; k++) {
    const order = k % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const sc of order) {
      const st = state[sc];
      if (st.done) continue;
      let rate;
      if (st.fail != null) {
        // Refinement: halfway (geometrically) between the last pass and the first miss.
        rate = st.pass != null ? Math.sqrt(st.pass * st.fail) : st.fail / RAMP;
        st.done = true;
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
      await before[sc]?.(rate, stepMs);
      const r = await measuredStep(loadgen, sc, rate, stepMs);
      r.fraction = round(rate / st.est, 2);
      results.steps.push(r);
      st.n++;
      if (!st.done) {
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
  const mine = steps.filter((s) => s.scenario === scenario);
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
    stepsMeeting: meeting.length,
    steps: load.length,
  };
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
      for (const k of batch) pipe.memory('USAGE', k, 'SAMPLES', '0').pttl(k);
      const res = await pipe.exec();
      batch.forEach((k, i) => {
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
  const row = (vals) => cols.map(([, w, left], i) => pad(vals[i], w, left)).join(' ');
  const head = row(cols.map((c) => c[0]));
  lines.push(head);
  lines.push('-'.repeat(head.length));
  lines.push(row(['A0 argon2id verify, production params', A0.perSecond, A0.serial.wallMsPerVerify, '', '', A0.cpuMsPerVerify, '', a0Cap, '', '', '', '', '', '']));
  for (const key of Object.keys(SCENARIOS)) {
    const r = s[key];
    if (!r) continue;
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
  for (const t of res.targets) lines.push(`  [${t.met == null ? ' ?  ' : t.met ? ' ok ' : 'MISS'}] ${t.name}: ${t.measured}`);
  lines.push('');
  if (res.meta.otherCoresAtStart > 0.3)
    lines.push(`WARNING: other processes kept ${res.meta.otherCoresAtStart} CPUs busy before the run started (see "other"): absolute numbers are depressed and noisy.`);
  lines.push(`Machine: load average ${res.meta.loadAverageStart.join(' ')} at start, ${res.meta.loadAverageEnd.join(' ')} at the end; total ${res.meta.seconds} s.`);
  return lines.join('\n');
}

function targetsOf(res) {
  const s = res.summary;
  const A0 = res.argon2;
  const out = [];
  const totp = s['B.totp'];
  const bare = s['A.login'];
  if (totp && bare) {
    // Like for like: both logins at the same offered rate (the calibration steps, run back to back).
    const b = totp.cpuMsAtMatchedRate ?? totp.cpuMsPerOp;
    const a = bare.cpuMsAtMatchedRate ?? bare.cpuMsPerOp;
    const budget = TOTP_CPU_LIMIT * (A0.cpuMsPerVerify + a);
    out.push({
      name: `password+TOTP login CPU <= ${TOTP_CPU_LIMIT} x (argon2 verify + bare flow)`,
      measured: `${b} ms vs ${TOTP_CPU_LIMIT} x (${A0.cpuMsPerVerify} + ${a}) = ${round(budget, 2)} ms at ${totp.calibrationRate} logins/s each (ratio ${round(b / (A0.cpuMsPerVerify + a), 2)}x); with Postgres backend CPU: ${round((b + (totp.pgMsPerOp ?? 0)) / (A0.cpuMsPerVerify + a + (bare.pgMsPerOp ?? 0)), 2)}x; over the load steps: ${totp.cpuMsPerOp} vs ${bare.cpuMsPerOp} ms`,
      value: round(b / (A0.cpuMsPerVerify + a), 3),
      limit: TOTP_CPU_LIMIT,
      met: b <= budget,
    });
    out.push({
      name: 'password+TOTP logins/s per core >= 0.7 x argon2 ceiling',
      measured: `${totp.throughput}/s vs 0.7 x ${A0.perSecond}/s = ${round(0.7 * A0.perSecond, 1)}/s (ratio ${round(totp.throughput / A0.perSecond, 2)}; by CPU: ${totp.cpuCapacity} vs ${round(1000 / A0.cpuMsPerVerify, 1)} per core, ratio ${round(A0.cpuMsPerVerify / totp.cpuMsPerOp, 2)})`,
      value: round(totp.throughput / A0.perSecond, 3),
      limit: 0.7,
      met: totp.throughput >= 0.7 * A0.perSecond,
    });
  }
  for (const [b, a, name] of [
    ['B.refresh', 'A.refresh', 'refresh grant'],
    ['B.discovery', 'A.discovery', 'discovery'],
    ['B.jwks', 'A.jwks', 'JWKS'],
  ]) {
    if (!s[a] || !s[b]) continue;
    const ratio = s[a].throughput ? s[b].throughput / s[a].throughput : null;
    const bound = s[a].loadgenBound || s[b].loadgenBound ? ' (load-generator bound: a lower bound)' : '';
    out.push({
      name: `${name} throughput >= 0.8 x bare`,
      measured: `${s[b].throughput}/s vs ${s[a].throughput}/s (ratio ${round(ratio, 2)})${bound}; by CPU at ${s[b].calibrationRate}/s each: ${s[b].cpuMsAtMatchedRate} vs ${s[a].cpuMsAtMatchedRate} ms/op (ratio ${round(s[a].cpuMsAtMatchedRate / s[b].cpuMsAtMatchedRate, 2)})`,
      value: round(ratio, 3),
      limit: 0.8,
      met: ratio != null && ratio >= 0.8,
    });
  }
  const mem = res.memory?.find((m) => m.side === 'B');
  if (mem) {
    out.push({
      name: 'Redis memory per signed-in session <= 2 KB (2048 B)',
      measured: `${mem.usedMemoryBytesPerSession} B by used_memory (${mem.memoryUsageBytesPerSession} B by MEMORY USAGE; ${mem.longLivedBytesPerSession} B once the 60 s code and 10 min access token expire) over ${mem.sessions} sessions`,
      value: mem.usedMemoryBytesPerSession,
      limit: 2048,
      met: mem.usedMemoryBytesPerSession <= 2048,
    });
  }
  const cs = res.coldStart;
  if (cs) {
    out.push({
      name: 'cold start, existing database, Postgres + Redis < 1.5 s',
      measured: `${cs['Postgres+Redis, existing database (median)']} ms`,
      value: cs['Postgres+Redis, existing database (median)'],
      limit: 1500,
      met: cs['Postgres+Redis, existing database (median)'] < 1500,
    });
    out.push({
      name: 'cold start, existing database, embedded < 3 s',
      measured: `${cs['embedded, existing DATA_DIR (median)']} ms`,
      value: cs['embedded, existing DATA_DIR (median)'],
      limit: 3000,
      met: cs['embedded, existing DATA_DIR (median)'] < 3000,
    });
  }
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
  return { db, env, twofold, bare, loadgen, enrolled: enrol.enrolled, mfaUsers: totp.length };
}

async function argon2Ceiling() {
  const [cmd, args] = pinned(SERVER_CPU, [process.execPath, path.join(ROOT, 'bench/argon2-ceiling.js'), QUICK ? '2' : '4']);
  const out = await runChild(cmd, args, { env: { PATH: process.env.PATH } });
  const r = JSON.parse(out.trim().split('\n').pop());
  log(`A0 argon2 ceiling: ${r.perSecond} verifications/s on one core, ${r.cpuMsPerVerify} ms CPU per verify`);
  return r;
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

  results.argon2 = await argon2Ceiling();
  // MFA users: a device gives at most one code per 30 s time step, so a TOTP load step needs
  // about rate x seconds enrolled users with an unused step. Users are created up front and
  // enrolled (through the real forced-enrolment flow) as the offered rate grows.
  const mfaUsers = QUICK ? 150 : 420;
  const { loadgen, twofold, bare, env, enrolled } = await setup(results, { pwdUsers: PWD_USERS, totpUsers: mfaUsers, initialEnrol: QUICK ? 60 : 150, logDir });
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
    results.memory.push(await memoryPhase(loadgen, 'A', REDIS_DB_BARE, 'bare:', bare.pid));
    results.memory.push(await memoryPhase(loadgen, 'B', REDIS_DB_TWOFOLD, 'twofold:', twofold.pid));
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

  log('logins');
  await runGroup(loadgen, ['A.login', 'B.pwd', 'B.totp'], STEP_MS.login, results, { 'B.totp': mfaUsers / (STEP_MS.login / 1000) / 1.05 }, { 'B.totp': ensureTotp });
  results.setup.totpEnrolled = enrolledTotal;
  log('refresh-token grant');
  await runGroup(loadgen, ['A.refresh', 'B.refresh'], STEP_MS.refresh, results);
  log('discovery and JWKS');
  const docCaps = { 'A.discovery': LOADGEN_DOC_MAX_RATE, 'B.discovery': LOADGEN_DOC_MAX_RATE, 'A.jwks': LOADGEN_DOC_MAX_RATE, 'B.jwks': LOADGEN_DOC_MAX_RATE };
  await runGroup(loadgen, ['A.discovery', 'B.discovery', 'A.jwks', 'B.jwks'], STEP_MS.doc, results, docCaps, {}, { calibrateMs: STEP_MS.doc, maxSteps: QUICK ? 3 : 4 });
  results.pools = await loadgen.call({ cmd: 'pools' });

  await loadgen.call({ cmd: 'exit' }).catch(() => undefined);
  await stopProcess(bare.child);
  await stopProcess(twofold.child);

  if (!flag('--skip-cold')) {
    log('cold starts');
    const cs = {};
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

  results.summary = Object.fromEntries(Object.keys(SCENARIOS).map((sc) => [sc, summarize(sc, results.steps)]));
  results.targets = targetsOf(results);
  results.meta.loadAverageEnd = loadAverage();
  results.meta.seconds = round((performance.now() - t0) / 1000, 0);
  const table = printTable(results);
  results.table = table;
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(RESULTS, 'login-latency.svg'), chart(results));
  process.stdout.write(`${table}\n\nWrote bench/results/latest.json and bench/results/login-latency.svg\n`);
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
    const { rows } = await c.query('SELECT xact_commit + xact_rollback AS xacts, tup_inserted, tup_updated, tup_fetched FROM pg_stat_database WHERE datname = $1', [benchDbName]);
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
    const { total, byCommand } = mon.snapshot();
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

async function profileMode(results, logDir) {
  const p = PROFILES[PROFILE];
  if (!p) throw new Error(`--profile takes one of: ${Object.keys(PROFILES).join(', ')}`);
  const side = SCENARIOS[p.scenario].side;
  const totpUsers = p.scenario === 'B.totp' ? Math.ceil(p.rate * p.seconds * 1.1) + 50 : 40;
  const { loadgen, twofold, bare, env } = await setup(results, { pwdUsers: 60, totpUsers, initialEnrol: totpUsers, logDir });
  if (p.scenario.endsWith('.refresh')) await loadgen.call({ cmd: 'fill', side, count: 1000, maxMs: 30_000, concurrency: 8 });
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
  lines.push(`Redis commands per op (${commands.scenario}, sequential): ${commands.perOp} ${JSON.stringify(commands.byCommand)}`);
  if (commands.postgres) lines.push(`Postgres per op (${commands.scenario}): ${JSON.stringify(commands.postgres)} (the bench's own connections add a few)`);
  if (bareCommands) lines.push(`  bare oidc-provider (${bareCommands.scenario}): ${bareCommands.perOp} ${JSON.stringify(bareCommands.byCommand)}`);
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
