/**
 * The settings (README's configuration table) as one declarative zod schema over the
 * environment. Keys are the environment variable names, so every issue's path names the bad
 * setting. Messages never quote the value (it may be a secret).
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { LANGUAGE_TAGS } from '../i18n/languages.js';
import { rpIdFitsHost } from './webauthn-rp-id.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  nodeEnv: 'production' | 'development' | 'test';
  port: number;
  issuer: string;
  databaseUrl?: string;
  redisUrl?: string;
  /** REDIS_KEY_PREFIX: namespace of every key, so deployments (or test runs) can share a Redis. */
  redisKeyPrefix: string;
  dataDir: string;
  cookieKeys: string[];
  dataEncryptionKey: Buffer;
  demo: boolean;
  logLevel: LogLevel;
  trustProxy: boolean;
  /** TRUST_PROXY_HOPS: proxies that append to X-Forwarded-For; the client is that many entries from the right. */
  trustProxyHops: number;
  /** ISSUER's host plus ALLOWED_HOSTS: the Host values (lower-case host[:port]) answered at all. */
  allowedHosts: string[];
  totpIssuer: string;
  /** WebAuthn relying party: its id (a registrable domain of ISSUER's host), name, and the origin responses must come from. */
  webauthn: { rpId: string; rpName: string; origin: string };
  reauthMaxAgeSeconds: number;
  /** ENROLMENT_TTL: seconds an unverified device waits for its verification before it is dropped. */
  enrolmentTtlSeconds: number;
  /** PASSWORD_RESET_TTL: seconds a password-reset link stays valid. */
  passwordResetTtlSeconds: number;
  /** SUPPORT_CODE_TTL: seconds a support verification code (before an MFA reset) stays valid. */
  supportCodeTtlSeconds: number;
  /** METRICS_TOKEN: when set, /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** KEY_REFRESH_SECONDS: how often each process checks for rotated signing keys. */
  keyRefreshSeconds: number;
  /** ENTRY_RATE_LIMIT: requests per minute per IP at the token endpoint and code forms (x2 per client). */
  entryRateLimitPerMinute: number;
  sms: {
    provider: 'vonage' | 'console';
    vonage?: { apiKey: string; apiSecret: string; from: string; restHost?: string };
    timeoutMs: number;
    pinLength: number;
    codeLength: number;
    pinTtlSeconds: number;
    codeTtlSeconds: number;
    resendCooldownSeconds: number;
    maxPerUserPerHour: number;
    /** Login codes per number and hour (only the number's verified owners send these). */
    maxPerPhonePerHour: number;
    /** Enrolment PINs per number and hour, counted apart from login codes. */
    maxPinsPerPhonePerHour: number;
    /** How many different users may have one number pending verification at once. */
    maxPendingUsersPerPhone: number;
    maxPerIpPerHour: number;
    maxGlobalPerHour: number;
    allowedCallingCodes: string[] | null;
  };
  mail: {
    provider: 'smtp' | 'console';
    /** SMTP_URL, with its credentials: only the SMTP mailer sees it. */
    smtpUrl?: string;
    /** MAIL_FROM: the From header of every mail. */
    from: string;
    /** MAIL_TIMEOUT_MS: upper bound of one send. */
    timeoutMs: number;
  };
  /** DEFAULT_LOCALE: the language when neither the request nor the user decides. */
  defaultLocale: string;
}

