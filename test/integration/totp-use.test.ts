import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import crypto from 'node:crypto';
import { TotpFactor } from '../../src/mfa/factors/totp/totp-factor.js';
import { MFA_FAILURE_LIMIT } from '../../src/mfa/lockout.js';
import type { DataServices } from '../../src/services.js';
import type { Device } from '../../src/storage/repositories/devices-repository.js';
import type { User } from '../../src/storage/repositories/users-repository.js';
import { openTestDataServices } from '../helpers/data-services.js';
import { secretFromUri, totp } from '../helpers/rfc6238.js';

/**
 * A sign-in's TOTP code is used and the user's failure count cleared in one statement, unless
 * the user is locked by then: on a real Postgres, with the races a guesser would try.
 */

let close: () => Promise<void>;
let services: DataServices;
let factor: TotpFactor;
let accountId: string;

beforeAll(async () => {
  ({ services, close } = await openTestDataServices('totp'));
  factor = new TotpFactor(services.data.devices, services.box, 'Twofold', { perUser: 5, usersPerPhone: 3 });
  accountId = (await services.provisioning.createAccount(`TOTP use ${crypto.randomBytes(3).toString('hex')}`)).id;
});

afterAll(async () => {
  await close?.();
});

let counter = 0;
/** A user with a verified TOTP device, and the device's secret. */
async function enrolled(): Promise<{ user: User; device: Device; secret: string }> {
  const { user } = await services.provisioning.createUser({ account: accountId, username: `totp-${++counter}`, password: 'a long enough password' });
  const ctx = { flowId: crypto.randomUUID(), origin: { ip: '198.51.100.7', userAgent: 'jest' } };
  const pending = await factor.beginEnrolment(user, { nickname: 'Phone app' }, ctx);
  const view = await factor.describeEnrolment(user, pending, ctx);
  if (view.kind !== 'totp' || !view.secret) throw new Error('expected a TOTP enrolment view');
  const secret = secretFromUri(view.uri);
  // Enrolled with the previous step's code, so the current one is still unused.
  expect(await factor.confirmEnrolment(user, pending, totp(secret, Date.now() - 30_000))).toBe(true);
  await services.data.transaction((tx) => tx.devices.markVerified(user.id, pending.id, false));
  return { user, device: (await services.data.devices.findForUser(user.id, pending.id))!, secret };
}

const failures = async (user: User) => (await services.data.users.findById(user.id))!.failedMfaAttempts;
const fail = (user: User) => services.data.users.recordMfaFailure(user.id, MFA_FAILURE_LIMIT, new Date());

describe('a TOTP code used in a sign-in', () => {
  test('a right code clears the failure count in the same write; a replay of it clears nothing', async () => {
    const { user, device, secret } = await enrolled();
    for (let i = 0; i < 3; i++) await fail(user);
    const code = totp(secret);
    expect(await factor.verify(user, device, code)).toEqual({ unlocked: true });
    expect(await failures(user)).toBe(0);

    for (let i = 0; i < 2; i++) await fail(user);
    // The same code again (the device row as read before its use, as a parallel request has it).
    expect(await factor.verify(user, device, code)).toBe(false);
    expect(await failures(user)).toBe(2);
  });

  test('a right code of a user locked meanwhile is used up, and neither unlocks nor clears the count', async () => {
    const { user, device, secret } = await enrolled();
    for (let i = 0; i < MFA_FAILURE_LIMIT; i++) await fail(user);
    const code = totp(secret);
    expect(await factor.verify(user, device, code)).toEqual({ unlocked: false });
    const after = (await services.data.users.findById(user.id))!;
    expect(after.lockedAt).not.toBeNull();
    expect(after.failedMfaAttempts).toBe(MFA_FAILURE_LIMIT);
    // Used up: once support unlocks, the same code is still a replay.
    await services.data.users.unlock(user.id);
    expect(await factor.verify(user, device, code)).toBe(false);
  });

  test('ten parallel uses of one code: exactly one is accepted', async () => {
    const { user, device, secret } = await enrolled();
    const code = totp(secret);
    const results = await Promise.all(Array.from({ length: 10 }, () => factor.verify(user, device, code)));
    expect(results.filter((r) => r !== false)).toEqual([{ unlocked: true }]);
  });

  test('a right code racing with the wrong codes that lock: it counts only if it came before the lock', async () => {
    for (let round = 0; round < 5; round++) {
      const { user, device, secret } = await enrolled();
      for (let i = 0; i < MFA_FAILURE_LIMIT - 3; i++) await fail(user);
      const [verdict] = await Promise.all([factor.verify(user, device, totp(secret)), ...Array.from({ length: 6 }, () => fail(user))]);
      const after = (await services.data.users.findById(user.id))!;
      if (verdict === false) throw new Error('a right, unused code was refused');
      if (verdict === true) throw new Error('the TOTP factor is expected to clear the count itself');
      if (verdict.unlocked) {
        // Cleared before the lock: at most the six racing failures counted after it (a lock needs seven).
        expect(after.lockedAt).toBeNull();
        expect(after.failedMfaAttempts).toBeLessThanOrEqual(6);
      } else {
        expect(after.lockedAt).not.toBeNull();
        expect(after.failedMfaAttempts).toBe(MFA_FAILURE_LIMIT);
      }
    }
  });
});
