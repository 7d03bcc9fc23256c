import { afterAll, beforeAll, expect, test } from '@jest/globals';
import crypto from 'node:crypto';
import { hashPassword } from '../../src/accounts/password-hasher.js';
import { LOGIN_FAILURES_PER_IP, LOGIN_FAILURES_PER_USERNAME, PasswordLogin } from '../../src/accounts/password-login.js';
import { sha256Hex } from '../../src/crypto/random-codes.js';
import { Throttle } from '../../src/http/throttle.js';
import type { DataServices } from '../../src/services.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { openTestDataServices } from '../helpers/data-services.js';

/**
 * A password sign-in reads the user while its attempt is being counted: on a real Postgres, a
 * password changed while the attempt waited for a place is checked as it is now, not as read.
 */

let close: () => Promise<void>;
let services: DataServices;

beforeAll(async () => {
  ({ services, close } = await openTestDataServices('pwd'));
});

afterAll(async () => {
  await close?.();
});

const origin = { ip: '198.51.100.9', userAgent: 'jest' };

test('an attempt that waited for a place checks the password as it is once counted', async () => {
  const account = await services.provisioning.createAccount(`Pwd ${crypto.randomBytes(3).toString('hex')}`);
  const { user } = await services.provisioning.createUser({ account: account.id, username: 'waiter', password: 'the old long password' });
  const throttle = new Throttle(new MemoryStore());
  const login = new PasswordLogin(services.data.users, throttle, services.audit);
  // Every place of the username is held by attempts still being checked.
  const userKey = sha256Hex('waiter');
  for (let i = 0; i < LOGIN_FAILURES_PER_USERNAME.limit; i++) await throttle.acquireAll([[LOGIN_FAILURES_PER_USERNAME, userKey]], 'full', 0);

  const attempt = login.verify('waiter', 'the old long password', origin);
  attempt.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 60));
  // Meanwhile the password changes, then one of the held attempts gives its place back.
  await services.data.users.setPassword(user.id, await hashPassword('the new long password'), new Date());
  await throttle.refund(LOGIN_FAILURES_PER_USERNAME, userKey);
  await expect(attempt).rejects.toMatchObject({ code: 'invalid_credentials' });

  // An attempt that found a place at once uses its early read: the new password works.
  await throttle.reset(LOGIN_FAILURES_PER_USERNAME, userKey);
  await throttle.reset(LOGIN_FAILURES_PER_IP, origin.ip);
  const { auth } = await login.verify('waiter', 'the new long password', origin);
  expect(auth.user.id).toBe(user.id);
});
