// The "Forgot password?" answer must take about as long for a known address as for an unknown
// one (else its timing tells who has an account). This starts Twofold (Postgres + Redis, SMTP
// to a local sink, so known addresses really get a mail), makes N users with verified
// addresses, then POSTs /password-reset for known and unknown addresses in a shuffled order,
// one at a time, and prints the median (and p90) time of each and the ratio known/unknown.
// Not part of `npm test`: timings belong in a benchmark, not in a pass/fail test.
//
//   npm run build && node bench/password-reset-timing.js [--samples 200]
//
// Settings: BENCH_PG_URL and BENCH_REDIS_URL as for bench/run.js (a database
// twofold_bench_reset_<random> is created and dropped; Redis keys get their own prefix).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { Browser, csrfToken, newAgent } from './lib/http.js';
import { freePort, spawnLogged, stopProcess, waitFor200 } from './lib/proc.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PG_ADMIN_URL = process.env.BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
const samplesArg = process.argv.indexOf('--samples');
const SAMPLES = samplesArg > 0 ? Number(process.argv[samplesArg + 1]) : 200;
if (!Number.isInteger(SAMPLES) || SAMPLES < 10 || SAMPLES > 5000) throw new Error('--samples must be 10 to 5000');

const cleanups = [];
async function cleanup() {
  for (const fn of cleanups.reverse()) await fn().catch((err) => console.error(`cleanup: ${err.message}`));
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

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main() {
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const dbName = `twofold_bench_reset_${crypto.randomBytes(5).toString('hex')}`;
  await withPg(PG_ADMIN_URL, (c) => c.query(`CREATE DATABASE ${dbName}`));
  cleanups.push(() =>
    withPg(PG_ADMIN_URL, async (c) => {
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
      await c.query(`DROP DATABASE IF EXISTS ${dbName}`);
    }),
  );
  const dbUrl = new URL(PG_ADMIN_URL);
  dbUrl.pathname = `/${dbName}`;

  let mails = 0;
  const sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _s, cb) {
      stream.resume();
      stream.on('end', () => {
        mails++;
        cb();
      });
    },
  });
  await new Promise((resolve) => sink.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => sink.close(resolve)));

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = path.join(os.tmpdir(), `${dbName}.log`);
  const child = spawnLogged(process.execPath, [path.join(ROOT, 'bin/twofold.js'), 'serve'], {
    cwd: ROOT,
    logFile,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DEMO: 'false',
      DATABASE_URL: dbUrl.toString(),
      REDIS_URL,
      REDIS_KEY_PREFIX: `bench-reset-${crypto.randomBytes(4).toString('hex')}:`,
      COOKIE_KEYS: crypto.randomBytes(32).toString('base64url'),
      DATA_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
      // Production refuses the console SMS sender; this Vonage host is never contacted.
      SMS_PROVIDER: 'vonage',
      VONAGE_API_KEY: 'bench',
      VONAGE_API_SECRET: 'bench-secret',
      VONAGE_FROM: 'Twofold',
      VONAGE_REST_HOST: 'http://127.0.0.1:9',
      MAIL_PROVIDER: 'smtp',
      SMTP_URL: `smtp://127.0.0.1:${sink.server.address().port}`,
      // Every request comes from its own address, so the per-IP limit stays out of the way.
      TRUST_PROXY: 'true',
      PORT: String(port),
      ISSUER: url,
    },
  });
  cleanups.push(() => stopProcess(child));
  await waitFor200(`${url}/.well-known/openid-configuration`, child, performance.now());

  // Users with verified addresses, straight into the tables (the bench measures the reset
  // request, not user creation); no password of theirs is ever checked.
  const known = Array.from({ length: SAMPLES }, (_, i) => `known-${i}-${crypto.randomBytes(3).toString('hex')}@example.com`);
  const unknown = Array.from({ length: SAMPLES }, (_, i) => `unknown-${i}-${crypto.randomBytes(3).toString('hex')}@example.com`);
  await withPg(dbUrl.toString(), async (c) => {
    const { rows } = await c.query("INSERT INTO accounts (name) VALUES ('Bench reset') RETURNING id");
    // Never verified here: any stored text will do.
    const hash = 'bench users never sign in';
    await c.query(
      `INSERT INTO users (account_id, username, username_key, role, is_support, password_hash, email, email_verified)
       SELECT $1, e, e, 'user', false, $2, e, true FROM unnest($3::text[]) AS e`,
      [rows[0].id, hash, known],
    );
  });

  const agent = newAgent(4);
  const order = [...known.map((e) => ['known', e]), ...unknown.map((e) => ['unknown', e])];
  for (let i = order.length - 1; i > 0; i--) {
    const j = crypto.randomInt(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const times = { known: [], unknown: [] };
  // Warm-up: template caches, connection pools, JIT.
  const never = () => false;
  for (let i = 0; i < 20; i++) {
    const warm = new Browser(agent, never);
    const headers = { 'x-forwarded-for': `203.0.113.${i + 1}` };
    const page = await warm.go(`${url}/password-reset`, { headers });
    await warm.go(`${url}/password-reset`, { headers, form: { _csrf: csrfToken(page), email: `warm-${i}@example.com` } });
  }
  let n = 0;
  for (const [kind, email] of order) {
    n++;
    const browser = new Browser(agent, never);
    const headers = { 'x-forwarded-for': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` };
    const page = await browser.go(`${url}/password-reset`, { headers });
    const t0 = performance.now();
    const res = await browser.go(`${url}/password-reset`, { headers, form: { _csrf: csrfToken(page), email } });
    const ms = performance.now() - t0;
    if (res.status !== 200 || !res.body.includes('If an account uses that address, we sent a link to it.'))
      throw new Error(`unexpected answer ${res.status} for a ${kind} address`);
    times[kind].push(ms);
  }
  const deadline = Date.now() + 30_000;
  while (mails < SAMPLES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

  const summary = {};
  for (const kind of ['known', 'unknown']) {
    const sorted = [...times[kind]].sort((a, b) => a - b);
    summary[kind] = { samples: sorted.length, medianMs: Math.round(quantile(sorted, 0.5) * 100) / 100, p90Ms: Math.round(quantile(sorted, 0.9) * 100) / 100 };
  }
  const ratio = Math.round((summary.known.medianMs / summary.unknown.medianMs) * 1000) / 1000;
  console.log('POST /password-reset, one at a time, shuffled known/unknown addresses');
  console.log(`  known   (${summary.known.samples}): median ${summary.known.medianMs} ms, p90 ${summary.known.p90Ms} ms`);
  console.log(`  unknown (${summary.unknown.samples}): median ${summary.unknown.medianMs} ms, p90 ${summary.unknown.p90Ms} ms`);
  console.log(`  median ratio known/unknown: ${ratio} (mails delivered to the sink: ${mails} of ${SAMPLES})`);
  console.log(JSON.stringify({ scenario: 'password-reset-timing', ...summary, medianRatio: ratio, mailsDelivered: mails }));
}

try {
  await main();
} finally {
  await cleanup();
}
