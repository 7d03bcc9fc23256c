import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig } from '../../../src/config/load-config.js';

const root = resolve(process.cwd());
const tmpRoot = mkdtempSync(join(tmpdir(), 'twofold-config-'));
let dataDir: string;
let n = 0;
beforeEach(() => {
  dataDir = join(tmpRoot, `d${n++}`);
});
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

const KEY_A = 'a'.repeat(32);
const DEK = Buffer.alloc(32, 7).toString('base64');
const prodEnv = { NODE_ENV: 'production', COOKIE_KEYS: KEY_A, DATA_ENCRYPTION_KEY: DEK, SMS_PROVIDER: 'console', MAIL_PROVIDER: 'smtp', SMTP_URL: 'smtp://mail.example.com:587' };

function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig({ DATA_DIR: dataDir, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}
const names = (lines: string[]) => lines.map((line) => line.split(':')[0]);

describe('loadConfig', () => {
  it('applies the documented defaults and freezes the result', () => {
    const c = loadConfig({ DATA_DIR: dataDir });
    expect(c).toMatchObject({
      nodeEnv: 'development',
      port: 3000,
      issuer: 'http://localhost:3000',
      dataDir,
      demo: true,
      logLevel: 'info',
      trustProxy: false,
      totpIssuer: 'Twofold',
      reauthMaxAgeSeconds: 300,
      enrolmentTtlSeconds: 3600,
    });
    expect(c.databaseUrl).toBeUndefined();
    expect(c.redisUrl).toBeUndefined();
    expect(c.sms).toEqual({
      provider: 'console',
      vonage: undefined,
      timeoutMs: 5000,
      pinLength: 4,
      codeLength: 7,
      pinTtlSeconds: 600,
      codeTtlSeconds: 600,
      resendCooldownSeconds: 30,
      maxPerUserPerHour: 10,
      maxPerPhonePerHour: 10,
      maxPinsPerPhonePerHour: 5,
      maxPendingUsersPerPhone: 3,
      maxPerIpPerHour: 20,
      maxGlobalPerHour: 1000,
      allowedCallingCodes: null,
    });
    expect(c.cookieKeys).toHaveLength(1);
    expect(c.cookieKeys[0].length).toBeGreaterThanOrEqual(32);
    expect(c.dataEncryptionKey).toHaveLength(32);
    expect(Object.isFrozen(c) && Object.isFrozen(c.sms) && Object.isFrozen(c.cookieKeys)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('reads every setting, treats empty strings as unset and normalises', () => {
    const c = loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      ISSUER: 'https://id.example.com/tenant/',
      DATA_DIR: dataDir,
      DATABASE_URL: 'postgresql://u:p@db:5432/twofold',
      REDIS_URL: 'rediss://cache:6380',
      COOKIE_KEYS: ` ${KEY_A} , ${'b'.repeat(40)} `,
      DATA_ENCRYPTION_KEY: DEK,
      LOG_LEVEL: 'silent',
      TRUST_PROXY: '1',
      TOTP_ISSUER: 'Acme',
      REAUTH_MAX_AGE: '60',
      SMS_TIMEOUT_MS: '250',
      SMS_PIN_LENGTH: '6',
      SMS_CODE_LENGTH: '8',
      SMS_ALLOWED_COUNTRIES: '1, 44,91,44',
      SMS_LIMIT_GLOBAL_HOURLY: '5',
      SMS_RESEND_COOLDOWN: '0',
      VONAGE_API_KEY: '',
    });
    expect(c).toMatchObject({
      nodeEnv: 'test',
      port: 0,
      issuer: 'https://id.example.com/tenant',
      demo: false,
      logLevel: 'silent',
      trustProxy: true,
      totpIssuer: 'Acme',
      reauthMaxAgeSeconds: 60,
      cookieKeys: [KEY_A, 'b'.repeat(40)],
      databaseUrl: 'postgresql://u:p@db:5432/twofold',
      redisUrl: 'rediss://cache:6380',
    });
    expect(c.dataEncryptionKey.equals(Buffer.alloc(32, 7))).toBe(true);
    expect(c.sms).toMatchObject({ timeoutMs: 250, pinLength: 6, codeLength: 8, maxGlobalPerHour: 5, resendCooldownSeconds: 0 });
    expect(c.sms.allowedCallingCodes).toEqual(['1', '44', '91']);
    expect(existsSync(dataDir)).toBe(false); // both secrets given: nothing generated
    expect(loadConfig({ PORT: '', DATA_DIR: dataDir, ISSUER: ' ' }).issuer).toBe('http://localhost:3000');
    expect(loadConfig({ PORT: '8080', DATA_DIR: dataDir }).issuer).toBe('http://localhost:8080');
    expect(loadConfig({ DATA_DIR: 'relative/dir', COOKIE_KEYS: KEY_A, DATA_ENCRYPTION_KEY: DEK }).dataDir).toBe(resolve('relative/dir'));
  });

  it('names every bad setting at once, one line each', () => {
    const bad = {
      NODE_ENV: 'staging',
      PORT: '70000',
      ISSUER: 'https://x.example.com/?a=1',
      DATABASE_URL: 'mysql://db/x',
      REDIS_URL: 'http://cache',
      COOKIE_KEYS: 'short',
      DATA_ENCRYPTION_KEY: 'AAAA',
      DEMO: 'maybe',
      LOG_LEVEL: 'loud',
      TRUST_PROXY: 'yes',
      TOTP_ISSUER: 'a:b',
      REAUTH_MAX_AGE: '-1',
      SMS_PROVIDER: 'twilio',
      VONAGE_FROM: 'not a valid sender!',
      VONAGE_REST_HOST: 'ftp://x',
      SMS_TIMEOUT_MS: '1.5',
      SMS_PIN_LENGTH: '3',
      SMS_CODE_LENGTH: '11',
      SMS_PIN_TTL: 'ten',
      SMS_CODE_TTL: '0',
      SMS_RESEND_COOLDOWN: '1e3',
      SMS_LIMIT_USER_HOURLY: '0',
      SMS_LIMIT_PHONE_HOURLY: 'x',
      SMS_LIMIT_IP_HOURLY: '-5',
      SMS_LIMIT_GLOBAL_HOURLY: '99999999999',
      SMS_ALLOWED_COUNTRIES: '1,+44,1234',
    };
    const lines = problems(bad);
    expect(names(lines).sort()).toEqual(Object.keys(bad).sort());
    for (const line of lines) expect(line).toMatch(/^[A-Z_]+: \S/);
    expect(lines).toContain('PORT: must be between 0 and 65535');
    expect(lines).toContain('SMS_PIN_LENGTH: must be between 4 and 10');
    expect(lines).toContain('SMS_TIMEOUT_MS: must be a whole number');
    expect(existsSync(dataDir)).toBe(false); // a bad start creates nothing
  });

  it.each([
    ['NODE_ENV', 'Production'],
    ['PORT', 'abc'],
    ['ISSUER', 'id.example.com'],
    ['ISSUER', 'https://id.example.com/#x'],
    ['DATABASE_URL', 'not a url'],
    ['COOKIE_KEYS', `${KEY_A},short`],
    ['DATA_ENCRYPTION_KEY', Buffer.alloc(31).toString('base64')],
    ['DATA_ENCRYPTION_KEY', '!'.repeat(44)],
    ['SMS_ALLOWED_COUNTRIES', ','],
    ['SMS_ALLOWED_COUNTRIES', '0'],
  ])('rejects %s=%j by name', (name, value) => {
    expect(names(problems({ [name]: value }))).toEqual([name]);
  });

  it('TRUST_PROXY_HOPS: a whole number of at least 1, default 1', () => {
    expect(loadConfig({ DATA_DIR: dataDir, TRUST_PROXY: 'true' }).trustProxyHops).toBe(1);
    expect(loadConfig({ DATA_DIR: dataDir, TRUST_PROXY: 'true', TRUST_PROXY_HOPS: '2' }).trustProxyHops).toBe(2);
    for (const bad of ['0', '-1', '1.5', 'two', '1000']) expect(names(problems({ TRUST_PROXY_HOPS: bad }))).toEqual(['TRUST_PROXY_HOPS']);
  });

  it("ALLOWED_HOSTS: host[:port] names added to ISSUER's host, lower-case, without default ports", () => {
    expect(loadConfig({ DATA_DIR: dataDir, ISSUER: 'https://ID.example.com' }).allowedHosts).toEqual(['id.example.com']);
    expect(loadConfig({ DATA_DIR: dataDir, ISSUER: 'http://127.0.0.1:4000/t' }).allowedHosts).toEqual(['127.0.0.1:4000']);
    expect(loadConfig({ DATA_DIR: dataDir, ISSUER: 'https://id.example.com', ALLOWED_HOSTS: 'Login.Example.NET:443, id.example.com,[::1]:8443' }).allowedHosts).toEqual([
      'id.example.com',
      'login.example.net',
      '[::1]:8443',
    ]);
    for (const bad of ['evil.example/path', 'http://evil.example', 'a b', 'evil.example:port', ',']) expect(names(problems({ ALLOWED_HOSTS: bad }))).toEqual(['ALLOWED_HOSTS']);
  });

  it("WEBAUTHN_RP_ID: ISSUER's host by default; set, it must be that host or a domain the host belongs to", () => {
    expect(loadConfig({ DATA_DIR: dataDir, ISSUER: 'https://ID.example.com/t' }).webauthn).toEqual({ rpId: 'id.example.com', rpName: 'Twofold', origin: 'https://id.example.com' });
    expect(loadConfig({ DATA_DIR: dataDir, ISSUER: 'http://127.0.0.1:4000' }).webauthn.rpId).toBe('127.0.0.1');
    for (const [issuer, rpId] of [
      ['https://id.example.com', 'id.example.com'],
      ['https://id.example.com', 'example.com'],
      ['https://a.b.example.co.uk:8443', 'example.co.uk'],
      ['http://127.0.0.1:4000', '127.0.0.1'],
      ['http://localhost:3000', 'localhost'],
    ] as const) {
      expect(loadConfig({ DATA_DIR: dataDir, ISSUER: issuer, WEBAUTHN_RP_ID: rpId }).webauthn.rpId).toBe(rpId);
    }
    for (const [issuer, rpId] of [
      ['https://id.example.com', 'other.com'],
      ['https://id.example.com', 'xample.com'], // a suffix of the text, not of the labels
      ['https://id.example.com', 'login.id.example.com'], // a sub-domain of the host
      ['https://id.example.com', 'com'], // a top-level domain is not registrable
      ['http://127.0.0.1:4000', '0.0.1'], // an IP address has no parent domain
      ['http://127.0.0.1:4000', '127.0.0.2'],
      ['http://localhost:3000', 'example.com'],
    ] as const) {
      const lines = problems({ ISSUER: issuer, WEBAUTHN_RP_ID: rpId });
      expect(lines).toEqual(["WEBAUTHN_RP_ID: must be ISSUER's host or a domain it belongs to (an IP address only itself)"]);
      expect(lines.join('\n')).not.toContain(rpId); // the value itself is never quoted
    }
    // Without ISSUER the host is localhost: a domain elsewhere is refused by name.
    expect(names(problems({ WEBAUTHN_RP_ID: 'example.com' }))).toEqual(['WEBAUTHN_RP_ID']);
  });

  it('requires the secrets and an explicit SMS provider in production', () => {
    const lines = problems({ NODE_ENV: 'production' });
    expect(lines.sort()).toEqual([
      'COOKIE_KEYS: required when NODE_ENV=production',
      'DATA_ENCRYPTION_KEY: required when NODE_ENV=production',
      'MAIL_PROVIDER: required when NODE_ENV=production',
      'SMS_PROVIDER: required when NODE_ENV=production',
    ]);
    expect(names(problems({ ...prodEnv, DATA_ENCRYPTION_KEY: '' }))).toEqual(['DATA_ENCRYPTION_KEY']);
    const c = loadConfig({ ...prodEnv, DATA_DIR: dataDir });
    expect(c.nodeEnv).toBe('production');
    expect(c.cookieKeys).toEqual([KEY_A]);
    expect(existsSync(dataDir)).toBe(false); // never generates secrets in production
  });

  it('generates development secrets once, privately, and reuses them', () => {
    const first = loadConfig({ DATA_DIR: dataDir });
    const file = join(dataDir, 'dev-secrets.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = loadConfig({ DATA_DIR: dataDir, NODE_ENV: 'test' });
    expect(second.cookieKeys).toEqual(first.cookieKeys);
    expect(second.dataEncryptionKey.equals(first.dataEncryptionKey)).toBe(true);
    expect(readdirSync(dataDir)).toEqual(['dev-secrets.json']); // no temp files left behind
    // A setting that is given wins over the file; the other one still comes from it.
    const mixed = loadConfig({ DATA_DIR: dataDir, COOKIE_KEYS: KEY_A });
    expect(mixed.cookieKeys).toEqual([KEY_A]);
    expect(mixed.dataEncryptionKey.equals(first.dataEncryptionKey)).toBe(true);
  });

  it('reports a corrupt development secrets file by its path', () => {
    loadConfig({ DATA_DIR: dataDir });
    const file = join(dataDir, 'dev-secrets.json');
    const original = readFileSync(file, 'utf8');
    for (const corrupt of ['{not json', '{"cookieKeys":[],"dataEncryptionKey":"AAAA"}', '']) {
      writeFileSync(file, corrupt);
      const lines = problems({});
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^DATA_DIR: /);
      expect(lines[0]).toContain(file);
    }
    // Reported together with other problems.
    expect(names(problems({ PORT: 'x' })).sort()).toEqual(['DATA_DIR', 'PORT']);
    writeFileSync(file, original);
    expect(loadConfig({ DATA_DIR: dataDir }).cookieKeys).toEqual(JSON.parse(original).cookieKeys);
  });

  it('two processes starting together with a fresh DATA_DIR agree on the secrets', async () => {
    const runs = await Promise.all(Array.from({ length: 4 }, () => loadInChild(dataDir, Date.now() + 2500)));
    const distinct = new Set(runs);
    expect(distinct.size).toBe(1);
    const [keys, dek] = JSON.parse(runs[0]) as [string[], string];
    expect(keys).toEqual(JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')).cookieKeys);
    expect(Buffer.from(dek, 'base64')).toHaveLength(32);
  });

  it('defaults DEMO to on in embedded mode only', () => {
    const base = { COOKIE_KEYS: KEY_A, DATA_ENCRYPTION_KEY: DEK, DATA_DIR: dataDir };
    expect(loadConfig(base).demo).toBe(true);
    expect(loadConfig({ ...base, DATABASE_URL: 'postgres://localhost/test' }).demo).toBe(false);
    expect(loadConfig({ ...base, DATABASE_URL: 'postgres://localhost/test', DEMO: 'true' }).demo).toBe(true);
    expect(loadConfig({ ...base, DEMO: '0' }).demo).toBe(false);
  });

  it('requires the three Vonage settings when SMS_PROVIDER=vonage', () => {
    expect(problems({ SMS_PROVIDER: 'vonage' }).sort()).toEqual([
      'VONAGE_API_KEY: required when SMS_PROVIDER=vonage',
      'VONAGE_API_SECRET: required when SMS_PROVIDER=vonage',
      'VONAGE_FROM: required when SMS_PROVIDER=vonage',
    ]);
    const vonage = { SMS_PROVIDER: 'vonage', VONAGE_API_KEY: 'key', VONAGE_API_SECRET: 'secret', VONAGE_FROM: 'Twofold' };
    expect(names(problems({ ...vonage, VONAGE_FROM: '' }))).toEqual(['VONAGE_FROM']);
    const c = loadConfig({ ...prodEnv, ...vonage, DATA_DIR: dataDir, VONAGE_REST_HOST: 'http://127.0.0.1:9999/' });
    expect(c.sms.provider).toBe('vonage');
    expect(c.sms.vonage).toEqual({ apiKey: 'key', apiSecret: 'secret', from: 'Twofold', restHost: 'http://127.0.0.1:9999' });
    expect(loadConfig({ ...vonage, DATA_DIR: dataDir, SMS_PROVIDER: 'console' }).sms.vonage).toBeUndefined();
  });

  it('mail: console by default, SMTP_URL required and checked with smtp, MAIL_FROM checked', () => {
    const c = loadConfig({ DATA_DIR: dataDir });
    expect(c.mail).toEqual({ provider: 'console', smtpUrl: undefined, from: 'Twofold <no-reply@localhost>', timeoutMs: 10_000 });
    expect(problems({ MAIL_PROVIDER: 'smtp' })).toEqual(['SMTP_URL: required when MAIL_PROVIDER=smtp']);
    for (const bad of ['http://mail.example.com', 'mail.example.com:25', 'smtp://']) expect(names(problems({ MAIL_PROVIDER: 'smtp', SMTP_URL: bad }))).toEqual(['SMTP_URL']);
    expect(names(problems({ MAIL_PROVIDER: 'sendmail' }))).toEqual(['MAIL_PROVIDER']);
    for (const bad of ['no-reply', 'Twofold <no reply@x>', 'a@b\r\nBcc: x@y', 'Twofold <a@b']) expect(names(problems({ MAIL_FROM: bad }))).toEqual(['MAIL_FROM']);
    const smtp = loadConfig({
      DATA_DIR: dataDir,
      MAIL_PROVIDER: 'smtp',
      SMTP_URL: 'smtps://u:p@mail.example.com:465',
      MAIL_FROM: 'Example ID <id@example.com>',
      MAIL_TIMEOUT_MS: '2000',
    });
    expect(smtp.mail).toEqual({ provider: 'smtp', smtpUrl: 'smtps://u:p@mail.example.com:465', from: 'Example ID <id@example.com>', timeoutMs: 2000 });
    expect(problems({ MAIL_PROVIDER: 'smtp', SMTP_URL: 'smtp://user:hunter2-secret@exa mple' }).join('\n')).not.toContain('hunter2');
  });

  it('never puts a secret value in the message', () => {
    const secrets = {
      COOKIE_KEYS: 'cookie-secret-9f8e7d',
      DATA_ENCRYPTION_KEY: 'dek-secret-0a1b2c==',
      DATABASE_URL: 'mysql://admin:pg-pass-5e6f@db/x',
      REDIS_URL: 'http://:redis-pass-7a8b@cache:6379',
      VONAGE_API_SECRET: 'vonage-secret-3c4d',
      SMTP_URL: 'imap://mailer:smtp-pass-1d2e@mail:25',
    };
    let message = '';
    try {
      loadConfig({ ...secrets, NODE_ENV: 'production', SMS_PROVIDER: 'vonage', MAIL_PROVIDER: 'smtp', DATA_DIR: dataDir });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(names(message.split('\n')).sort()).toEqual(['COOKIE_KEYS', 'DATABASE_URL', 'DATA_ENCRYPTION_KEY', 'REDIS_URL', 'SMTP_URL', 'VONAGE_API_KEY', 'VONAGE_FROM']);
    for (const value of Object.values(secrets)) expect(message).not.toContain(value);
    for (const fragment of ['9f8e7d', '0a1b2c', 'pg-pass', 'redis-pass', 'vonage-secret', 'smtp-pass']) expect(message).not.toContain(fragment);
  });
});

/**
 * Runs loadConfig in a separate Node process (TypeScript through @swc/core in a loader hook);
 * every child waits for the same instant before loading, so they race on the fresh directory.
 */
function loadInChild(dir: string, startAt: number): Promise<string> {
  const hooks = `
    import { createRequire } from 'node:module';
    import { readFileSync } from 'node:fs';
    import { fileURLToPath } from 'node:url';
    const swc = createRequire(${JSON.stringify(join(root, 'package.json'))})('@swc/core');
    export async function resolve(spec, ctx, next) {
      if (/^\\.\\.?\\//.test(spec) && spec.endsWith('.js') && ctx.parentURL?.endsWith('.ts')) {
        return next(spec.slice(0, -3) + '.ts', ctx);
      }
      return next(spec, ctx);
    }
    export async function load(url, ctx, next) {
      if (!url.endsWith('.ts')) return next(url, ctx);
      const { code } = swc.transformSync(readFileSync(fileURLToPath(url), 'utf8'), {
        filename: fileURLToPath(url), jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' },
      });
      return { format: 'module', source: code, shortCircuit: true };
    }`;
  const main = `
    import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));
    const { loadConfig } = await import(${JSON.stringify(pathToFileURL(join(root, 'src/config/load-config.ts')).href)});
    while (Date.now() < ${startAt});
    const c = loadConfig({ DATA_DIR: ${JSON.stringify(dir)} });
    process.stdout.write(JSON.stringify([c.cookieKeys, c.dataEncryptionKey.toString('base64')]));`;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', main], {
      cwd: root,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done(out) : fail(new Error(`child exited ${code}: ${err}`))));
  });
}

