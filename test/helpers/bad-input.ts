import fc from 'fast-check';
import pg from 'pg';
import { ROOT } from './twofold-server.js';

/**
 * The bad-input sweep's tools: generators of hostile strings and requests, a hand-built HTTP
 * request (exact bytes, content type and cookies), the checks every response must pass, and SQL
 * snapshots that show whether a rejected input changed anything.
 */

// ---------------------------------------------------------------------------------------------
// Generators

/** Strings that have broken parsers, databases, templates and normalisers before. */
export const EDGE_STRINGS: readonly string[] = [
  '',
  ' ',
  '   ',
  '\t',
  '\r\n',
  '\n',
  '\u0000',
  'a\u0000b',
  '\u0000\u0000\u0000\u0000\u0000\u0000',
  '\u200F',
  '\u200E',
  '\u202E',
  '\u202Egnp.exe',
  '\u2066x\u2069',
  '\uFEFF',
  '\u00A0',
  '\u2028',
  '\u2029',
  '\u200B',
  '😀',
  '👩‍👩‍👧‍👦',
  '🏳️‍🌈',
  '🇬🇧',
  'e\u0301',
  'Z\u0351\u0352\u0353\u0354\u0355\u0356',
  'a\u0300\u0301\u0302\u0303\u0304\u0305\u0306',
  '\uD800',
  '\uDBFF',
  '\uDC00',
  '\uDFFF',
  'a\uD800b',
  '\uDC00\uD800',
  '\uFFFE',
  '\uFFFF',
  '\uFFFD',
  '𝟘𝟙𝟚𝟛𝟜𝟝',
  '٠١٢٣٤٥',
  '١٢٣٤٥٦',
  '１２３４５６',
  '۱۲۳۴۵۶۷',
  'İ',
  'ı',
  'ß',
  'ǅ',
  'ﬃ',
  'Ω',
  'Å',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  '${7*7}',
  '<%= process.env %>',
  '<%- include("/etc/passwd") %>',
  '{{7*7}}',
  '#{7*7}',
  '../../../etc/passwd',
  '..\\..\\windows',
  '%',
  '%00',
  '%zz',
  '%E0%A4%A',
  '%ED%A0%80',
  '&',
  '=',
  '+',
  '#',
  '?',
  '/',
  '\\',
  ';',
  ',',
  '"',
  "'",
  '`',
  'null',
  'undefined',
  'true',
  'false',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '-0',
  '1e309',
  '0x1F',
  '1.5',
  '99999999999999999999',
  '[]',
  '{}',
  '[object Object]',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'totp',
  'sms',
  'TOTP',
  ' totp ',
  'recovery_code',
  'GB',
  'gb',
  'US',
  'ZZ',
  'XK',
  '+44',
  '+44 7911 123456',
  '07911 123456',
  '+1 (202) 555-0143',
  '123456',
  '000000',
  ' 1 2 3 4 5 6 ',
  '0000000',
  '1234',
  'AAAA-BBBB-CCCC-DDDD',
  'aaaa bbbb cccc dddd',
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  '00000000-0000-0000-0000-00000000000g',
];

const HUGE_UNITS = ['a', '9', ' ', 'é', '😀', '\u0000', '\uD800', '%', '&', 'e\u0301', '\u202E'];

/** One very long string: up to 100 KB of one unit (some stay under the body limits, some do not). */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...HUGE_UNITS), fc.integer({ min: 1_000, max: 100_000 }))
  .map(([unit, n]) => unit.repeat(Math.max(1, Math.floor(n / unit.length))));

const edge = fc.constantFrom(...EDGE_STRINGS);

/** Any string: printable, full Unicode (lone surrogates included), graphemes, edge cases, mixes, huge. */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-composite', maxLength: 20 }) },
  { weight: 4, arbitrary: edge },
  { weight: 3, arbitrary: fc.array(fc.oneof(edge, fc.string({ unit: 'binary', maxLength: 6 })), { minLength: 2, maxLength: 6 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 200, maxLength: 3_000 }) },
  { weight: 1, arbitrary: hugeString },
);

