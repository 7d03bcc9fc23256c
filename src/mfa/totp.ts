import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AlgorithmUnsupportedError, ScureBase32Plugin, generateSync, verifySync, type CryptoPlugin, type HashAlgorithm } from 'otplib';

/** The parameters every mainstream authenticator app understands (Google, Authy, Duo, Microsoft). */
export const TOTP_ALGORITHM = 'sha1';
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_SECRET_BYTES = 20;
/** One step either side of the current one absorbs clock drift and the time taken to type. */
const EPOCH_TOLERANCE_SECONDS = TOTP_PERIOD_SECONDS;
/** Anything longer cannot be a code once spaces are dropped; refuse before touching it further. */
const MAX_RAW_INPUT_LENGTH = 64;

/**
 * otplib's default HMAC is pure JavaScript (noble); node:crypto computes the same HMAC natively
 * and several times faster, and verification runs on every sign-in.
 */
const NODE_HMAC: Record<string, 'sha1' | 'sha256' | 'sha512'> = { sha1: 'sha1', sha256: 'sha256', sha512: 'sha512' };
const nodeCrypto: CryptoPlugin = Object.freeze({
  name: 'node',
  algorithms: ['sha1', 'sha256', 'sha512'] as const satisfies readonly HashAlgorithm[],
  hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array) {
    // The plugin contract: accept 'SHA1', 'sha-1', 'sha_1'...; refuse anything else.
    const alg = NODE_HMAC[String(algorithm).toLowerCase().replace(/[-_]/g, '')];
    if (!alg) throw new AlgorithmUnsupportedError(algorithm, { supported: ['sha1', 'sha256', 'sha512'], plugin: 'node' });
    return new Uint8Array(createHmac(alg, key).update(data).digest());
  },
  randomBytes(length: number) {
    return new Uint8Array(randomBytes(length));
  },
  constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array) {
    // Both sides are codes of the configured digit count, so the length is no secret.
    const x = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
    const y = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    return x.length === y.length && timingSafeEqual(x, y);
  },
});
const base32 = new ScureBase32Plugin();

/** A new shared secret: 20 random bytes (160 bits, RFC 4226's recommendation), base32 without padding. */
export function generateTotpSecret(): string {
  return base32.encode(randomBytes(TOTP_SECRET_BYTES), { padding: false });
}

/** The `otpauth://` URI for the QR code; every parameter is spelt out so no app has to guess. */
export function totpUri({ issuer, accountName, secret }: { issuer: string; accountName: string; secret: string }): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(accountName)}`;
  const query = [
    `secret=${encodeURIComponent(secret)}`,
    `issuer=${encodeURIComponent(issuer)}`,
    `algorithm=${TOTP_ALGORITHM.toUpperCase()}`,
    `digits=${TOTP_DIGITS}`,
    `period=${TOTP_PERIOD_SECONDS}`,
  ].join('&');
  return `otpauth://totp/${label}?${query}`;
}

/**
 * What the user typed, as a 6-digit code, or null. Surrounding and inner whitespace is dropped
 * because apps display codes as "123 456"; only ASCII digits count (no other numeral systems).
 */
export function normaliseTotpInput(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_RAW_INPUT_LENGTH) return null;
  const compact = input.replace(/\s+/gu, '');
  return /^[0-9]{6}$/.test(compact) ? compact : null;
}

export type TotpVerifyResult = { valid: true; timeStep: number } | { valid: false };

/**
 * Checks a code against the current time step and one step either side. A step at or before
 * `afterTimeStep` (the device's last accepted step) is refused, so a code works once. The caller
 * must still record the returned step atomically (`... WHERE last_time_step < $step`): this
 * check alone cannot stop two parallel requests. Never throws: anything malformed is invalid.
 */
export function verifyTotp({ secret, token, afterTimeStep, now = Date.now() }: { secret: string; token: unknown; afterTimeStep?: number | null; now?: number }): TotpVerifyResult {
  try {
    const code = normaliseTotpInput(token);
    if (code === null || typeof secret !== 'string' || secret.length === 0) return { valid: false };
    if (typeof now !== 'number' || !Number.isFinite(now) || now < 0) return { valid: false };
    let after: number | undefined;
    if (afterTimeStep !== undefined && afterTimeStep !== null) {
      // A garbled replay marker must fail closed; a negative one means "nothing used yet".
      if (typeof afterTimeStep !== 'number' || !Number.isSafeInteger(afterTimeStep)) return { valid: false };
      if (afterTimeStep >= 0) after = afterTimeStep;
    }
    const epoch = Math.floor(now / 1000);
    // otplib throws when the marker is beyond the window; no step could pass then anyway.
    if (after !== undefined && after >= Math.floor((epoch + EPOCH_TOLERANCE_SECONDS) / TOTP_PERIOD_SECONDS)) {
      return { valid: false };
    }
    const result = verifySync({
      secret,
      token: code,
      epoch,
      epochTolerance: EPOCH_TOLERANCE_SECONDS,
      afterTimeStep: after,
      algorithm: TOTP_ALGORITHM,
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD_SECONDS,
      crypto: nodeCrypto,
      base32,
    });
    return result.valid && 'timeStep' in result ? { valid: true, timeStep: result.timeStep } : { valid: false };
  } catch {
    return { valid: false };
  }
}

/** The code for `secret` (base32) at `timeMs`, computed by the same otplib path that verifies. */
export function totpAt(secret: string, timeMs: number, digits = TOTP_DIGITS): string {
  return generateSync({
    secret,
    epoch: Math.floor(timeMs / 1000),
    algorithm: TOTP_ALGORITHM,
    digits,
    period: TOTP_PERIOD_SECONDS,
    crypto: nodeCrypto,
    base32,
  });
}

/** The RFC 6238 time step that contains `timeMs`. */
export function totpTimeStep(timeMs: number): number {
  return Math.floor(Math.floor(timeMs / 1000) / TOTP_PERIOD_SECONDS);
}
