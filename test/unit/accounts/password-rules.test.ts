import { describe, expect, it } from '@jest/globals';
import { dictionary } from '@zxcvbn-ts/language-common';
import { acceptNewPassword, brokenPasswordRule } from '../../../src/accounts/password-rules.js';
import { generatePassword } from '../../../src/accounts/provisioning.js';

describe('password rules', () => {
  it('needs 12 to 256 characters, counted in code points after NFKC', () => {
    expect(brokenPasswordRule('tulip ledger')).toBeUndefined(); // exactly 12
    expect(brokenPasswordRule('tulip ledge')).toBe('too_short');
    expect(brokenPasswordRule('z'.repeat(256))).toBeUndefined();
    expect(brokenPasswordRule('z'.repeat(257))).toBe('too_long');
    // Twelve emoji are twelve characters (24 UTF-16 units), eleven are too few.
    expect(brokenPasswordRule('🔐'.repeat(12))).toBeUndefined();
    expect(brokenPasswordRule('🔐'.repeat(11))).toBe('too_short');
    // Eleven letters written with combining accents (22 code points as typed) are eleven after NFKC.
    expect(brokenPasswordRule('e\u0301'.repeat(11))).toBe('too_short');
    // Huge input is refused without normalising it.
    expect(brokenPasswordRule('a'.repeat(5_000_000))).toBe('too_long');
  });

  it('refuses the common passwords of the list, in any case and in full-width letters', () => {
    const list = dictionary['passwords-common'];
    expect(list.length).toBeGreaterThan(10_000);
    const longEnough = list.filter((p) => [...p].length >= 12 && [...p].length <= 256);
    expect(longEnough.length).toBeGreaterThan(100);
    for (const p of longEnough) expect(brokenPasswordRule(p)).toBe('common');
    expect(brokenPasswordRule('QWERTY123456')).toBe('common');
    expect(brokenPasswordRule('Qwerty123456')).toBe('common');
    // Full-width "qwerty123456" is the same password after NFKC.
    const wide = [...'qwerty123456'].map((c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0)).join('');
    expect(brokenPasswordRule(wide)).toBe('common');
    expect(brokenPasswordRule('qwerty123456 tulip')).toBeUndefined();
  });

  it('names the rule that failed in a validation_failed error', () => {
    expect(() => acceptNewPassword('short')).toThrow(expect.objectContaining({ code: 'validation_failed', message: expect.stringContaining('at least 12 characters') }));
    expect(() => acceptNewPassword('x'.repeat(300))).toThrow(expect.objectContaining({ code: 'validation_failed', message: expect.stringContaining('at most 256 characters') }));
    expect(() => acceptNewPassword('1q2w3e4r5t6y')).toThrow(expect.objectContaining({ code: 'validation_failed', message: expect.stringContaining('commonly used') }));
    expect(() => acceptNewPassword(undefined)).toThrow(expect.objectContaining({ code: 'validation_failed' }));
    expect(acceptNewPassword('cafe\u0301 au lait 42')).toBe('caf\u00e9 au lait 42');
  });

  it('generated passwords pass the rules', () => {
    for (let i = 0; i < 200; i++) expect(brokenPasswordRule(generatePassword())).toBeUndefined();
  });
});
