#!/usr/bin/env node
// Prints fresh production secrets as NAME=value lines, ready to append to deploy/.env or to
// paste into the Kubernetes Secret. `--postgres` adds the password of compose's own Postgres.
// Every value is base64/base64url/hex: nothing that a shell, a URL or compose would mangle.
import { randomBytes } from 'node:crypto';

const args = process.argv.slice(2);
if (args.some((a) => a !== '--postgres')) {
  process.stderr.write('usage: node scripts/generate-secrets.js [--postgres]\n');
  process.exit(2);
}
const lines = [
  `COOKIE_KEYS=${randomBytes(32).toString('base64url')}`,
  `DATA_ENCRYPTION_KEY=${randomBytes(32).toString('base64')}`,
  `METRICS_TOKEN=${randomBytes(32).toString('base64url')}`,
];
if (args.includes('--postgres')) lines.push(`POSTGRES_PASSWORD=${randomBytes(24).toString('hex')}`);
process.stdout.write(`${lines.join('\n')}\n`);
