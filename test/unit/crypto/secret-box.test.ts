import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { SecretBox, SecretBoxError } from '../../../src/crypto/secret-box.js';

const key = randomBytes(32);

/** Flip one bit of the decoded part at `index` and put the sealed value back together. */
function flipBit(sealed: string, index: 1 | 2 | 3): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index], 'base64url');
  bytes[0] ^= 0x01;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('SecretBox', () => {
  it('refuses keys that are not 32 bytes', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32-byte key/);
    expect(() => new SecretBox(randomBytes(33))).toThrow(/32-byte key/);
    expect(() => new SecretBox(Buffer.alloc(0))).toThrow(/32-byte key/);
    expect(() => new SecretBox('x'.repeat(32) as unknown as Buffer)).toThrow(/32-byte key/);
  });

  it('round-trips strings and buffers, with and without aad', () => {
    const box = new SecretBox(key);
    expect(box.open(box.seal('JBSWY3DPEHPK3PXP')).toString('utf8')).toBe('JBSWY3DPEHPK3PXP');
    const bin = randomBytes(100);
    expect(box.open(box.seal(bin, 'device:42'), 'device:42').equals(bin)).toBe(true);
    expect(box.open(box.seal('')).length).toBe(0);
    expect(box.open(box.seal('ünïcödé ✓')).toString('utf8')).toBe('ünïcödé ✓');
  });

  it('has the v1.<iv>.<ciphertext>.<tag> format with a fresh iv each time', () => {
    const box = new SecretBox(key);
    const a = box.seal('same');
    const b = box.seal('same');
    expect(a).not.toBe(b);
    const [v, iv, ct, tag] = a.split('.');
    expect(v).toBe('v1');
    expect(Buffer.from(iv, 'base64url').length).toBe(12);
    expect(Buffer.from(ct, 'base64url').length).toBe(4);
    expect(Buffer.from(tag, 'base64url').length).toBe(16);
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/);
  });

  it('does not keep a reference to the caller key buffer', () => {
    const k = Buffer.from(key);
    const box = new SecretBox(k);
    const sealed = box.seal('x');
    k.fill(0);
    expect(box.open(sealed).toString()).toBe('x');
  });

  it('detects tampering with iv, ciphertext or tag', () => {
    const box = new SecretBox(key);
    const sealed = box.seal('top secret', 'row-1');
    for (const i of [1, 2, 3] as const) {
      expect(() => box.open(flipBit(sealed, i), 'row-1')).toThrow(SecretBoxError);
      expect(() => box.open(flipBit(sealed, i), 'row-1')).toThrow(/tampered, wrong key or wrong aad/);
    }
  });

  it('refuses the wrong aad, a missing aad and an unexpected aad', () => {
    const box = new SecretBox(key);
    const bound = box.seal('secret', 'device-1');
    expect(() => box.open(bound, 'device-2')).toThrow(SecretBoxError);
    expect(() => box.open(bound)).toThrow(SecretBoxError);
    expect(() => box.open(box.seal('secret'), 'device-1')).toThrow(SecretBoxError);
  });

  it('refuses the wrong key', () => {
    const sealed = new SecretBox(key).seal('secret');
    expect(() => new SecretBox(randomBytes(32)).open(sealed)).toThrow(/tampered, wrong key or wrong aad/);
  });

  it('refuses garbled input with a clear error, never a crash', () => {
    const box = new SecretBox(key);
    const good = box.seal('secret');
    const [, iv, ct, tag] = good.split('.');
    const garbled = [
      '',
      'v1',
      'v1...',
      `v2.${iv}.${ct}.${tag}`,
      `${iv}.${ct}.${tag}`,
      `v1.${iv}.${ct}.${tag}.extra`,
      `v1.${iv}!.${ct}.${tag}`,
      `v1.${iv}.${ct}.${tag.slice(0, 10)}`, // truncated tag
      `v1.${iv.slice(0, 8)}.${ct}.${tag}`, // short iv
      `v1.${iv}=.${ct}.${tag}`, // padding is not base64url
      null as unknown as string,
    ];
    for (const bad of garbled) {
      expect(() => box.open(bad)).toThrow(SecretBoxError);
    }
  });
});
