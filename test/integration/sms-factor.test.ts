import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { RequestOrigin } from '../../src/audit/audit-log.js';
import type { Config } from '../../src/config/load-config.js';
import { AppError } from '../../src/http/app-error.js';
import { PIN_ATTEMPTS, SmsFactor } from '../../src/mfa/factors/sms/sms-factor.js';
import { MFA_FAILURE_LIMIT } from '../../src/mfa/lockout.js';
import { TotpFactor } from '../../src/mfa/factors/totp/totp-factor.js';
import type { FactorContext } from '../../src/mfa/mfa-factor.js';
import type { DataServices } from '../../src/services.js';
import { SmsLimits } from '../../src/sms/sms-limits.js';
import { VonageSmsSender } from '../../src/sms/vonage-sms-sender.js';
import { RedisStore } from '../../src/storage/redis-store.js';
import type { Device, PendingLimits } from '../../src/storage/repositories/devices-repository.js';
import { SmsCodeRepository } from '../../src/storage/repositories/sms-code-repository.js';
import type { User } from '../../src/storage/repositories/users-repository.js';
import { openTestDataServices } from '../helpers/data-services.js';
import { startFakeVonage, type FakeVonage, type FakeVonageMessage } from '../helpers/fake-vonage.js';
import { secretFromUri, totp } from '../helpers/rfc6238.js';
import { REDIS_URL } from '../helpers/twofold-server.js';

/**
 * The SMS factor in-process, on real infrastructure: Postgres (a fresh database), Redis (a
 * prefix of our own), and the real Vonage SDK pointed at a fake Vonage server on 127.0.0.1.
 */

const GB_INPUT = '07911 123-456';
const GB_E164 = '+447911123456';
const GB_DIGITS = '447911123456';

let close: () => Promise<void>;
let services: DataServices;
let redis: Redis;
let fake: FakeVonage;
let config: Config;
let accountId: string;
const logLines: string[] = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  }),
);
/** Every phone number this file sends to, to check the audit trail and the logs for them. */
const numbersUsed = new Set<string>([GB_E164]);

beforeAll(async () => {
  fake = await startFakeVonage();
  ({ config, services, close } = await openTestDataServices(
    'sms',
    { SMS_PROVIDER: 'vonage', VONAGE_API_KEY: 'key', VONAGE_API_SECRET: 'secret', VONAGE_FROM: 'Twofold', VONAGE_REST_HOST: fake.url },
    logger,
  ));
  accountId = (await services.provisioning.createAccount(`SMS factor ${crypto.randomBytes(3).toString('hex')}`)).id;
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
});

afterAll(async () => {
  redis?.disconnect();
  await close?.();
  await fake?.close();
});

interface Harness {
  factor: SmsFactor;
  store: RedisStore;
  prefix: string;
}

/**
 * A factor with its own Redis namespace (so counters of one test never meet another's) and
 * the given settings over the defaults; the cooldown is off unless a test turns it on.
 */
function harness(settings: Partial<Config['sms']> = {}, timeoutMs = 3000, pendingLimits: PendingLimits = { perUser: 5, usersPerPhone: 1000 }): Harness {
  const prefix = `twofold-it-sms:${crypto.randomUUID()}:`;
  const store = new RedisStore(redis, prefix);
  const sms: Config['sms'] = { ...config.sms, resendCooldownSeconds: 0, ...settings };
  const factor = new SmsFactor({
    devices: services.data.devices,
    codes: new SmsCodeRepository(store),
    sender: new VonageSmsSender({ apiKey: 'key', apiSecret: 'secret', from: 'Twofold', restHost: fake.url, timeoutMs, logger }),
    limits: new SmsLimits(store, sms, services.audit),
    audit: services.audit,
    logger,
    settings: sms,
    defaultLanguage: 'en',
    pendingLimits,
    secret: config.dataEncryptionKey,
  });
  return { factor, store, prefix };
}

let userCounter = 0;
async function newUser(): Promise<User> {
  const { user } = await services.provisioning.createUser({
    account: accountId,
    username: `sms-${++userCounter}-${crypto.randomBytes(3).toString('hex')}`,
    password: 'a long enough password',
  });
  return user;
}

/** A distinct documentation-range IP per call, so per-IP counters are per test unless shared on purpose. */
let ipCounter = 0;
function origin(ip = `198.51.100.${++ipCounter % 250}`): RequestOrigin {
  return { ip, userAgent: 'jest' };
}

function ctx(flowId: string = crypto.randomUUID(), o: RequestOrigin = origin()): FactorContext {
  return { flowId, origin: o };
}

/** A valid GB mobile number of its own (any 07400 xxxxxx is valid in libphonenumber's full metadata). */
function freshGbNumber(): { input: string; e164: string } {
  const tail = String(crypto.randomInt(0, 1_000_000)).padStart(6, '0');
  const e164 = `+447400${tail}`;
  numbersUsed.add(e164);
  return { input: `07400 ${tail.slice(0, 3)}-${tail.slice(3)}`, e164 };
}

