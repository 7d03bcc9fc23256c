#!/usr/bin/env node
// `npm start` runs this first: compiles the TypeScript when dist/ is missing or older than src/.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const output = join(root, 'dist', 'cli', 'main.js');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.isFile()) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function outputMtime() {
  try {
    return statSync(output).mtimeMs;
  } catch {
    return -1;
  }
}

const built = outputMtime();
const sources = [join(root, 'src'), join(root, 'tsconfig.json'), join(root, 'tsconfig.build.json')];
const newestSource = Math.max(
  ...sources.map((p) => {
    try {
      return statSync(p).isDirectory() ? newestMtime(p) : statSync(p).mtimeMs;
    } catch {
      return 0;
    }
  }),
);

if (built < 0 || built < newestSource) {
  process.stderr.write(built < 0 ? 'Building Twofold (first start)...\n' : 'Sources changed: rebuilding Twofold...\n');
  const result = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) {
    // tsc emits despite type errors: drop the marker so that the next start builds again.
    rmSync(output, { force: true });
    process.stderr.write('Build failed: see the errors above.\n');
    process.exit(result.status ?? 1);
  }
}