/** A short string (command-line words, path segments): no huge ones. */
export const shortString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 4, arbitrary: edge },
  { weight: 2, arbitrary: fc.array(fc.oneof(edge, fc.string({ unit: 'binary', maxLength: 4 })), { minLength: 2, maxLength: 4 }).map((a) => a.join('')) },
);

/** Digits-ish strings: near-valid codes (right and wrong lengths, separators, other scripts' digits). */
export const codeLike: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^\d{0,12}$/),
  fc.stringMatching(/^[ -]?\d{1,4}[ -]\d{1,4}[ -]?$/),
  fc.stringMatching(/^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/),
  fc.stringMatching(/^[a-z0-9 -]{12,24}$/),
  fc.constantFrom('１２３４５６', '١٢٣٤٥٦', '𝟘𝟙𝟚𝟛𝟜𝟝', '12345６', '123456\u0000', '\u200F123456', '123 456', '+123456', '-123456', '1e5', '0x1234'),
);

/** Junk written into a body or query string as is (not percent-encoded). */
export const rawJunk = fc.constantFrom(
  '%',
  '%zz',
  '%E0%A4%A',
  '%ED%A0%80',
  '%FF%FE',
  '%C0%AF',
  '&&&',
  '=',
  '==',
  '=x',
  'a',
  '+++',
  ';',
  '%00=%00',
  '%5B%5D=1',
  'a[b]=1',
  'a[]=1&a[]=2',
  '__proto__[x]=1',
);

// ---------------------------------------------------------------------------------------------
// Encoding