function messagesTo(e164: string): FakeVonageMessage[] {
  return fake.messages.filter((m) => m.to === e164.slice(1));
}

function lastCode(e164: string, digits: number): string {
  const msgs = messagesTo(e164);
  const text = msgs[msgs.length - 1]?.text ?? '';
  const m = text.match(new RegExp(`\\b(\\d{${digits}})\\b`));
  if (!m) throw new Error(`no ${digits}-digit code in the last message to ${e164}: ${text}`);
  return m[1]!;
}

/** Another code of the same length, surely different. */
function otherCode(code: string): string {
  return String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return err;
  }
  throw new Error('expected an AppError, but it resolved');
}

async function auditOf(userId: string, type?: string): Promise<Array<{ type: string; details: Record<string, unknown>; ip: string | null }>> {
  const { rows } = await services.db.pool.query(
    `SELECT type, details, ip FROM audit_events WHERE subject_user_id = $1 ${type ? 'AND type = $2' : ''} ORDER BY id`,
    type ? [userId, type] : [userId],
  );
  return rows;
}

async function keysOf(h: Harness, pattern: string): Promise<string[]> {
  return redis.keys(`${h.prefix}${pattern}`);
}

/** An SMS device enrolled and verified through the factor (send the PIN, type it, mark verified). */
async function verifiedSmsDevice(h: Harness, user: User, phone = freshGbNumber()): Promise<Device> {
  const c = ctx();
  const device = await h.factor.beginEnrolment(user, { country: 'GB', phone: phone.input }, c);
  expect(await h.factor.confirmEnrolment(user, device, lastCode(phone.e164, 4), c)).toBe(true);
  return (await services.data.transaction((tx) => tx.devices.markVerified(user.id, device.id, false)))!;
}