/** What the schema yields; the secrets may still be missing (development secrets fill them). */
export type ParsedConfig = Omit<Config, 'cookieKeys' | 'dataEncryptionKey'> & Partial<Pick<Config, 'cookieKeys' | 'dataEncryptionKey'>>;

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `must be one of: ${values.join(', ')}` });

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be between ${min} and ${max}`);

const bool = z
  .string()
  .refine((s) => /^(true|false|1|0)$/i.test(s), 'must be true, false, 1 or 0')
  .transform((s) => /^(true|1)$/i.test(s));

const list = (item: RegExp, message: string) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .refine((xs) => xs.length > 0 && xs.every((x) => item.test(x)), message)
    .transform((xs) => [...new Set(xs)]);

const url = (schemes: string[], message: string, opts: { noQuery?: boolean } = {}) =>
  z.string().refine((s) => {
    try {
      const u = new URL(s);
      return schemes.includes(u.protocol) && u.host !== '' && !(opts.noQuery && /[?#]/.test(s));
    } catch {
      return false;
    }
  }, message);

export const base64Key32 = z
  .string()
  .refine((s) => /^[A-Za-z0-9+/_-]+={0,2}$/.test(s) && Buffer.from(s, 'base64').length === 32, 'must be base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)')
  .transform((s) => Buffer.from(s, 'base64'));

const cookieKeyList = list(/^.{32,}$/, 'must be comma-separated keys of at least 32 characters each');

/** A host[:port] compared as the Host check compares it: lower-case, without a default port. */
export const normaliseHost = (host: string): string => host.toLowerCase().replace(/:(80|443)$/, '');

export const envShape = {
  NODE_ENV: oneOf(['production', 'development', 'test']).default('development'),
  PORT: int(0, 65535).default(3000),
  ISSUER: url(['http:', 'https:'], 'must be an http(s) URL without query or fragment', { noQuery: true })
    .transform((s) => s.replace(/\/+$/, ''))
    .optional(),
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'must be a postgres:// or postgresql:// URL').optional(),
  REDIS_URL: url(['redis:', 'rediss:'], 'must be a redis:// or rediss:// URL').optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'must be 1-64 letters, digits or :_-')
    .default('twofold:'),
  DATA_DIR: z
    .string()
    .transform((p) => resolve(p))
    .prefault('./data'),
  COOKIE_KEYS: cookieKeyList.optional(),
  DATA_ENCRYPTION_KEY: base64Key32.optional(),
  DEMO: bool.optional(),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TRUST_PROXY: bool.default(false),
  TRUST_PROXY_HOPS: int(1, 100).default(1),
  ALLOWED_HOSTS: list(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, 'must be comma-separated host[:port] names, e.g. "id.example.com,id.example.net:8443"').optional(),
  TOTP_ISSUER: z
    .string()
    .refine((s) => s.length <= 64 && !s.includes(':'), 'must be at most 64 characters, without ":"')
    .default('Twofold'),
  WEBAUTHN_RP_ID: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'must be a lower-case domain name such as "example.com"')
    .optional(),
  WEBAUTHN_RP_NAME: z
    .string()
    .refine((s) => s.length >= 1 && s.length <= 64, 'must be 1 to 64 characters')
    .default('Twofold'),
  REAUTH_MAX_AGE: int(1, 86_400).default(300),
  ENROLMENT_TTL: int(60, 7 * 86_400).default(3600),
  PASSWORD_RESET_TTL: int(1, 7 * 86_400).default(1800),
  SUPPORT_CODE_TTL: int(1, 3600).default(600),
  ENTRY_RATE_LIMIT: int(1, 1_000_000).default(600),
  KEY_REFRESH_SECONDS: int(1, 3600).default(30),
  METRICS_TOKEN: z
    .string()
    .refine((s) => s.length >= 16, 'must be at least 16 characters')
    .optional(),
  SMS_PROVIDER: oneOf(['vonage', 'console']).default('console'),
  VONAGE_API_KEY: z.string().optional(),
  VONAGE_API_SECRET: z.string().optional(),
  VONAGE_FROM: z
    .string()
    .regex(/^(\+?\d{1,15}|[A-Za-z0-9 ]{1,11})$/, 'must be a number of up to 15 digits or up to 11 letters and digits')
    .optional(),
  VONAGE_REST_HOST: url(['http:', 'https:'], 'must be an http(s) URL')
    .transform((s) => s.replace(/\/+$/, ''))
    .optional(),
  SMS_TIMEOUT_MS: int(100, 60_000).default(5000),
  SMS_PIN_LENGTH: int(4, 10).default(4),
  SMS_CODE_LENGTH: int(6, 10).default(7),
  SMS_PIN_TTL: int(30, 86_400).default(600),
  SMS_CODE_TTL: int(30, 86_400).default(600),
  SMS_RESEND_COOLDOWN: int(0, 3600).default(30),
  SMS_LIMIT_USER_HOURLY: int(1, 1_000_000).default(10),
  SMS_LIMIT_PHONE_HOURLY: int(1, 1_000_000).default(10),
  SMS_LIMIT_PHONE_PIN_HOURLY: int(1, 1_000_000).default(5),
  SMS_PENDING_USERS_PER_NUMBER: int(1, 1000).default(3),
  SMS_LIMIT_IP_HOURLY: int(1, 1_000_000).default(20),
  SMS_LIMIT_GLOBAL_HOURLY: int(1, 10_000_000).default(1000),
  MAIL_PROVIDER: oneOf(['smtp', 'console']).default('console'),
  SMTP_URL: url(['smtp:', 'smtps:'], 'must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.com:587').optional(),
  MAIL_FROM: z
    .string()
    .refine(
      (s) => s.length <= 320 && /^(?:[^<>\p{Cc}]{0,200}<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/u.test(s),
      'must be an address or "Name <address>", e.g. "Twofold <no-reply@example.com>"',
    )
    .default('Twofold <no-reply@localhost>'),
  MAIL_TIMEOUT_MS: int(100, 120_000).default(10_000),
  DEFAULT_LOCALE: z
    .string()
    .refine((tag) => LANGUAGE_TAGS.includes(tag), {
      // Not a secret, so the message may quote it (printable characters only, shortened).
      error: (issue) =>
        `"${String(issue.input)
          .replace(/[^\x20-\x7e]/g, '?')
          .slice(0, 20)}" is not a supported language; must be one of: ${LANGUAGE_TAGS.join(', ')}`,
    })
    .default('en'),
  SMS_ALLOWED_COUNTRIES: list(/^[1-9]\d{0,2}$/, 'must be comma-separated calling codes of 1 to 3 digits, e.g. "1,44,91"').optional(),
};

