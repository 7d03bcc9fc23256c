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
    const [a, b] = await Promise.all([hashPassword('password123'), hashPassword('password123')]);
    expect(a).not.toBe(b);
  });

  it('refuses a wrong password', async () => {
    const h = await hashPassword('password123');
    expect(await verifyPassword(h, 'password124')).toBe(false);
    expect(await verifyPassword(h, '')).toBe(false);
    expect(await verifyPassword(h, 'PASSWORD123')).toBe(false);
  });

  it('returns false for an unknown user (null hash) after doing the same work', async () => {
    expect(await verifyPassword(null, 'password123')).toBe(false);
    expect(await verifyPassword(null, '')).toBe(false);
    // Cost: a null hash should take about one real verification, not nothing. Measured in
    // process CPU time (argon2 runs on libuv threads), which a busy machine does not inflate.
    const h = await hashPassword('password123');
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
    const h = await hashPassword('password123');
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

  it('accepts 1024 characters and rejects 1025 when hashing', async () => {
    const max = 'b'.repeat(1024);
    expect(await verifyPassword(await hashPassword(max), max)).toBe(true);
    await expect(hashPassword('b'.repeat(1025))).rejects.toMatchObject({ code: 'validation_failed' });
  });

  it('rejects passwords shorter than 8 characters with validation_failed', async () => {
    const err = await hashPassword('short12').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'validation_failed', status: 422 });
    await expect(hashPassword('')).rejects.toBeInstanceOf(AppError);
    expect(await hashPassword('12345678')).toMatch(/^\$argon2id\$/);
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