describe('enrolment PIN', () => {
  test('the PIN goes to the E.164 number from the configured sender; the right PIN verifies, once', async () => {
    const h = harness();
    const user = await newUser();
    const before = messagesTo(GB_E164).length;
    const c = ctx();
    const device = await h.factor.beginEnrolment(user, { country: 'GB', phone: GB_INPUT }, c);
    expect(device).toMatchObject({ kind: 'sms', phoneE164: GB_E164, verifiedAt: null, userId: user.id });

    const sent = messagesTo(GB_E164);
    expect(sent).toHaveLength(before + 1);
    const msg = sent[sent.length - 1]!;
    expect(msg).toMatchObject({ to: GB_DIGITS, from: 'Twofold', apiKey: 'key' });
    const pin = lastCode(GB_E164, 4);
    expect(msg.text).toContain(pin);
    expect(msg.text).not.toMatch(/\d{5,}/);

    // Stored only as a keyed hash, under the device.
    const stored = await h.store.get(`sms:{pin:${device.id}}`);
    expect(stored).not.toBeNull();
    expect(stored).not.toContain(pin);

    expect(await h.factor.describeEnrolment(user, device)).toEqual({ kind: 'sms', maskedPhone: '•••• 3456', pinSent: true });
    expect(await h.factor.confirmEnrolment(user, device, pin, c)).toBe(true);
    // Used up: the same PIN again is refused (there is no PIN any more).
    expect((await rejection(h.factor.confirmEnrolment(user, device, pin, c))).code).toBe('invalid_pin');

    const sentEvents = await auditOf(user.id, 'sms.sent');
    expect(sentEvents).toHaveLength(1);
    expect(sentEvents[0]!.details).toEqual({ to: '•••• 3456', purpose: 'enrolment' });
  });

  test('a wrong PIN is false (and audited); the right one still works afterwards', async () => {
    const h = harness();
    const user = await newUser();
    const phone = freshGbNumber();
    const c = ctx();
    const device = await h.factor.beginEnrolment(user, { country: 'GB', phone: phone.input }, c);
    const pin = lastCode(phone.e164, 4);
    expect(await h.factor.confirmEnrolment(user, device, otherCode(pin), c)).toBe(false);
    expect(await h.factor.confirmEnrolment(user, device, '12', c)).toBe(false);
    const failed = await auditOf(user.id, 'sms.pin_failed');
    expect(failed).toHaveLength(2);
    expect(failed[0]!.details).toMatchObject({ deviceId: device.id, failures: 1 });
    expect(await h.factor.confirmEnrolment(user, device, ` ${pin} `, c)).toBe(true);
  });

  test('malformed PINs are false, never an exception', async () => {
    const h = harness();
    const user = await newUser();
    const phone = freshGbNumber();
    const c = ctx();
    const device = await h.factor.beginEnrolment(user, { country: 'GB', phone: phone.input }, c);
    const pin = lastCode(phone.e164, 4);
    for (const junk of ['', `${pin}0`, 'abcd', { pin }]) {
      expect(await h.factor.confirmEnrolment(user, device, junk, c)).toBe(false);
    }
    expect(await h.factor.confirmEnrolment(user, device, pin, c)).toBe(true);
  });

  test('an expired PIN is refused with "request a new PIN"; a new PIN works', async () => {
    const h = harness({ pinTtlSeconds: 1 });
    const user = await newUser();
    const phone = freshGbNumber();
    const c = ctx();
    const device = await h.factor.beginEnrolment(user, { country: 'GB', phone: phone.input }, c);
    const pin = lastCode(phone.e164, 4);
    await new Promise((r) => setTimeout(r, 1500));
    const err = await rejection(h.factor.confirmEnrolment(user, device, pin, c));
    expect(err.code).toBe('invalid_pin');
    expect(err.message).toMatch(/request a new PIN/i);

    await h.factor.beginEnrolmentResend(user, device, c);
    expect(await h.factor.confirmEnrolment(user, device, lastCode(phone.e164, 4), c)).toBe(true);
  });

  test(`${PIN_ATTEMPTS} wrong PINs void it: even the right PIN is then refused until a new one is requested`, async () => {
    expect(PIN_ATTEMPTS).toBe(5);
    const h = harness();
    const user = await newUser();
    const phone = freshGbNumber();
    const c = ctx();
    const device = await h.factor.beginEnrolment(user, { country: 'GB', phone: phone.input }, c);
    const pin = lastCode(phone.e164, 4);
    const wrong = otherCode(pin);
    for (let i = 1; i < PIN_ATTEMPTS; i++) expect(await h.factor.confirmEnrolment(user, device, wrong, c)).toBe(false);
    const fifth = await rejection(h.factor.confirmEnrolment(user, device, wrong, c));
    expect(fifth.code).toBe('invalid_pin');
    expect(fifth.message).toMatch(/request a new PIN/i);
    expect((await rejection(h.factor.confirmEnrolment(user, device, pin, c))).code).toBe('invalid_pin');
    expect(await auditOf(user.id, 'sms.pin_failed')).toHaveLength(PIN_ATTEMPTS);

    // "Request a new PIN": a fresh PIN with a fresh count of attempts.
    await h.factor.beginEnrolmentResend(user, device, c);
    const fresh = lastCode(phone.e164, 4);
    expect(await h.factor.confirmEnrolment(user, device, otherCode(fresh), c)).toBe(false);
    expect(await h.factor.confirmEnrolment(user, device, fresh, c)).toBe(true);
  });

  test('parallel guesses cannot get past the PIN attempt limit', async () => {
    const h = harness();
    const user = await newUser();
    const phone = freshGbNumber();
    const c = ctx();
    const device = await h.factor.beginEnrolment(user, { country: 'GB', phone: phone.input }, c);
    const pin = lastCode(phone.e164, 4);
    // 60 different guesses at once, the right one last: at most PIN_ATTEMPTS of them may be judged.
    const guesses: string[] = [];
    for (let n = 0; guesses.length < 59; n++) {
      const g = String(n).padStart(4, '0');
      if (g !== pin) guesses.push(g);
    }
    guesses.push(pin);
    const results = await Promise.allSettled(guesses.map((g) => h.factor.confirmEnrolment(user, device, g, c)));
    expect(results[results.length - 1]).not.toEqual({ status: 'fulfilled', value: true });
    expect(results.filter((r) => r.status === 'fulfilled' && r.value === false).length).toBeLessThanOrEqual(PIN_ATTEMPTS - 1);
    expect((await auditOf(user.id, 'sms.pin_failed')).length).toBeLessThanOrEqual(PIN_ATTEMPTS);
  });
});

