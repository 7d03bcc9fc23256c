import { Algorithm, hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { AppError } from '../http/app-error.js';
import { randomToken } from '../crypto/random-codes.js';

/** OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (about 13 ms per hash on our machines). */
const ARGON2_OPTIONS = {
  algorithm: Algorithm.Argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;

export const PASSWORD_MIN_LENGTH = 8;
/** Longer inputs are refused before any hashing, so huge submitted passwords cannot tie up the server. */
export const PASSWORD_MAX_LENGTH = 1024;

let dummyHash: Promise<string> | undefined;

/** A hash of a random password, made once, so that unknown users cost one argon2 verify too. */
function getDummyHash(): Promise<string> {
  dummyHash ??= argon2Hash(randomToken(24), ARGON2_OPTIONS).catch((err: unknown) => {
    dummyHash = undefined;
    throw err;
  });
  return dummyHash;
}

export async function hashPassword(pw: string): Promise<string> {
  if (typeof pw !== 'string' || pw.length > PASSWORD_MAX_LENGTH) {
    throw new AppError('validation_failed', `Password must be at most ${PASSWORD_MAX_LENGTH} characters.`);
  }
  // Counted in code points, so a password of 8 emoji is as long as it looks.
  if ([...pw].length < PASSWORD_MIN_LENGTH) {
    throw new AppError('validation_failed', `Password must be at least ${PASSWORD_MIN_LENGTH} characters.`);
  }
  return argon2Hash(pw, ARGON2_OPTIONS);
}

/**
 * True only when `pw` matches `hash`. A null hash (unknown user) is checked against a dummy
 * hash so that the answer takes about as long as for a real user, then returns false.
 * A stored hash that argon2 cannot parse is a server fault and throws rather than reading as
 * "wrong password".
 */
export async function verifyPassword(hash: string | null, pw: string): Promise<boolean> {
  if (typeof pw !== 'string' || pw.length > PASSWORD_MAX_LENGTH) return false;
  if (hash === null) {
    await argon2Verify(await getDummyHash(), pw);
    return false;
  }
  return argon2Verify(hash, pw);
}
