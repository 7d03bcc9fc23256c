#!/usr/bin/env node
// Runs every jest suite (ESM, one at a time: the end-to-end suites start real servers on a
// 2-core machine), then prints one plain closing line, "N passed, N failed, N skipped",
// and exits with jest's code.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

fs.mkdirSync('test-artifacts', { recursive: true });
const results = 'test-artifacts/jest-results.json';
fs.rmSync(results, { force: true });
const run = spawnSync(
  process.execPath,
  ['node_modules/jest/bin/jest.js', '--runInBand', '--json', `--outputFile=${results}`, ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim() } },
);
let line = 'jest produced no results: 0 passed, 1 failed';
if (fs.existsSync(results)) {
  const r = JSON.parse(fs.readFileSync(results, 'utf8'));
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  line = `${r.numPassedTests} passed, ${failed} failed, ${r.numPendingTests} skipped`;
}
process.stdout.write(`\n${line}\n`);
process.exit(run.status ?? 1);