describe('login codes', () => {
  let h: Harness;
  let user: User;
  let device: Device;
  let phone: { input: string; e164: string };

  beforeAll(async () => {
    h = harness({ maxPerUserPerHour: 1000 });
    user = await newUser();
    phone = freshGbNumber();
    device = await verifiedSmsDevice(h, user, phone);
  });

  test('a 7-digit code goes to the device; the right code verifies; the same code again is refused', async () => {
    const c = ctx();
    const before = messagesTo(phone.e164).length;
    await h.factor.beginChallenge(user, device, c);
    expect(messagesTo(phone.e164)).toHaveLength(before + 1);
    const code = lastCode(phone.e164, 7);
    expect(messagesTo(phone.e164).at(-1)).toMatchObject({ to: phone.e164.slice(1), from: 'Twofold' });
    const stored = await h.store.get(`sms:{login:${c.flowId}}`);
    expect(stored).not.toBeNull();
    expect(stored).not.toContain(code);

    expect(await h.factor.verify(user, device, code, c)).toEqual({ unlocked: true });
    expect(await h.factor.verify(user, device, code, c)).toBe(false); // replayed
    expect((await auditOf(user.id, 'sms.sent')).at(-1)!.details).toEqual({ to: `•••• ${phone.e164.slice(-4)}`, purpose: 'login' });
  });

  test('a wrong code is false and does not use up the right one; malformed codes are false', async () => {
    const c = ctx();
    await h.factor.beginChallenge(user, device, c);
    const code = lastCode(phone.e164, 7);
    // Six wrong answers (the seventh would lock the user in the sign-in), then the right one.
    for (const junk of [otherCode(code), '', `${code}1`, 'abcdefg', 1234567, [code]]) {
      expect(await h.factor.verify(user, device, junk, c)).toBe(false);
    }
    expect(await h.factor.verify(user, device, code.replace(/(\d{3})/, '$1 '), c)).toEqual({ unlocked: true });
  });

  test("a right code clears the user's failure count with its use; a locked user's right code is used up and unlocks nothing", async () => {
    const own = await newUser();
    const ownPhone = freshGbNumber();
    const ownDevice = await verifiedSmsDevice(h, own, ownPhone);
    const failures = async () => (await services.data.users.findById(own.id))!;
    for (let i = 0; i < 3; i++) await services.data.users.recordMfaFailure(own.id, MFA_FAILURE_LIMIT, new Date());
    const first = ctx();
    await h.factor.beginChallenge(own, ownDevice, first);
    expect(await h.factor.verify(own, ownDevice, lastCode(ownPhone.e164, 7), first)).toEqual({ unlocked: true });
    expect((await failures()).failedMfaAttempts).toBe(0);

    const second = ctx();
    await h.factor.beginChallenge(own, ownDevice, second);
    const code = lastCode(ownPhone.e164, 7);
    for (let i = 0; i < MFA_FAILURE_LIMIT; i++) await services.data.users.recordMfaFailure(own.id, MFA_FAILURE_LIMIT, new Date());
    expect(await h.factor.verify(own, ownDevice, code, second)).toEqual({ unlocked: false });
    expect(await failures()).toMatchObject({ failedMfaAttempts: MFA_FAILURE_LIMIT, lockedAt: expect.any(Date) });
    // Used up: once support unlocks, the same code is refused.
    await services.data.users.unlock(own.id);
    expect(await h.factor.verify(own, ownDevice, code, second)).toBe(false);
  });

  test('a code sent to a device removed meanwhile completes nothing', async () => {
    const own = await newUser();
    const ownPhone = freshGbNumber();
    const ownDevice = await verifiedSmsDevice(h, own, ownPhone);
    const c = ctx();
    await h.factor.beginChallenge(own, ownDevice, c);
    await services.data.transaction((tx) => tx.devices.remove(own.id, ownDevice.id));
    expect(await h.factor.verify(own, ownDevice, lastCode(ownPhone.e164, 7), c)).toBe(false);
  });

  test('an expired code is refused', async () => {
    const short = harness({ codeTtlSeconds: 1 });
    const c = ctx();
    await short.factor.beginChallenge(user, device, c);
    const code = lastCode(phone.e164, 7);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await short.factor.verify(user, device, code, c)).toBe(false);
  });

  test('after a resend only the latest code works', async () => {
    const c = ctx();
    await h.factor.beginChallenge(user, device, c);
    const first = lastCode(phone.e164, 7);
    let second = first;
    while (second === first) {
      await h.factor.beginChallenge(user, device, c);
      second = lastCode(phone.e164, 7);
    }
    expect(await h.factor.verify(user, device, first, c)).toBe(false);
    expect(await h.factor.verify(user, device, second, c)).toEqual({ unlocked: true });
  });

  test('a code works only for the interaction it was sent for (and only for its device)', async () => {
    const a = ctx();
    const b = ctx();
    await h.factor.beginChallenge(user, device, a);
    const codeA = lastCode(phone.e164, 7);
    expect(await h.factor.verify(user, device, codeA, b)).toBe(false); // b has no code at all
    await h.factor.beginChallenge(user, device, b);
    const codeB = lastCode(phone.e164, 7);
    if (codeA !== codeB) {
      expect(await h.factor.verify(user, device, codeA, b)).toBe(false);
      expect(await h.factor.verify(user, device, codeB, a)).toBe(false);
    }
    // Another device of the same user cannot use a's code.
    const other = await verifiedSmsDevice(h, user);
    expect(await h.factor.verify(user, other, codeA, a)).toBe(false);
    expect(await h.factor.verify(user, device, codeA, a)).toEqual({ unlocked: true });
    expect(await h.factor.verify(user, device, codeB, b)).toEqual({ unlocked: true });
  });

  test('parallel guesses of a login code: the right one sent last among 60 is not accepted', async () => {
    const c = ctx();
    await h.factor.beginChallenge(user, device, c);
    const code = lastCode(phone.e164, 7);
    const guesses = Array.from({ length: 59 }, (_, i) => otherCode(String((Number(code) + i) % 1e7).padStart(7, '0')));
    guesses.push(code);
    const results = await Promise.all(guesses.map((g) => h.factor.verify(user, device, g, c)));
    // The sign-in's lockout counts failures only after each answer: the code itself must bound the guesses.
    expect(results.at(-1)).toBe(false);
    expect(results.filter(Boolean)).toHaveLength(0);
  });

  test('two (and ten) parallel verifications of the right code: exactly one succeeds', async () => {
    for (const n of [2, 10]) {
      const c = ctx();
      await h.factor.beginChallenge(user, device, c);
      const code = lastCode(phone.e164, 7);
      const results = await Promise.all(Array.from({ length: n }, () => h.factor.verify(user, device, code, c)));
      expect(results.filter(Boolean)).toHaveLength(1);
    }
  });
});

