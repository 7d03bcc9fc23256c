// Process and machine accounting from /proc (Linux), and process helpers.
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';

let tick = 100;
try {
  tick = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  // 100 Hz is Linux's USER_HZ everywhere we run
}
const MS_PER_TICK = 1000 / tick;

/** Fields of /proc/<pid>/stat after the command name (index 0 = field 3, "state"). */
function statFields(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return { comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), f: text.slice(text.lastIndexOf(')') + 2).split(' ') };
}

/** CPU time (user + system, all threads) of a process in ms. */
export function cpuMs(pid) {
  const { f } = statFields(pid);
  return (Number(f[11]) + Number(f[12])) * MS_PER_TICK;
}

/** CPU time (ms) of a process's main thread (JS, I/O syscalls) and of its other threads (libuv pool: argon2, crypto; V8: GC, compiler). */
export function threadCpuMs(pid) {
  const out = { main: 0, others: 0 };
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = tid === String(pid) ? 'main' : 'others';
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out[comm] += (Number(f[11]) + Number(f[12])) * MS_PER_TICK;
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Resident set size in KiB. */
export function rssKb(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : null;
}

/**
 * CPU of the data stores, by process: Postgres backends serving `database` (the bench's own
 * database, read from each backend's title) and every redis-server (shared with anything else
 * that uses that Redis). Returns a snapshot to diff with `datastoreDelta`.
 */
export function datastoreSnapshot(database) {
  const snap = { pg: new Map(), redis: new Map() };
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const { comm, f } = statFields(name);
      const ms = (Number(f[11]) + Number(f[12])) * MS_PER_TICK;
      if (comm === 'redis-server') snap.redis.set(name, ms);
      else if (comm === 'postgres' && database) {
        const title = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
        if (title.includes(` ${database} `)) snap.pg.set(name, ms);
      }
    } catch {
      // the process ended meanwhile
    }
  }
  return snap;
}

export function datastoreDelta(before, after) {
  const diff = (a, b) => {
    let total = 0;
    for (const [pid, ms] of b) total += ms - (a.get(pid) ?? 0);
    return total;
  };
  return { pgMs: diff(before.pg, after.pg), redisMs: diff(before.redis, after.redis) };
}

/** Busy and total jiffies per CPU ("cpu0", "cpu1", ...) from /proc/stat. */
export function cpuStat() {
  const out = {};
  for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = line.match(/^(cpu\d+)\s+(.*)$/);
    if (!m) continue;
    const v = m[2].split(/\s+/).map(Number);
    const idle = v[3] + (v[4] || 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[m[1]] = { busy: total - idle, total };
  }
  return out;
}

/** Busy fraction of each CPU between two cpuStat() snapshots. */
export function cpuBusy(a, b) {
  const out = {};
  for (const k of Object.keys(b)) {
    const dt = b[k].total - (a[k]?.total ?? 0);
    out[k] = dt > 0 ? Math.round(((b[k].busy - (a[k]?.busy ?? 0)) / dt) * 1000) / 1000 : null;
  }
  return out;
}

/** CPU time (ms) all CPUs were busy between two cpuStat() snapshots. */
export function busyMs(a, b) {
  let total = 0;
  for (const k of Object.keys(b)) total += b[k].busy - (a[k]?.busy ?? 0);
  return total * MS_PER_TICK;
}

export function loadAverage() {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

let tasksetPath;
export function hasTaskset() {
  if (tasksetPath === undefined) {
    try {
      tasksetPath = execFileSync('sh', ['-c', 'command -v taskset']).toString().trim() || null;
    } catch {
      tasksetPath = null;
    }
  }
  return Boolean(tasksetPath);
}

/** [command, args] that run `args` pinned to `cpus` (e.g. "0") when taskset exists. */
export function pinned(cpus, args) {
  if (cpus == null || !hasTaskset()) return [args[0], args.slice(1)];
  return ['taskset', ['-c', String(cpus), ...args]];
}

/** Re-pins every thread of a running process. */
export function repin(pid, cpus) {
  if (cpus == null || !hasTaskset()) return;
  execFileSync('taskset', ['-a', '-p', '-c', String(cpus), String(pid)], { stdio: 'ignore' });
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Spawns a process whose output goes to a log file; returns the child with `exited` and `logTail()`. */
export function spawnLogged(cmd, args, { env, cwd, logFile, ipc = false }) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', fd, fd, ...(ipc ? ['ipc'] : [])] });
  fs.closeSync(fd);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  child.logTail = (n = 3000) => {
    try {
      const text = fs.readFileSync(logFile, 'utf8');
      return text.slice(-n);
    } catch {
      return '';
    }
  };
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopProcess(child, graceMs = 10_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** Polls `url` until it answers 200; returns ms since `startedAt` (performance.now() based). */
export async function waitFor200(url, child, startedAt, { timeoutMs = 60_000, intervalMs = 20 } = {}) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process exited early (${child.exitCode ?? child.signalCode}):\n${child.logTail()}`);
    try {
      if ((await httpStatus(url)) === 200) return performance.now() - startedAt;
    } catch {
      // not listening yet
    }
    await sleep(intervalMs);
  }
  throw new Error(`no 200 from ${url} within ${timeoutMs} ms:\n${child.logTail()}`);
}

/** Status of a GET (body drained), without keep-alive; node:http, so no lazy undici load skews timings. */
export function httpStatus(url, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
