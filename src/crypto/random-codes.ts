import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** A string of `length` decimal digits, each uniform (randomInt avoids modulo bias). */
export function randomDigits(length: number): string {
  if (!Number.isSafeInteger(length) || length < 1 || length > 1024) {
    throw new RangeError(`randomDigits: length must be an integer from 1 to 1024, got ${length}`);
  }
  let out = '';
  for (let i = 0; i < length; i++) out += String(randomInt(0, 10));
  return out;
}

/** `bytes` random bytes as base64url (32 bytes gives 43 characters, 256 bits). */
export function randomToken(bytes = 32): string {
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > 65536) {
    throw new RangeError(`randomToken: bytes must be an integer from 1 to 65536, got ${bytes}`);
  }
  return randomBytes(bytes).toString('base64url');
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/**
 * Equality that takes the same time wherever the strings differ. Both sides are hashed first, so
 * inputs of different lengths neither throw (timingSafeEqual needs equal lengths) nor reveal
 * the expected length through timing.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