describe('limits against SMS pumping', () => {
  async function expectLimitHit(userId: string, limit: string, count = 1): Promise<void> {
    const hits = (await auditOf(userId, 'sms.limit_hit')).filter((e) => e.details.limit === limit);
    expect(hits).toHaveLength(count);
    for (const hit of hits) expect(hit.details.to).toMatch(/^•••• \d{4}$/);
  }

  test('cooldown: a second send inside it is refused with retryAfterSeconds, and the cooldown doubles', async () => {
    const h = harness({ resendCooldownSeconds: 1 });
    const user = await newUser();
    const device = await verifiedSmsDevice(harness(), user);
    const phoneSent = () => messagesTo(device.phoneE164!).length;
    const c = ctx();
    const sent0 = phoneSent();

    await h.factor.beginChallenge(user, device, c); // 1st send of the hour: 1 s cooldown
    const refused = await rejection(h.factor.beginChallenge(user, device, c));
    expect(refused.code).toBe('rate_limited');
    expect(refused.details.retryAfterSeconds).toBe(1);
    expect(phoneSent()).toBe(sent0 + 1);
    await expectLimitHit(user.id, 'cooldown', 1);

    await new Promise((r) => setTimeout(r, 1100));
    await h.factor.beginChallenge(user, device, c); // 2nd: still 1 s
    await new Promise((r) => setTimeout(r, 1100));
    await h.factor.beginChallenge(user, device, c); // 3rd: 2 s
    const doubled = await rejection(h.factor.beginChallenge(user, device, c));
    expect(doubled.code).toBe('rate_limited');
    expect(doubled.details.retryAfterSeconds).toBe(2);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await rejection(h.factor.beginChallenge(user, device, c))).code).toBe('rate_limited');
    await new Promise((r) => setTimeout(r, 1000));
    await h.factor.beginChallenge(user, device, c);
    expect(phoneSent()).toBe(sent0 + 4);
    await expectLimitHit(user.id, 'cooldown', 3);
  });

  test('cooldown with parallel requests: only one SMS', async () => {
    const h = harness({ resendCooldownSeconds: 30 });
    const user = await newUser();
    const device = await verifiedSmsDevice(harness(), user);
    const before = messagesTo(device.phoneE164!).length;
    const c = ctx();
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => h.factor.beginChallenge(user, device, c)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(messagesTo(device.phoneE164!).length - before).toBe(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as AppError).code).toBe('rate_limited');
  });

  test('hourly cap per user', async () => {
    const h = harness({ maxPerUserPerHour: 3 });
    const user = await newUser();
    const device = await verifiedSmsDevice(harness(), user);
    const before = messagesTo(device.phoneE164!).length;
    for (let i = 0; i < 3; i++) await h.factor.beginChallenge(user, device, ctx());
    const err = await rejection(h.factor.beginChallenge(user, device, ctx()));
    expect(err.code).toBe('rate_limited');
    expect(err.details.retryAfterSeconds).toBeGreaterThan(3500);
    expect(err.details.retryAfterSeconds).toBeLessThanOrEqual(3600);
    expect(messagesTo(device.phoneE164!).length - before).toBe(3);
    await expectLimitHit(user.id, 'user');
  });

  test('hourly cap per user, 10 parallel sends with a cap of 3: exactly 3 reach Vonage', async () => {
    const h = harness({ maxPerUserPerHour: 3 });
    const user = await newUser();
    const device = await verifiedSmsDevice(harness(), user);
    const before = messagesTo(device.phoneE164!).length;
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => h.factor.beginChallenge(user, device, ctx())));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(messagesTo(device.phoneE164!).length - before).toBe(3);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as AppError).code).toBe('rate_limited');
    await expectLimitHit(user.id, 'user', 7);
  });

  test('hourly cap of enrolment PINs per phone number, across users (also in parallel)', async () => {
    const h = harness({ maxPinsPerPhonePerHour: 2 });
    const phone = freshGbNumber();
    const users = await Promise.all([newUser(), newUser(), newUser(), newUser()]);
    const enrol = (u: User) => h.factor.beginEnrolment(u, { country: 'GB', phone: phone.input }, ctx());
    await enrol(users[0]!);
    await enrol(users[1]!);
    const err = await rejection(enrol(users[2]!));
    expect(err.code).toBe('rate_limited');
    expect(messagesTo(phone.e164)).toHaveLength(2);
    await expectLimitHit(users[2]!.id, 'phone-enrolment');
    // Nothing was created for the refused enrolment.
    expect(await services.data.devices.listForUser(users[2]!.id)).toHaveLength(0);

    const h2 = harness({ maxPinsPerPhonePerHour: 3 });
    const many = await Promise.all(Array.from({ length: 10 }, () => newUser()));
    const parallelPhone = freshGbNumber();
    const results = await Promise.allSettled(many.map((u) => h2.factor.beginEnrolment(u, { country: 'GB', phone: parallelPhone.input }, ctx())));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(messagesTo(parallelPhone.e164)).toHaveLength(3);
  });

  test("others enrolling a number (other accounts, up to every cap) cannot hold back its owner's sign-in codes", async () => {
    const h = harness({ maxPinsPerPhonePerHour: 3, maxPerPhonePerHour: 3 });
    const owner = await newUser();
    const phone = freshGbNumber();
    const device = await verifiedSmsDevice(h, owner, phone);
    // Strangers enrol the owner's number until the PIN cap refuses them, in parallel.
    const strangers = await Promise.all(Array.from({ length: 6 }, () => newUser()));
    await Promise.allSettled(strangers.map((u) => h.factor.beginEnrolment(u, { country: 'GB', phone: phone.input }, ctx())));
    expect((await rejection(h.factor.beginEnrolment(strangers[0]!, { country: 'GB', phone: phone.input }, ctx()))).code).toBe('rate_limited');
    // The owner still gets a code at each new sign-in.
    const before = messagesTo(phone.e164).length;
    for (let i = 0; i < 3; i++) await h.factor.beginChallenge(owner, device, ctx());
    expect(messagesTo(phone.e164).length - before).toBe(3);
  });

  test('at most N different users may have one number pending at once (also in parallel)', async () => {
    const h = harness({ maxPinsPerPhonePerHour: 1000 }, 3000, { perUser: 5, usersPerPhone: 3 });
    const phone = freshGbNumber();
    const users = await Promise.all(Array.from({ length: 10 }, () => newUser()));
    const before = messagesTo(phone.e164).length;
    const results = await Promise.allSettled(users.map((u) => h.factor.beginEnrolment(u, { country: 'GB', phone: phone.input }, ctx())));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as AppError).code).toBe('rate_limited');
    // Refused enrolments sent nothing and left no device behind.
    expect(messagesTo(phone.e164).length - before).toBe(3);
    const { rows } = await services.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM mfa_devices WHERE phone_e164 = $1', [phone.e164]);
    expect(rows[0]!.n).toBe(3);
    // One of those users enrolling the number again is not another user.
    const first = users[results.findIndex((r) => r.status === 'fulfilled')]!;
    await h.factor.beginEnrolment(first, { country: 'GB', phone: phone.input }, ctx());
  });

  test('at most 5 devices pending per user (also in parallel), each expiring after the enrolment TTL', async () => {
    const h = harness({ maxPinsPerPhonePerHour: 1000, maxPerUserPerHour: 1000 });
    const user = await newUser();
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => h.factor.beginEnrolment(user, { country: 'GB', phone: freshGbNumber().input }, ctx())));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(await services.data.devices.listForUser(user.id)).toHaveLength(5);
    // Past the TTL they are gone for every reader, and no longer count.
    await services.db.pool.query("UPDATE mfa_devices SET created_at = now() - interval '2 hours' WHERE user_id = $1", [user.id]);
    expect(await services.data.devices.listForUser(user.id)).toHaveLength(0);
    await h.factor.beginEnrolment(user, { country: 'GB', phone: freshGbNumber().input }, ctx());
    expect(await services.data.devices.listForUser(user.id)).toHaveLength(1);
  });

  test('hourly cap per IP (also in parallel)', async () => {
    const h = harness({ maxPerIpPerHour: 2 });
    const ip = origin('203.0.113.7');
    const users = await Promise.all([newUser(), newUser(), newUser()]);
    const enrol = (u: User) => h.factor.beginEnrolment(u, { country: 'GB', phone: freshGbNumber().input }, ctx(undefined, ip));
    await enrol(users[0]!);
    await enrol(users[1]!);
    const before = fake.messages.length;
    const err = await rejection(enrol(users[2]!));
    expect(err.code).toBe('rate_limited');
    expect(fake.messages.length).toBe(before);
    await expectLimitHit(users[2]!.id, 'ip');
    expect((await auditOf(users[2]!.id, 'sms.limit_hit'))[0]!.ip).toBe('203.0.113.7');
    // Another IP is not affected.
    await h.factor.beginEnrolment(users[2]!, { country: 'GB', phone: freshGbNumber().input }, ctx());

    const h2 = harness({ maxPerIpPerHour: 3 });
    const many = await Promise.all(Array.from({ length: 10 }, () => newUser()));
    const start = fake.messages.length;
    const results = await Promise.allSettled(many.map((u) => h2.factor.beginEnrolment(u, { country: 'GB', phone: freshGbNumber().input }, ctx(undefined, ip))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(fake.messages.length - start).toBe(3);
  });

  test('global hourly cap, 10 parallel sends of different users, numbers and IPs with a cap of 3: exactly 3 SMS', async () => {
    const h = harness({ maxGlobalPerHour: 3 });
    const many = await Promise.all(Array.from({ length: 10 }, () => newUser()));
    const start = fake.messages.length;
    const results = await Promise.allSettled(many.map((u) => h.factor.beginEnrolment(u, { country: 'GB', phone: freshGbNumber().input }, ctx())));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(fake.messages.length - start).toBe(3);
    const refusedUsers = many.filter((_, i) => results[i]!.status === 'rejected');
    for (const u of refusedUsers) {
      await expectLimitHit(u.id, 'global');
      expect(await services.data.devices.listForUser(u.id)).toHaveLength(0);
    }
  });

  test('country allow-list: a number outside it is refused, no SMS, no device, an audit event', async () => {
    const h = harness({ allowedCallingCodes: ['44'] });
    const user = await newUser();
    numbersUsed.add('+12015550123');
    const before = fake.messages.length;
    const err = await rejection(h.factor.beginEnrolment(user, { country: 'US', phone: '(201) 555-0123' }, ctx()));
    expect(err.code).toBe('invalid_phone_number');
    expect(err.message).toMatch(/^Invalid phone number/);
    expect(fake.messages.length).toBe(before);
    expect(await services.data.devices.listForUser(user.id)).toHaveLength(0);
    await expectLimitHit(user.id, 'country');
    expect((await auditOf(user.id, 'sms.limit_hit'))[0]!.details.to).toBe('•••• 0123');

    // A login code to a device registered before the allow-list was set is refused the same way.
    const us = await harness().factor.beginEnrolment(user, { country: 'US', phone: '201 555 0123' }, ctx());
    const sentBefore = fake.messages.length;
    expect((await rejection(h.factor.beginChallenge(user, us, ctx()))).code).toBe('invalid_phone_number');
    expect(fake.messages.length).toBe(sentBefore);
    // An allowed country goes through.
    await h.factor.beginEnrolment(user, { country: 'GB', phone: freshGbNumber().input }, ctx());
  });
});

