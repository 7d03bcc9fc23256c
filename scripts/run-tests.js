#!/usr/bin/env node
// Runs every jest suite (ESM, one at a time: the end-to-end suites start real servers on a
// 2-core machine), then prints one plain closing line, "N passed, N failed, N skipped",
// and exits with jest's code.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

fs.mkdirSync('test-artifacts', { recursive: true });
const results = 'test-artifacts/jest-results.json';
fs.rmSync(results, { force: true });
const run = spawnSync(process.execPath, ['node_modules/jest/bin/jest.js', '--runInBand', '--json', `--outputFile=${results}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim() },
});
let line = 'jest produced no results: 0 passed, 1 failed';
if (fs.existsSync(results)) {
  const r = JSON.parse(fs.readFileSync(results, 'utf8'));
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  line = `${r.numPassedTests} passed, ${failed} failed, ${r.numPendingTests} skipped`;
  // The tail of a long log is what survives: repeat each failure's first lines there.
  // eslint-disable-next-line no-control-regex -- matching the ESC that starts a colour code is the point
  const plain = (s) => s.replace(/\u001b\[[0-9;]*m/g, '');
  const firstLines = (s) =>
    plain(s)
      .split('\n')
      .filter((l) => l.trim() !== '' && !/^\s*at /.test(l))
      .slice(0, 12)
      .map((l) => `    ${l.slice(0, 300)}`)
      .join('\n');
  const failures = [];
  for (const file of r.testResults) {
    const name = file.name.replace(`${process.cwd()}/`, '');
    const failedTests = file.assertionResults.filter((a) => a.status === 'failed');
    for (const a of failedTests) failures.push(`  ${name} › ${a.fullName}\n${firstLines(a.failureMessages.join('\n'))}`);
    if (failedTests.length === 0 && file.status === 'failed') failures.push(`  ${name}\n${firstLines(file.message)}`);
  }
  if (failures.length > 0) process.stdout.write(`\nFailures:\n${failures.join('\n')}\n`);
}
process.stdout.write(`\n${line}\n`);
process.exit(run.status ?? 1);