describe('SUPPORT_CODE_TTL', () => {
  test('10 minutes by default; 1 to 3600 seconds', () => {
    expect(loadConfig({ DATA_DIR: dataDir }).supportCodeTtlSeconds).toBe(600);
    expect(loadConfig({ DATA_DIR: dataDir, SUPPORT_CODE_TTL: '60' }).supportCodeTtlSeconds).toBe(60);
    expect(problems({ SUPPORT_CODE_TTL: '0' })).toContain('SUPPORT_CODE_TTL: must be between 1 and 3600');
    expect(problems({ SUPPORT_CODE_TTL: '3601' })).toContain('SUPPORT_CODE_TTL: must be between 1 and 3600');
    expect(problems({ SUPPORT_CODE_TTL: 'ten minutes' })).toContain('SUPPORT_CODE_TTL: must be a whole number');
  });
});

describe('PASSWORD_RESET_TTL', () => {
  it('defaults to 1800 seconds, takes whole seconds and refuses 0 or words', () => {
    expect(loadConfig({ DATA_DIR: dataDir }).passwordResetTtlSeconds).toBe(1800);
    expect(loadConfig({ DATA_DIR: dataDir, PASSWORD_RESET_TTL: '120' }).passwordResetTtlSeconds).toBe(120);
    expect(problems({ PASSWORD_RESET_TTL: '0' })).toContain('PASSWORD_RESET_TTL: must be between 1 and 604800');
    expect(problems({ PASSWORD_RESET_TTL: 'half an hour' })).toContain('PASSWORD_RESET_TTL: must be a whole number');
  });
});

describe('DEFAULT_LOCALE', () => {
  it('defaults to English, takes a supported language and names an unknown one', () => {
    expect(loadConfig({ DATA_DIR: dataDir }).defaultLocale).toBe('en');
    expect(loadConfig({ DATA_DIR: dataDir, DEFAULT_LOCALE: 'ar' }).defaultLocale).toBe('ar');
    const [line] = problems({ DEFAULT_LOCALE: 'klingon' });
    expect(line).toMatch(/^DEFAULT_LOCALE: "klingon" is not a supported language; must be one of: en, de, fr, es, ar$/);
  });
});
