import { describe, expect, it } from '@jest/globals';
import { normaliseEmail, parseEmail } from '../../../src/accounts/email-address.js';

describe('email addresses', () => {
  it('stores one form: trimmed and lower-cased as a whole', () => {
    expect(normaliseEmail('  Alice.Smith+MFA@Example.COM ')).toBe('alice.smith+mfa@example.com');
    expect(normaliseEmail("o'brien@sub.example.co.uk")).toBe("o'brien@sub.example.co.uk");
    expect(normaliseEmail('x@xn--bcher-kva.example')).toBe('x@xn--bcher-kva.example');
  });

  it('accepts 254 characters, refuses 255', () => {
    const at254 = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`;
    expect(at254).toHaveLength(254);
    expect(normaliseEmail(at254)).toBe(at254);
    expect(normaliseEmail(`${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(58)}.com`)).toBeNull();
    expect(normaliseEmail(`${'a'.repeat(65)}@example.com`)).toBeNull();
  });

  it.each([
    '',
    ' ',
    'alice',
    '@example.com',
    'alice@',
    'alice@example',
    'a@b@example.com',
    'alice smith@example.com',
    'alice@exa mple.com',
    'alice@example.com\r\nBcc: x@example.com',
    'alice\u0000@example.com',
    'alice\t@example.com',
    '"alice"@example.com',
    '.alice@example.com',
    'alice.@example.com',
    'al..ice@example.com',
    'alice@-example.com',
    'alice@example-.com',
    'alice@example..com',
    'alice@[127.0.0.1]',
    'alice@127.0.0.1',
    'аlice@example.com',
    'alice@bücher.example',
    '<alice@example.com>',
    'alice@example.com,bob@example.com',
  ])('refuses %j', (bad) => {
    expect(normaliseEmail(bad)).toBeNull();
    expect(() => parseEmail(bad)).toThrow(/Enter a valid email address/);
  });

  it('refuses what is not a string, and the error never echoes the input', () => {
    for (const bad of [undefined, null, 42, ['a@example.com'], { email: 'a@example.com' }]) expect(normaliseEmail(bad)).toBeNull();
    try {
      parseEmail('secret-looking@value');
      throw new Error('expected a throw');
    } catch (err) {
      expect((err as Error).message).not.toContain('secret-looking');
    }
  });
});
