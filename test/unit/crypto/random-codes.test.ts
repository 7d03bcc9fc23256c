import { describe, expect, it } from '@jest/globals';
import { constantTimeEqual, randomDigits, randomToken, sha256Hex } from '../../../src/crypto/random-codes.js';

describe('randomDigits', () => {
  it('returns exactly `length` ASCII digits', () => {
    for (const n of [1, 4, 7, 10, 32]) expect(randomDigits(n)).toMatch(new RegExp(`^[0-9]{${n}}$`));
  });

  it('keeps leading zeros and covers every digit roughly evenly', () => {
    const counts = new Array<number>(10).fill(0);
    const sample = randomDigits(1000) + randomDigits(1000) + randomDigits(1000) + randomDigits(1000) + randomDigits(1000);
    for (const c of sample) counts[Number(c)]++;
    // 5000 draws, expected 500 each; 350..650 is far outside chance for a fair generator.
    for (const c of counts) {
      expect(c).toBeGreaterThan(350);
      expect(c).toBeLessThan(650);
    }
  });

  it('rejects nonsense lengths', () => {
    for (const n of [0, -1, 1.5, Number.NaN, 100_000]) expect(() => randomDigits(n)).toThrow(RangeError);
  });
});

describe('randomToken', () => {
  it('is base64url of 32 bytes by default', () => {
    const t = randomToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(t, 'base64url').length).toBe(32);
    expect(randomToken()).not.toBe(t);
  });

  it('honours the byte count', () => {
    expect(Buffer.from(randomToken(16), 'base64url').length).toBe(16);
    expect(() => randomToken(0)).toThrow(RangeError);
  });
});

describe('sha256Hex', () => {
  it('matches the known digest', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('constantTimeEqual', () => {
  it('is true only for equal strings', () => {
    expect(constantTimeEqual('1234567', '1234567')).toBe(true);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual('1234567', '1234568')).toBe(false);
    expect(constantTimeEqual('ABC', 'abc')).toBe(false);
  });

  it('handles different lengths without throwing', () => {
    expect(constantTimeEqual('123', '1234567')).toBe(false);
    expect(constantTimeEqual('', 'x')).toBe(false);
    expect(constantTimeEqual('x'.repeat(10_000), 'x')).toBe(false);
  });

  it('returns false for non-strings instead of throwing', () => {
    expect(constantTimeEqual(null as unknown as string, 'a')).toBe(false);
    expect(constantTimeEqual(undefined as unknown as string, undefined as unknown as string)).toBe(false);
  });
});
