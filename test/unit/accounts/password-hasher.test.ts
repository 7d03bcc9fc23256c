import { describe, expect, it } from '@jest/globals';
import { AppError } from '../../../src/http/app-error.js';
import { hashPassword, verifyPassword } from '../../../src/accounts/password-hasher.js';

describe('password hasher', () => {
  it('hashes with argon2id m=19456 t=2 p=1 and verifies', async () => {
    const h = await hashPassword('correct horse battery staple');
    expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(h, 'correct horse battery staple')).toBe(true);
  });

  it('salts: the same password hashes differently each time', async () => {
    const [a, b] = await Promise.all([hashPassword('tulip ledger 123'), hashPassword('tulip ledger 123')]);
    expect(a).not.toBe(b);
  });

  it('refuses a wrong password', async () => {
    const h = await hashPassword('tulip ledger 123');
    expect(await verifyPassword(h, 'tulip ledger 124')).toBe(false);
    expect(await verifyPassword(h, '')).toBe(false);
    expect(await verifyPassword(h, 'TULIP LEDGER 123')).toBe(false);
  });

  it('returns false for an unknown user (null hash) after doing the same work', async () => {
    expect(await verifyPassword(null, 'password123')).toBe(false);
    expect(await verifyPassword(null, '')).toBe(false);
    // Cost: a null hash should take about one real verification, not nothing. Measured in
    // process CPU time (argon2 runs on libuv threads), which a busy machine does not inflate.
    const h = await hashPassword('tulip ledger 123');
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const time = async (fn: () => Promise<unknown>) => {
      const t = cpuMs();
      for (let i = 0; i < 5; i++) await fn();
      return (cpuMs() - t) / 5;
    };
    const real = await time(() => verifyPassword(h, 'wrong-password'));
    const unknown = await time(() => verifyPassword(null, 'wrong-password'));
    expect(unknown).toBeGreaterThan(real * 0.4);
    expect(unknown).toBeLessThan(real * 2.5);
  });

  it('refuses overlong passwords without hashing', async () => {
    const h = await hashPassword('tulip ledger 123');
    const huge = 'a'.repeat(1025);
    const cpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const t = cpu();
    expect(await verifyPassword(h, huge)).toBe(false);
    expect(await verifyPassword(null, huge)).toBe(false);
    expect(await verifyPassword(h, 'a'.repeat(10_000_000))).toBe(false);
    // Three argon2 verifications would cost 40+ ms of CPU; refusing costs next to nothing.
    expect(cpu() - t).toBeLessThan(10);
  });

  it('hashes only passwords that pass the password rules (12 to 256 characters, not common)', async () => {
    const max = 'b'.repeat(256);
    expect(await verifyPassword(await hashPassword(max), max)).toBe(true);
    await expect(hashPassword('b'.repeat(257))).rejects.toMatchObject({ code: 'validation_failed', message: expect.stringContaining('at most 256') });
    const err = await hashPassword('short pass1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'validation_failed', status: 422, message: expect.stringContaining('at least 12') });
    await expect(hashPassword('')).rejects.toBeInstanceOf(AppError);
    await expect(hashPassword('qwerty123456')).rejects.toMatchObject({ code: 'validation_failed', message: expect.stringContaining('commonly used') });
    expect(await hashPassword('123456789012x')).toMatch(/^\$argon2id\$/);
  });

  it('hashes the NFKC form, so the same password typed composed, decomposed or full-width verifies', async () => {
    const composed = 'caf\u00e9 au lait 42';
    const h = await hashPassword(composed.normalize('NFD'));
    expect(await verifyPassword(h, composed)).toBe(true);
    expect(await verifyPassword(h, composed.normalize('NFD'))).toBe(true);
    const wide = await hashPassword('\uff34\uff55\uff4c\uff49\uff50 ledger 77');
    expect(await verifyPassword(wide, 'Tulip ledger 77')).toBe(true);
  });

  it('handles unicode passwords', async () => {
    const pw = 'пароль-🔐-パスワード';
    const h = await hashPassword(pw);
    expect(await verifyPassword(h, pw)).toBe(true);
    expect(await verifyPassword(h, pw.normalize('NFD') + 'x')).toBe(false);
  });

  it('treats a corrupt stored hash as a server fault, not a wrong password', async () => {
    await expect(verifyPassword('not-a-hash', 'password123')).rejects.toThrow();
  });
});