export type SettingName = keyof typeof envShape;
export const settingNames = Object.keys(envShape) as SettingName[];
export type RawEnv = Partial<Record<SettingName, string>>;

/** Settings that become required because of another one (checked on the raw values). */
export const requiredWhen: { when: (env: RawEnv) => boolean; names: SettingName[]; why: string }[] = [
  {
    when: (env) => env.NODE_ENV === 'production',
    names: ['COOKIE_KEYS', 'DATA_ENCRYPTION_KEY', 'SMS_PROVIDER', 'MAIL_PROVIDER'],
    why: 'required when NODE_ENV=production',
  },
  {
    when: (env) => env.SMS_PROVIDER === 'vonage',
    names: ['VONAGE_API_KEY', 'VONAGE_API_SECRET', 'VONAGE_FROM'],
    why: 'required when SMS_PROVIDER=vonage',
  },
  {
    when: (env) => env.MAIL_PROVIDER === 'smtp',
    names: ['SMTP_URL'],
    why: 'required when MAIL_PROVIDER=smtp',
  },
];

const issuerHostOf = (e: { ISSUER?: string; PORT: number }) => new URL(e.ISSUER ?? `http://localhost:${e.PORT}`).hostname;

/** The relying-party id must be one the browser accepts on ISSUER's pages. */
const rpIdFitsIssuer = (e: { ISSUER?: string; PORT: number; WEBAUTHN_RP_ID?: string }, ctx: z.RefinementCtx) => {
  if (e.WEBAUTHN_RP_ID && !rpIdFitsHost(e.WEBAUTHN_RP_ID, issuerHostOf(e))) {
    ctx.addIssue({ code: 'custom', path: ['WEBAUTHN_RP_ID'], message: "must be ISSUER's host or a domain it belongs to (an IP address only itself)" });
  }
};

