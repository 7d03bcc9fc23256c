/**
 * Reads the settings once at start-up: the only place that looks at process.env. Every bad
 * setting is collected into one ConfigError; values are never quoted (they may be secrets).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { base64Key32, envSchema, requiredWhen, settingNames, type Config, type RawEnv } from './config-schema.js';

export type { Config, LogLevel } from './config-schema.js';

export const DEV_SECRETS_FILE = 'dev-secrets.json';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : [...problems];
    super(list.join('\n'));
    this.problems = list;
  }
}

/** The process environment: the settings' only source outside tests. */
export const processEnvironment = (): Record<string, string | undefined> => process.env;

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw: RawEnv = {};
  for (const name of settingNames) {
    const value = env[name]?.trim();
    if (value) raw[name] = value; // empty counts as unset
  }

  const problems: string[] = [];
  for (const rule of requiredWhen) {
    if (rule.when(raw)) for (const name of rule.names) if (raw[name] === undefined) problems.push(`${name}: ${rule.why}`);
  }
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) for (const issue of parsed.error.issues) problems.push(`${String(issue.path[0] ?? 'settings')}: ${issue.message}`);

  let secrets: DevSecrets | undefined;
  if (raw.NODE_ENV !== 'production' && (!raw.COOKIE_KEYS || !raw.DATA_ENCRYPTION_KEY)) {
    // With other problems, only check an existing file: do not create anything for a bad start.
    const result = devSecrets(resolve(raw.DATA_DIR ?? './data'), problems.length === 0);
    if (typeof result === 'string') problems.push(`DATA_DIR: ${result}`);
    else secrets = result;
  }

  if (problems.length > 0 || !parsed.success) throw new ConfigError([...new Set(problems)]);
  const cookieKeys = parsed.data.cookieKeys ?? secrets?.cookieKeys;
  const dataEncryptionKey = parsed.data.dataEncryptionKey ?? secrets?.dataEncryptionKey;
  if (!cookieKeys || !dataEncryptionKey) throw new ConfigError('DATA_DIR: development secrets are unavailable');
  return deepFreeze<Config>({ ...parsed.data, cookieKeys, dataEncryptionKey });
}

const devSecretsSchema = z.object({ cookieKeys: z.array(z.string().min(32)).min(1), dataEncryptionKey: base64Key32 });
type DevSecrets = z.output<typeof devSecretsSchema>;

/**
 * Development secrets, generated once into DATA_DIR. The file appears atomically (written to a
 * temp file created with 'wx', then hard-linked into place) so that two processes starting
 * together agree: the loser of the race gets EEXIST and reads the winner's file.
 * Returns the problem as a string.
 */
function devSecrets(dir: string, create: boolean): DevSecrets | string | undefined {
  const file = join(dir, DEV_SECRETS_FILE);
  try {
    if (create) createOnce(dir, file); // EEXIST (the usual case after the first start) keeps the file
    if (!existsSync(file)) return undefined;
    const parsed = devSecretsSchema.safeParse(parseJson(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : `${file} is corrupt; restore it or delete it to generate new development secrets`;
  } catch (err) {
    return `cannot use development secrets file ${file} (${errorCode(err) ?? 'error'})`;
  }
}

function createOnce(dir: string, file: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const text = `${JSON.stringify(
    {
      cookieKeys: [randomBytes(32).toString('base64url')],
      dataEncryptionKey: randomBytes(32).toString('base64'),
    },
    null,
    2,
  )}\n`;
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { flag: 'wx', mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') writeOnce(file, text); // a file system without hard links
  } finally {
    rmSync(tmp, { force: true });
  }
}

function writeOnce(file: string, text: string): void {
  try {
    writeFileSync(file, text, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') throw err;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
