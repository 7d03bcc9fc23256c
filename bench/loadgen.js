// The load generator: a separate process (run.js starts it pinned to the core the servers do
// not use), driven over IPC. Open model: operations start on a fixed schedule (rate r/s for d
// seconds) whether or not earlier ones have finished; latency is measured from the scheduled
// start, so a slow server cannot hide behind a waiting client. Every virtual user is a new
// browser (own cookie jar). Every load is bounded: a fixed count of operations, an in-flight cap
// and a hard deadline after which unfinished operations count as failures.
import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import { closeAgent, newAgent, observeRequests } from './lib/http.js';
import { bareLogin, enrolTotp, getDocument, passwordLogin, refresh, totpLogin } from './lib/flows.js';

const MAX_INFLIGHT = 2000;
const GRACE_MS = Number(process.env.BENCH_GRACE_MS || 12_000);
const TOKEN_POOL_MAX = 4000;

let targets = {};
const totpUsers = []; // { user, app }
const tokenPools = { A: [], B: [], S: [] };
let pwdIndex = 0;
let totpIndex = 0;
let enrolledUpTo = 0;

function nextPasswordUser() {
  const users = targets.B.pwdUsers;
  return users[pwdIndex++ % users.length];
}

/** Round-robin over the enrolled users, skipping those whose device has no unused time step. */
function nextTotpUser() {
  for (let i = 0; i < totpUsers.length; i++) {
    const entry = totpUsers[totpIndex++ % totpUsers.length];
    const code = entry.app.reserve();
    if (code) return { user: entry.user, code };
  }
  throw new Error('starved: every TOTP user has used its time steps (pool too small for this rate)');
}

function keepToken(pool, token) {
  if (token && pool.length < TOKEN_POOL_MAX) pool.push(token);
}

/** Refresh tokens taken out of a pool whose grant did not complete (never put back): by side. */
const retired = {};

