import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { generateTotpSecret, normaliseTotpInput, totpAt, totpTimeStep, totpUri, verifyTotp } from '../../../src/mfa/totp.js';

// RFC 6238 Appendix B: SHA1 key is ASCII "12345678901234567890"; base32 of it below.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const RFC_VECTORS: Array<[number, string]> = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

/** An independent RFC 4226/6238 implementation so the tests do not only check otplib against itself. */
function referenceTotp(key: Buffer, timeSec: number, digits: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(timeSec / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(bin % 10 ** digits).padStart(digits, '0');
}

const PERIOD_MS = 30_000;
// The middle of a time step, so ±1 step is unambiguous.
const NOW = 1_700_000_015_000;

describe('RFC 6238 Appendix B (SHA1)', () => {
  it('the base32 secret is the RFC key', () => {
    expect(Buffer.from('12345678901234567890').length).toBe(20);
    // Guards against a typo in RFC_SECRET: the independent implementation must agree.
    expect(referenceTotp(Buffer.from('12345678901234567890'), 59, 8)).toBe('94287082');
  });

  it.each(RFC_VECTORS)('t=%d gives the 8-digit %s through totpAt', (t, expected) => {
    expect(totpAt(RFC_SECRET, t * 1000, 8)).toBe(expected);
  });

  it.each(RFC_VECTORS)('t=%d: the 6-digit truncation of %s verifies through verifyTotp', (t, expected) => {
    const sixDigits = expected.slice(-6);
    expect(totpAt(RFC_SECRET, t * 1000)).toBe(sixDigits);
    expect(verifyTotp({ secret: RFC_SECRET, token: sixDigits, now: t * 1000 })).toEqual({
      valid: true,
      timeStep: Math.floor(t / 30),
    });
  });
});

describe('generateTotpSecret', () => {
  it('is base32 of 20 random bytes and differs each time', () => {
    const a = generateTotpSecret();
    const b = generateTotpSecret();
    expect(a).toMatch(/^[A-Z2-7]{32}$/); // 160 bits = 32 base32 characters, no padding
    expect(a).not.toBe(b);
  });

  it('produces codes that match an independent implementation', () => {
    const secret = generateTotpSecret();
    const key = base32Decode(secret);
    expect(key.length).toBe(20);
    expect(totpAt(secret, NOW)).toBe(referenceTotp(key, NOW / 1000, 6));
  });
});

function base32Decode(s: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

describe('verifyTotp window', () => {
  // A fixed secret and time keep these tests deterministic: no chance collision can skip a check.
  const secret = RFC_SECRET;
  const step = totpTimeStep(NOW);
  const codeAt = (offsetSteps: number) => totpAt(secret, NOW + offsetSteps * PERIOD_MS);

  it('the codes of steps -2..+2 around NOW are all different (precondition)', () => {
    const codes = [-2, -1, 0, 1, 2].map(codeAt);
    expect(new Set(codes).size).toBe(5);
    expect(codes).not.toContain('000000');
  });

  it('accepts the current step', () => {
    expect(verifyTotp({ secret, token: codeAt(0), now: NOW })).toEqual({ valid: true, timeStep: step });
  });

  it('accepts the previous step', () => {
    expect(verifyTotp({ secret, token: codeAt(-1), now: NOW })).toEqual({ valid: true, timeStep: step - 1 });
  });

  it('accepts the next step', () => {
    expect(verifyTotp({ secret, token: codeAt(1), now: NOW })).toEqual({ valid: true, timeStep: step + 1 });
  });

  it('rejects two steps back', () => {
    expect(verifyTotp({ secret, token: codeAt(-2), now: NOW })).toEqual({ valid: false });
  });

  it('rejects two steps ahead', () => {
    expect(verifyTotp({ secret, token: codeAt(2), now: NOW })).toEqual({ valid: false });
  });

  it('holds at the exact edges of a step', () => {
    const start = step * PERIOD_MS; // first millisecond of the step
    const end = start + PERIOD_MS - 1; // last millisecond of the step
    expect(verifyTotp({ secret, token: codeAt(-1), now: start })).toEqual({ valid: true, timeStep: step - 1 });
    expect(verifyTotp({ secret, token: codeAt(1), now: end })).toEqual({ valid: true, timeStep: step + 1 });
    expect(verifyTotp({ secret, token: codeAt(-2), now: end })).toEqual({ valid: false });
    expect(verifyTotp({ secret, token: codeAt(2), now: start })).toEqual({ valid: false });
    // One millisecond later the window has moved on.
    expect(verifyTotp({ secret, token: codeAt(-1), now: end + 1 })).toEqual({ valid: false });
  });

  it('rejects a wrong code', () => {
    expect(verifyTotp({ secret, token: '000000', now: NOW })).toEqual({ valid: false });
  });

  it('uses the wall clock when now is omitted', () => {
    const fresh = generateTotpSecret();
    expect(verifyTotp({ secret: fresh, token: totpAt(fresh, Date.now()) }).valid).toBe(true);
  });
});

describe('verifyTotp replay guard', () => {
  const secret = RFC_SECRET;
  const step = totpTimeStep(NOW);
  const code = totpAt(secret, NOW);

  it('refuses a step equal to afterTimeStep (the same code twice)', () => {
    const first = verifyTotp({ secret, token: code, now: NOW, afterTimeStep: null });
    expect(first).toEqual({ valid: true, timeStep: step });
    const again = verifyTotp({ secret, token: code, now: NOW, afterTimeStep: step });
    expect(again).toEqual({ valid: false });
  });

  it('refuses steps before afterTimeStep', () => {
    const previous = totpAt(secret, NOW - PERIOD_MS);
    expect(verifyTotp({ secret, token: previous, now: NOW, afterTimeStep: step - 1 })).toEqual({ valid: false });
    expect(verifyTotp({ secret, token: previous, now: NOW, afterTimeStep: step })).toEqual({ valid: false });
    expect(verifyTotp({ secret, token: previous, now: NOW, afterTimeStep: step - 2 })).toEqual({ valid: true, timeStep: step - 1 });
  });

  it('accepts a later step after a used one', () => {
    expect(verifyTotp({ secret, token: totpAt(secret, NOW + PERIOD_MS), now: NOW, afterTimeStep: step })).toEqual({
      valid: true,
      timeStep: step + 1,
    });
  });

  it('refuses everything once the marker is at or past the end of the window, without throwing', () => {
    expect(verifyTotp({ secret, token: totpAt(secret, NOW + PERIOD_MS), now: NOW, afterTimeStep: step + 1 })).toEqual({ valid: false });
    expect(verifyTotp({ secret, token: code, now: NOW, afterTimeStep: step + 100 })).toEqual({ valid: false });
  });

  it('treats a negative marker as "never used" and a garbled one as a refusal', () => {
    expect(verifyTotp({ secret, token: code, now: NOW, afterTimeStep: -1 })).toEqual({ valid: true, timeStep: step });
    expect(verifyTotp({ secret, token: code, now: NOW, afterTimeStep: Number.NaN })).toEqual({ valid: false });
    expect(verifyTotp({ secret, token: code, now: NOW, afterTimeStep: 1.5 })).toEqual({ valid: false });
    expect(verifyTotp({ secret, token: code, now: NOW, afterTimeStep: '0' as unknown as number })).toEqual({ valid: false });
  });
});

describe('malformed input never throws', () => {
  const secret = generateTotpSecret();
  const code = totpAt(secret, NOW);

  it.each([
    ['empty', ''],
    ['letters', 'abcdef'],
    ['5 digits', '12345'],
    ['7 digits', '1234567'],
    ['null', null],
    ['undefined', undefined],
    ['5-digit number', 12345],
    ['6-digit number', 123456],
    ['Arabic-Indic digits', '١٢٣٤٥٦'],
    ['fullwidth digits', '１２３４５６'],
    ['object', { code: '123456' }],
    ['array', ['123456']],
    ['sign', '+12345'],
    ['decimal', '12345.'],
    ['very long', '1'.repeat(100_000)],
  ])('%s → invalid', (_label, token) => {
    expect(() => verifyTotp({ secret, token, now: NOW })).not.toThrow();
    expect(verifyTotp({ secret, token, now: NOW })).toEqual({ valid: false });
  });

  it('accepts surrounding and inner spaces', () => {
    const spaced = ` ${code} `;
    const grouped = `${code.slice(0, 3)} ${code.slice(3)}`;
    expect(verifyTotp({ secret, token: spaced, now: NOW }).valid).toBe(true);
    expect(verifyTotp({ secret, token: grouped, now: NOW }).valid).toBe(true);
  });

  it('a broken secret or clock is invalid, not an exception', () => {
    for (const badSecret of ['', 'not base32!', 'AAAA', '1', null as unknown as string]) {
      expect(verifyTotp({ secret: badSecret, token: code, now: NOW })).toEqual({ valid: false });
    }
    for (const badNow of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      expect(verifyTotp({ secret, token: code, now: badNow })).toEqual({ valid: false });
    }
  });
});

describe('normaliseTotpInput', () => {
  it.each([
    ['123456', '123456'],
    [' 123456 ', '123456'],
    ['123 456', '123456'],
    ['\t123456\n', '123456'],
    ['012345', '012345'],
  ])('%j → %j', (input, expected) => {
    expect(normaliseTotpInput(input)).toBe(expected);
  });

  it.each([[''], ['abcdef'], ['12345'], ['1234567'], [null], [12345], [123456], ['١٢٣٤٥٦'], ['12-34-56'], ['123456\u0000']])('%j → null', (input) => {
    expect(normaliseTotpInput(input)).toBeNull();
  });
});

describe('totpUri', () => {
  it('has the otpauth shape authenticator apps expect', () => {
    const secret = generateTotpSecret();
    const uri = totpUri({ issuer: 'Twofold', accountName: 'alice', secret });
    expect(uri).toBe(`otpauth://totp/Twofold:alice?secret=${secret}&issuer=Twofold&algorithm=SHA1&digits=6&period=30`);
    const url = new URL(uri);
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe('/Twofold:alice');
    expect(url.searchParams.get('secret')).toBe(secret);
    expect(url.searchParams.get('issuer')).toBe('Twofold');
    expect(url.searchParams.get('algorithm')).toBe('SHA1');
    expect(url.searchParams.get('digits')).toBe('6');
    expect(url.searchParams.get('period')).toBe('30');
  });

  it('URI-encodes the label parts', () => {
    const uri = totpUri({ issuer: 'Acme Co', accountName: 'bob:x@example.com/?#&', secret: 'JBSWY3DPEHPK3PXP' });
    const url = new URL(uri);
    expect(url.searchParams.get('issuer')).toBe('Acme Co');
    expect(url.hash).toBe('');
    const [issuer, account] = url.pathname.slice(1).split(':');
    expect(decodeURIComponent(issuer)).toBe('Acme Co');
    expect(decodeURIComponent(account)).toBe('bob:x@example.com/?#&');
    expect(uri).toContain('otpauth://totp/Acme%20Co:bob%3Ax%40example.com%2F%3F%23%26?');
  });
});