const checkedEnv = z.object(envShape).superRefine(rpIdFitsIssuer);

export const envSchema = checkedEnv.transform((e): ParsedConfig => ({
  nodeEnv: e.NODE_ENV,
  port: e.PORT,
  issuer: e.ISSUER ?? `http://localhost:${e.PORT}`,
  databaseUrl: e.DATABASE_URL,
  redisUrl: e.REDIS_URL,
  redisKeyPrefix: e.REDIS_KEY_PREFIX,
  dataDir: e.DATA_DIR,
  cookieKeys: e.COOKIE_KEYS,
  dataEncryptionKey: e.DATA_ENCRYPTION_KEY,
  demo: e.DEMO ?? e.DATABASE_URL === undefined,
  logLevel: e.LOG_LEVEL,
  trustProxy: e.TRUST_PROXY,
  trustProxyHops: e.TRUST_PROXY_HOPS,
  allowedHosts: [...new Set([normaliseHost(new URL(e.ISSUER ?? `http://localhost:${e.PORT}`).host), ...(e.ALLOWED_HOSTS ?? []).map(normaliseHost)])],
  totpIssuer: e.TOTP_ISSUER,
  webauthn: {
    rpId: e.WEBAUTHN_RP_ID ?? issuerHostOf(e),
    rpName: e.WEBAUTHN_RP_NAME,
    origin: new URL(e.ISSUER ?? `http://localhost:${e.PORT}`).origin,
  },
  reauthMaxAgeSeconds: e.REAUTH_MAX_AGE,
  enrolmentTtlSeconds: e.ENROLMENT_TTL,
  passwordResetTtlSeconds: e.PASSWORD_RESET_TTL,
  supportCodeTtlSeconds: e.SUPPORT_CODE_TTL,
  metricsToken: e.METRICS_TOKEN,
  keyRefreshSeconds: e.KEY_REFRESH_SECONDS,
  entryRateLimitPerMinute: e.ENTRY_RATE_LIMIT,
  sms: {
    provider: e.SMS_PROVIDER,
    vonage: e.SMS_PROVIDER === 'vonage' ? { apiKey: e.VONAGE_API_KEY!, apiSecret: e.VONAGE_API_SECRET!, from: e.VONAGE_FROM!, restHost: e.VONAGE_REST_HOST } : undefined,
    timeoutMs: e.SMS_TIMEOUT_MS,
    pinLength: e.SMS_PIN_LENGTH,
    codeLength: e.SMS_CODE_LENGTH,
    pinTtlSeconds: e.SMS_PIN_TTL,
    codeTtlSeconds: e.SMS_CODE_TTL,
    resendCooldownSeconds: e.SMS_RESEND_COOLDOWN,
    maxPerUserPerHour: e.SMS_LIMIT_USER_HOURLY,
    maxPerPhonePerHour: e.SMS_LIMIT_PHONE_HOURLY,
    maxPinsPerPhonePerHour: e.SMS_LIMIT_PHONE_PIN_HOURLY,
    maxPendingUsersPerPhone: e.SMS_PENDING_USERS_PER_NUMBER,
    maxPerIpPerHour: e.SMS_LIMIT_IP_HOURLY,
    maxGlobalPerHour: e.SMS_LIMIT_GLOBAL_HOURLY,
    allowedCallingCodes: e.SMS_ALLOWED_COUNTRIES ?? null,
  },
  mail: {
    provider: e.MAIL_PROVIDER,
    smtpUrl: e.MAIL_PROVIDER === 'smtp' ? e.SMTP_URL : undefined,
    from: e.MAIL_FROM,
    timeoutMs: e.MAIL_TIMEOUT_MS,
  },
  defaultLocale: e.DEFAULT_LOCALE,
}));