describe('Vonage failures', () => {
  test("'fail' at enrolment: sms_send_failed, nothing stored, no device, audited; the cooldown is released", async () => {
    const h = harness({ resendCooldownSeconds: 30 });
    const user = await newUser();
    const phone = freshGbNumber();
    fake.setMode('fail');
    try {
      const err = await rejection(h.factor.beginEnrolment(user, { country: 'GB', phone: phone.input }, ctx()));
      expect(err.code).toBe('sms_send_failed');
      expect(err.message).toContain('We could not send the code, try again');
    } finally {
      fake.setMode('ok');
    }
    expect(await services.data.devices.listForUser(user.id)).toHaveLength(0);
    expect(await keysOf(h, 'sms:{pin:*')).toEqual([]);
    const failed = await auditOf(user.id, 'sms.send_failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.details).toMatchObject({ to: `•••• ${phone.e164.slice(-4)}`, purpose: 'enrolment' });
    expect(String(failed[0]!.details.reason)).toContain('Bad Credentials');
    expect(await auditOf(user.id, 'sms.sent')).toHaveLength(0);

    // Trying again at once works (a failed send does not start the cooldown).
    const device = await h.factor.beginEnrolment(user, { country: 'GB', phone: phone.input }, ctx());
    expect(await h.factor.confirmEnrolment(user, device, lastCode(phone.e164, 4), ctx())).toBe(true);
  });

  test("'fail' at a login challenge: sms_send_failed, no pending code, the previous code is kept", async () => {
    const h = harness();
    const user = await newUser();
    const device = await verifiedSmsDevice(h, user);
    const c = ctx();
    await h.factor.beginChallenge(user, device, c);
    const code = lastCode(device.phoneE164!, 7);
    fake.setMode('fail');
    try {
      expect((await rejection(h.factor.beginChallenge(user, device, c))).code).toBe('sms_send_failed');
      const other = ctx();
      expect((await rejection(h.factor.beginChallenge(user, device, other))).code).toBe('sms_send_failed');
      expect(await keysOf(h, `sms:{login:${other.flowId}}`)).toEqual([]);
    } finally {
      fake.setMode('ok');
    }
    expect((await auditOf(user.id, 'sms.send_failed')).map((e) => e.details.purpose)).toEqual(['login', 'login']);
    expect(await h.factor.verify(user, device, code, c)).toEqual({ unlocked: true });
  });

  test("'hang' with timeoutMs 300: sms_send_failed within a bounded time, nothing stored", async () => {
    const h = harness({}, 300);
    const user = await newUser();
    const device = await verifiedSmsDevice(harness(), user);
    const phone = freshGbNumber();
    fake.setMode('hang');
    try {
      const c = ctx();
      const started = Date.now();
      const err = await rejection(h.factor.beginChallenge(user, device, c));
      expect(err.code).toBe('sms_send_failed');
      expect(Date.now() - started).toBeLessThan(2000);
      expect(await keysOf(h, `sms:{login:${c.flowId}}`)).toEqual([]);

      const started2 = Date.now();
      expect((await rejection(h.factor.beginEnrolment(user, { country: 'GB', phone: phone.input }, ctx()))).code).toBe('sms_send_failed');
      expect(Date.now() - started2).toBeLessThan(2000);
    } finally {
      fake.setMode('ok');
    }
    expect((await services.data.devices.listForUser(user.id)).map((d) => d.id)).toEqual([device.id]);
    expect(await keysOf(h, 'sms:{pin:*')).toEqual([]);
    const failed = await auditOf(user.id, 'sms.send_failed');
    expect(failed).toHaveLength(2);
    expect(String(failed[0]!.details.reason)).toMatch(/timeout/);
  });
});

describe('default device', () => {
  test('the first verified device becomes the default; a later one does not unless asked', async () => {
    const h = harness();
    const user = await newUser();
    const totpFactor = new TotpFactor(services.data.devices, services.box, 'Twofold', { perUser: 5, usersPerPhone: 3 });

    // An SMS device, verified first.
    const sms = await verifiedSmsDevice(h, user);
    expect(sms.isDefault).toBe(true);

    // Then a mobile passcode device, through its own enrolment.
    const flow = ctx();
    const totpDevice = await totpFactor.beginEnrolment(user, { nickname: 'Phone app' }, flow);
    const view = await totpFactor.describeEnrolment(user, totpDevice, flow);
    if (view.kind !== 'totp' || !view.secret) throw new Error('expected a TOTP enrolment view');
    expect(await totpFactor.confirmEnrolment(user, totpDevice, totp(secretFromUri(view.uri)))).toBe(true);
    const verified = await services.data.transaction((tx) => tx.devices.markVerified(user.id, totpDevice.id, false));
    expect(verified).toMatchObject({ isDefault: false });
    expect(verified!.verifiedAt).not.toBeNull();

    let devices = await services.data.devices.listForUser(user.id);
    expect(devices.filter((d) => d.isDefault).map((d) => d.id)).toEqual([sms.id]);
    expect(devices[0]!.id).toBe(sms.id);

    // Changing the default (the self-service choice): exactly one default afterwards; an
    // unverified device or another user's device cannot become it.
    expect(await services.data.transaction((tx) => tx.devices.setDefault(user.id, totpDevice.id))).toBe(true);
    devices = await services.data.devices.listForUser(user.id);
    expect(devices.filter((d) => d.isDefault).map((d) => d.id)).toEqual([totpDevice.id]);
    const pending = await h.factor.beginEnrolment(user, { country: 'GB', phone: freshGbNumber().input }, ctx());
    expect(await services.data.transaction((tx) => tx.devices.setDefault(user.id, pending.id))).toBe(false);
    const stranger = await newUser();
    expect(await services.data.transaction((tx) => tx.devices.setDefault(stranger.id, sms.id))).toBe(false);
    devices = await services.data.devices.listForUser(user.id);
    expect(devices.filter((d) => d.isDefault).map((d) => d.id)).toEqual([totpDevice.id]);
  });

  test('two devices verified at the same time: exactly one becomes the default', async () => {
    const h = harness();
    const user = await newUser();
    const a = await h.factor.beginEnrolment(user, { country: 'GB', phone: freshGbNumber().input }, ctx());
    const b = await h.factor.beginEnrolment(user, { country: 'GB', phone: freshGbNumber().input }, ctx());
    await Promise.all([a, b].map((d) => services.data.transaction((tx) => tx.devices.markVerified(user.id, d.id, false))));
    const devices = await services.data.devices.listForUser(user.id);
    expect(devices.filter((d) => d.isDefault)).toHaveLength(1);
  });
});

describe('privacy of phone numbers', () => {
  test('audit details and log lines carry only masked numbers', async () => {
    const { rows } = await services.db.pool.query<{ type: string; details: Record<string, unknown> }>("SELECT type, details FROM audit_events WHERE type LIKE 'sms.%'");
    expect(rows.length).toBeGreaterThan(20);
    for (const row of rows) {
      if (row.type !== 'sms.pin_failed') expect(row.details.to).toMatch(/^•••• \d{4}$/);
    }
    const { rows: all } = await services.db.pool.query<{ text: string }>('SELECT details::text AS text FROM audit_events');
    const audit = all.map((r) => r.text).join('\n');
    const logs = logLines.join('');
    expect(logs).toContain('•••• ');
    for (const e164 of numbersUsed) {
      const national = e164.startsWith('+44') ? e164.slice(3) : e164.slice(2); // e.g. 7911123456
      for (const form of [e164, e164.slice(1), national]) {
        expect(audit).not.toContain(form);
        expect(logs).not.toContain(form);
      }
    }
    // And never a code: no message text reached the logs.
    for (const m of fake.messages) expect(logs).not.toContain(m.text);
  });
});
