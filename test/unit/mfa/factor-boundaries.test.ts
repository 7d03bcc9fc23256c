import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FACTORS } from '../../../src/mfa/factors/index.js';

// A factor is its folder, its views and one line in the list of factors: no other module or
// page may name a kind, or branch on one, so a new factor cannot be forgotten somewhere.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const KIND_LITERAL = /['"](sms|totp|passkey)['"]/g;

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    return e.isDirectory() ? filesUnder(rel) : [rel];
  });
}

function kindLiterals(files: string[]): string[] {
  return files.flatMap((file) =>
    readFileSync(path.join(ROOT, file), 'utf8')
      .split('\n')
      .flatMap((line, i) => [...line.matchAll(KIND_LITERAL)].map((m) => `${file}:${i + 1}: ${m[0]}`)),
  );
}

describe('factor boundaries', () => {
  it('no kind literal in src outside the factor folders, the registry and src/sms', () => {
    const allowed = (f: string) => /^src\/(mfa\/factors|sms|config)\//.test(f) || f === 'src/mfa/factor-registry.ts';
    const files = filesUnder('src').filter((f) => f.endsWith('.ts') && !allowed(f));
    expect(files.length).toBeGreaterThan(50);
    expect(kindLiterals(files)).toEqual([]);
  });

  it('no kind literal in the views outside views/factors', () => {
    const files = filesUnder('views').filter((f) => !f.startsWith('views/factors/'));
    expect(files.some((f) => f === 'views/challenge.ejs')).toBe(true);
    expect(kindLiterals(files)).toEqual([]);
  });

  it('every registered factor has the fragments the generic pages include', () => {
    const missing = FACTORS.flatMap((f) =>
      ['challenge', 'enrol', 'start', 'device'].map((part) => `views/factors/${f.kind}/${part}.ejs`).filter((p) => !existsSync(path.join(ROOT, p))),
    );
    expect(missing).toEqual([]);
  });
});