/** The operation of a scenario, bound to this step's agent. Returns the number of HTTP requests. */
function operation(scenario, agent) {
  const A = targets.A;
  const B = targets.B;
  switch (scenario) {
    case 'A.login':
      return async () => (await bareLogin(agent, A)).requests;
    case 'B.pwd':
      return async () => (await passwordLogin(agent, B, nextPasswordUser())).requests;
    // The scaling scenario: Twofold processes behind the round-robin proxy (target S).
    case 'S1.pwd':
    case 'S2.pwd':
      return async () => (await passwordLogin(agent, targets.S, nextPasswordUser())).requests;
    case 'B.totp':
      return async () => {
        const { user, code } = nextTotpUser();
        return (await totpLogin(agent, B, user, () => code)).requests;
      };
    case 'A.refresh':
    case 'B.refresh':
    case 'S1.refresh':
    case 'S2.refresh': {
      const side = scenario[0];
      const target = targets[side];
      const pool = tokenPools[side];
      return async () => {
        // Rotation: a token is used once. It leaves the pool here and only its successor goes
        // back, so a grant that failed, timed out or ended with the step retires the token
        // (the server may have consumed it; sending it again would be a reuse, which revokes
        // the whole grant).
        const token = pool.pop();
        if (!token) throw new Error('starved: no refresh token left in the pool');
        let next;
        try {
          next = await refresh(agent, target, token);
        } catch (err) {
          retired[side] = (retired[side] ?? 0) + 1;
          throw err;
        }
        if (agent.closed) {
          retired[side] = (retired[side] ?? 0) + 1;
          throw new Error('the load step ended');
        }
        keepToken(pool, next);
        return 1;
      };
    }
    case 'A.discovery':
    case 'B.discovery': {
      const url = `${targets[scenario[0]].issuer}/.well-known/openid-configuration`;
      return async () => {
        await getDocument(agent, url);
        return 1;
      };
    }
    case 'A.jwks':
    case 'B.jwks': {
      const url = `${targets[scenario[0]].issuer}/jwks`;
      return async () => {
        await getDocument(agent, url);
        return 1;
      };
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  const v = sorted[Math.max(0, idx)];
  return Number.isFinite(v) ? Math.round(v * 100) / 100 : null;
}

/** One open-model load step. */
async function step({ scenario, rate, durationMs }) {
  const agent = newAgent();
  const op = operation(scenario, agent);
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const interval = 1000 / rate;
  const latencies = [];
  const errors = new Map();
  let failed = 0;
  let requests = 0;
  let inflight = 0;
  let settled = 0;
  let launched = 0;
  let maxLagMs = 0;
  let lastDone = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now() + 20;

  const fail = (err) => {
    failed++;
    // One entry per kind of failure, not per interaction or session id.
    const msg = String(err?.message ?? err)
      .replace(/\/(interaction|auth)\/[A-Za-z0-9_-]{10,}/g, '/$1/:uid')
      .slice(0, 160);
    errors.set(msg, (errors.get(msg) ?? 0) + 1);
  };

  await new Promise((resolve) => {
    let finished = false;
    const end = () => {
      if (finished) return;
      finished = true;
      resolve();
    };
    const deadline = setTimeout(() => {
      // Whatever is still running now is a failure (and its socket is torn down).
      for (let i = 0; i < inflight; i++) fail(new Error(`unfinished ${GRACE_MS / 1000} s after the step`));
      inflight = 0;
      end();
    }, durationMs + GRACE_MS);

    const launch = (i) => {
      const scheduled = t0 + i * interval;
      const lag = performance.now() - scheduled;
      if (lag > maxLagMs) maxLagMs = lag;
      if (inflight >= MAX_INFLIGHT) {
        fail(new Error(`dropped: ${MAX_INFLIGHT} operations in flight`));
        settled++;
        return;
      }
      inflight++;
      let p;
      try {
        p = op();
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (n) => {
          if (finished) return;
          requests += n;
          const now = performance.now();
          latencies.push(now - scheduled);
          lastDone = now;
        },
        (err) => {
          if (finished) return;
          requests += 1;
          fail(err);
        },
      ).finally(() => {
        if (finished) return;
        inflight--;
        settled++;
        if (settled === total) {
          clearTimeout(deadline);
          end();
        }
      });
    };

    const tick = () => {
      const now = performance.now();
      while (launched < total && t0 + launched * interval <= now) launch(launched++);
      if (launched < total) setTimeout(tick, Math.max(0, t0 + launched * interval - performance.now()));
      else if (settled === total) {
        clearTimeout(deadline);
        end();
      }
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
  closeAgent(agent);

  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  const ok = latencies.length;
  const sorted = latencies.concat(Array(failed).fill(Infinity)).sort((a, b) => a - b);
  const spanMs = Math.max(durationMs, (lastDone || t0) - t0);
  return {
    scenario,
    offered: rate,
    durationMs,
    total,
    ok,
    failed,
    errors: Object.fromEntries([...errors.entries()].slice(0, 5)),
    achieved: Math.round((ok / (spanMs / 1000)) * 100) / 100,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: percentile(sorted, 100),
    mean: ok ? Math.round((latencies.reduce((a, b) => a + b, 0) / ok) * 100) / 100 : null,
    requests,
    maxLagMs: Math.round(maxLagMs * 10) / 10,
    loadgenCpu: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 1000,
    wallMs: Math.round(wallMs),
  };
}

/** Closed loop, for setup and the memory test: `concurrency` users back to back. */
async function closedLoop(count, concurrency, maxMs, fn) {
  const agent = newAgent(concurrency * 2);
  const started = performance.now();
  let next = 0;
  let ok = 0;
  const errors = new Map();
  async function worker() {
    while (next < count && performance.now() - started < maxMs) {
      const i = next++;
      try {
        await fn(agent, i);
        ok++;
      } catch (err) {
        const msg = String(err?.message ?? err).slice(0, 200);
        errors.set(msg, (errors.get(msg) ?? 0) + 1);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  closeAgent(agent);
  const failed = [...errors.values()].reduce((a, b) => a + b, 0);
  return { ok, failed, errors: Object.fromEntries([...errors.entries()].slice(0, 5)), ms: Math.round(performance.now() - started) };
}

/** CPU time (ms) of a process so far: its main thread, and all its threads (/proc schedstat, ns). */
function cpuOf(pid) {
  let all = 0;
  let main = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let ns;
    try {
      ns = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      continue; // the thread ended meanwhile
    }
    all += ns;
    if (tid === String(pid)) main = ns;
  }
  return { main: main / 1e6, all: all / 1e6 };
}

/** A path with its ids (interaction uids and the like) as ":id", so requests group by route. */
const routeOf = (url) => url.pathname.replace(/\/[A-Za-z0-9_-]{20,}/g, '/:id');

/**
 * Step costs: `count` operations one after the other, `gapMs` apart between requests (as at a
 * low rate), with the server's CPU read around each request. Nothing else may run meanwhile.
 */
async function stepCosts({ scenario, count, pid, gapMs = 20 }) {
  const byRoute = new Map();
  observeRequests(async (method, url, send) => {
    await new Promise((r) => setTimeout(r, gapMs));
    const before = cpuOf(pid);
    const res = await send();
    // The answer is read before the server has necessarily finished (logging, timers): a
    // moment later its work for this request is done.
    await new Promise((r) => setTimeout(r, 2));
    const after = cpuOf(pid);
    const key = `${method} ${routeOf(url)}`;
    const sum = byRoute.get(key) ?? { requests: 0, mainMs: 0, allMs: 0 };
    sum.requests++;
    sum.mainMs += after.main - before.main;
    sum.allMs += after.all - before.all;
    byRoute.set(key, sum);
    return res;
  });
  const agent = newAgent(4);
  let ok = 0;
  const errors = {};
  try {
    for (let i = 0; i < count; i++) {
      try {
        await operation(scenario, agent)();
        ok++;
      } catch (err) {
        errors[err.message.slice(0, 120)] = (errors[err.message.slice(0, 120)] ?? 0) + 1;
      }
    }
  } finally {
    observeRequests(null);
    closeAgent(agent);
  }
  return { scenario, ok, errors, routes: Object.fromEntries(byRoute) };
}

async function handle(msg) {
  switch (msg.cmd) {
    case 'step-costs':
      return stepCosts(msg);
    case 'config':
      targets = { ...targets, ...msg.targets };
      return { ok: true };
    case 'enrol': {
      // Enrols the next `count` MFA users (of those run.js created) that have no device yet.
      const users = targets.B.totpUsers;
      const from = enrolledUpTo;
      const to = Math.min(users.length, from + (msg.count ?? users.length));
      enrolledUpTo = to;
      const result = await closedLoop(to - from, msg.concurrency ?? 8, msg.maxMs ?? 120_000, async (agent, i) => {
        const user = users[from + i];
        const app = await enrolTotp(agent, targets.B, user);
        totpUsers.push({ user, app });
      });
      return { ...result, enrolled: totpUsers.length, left: users.length - enrolledUpTo };
    }
    case 'fill': {
      // Signed-in sessions, each with its tokens; refresh tokens are kept for the refresh scenario.
      const side = msg.side;
      const pool = tokenPools[side];
      return closedLoop(msg.count, msg.concurrency ?? 8, msg.maxMs, async (agent) => {
        const { tokens } = side === 'A' ? await bareLogin(agent, targets.A) : await passwordLogin(agent, targets[side], nextPasswordUser());
        keepToken(pool, tokens.refresh_token);
      });
    }
    case 'warmup': {
      return closedLoop(msg.count, msg.concurrency ?? 4, 30_000, (agent) => operation(msg.scenario, agent)());
    }
    case 'step':
      return step(msg);
    case 'drop-tokens':
      // The server lost its state (its Redis db was flushed): these tokens are dead.
      tokenPools[msg.side].length = 0;
      return { ok: true };
    case 'pools':
      return {
        tokens: Object.fromEntries(Object.entries(tokenPools).map(([k, v]) => [k, v.length])),
        retiredTokens: { ...retired },
        totpUsers: totpUsers.length,
        totpCredit: totpUsers.reduce((a, u) => a + u.app.credit(), 0),
        totpReady: totpUsers.filter((u) => u.app.credit() > 0).length,
        totpLeft: targets.B.totpUsers.length - enrolledUpTo,
      };
    case 'exit':
      setImmediate(() => process.exit(0));
      return { ok: true };
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
}

process.on('message', (msg) => {
  handle(msg).then(
    (result) => process.send({ id: msg.id, result }),
    (err) => process.send({ id: msg.id, error: String(err?.stack ?? err) }),
  );
});
process.on('disconnect', () => process.exit(0));
