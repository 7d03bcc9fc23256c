// Scenario A0: the argon2 ceiling. Password verifications per second on one core with the
// production parameters: this calls Twofold's own hashPassword/verifyPassword from dist/ (so the
// parameters are whatever src/accounts/password-hasher.ts says). run.js starts this process
// pinned to one core with taskset; @node-rs/argon2 runs on libuv's thread pool, whose threads
// inherit the pin, so "per second" is "per core".
// A third run starts one verification every 1/rate s (argv[3], the login calibration rate) for
// argv[4] s: on a machine that idles between requests a verify costs more than back to back (the
// bench's login steps are paced like this, so their argon2 budget is too). With argv[2] 0 only the
// paced run is made (run.js repeats it around the login calibration).
// Prints one JSON line: { verifications, seconds, perSecond, cpuMsPerVerify, concurrency, ... }.
import { performance } from 'node:perf_hooks';
import { hashPassword, verifyPassword } from '../dist/accounts/password-hasher.js';

const seconds = Number(process.argv[2] || 4);
const pacedRate = Number(process.argv[3] || 0);
const pacedSeconds = Number(process.argv[4] || 4);
const password = 'correct horse battery staple';
const hash = await hashPassword(password);
if (!(await verifyPassword(hash, password))) throw new Error('verify failed');
// Warm-up.
for (let i = 0; i < 10; i++) await verifyPassword(hash, password);

async function run(concurrency, ms) {
  let count = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  async function worker() {
    while (performance.now() - t0 < ms) {
      if (!(await verifyPassword(hash, password))) throw new Error('verify failed');
      count++;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    concurrency,
    verifications: count,
    seconds: Math.round(wall) / 1000,
    perSecond: Math.round((count / (wall / 1000)) * 100) / 100,
    cpuMsPerVerify: Math.round((cpuMs / count) * 100) / 100,
    wallMsPerVerify: Math.round((wall / count) * 100) / 100,
  };
}

/** One verification started every 1/rate s (never two at once), as a paced load step offers them. */
async function runPaced(rate, ms) {
  let count = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (;;) {
    const wait = t0 + (count * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (performance.now() - t0 >= ms) break;
    if (!(await verifyPassword(hash, password))) throw new Error('verify failed');
    count++;
  }
  const cpu = process.cpuUsage(cpu0);
  return { rate, verifications: count, seconds: Math.round(performance.now() - t0) / 1000, cpuMsPerVerify: Math.round(((cpu.user + cpu.system) / 1000 / count) * 100) / 100 };
}

const paced = pacedRate > 0 ? await runPaced(pacedRate, pacedSeconds * 1000) : null;
if (seconds === 0) {
  process.stdout.write(`${JSON.stringify({ paced })}\n`);
  process.exit(0);
}
// One at a time (pure cost of a verify) and two at a time (keeps the core busy between calls).
const serial = await run(1, (seconds * 1000) / 2);
const paired = await run(2, (seconds * 1000) / 2);
const best = paired.perSecond > serial.perSecond ? paired : serial;
process.stdout.write(
  `${JSON.stringify({
    params: 'argon2id m=19456 KiB, t=2, p=1 (src/accounts/password-hasher.ts)',
    hashPrefix: hash.slice(0, hash.indexOf('$', 12)),
    serial,
    paired,
    paced,
    perSecond: best.perSecond,
    cpuMsPerVerify: serial.cpuMsPerVerify,
  })}\n`,
);