const hex = (b: number) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`;

/**
 * Percent-encodes like a form does, except that a lone surrogate becomes its (ill-formed) 3-byte
 * "WTF-8" sequence instead of U+FFFD: the server sees bytes no valid UTF-8 encoder produces.
 */
export function pct(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += encodeURIComponent(s.slice(i, i + 2));
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) out += hex(0xe0 | (c >> 12)) + hex(0x80 | ((c >> 6) & 0x3f)) + hex(0x80 | (c & 0x3f));
    else out += encodeURIComponent(s[i]!);
  }
  return out;
}

export type Part = [string, string] | { raw: string };

export function encodeParts(parts: readonly Part[]): string {
  return parts.map((p) => (Array.isArray(p) ? `${pct(p[0])}=${pct(p[1])}` : p.raw)).join('&');
}

/** JSON.stringify, but `JSON.stringify` is well-formed: lone surrogates stay escaped (\\ud800). */
export const json = (v: unknown) => JSON.stringify(v);

// ---------------------------------------------------------------------------------------------
// Form submissions

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

export interface FormCase {
  /** The fields, in order, without the CSRF token (repeats and strangers included). */
  parts: Part[];
  /** How the CSRF token is sent. */
  csrf: 'valid' | 'missing' | 'empty' | 'garbage' | 'garbage-first' | 'valid-first';
  garbageCsrf: string;
  /** null: no Content-Type header at all. */
  contentType: string | null;
  accept: string;
}

const WRONG_FORM_TYPES = [
  null,
  'application/json',
  'text/plain',
  'text/html',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  '',
  'application/x-www-form-urlencoded-but-not',
  'x-www-form-urlencoded',
  'application/octet-stream',
  '*/*',
  'garbage',
];
const RIGHT_FORM_TYPES = [
  FORM_CONTENT_TYPE,
  FORM_CONTENT_TYPE,
  FORM_CONTENT_TYPE,
  FORM_CONTENT_TYPE,
  FORM_CONTENT_TYPE,
  'application/x-www-form-urlencoded; charset=utf-8',
  'APPLICATION/X-WWW-FORM-URLENCODED',
  'application/x-www-form-urlencoded; charset=latin1',
  'application/x-www-form-urlencoded; charset=utf-16',
  'application/x-www-form-urlencoded;;;;',
];
export const ACCEPTS = ['text/html', 'text/html', 'text/html', 'text/html', 'text/html,application/xhtml+xml,*/*;q=0.8', '*/*', 'application/json', 'image/png', 'garbage/;;', ''];

export function formCase(fields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<FormCase> {
  const names = Object.keys(fields);
  const present = Object.fromEntries(names.map((n) => [n, fc.option(fields[n]!, { nil: undefined, freq: 6 })]));
  return fc
    .record({
      values: fc.record(present),
      repeats: fc.array(fc.tuple(fc.constantFrom(...names), fc.oneof(fields[names[0]!]!, shortString)), { maxLength: 3 }),
      repeatsFirst: fc.boolean(),
      strangers: fc.array(fc.tuple(shortString, shortString), { maxLength: 2 }),
      raw: fc.option(rawJunk, { freq: 4 }),
      csrf: fc.oneof(
        { weight: 17, arbitrary: fc.constant<FormCase['csrf']>('valid') },
        { weight: 3, arbitrary: fc.constantFrom<FormCase['csrf']>('missing', 'empty', 'garbage', 'garbage-first', 'valid-first') },
      ),
      garbageCsrf: shortString,
      contentType: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...RIGHT_FORM_TYPES) }, { weight: 1, arbitrary: fc.constantFrom(...WRONG_FORM_TYPES) }),
      accept: fc.constantFrom(...ACCEPTS),
    })
    .map(({ values, repeats, repeatsFirst, strangers, raw, csrf, garbageCsrf, contentType, accept }) => {
      const main: Part[] = names.filter((n) => values[n] !== undefined).map((n) => [n, values[n] as string]);
      const rep: Part[] = repeats.map(([k, v]) => [k, v]);
      const parts: Part[] = [...(repeatsFirst ? [...rep, ...main] : [...main, ...rep]), ...strangers.map(([k, v]): Part => [k, v]), ...(raw ? [{ raw }] : [])];
      return { parts, csrf, garbageCsrf, contentType, accept };
    });
}

/** The body of a form case with the page's CSRF token placed as the case says. */
export function formBody(c: FormCase, token: string): string {
  const csrf: Part[] =
    c.csrf === 'valid'
      ? [['_csrf', token]]
      : c.csrf === 'missing'
        ? []
        : c.csrf === 'empty'
          ? [['_csrf', '']]
          : c.csrf === 'garbage'
            ? [['_csrf', c.garbageCsrf]]
            : c.csrf === 'garbage-first'
              ? [
                  ['_csrf', c.garbageCsrf],
                  ['_csrf', token],
                ]
              : [
                  ['_csrf', token],
                  ['_csrf', c.garbageCsrf],
                ];
  return encodeParts([...csrf, ...c.parts]);
}

/** The value the server reads for a field: the first one (missing: undefined). */
export function firstValue(c: FormCase, name: string): string | undefined {
  for (const p of c.parts) if (Array.isArray(p) && p[0] === name) return p[1];
  return undefined;
}

/** Whether the server will take this submission past the body parser and the CSRF check. */
export function passesGate(c: FormCase, token: string, limit = 64 * 1024): boolean {
  const type = (c.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const csrfOk = c.csrf === 'valid' || c.csrf === 'valid-first' || (c.csrf === 'garbage-first' && c.garbageCsrf === token);
  return type === FORM_CONTENT_TYPE && csrfOk && Buffer.byteLength(formBody(c, token)) <= limit;
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface Reply {
  status: number;
  headers: Headers;
  body: string;
  ms: number;
  what: string;
}

/** A request must be answered within this: longer is a hang. */
export const HANG_MS = 15_000;

let ipCounter = 0;
/** A fresh client address per request (TRUST_PROXY): per-IP limits never mask what is tested. */
export function nextIp(): string {
  ipCounter += 1;
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
}

/** Header values fetch can send (visible ASCII and spaces, no leading/trailing space). */
export const headerSafe = (s: string) => /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(s) || s === '';

/** Node's HTTP parser refuses a request line plus headers over this (431, connection closed). */
const MAX_HEAD_BYTES = 16 * 1024;

export async function send(
  input: string,
  init: { method?: string; body?: string | Uint8Array; contentType?: string | null; headers?: Record<string, string>; cookie?: string; accept?: string } = {},
): Promise<Reply> {
  // Past the head limit only the length matters: 32 KB shows the refusal as well as a megabyte.
  const url = input.length > 2 * MAX_HEAD_BYTES ? input.slice(0, 2 * MAX_HEAD_BYTES) : input;
  const method = init.method ?? (init.body !== undefined ? 'POST' : 'GET');
  const headers: Record<string, string> = { 'x-forwarded-for': nextIp(), ...(init.headers ?? {}) };
  if (init.accept !== undefined && init.accept !== '') headers.accept = init.accept;
  if (init.cookie) headers.cookie = init.cookie;
  if (init.contentType !== undefined && init.contentType !== null) headers['content-type'] = init.contentType;
  // Bytes, so fetch adds no Content-Type of its own.
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? Buffer.from(init.body, 'utf8') : init.body;
  const what = `${method} ${url.length > 300 ? `${url.slice(0, 300)}…(${url.length} chars)` : url}${body ? ` [${body.length} bytes, ${init.contentType ?? 'no content-type'}]` : ''}`;
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(HANG_MS) });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') throw new Error(`HANG: no answer within ${HANG_MS} ms: ${what}`, { cause: err });
    // An oversized head is answered 431 and the connection closed while the client may still be
    // writing it: the client sees the reset first. That is the same refusal.
    const head = url.length + Object.values(headers).reduce((n, v) => n + v.length, 0);
    if (head > MAX_HEAD_BYTES && ['EPIPE', 'ECONNRESET', 'UND_ERR_SOCKET'].includes(e.cause?.code ?? '')) {
      return { status: 431, headers: new Headers(), body: '', ms: Date.now() - started, what: `${what} (closed: head over ${MAX_HEAD_BYTES} bytes)` };
    }
    throw new Error(`no HTTP answer (${e.name}: ${e.message}; ${e.cause?.code ?? ''} ${e.cause?.message ?? ''}): ${what}`, { cause: err });
  }
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text, ms: Date.now() - started, what };
}

// ---------------------------------------------------------------------------------------------
// What every answer must be

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const LEAKS: Array<[string, RegExp]> = [
  ['a stack frame', /^\s{4}at /m],
  ['a stack frame', /\n\s*at (?:async )?[\w$.<>]+ \((?:file:|node:|\/)/],
  ['an error with a path', /\b\w*Error: [^\n<"]*(?:\/[\w.@-]+){2,}/],
  ['node_modules', /node_modules/],
  ['a source path', /\/src\/[\w-]+\/|\/dist\/[\w-]+\//],
  ['the checkout path', new RegExp(escapeRe(ROOT))],
  ['a SQL error', /\b(?:syntax error at or near|invalid input syntax for|invalid byte sequence for encoding|violates (?:check|not-null|unique|foreign key) constraint)\b/],
];

/** The first internal detail (stack frame, source path, SQL error...) in a text, if any. */
export function leakIn(text: string): string | undefined {
  for (const [what, re] of LEAKS) {
    const m = re.exec(text);
    if (m) return `${what}: ${JSON.stringify(m[0].slice(0, 120))}`;
  }
  return undefined;
}

export type Expecting = 'html' | 'admin' | 'oauth';

export class BadAnswer extends Error {}

function fail(reason: string, r: Reply): never {
  throw new BadAnswer(
    `${reason}\n  request: ${r.what}\n  answer: ${r.status} ${r.headers.get('content-type') ?? ''} ${r.headers.get('location') ?? ''}\n  ${r.body.slice(0, 800)}`,
  );
}

/**
 * Never a 5xx; no stack trace or internal detail; errors in the surface's shape: an HTML page
 * with an alert (our error page, or the same form with its message), `{"error","message"}`
 * JSON, or an OAuth error (`error`, `error_description`).
 */
export function expectSound(r: Reply, expecting: Expecting): void {
  if (r.status >= 500) fail(`a ${r.status}`, r);
  for (const [what, re] of LEAKS) {
    const m = re.exec(r.body) ?? re.exec(r.headers.get('location') ?? '');
    if (m) fail(`${what} in the answer: ${JSON.stringify(m[0].slice(0, 120))}`, r);
  }
  if (r.status >= 300 && r.status < 400) {
    if (!r.headers.get('location')) fail('a redirect without Location', r);
    return;
  }
  if (r.status < 400) return;
  // Node's HTTP parser refuses a request line and headers over 16 KB before any of our code
  // runs (431, no body, connection closed): the limit works, there is no page to show.
  if (r.status === 431 && r.body === '') return;
  const type = r.headers.get('content-type') ?? '';
  if (/^application\/json/.test(type)) {
    let body: unknown;
    try {
      body = JSON.parse(r.body);
    } catch {
      fail('JSON content type, but not JSON', r);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) fail('a JSON error that is not an object', r);
    const o = body as Record<string, unknown>;
    const keys = Object.keys(o).sort().join(',');
    const ours = keys === 'error,message' && typeof o.error === 'string' && /^[a-z_]+$/.test(o.error) && typeof o.message === 'string' && o.message.length > 0;
    const oauth =
      typeof o.error === 'string' &&
      o.error.length > 0 &&
      Object.keys(o).every((k) => ['error', 'error_description', 'state', 'iss', 'scope'].includes(k)) &&
      (o.error_description === undefined || typeof o.error_description === 'string');
    if (expecting === 'oauth' ? !(ours || oauth) : !ours)
      fail(`a JSON error not in the ${expecting === 'oauth' ? 'OAuth or {"error","message"}' : '{"error","message"}'} shape`, r);
    return;
  }
  if (expecting === 'admin') fail('an admin API error that is not JSON', r);
  if (!/^text\/html/.test(type)) fail('an error that is neither our HTML page nor JSON', r);
  // response_mode=form_post: the OAuth error goes to the client's redirect URI in a self-posting form.
  if (expecting === 'oauth' && /<form method="post" action="https?:\/\/[^"]+">/.test(r.body) && /<input type="hidden" name="error" value="[a-z_]+"\/>/.test(r.body)) return;
  if (!/role="alert"/.test(r.body) || !/<\/html>\s*$/i.test(r.body)) fail('an HTML error without our page and its message', r);
}

// ---------------------------------------------------------------------------------------------
// State

export interface Snapshot {
  tables: Record<string, Map<string, string>>;
  auditMax: number;
}

const TABLES: Record<string, string> = {
  accounts: "SELECT id::text AS k, to_jsonb(t) - 'created_at' AS v FROM accounts t",
  users: "SELECT id::text AS k, to_jsonb(t) - 'created_at' AS v FROM users t",
  mfa_devices: "SELECT id::text AS k, to_jsonb(t) - 'created_at' AS v FROM mfa_devices t",
  recovery_codes: "SELECT id::text AS k, to_jsonb(t) - 'created_at' AS v FROM recovery_codes t",
  oidc_clients: "SELECT client_id AS k, to_jsonb(t) - 'created_at' AS v FROM oidc_clients t",
  signing_keys: "SELECT kid AS k, to_jsonb(t) - 'created_at' AS v FROM signing_keys t",
  email_changes: "SELECT user_id::text AS k, to_jsonb(t) - 'created_at' AS v FROM email_changes t",
  password_resets: "SELECT user_id::text AS k, to_jsonb(t) - 'created_at' AS v FROM password_resets t",
  mfa_disable_requests: 'SELECT id::text AS k, to_jsonb(t) AS v FROM mfa_disable_requests t',
};

export interface Allowance {
  /** New audit event types this rejected input may record (e.g. a wrong code's mfa.failed). */
  audit?: readonly string[];
  /** This user's failed_mfa_attempts may go up by one (a wrong code); nothing else of them may change. */
  failedCodeOf?: string;
}

/** SQL snapshots of what a rejected input must not change. */
export class StateProbe {
  constructor(private readonly pool: pg.Pool) {}

  async take(): Promise<Snapshot> {
    const entries = await Promise.all(
      Object.entries(TABLES).map(async ([name, q]) => {
        const { rows } = await this.pool.query<{ k: string; v: Record<string, unknown> }>(q);
        return [name, new Map(rows.map((r) => [r.k, JSON.stringify(r.v)]))] as const;
      }),
    );
    const { rows } = await this.pool.query<{ m: string | null }>('SELECT max(id)::text AS m FROM audit_events');
    return { tables: Object.fromEntries(entries), auditMax: Number(rows[0]!.m ?? 0) };
  }

  /** What changed between two snapshots beyond the allowance (empty: nothing). */
  async changes(before: Snapshot, after: Snapshot, allow: Allowance = {}): Promise<string[]> {
    const problems: string[] = [];
    for (const [name, rows] of Object.entries(after.tables)) {
      const old = before.tables[name]!;
      for (const [k, v] of rows) {
        const was = old.get(k);
        if (was === undefined) problems.push(`${name}: row ${k} added`);
        else if (was !== v) {
          if (name === 'users' && k === allow.failedCodeOf) {
            const a = JSON.parse(was) as Record<string, unknown>;
            const b = JSON.parse(v) as Record<string, unknown>;
            const up = Number(b.failed_mfa_attempts) - Number(a.failed_mfa_attempts);
            delete a.failed_mfa_attempts;
            delete b.failed_mfa_attempts;
            if ((up === 0 || up === 1) && JSON.stringify(a) === JSON.stringify(b)) continue;
          }
          problems.push(`${name}: row ${k} changed: ${was.slice(0, 300)} -> ${v.slice(0, 300)}`);
        }
      }
      for (const k of old.keys()) if (!rows.has(k)) problems.push(`${name}: row ${k} removed`);
    }
    const { rows } = await this.pool.query<{ type: string }>('SELECT type FROM audit_events WHERE id > $1 ORDER BY id', [before.auditMax]);
    const unexpected = rows.map((r) => r.type).filter((t) => !(allow.audit ?? []).includes(t));
    if (unexpected.length > 0) problems.push(`audit events recorded: ${unexpected.join(', ')}`);
    return problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Counting

export interface Tally {
  tried: number;
  ms: number;
  rejected: number;
  accepted: number;
  statuses: Map<number, number>;
}

export class Tallies {
  readonly bySurface = new Map<string, Tally>();

  count(surface: string, status: number): void {
    const t = this.get(surface);
    t.tried += 1;
    if (status >= 400 || status === -1) t.rejected += 1;
    else t.accepted += 1;
    t.statuses.set(status, (t.statuses.get(status) ?? 0) + 1);
    this.bySurface.set(surface, t);
  }

  private get(surface: string): Tally {
    const t = this.bySurface.get(surface) ?? { tried: 0, ms: 0, rejected: 0, accepted: 0, statuses: new Map() };
    this.bySurface.set(surface, t);
    return t;
  }

  time(surface: string, ms: number): void {
    this.get(surface).ms += ms;
  }

  total(): number {
    return [...this.bySurface.values()].reduce((n, t) => n + t.tried, 0);
  }

  summary(seconds: number, planned: Record<string, number> = {}): string {
    const width = Math.max(...[...this.bySurface.keys()].map((k) => k.length), 10);
    const lines = [...this.bySurface.entries()].map(([k, t]) => {
      const statuses = [...t.statuses.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([s, n]) => `${s === -1 ? 'exit≠0' : s === 0 ? 'exit 0' : s}×${n}`)
        .join(' ');
      const cut = planned[k] !== undefined && t.tried < planned[k]! ? `  (cut short at the time budget: ${planned[k]} planned)` : '';
      return `  ${k.padEnd(width)}  ${String(t.tried).padStart(5)} tried  ${String(t.rejected).padStart(5)} rejected  ${String(t.accepted).padStart(5)} accepted  ${(t.ms / 1000).toFixed(1).padStart(5)} s   (${statuses})${cut}`;
    });
    return [`Bad-input sweep: ${this.total()} generated inputs over ${this.bySurface.size} surfaces in ${seconds.toFixed(1)} s`, ...lines].join('\n');
  }
}
