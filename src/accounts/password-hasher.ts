import { Algorithm, hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { randomToken } from '../crypto/random-codes.js';
import { acceptNewPassword, normalisePassword } from './password-rules.js';

/** OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (about 13 ms per hash on our machines). */
const ARGON2_OPTIONS = {
  algorithm: Algorithm.Argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;

/** Longer submitted inputs are refused before any hashing, so huge passwords cannot tie up the server. */
export const VERIFY_MAX_LENGTH = 1024;

let dummyHash: Promise<string> | undefined;

/** A hash of a random password, made once, so that unknown users cost one argon2 verify too. */
function getDummyHash(): Promise<string> {
  dummyHash ??= argon2Hash(randomToken(24), ARGON2_OPTIONS).catch((err: unknown) => {
    dummyHash = undefined;
    throw err;
  });
  return dummyHash;
}

/** A new password: refused (validation_failed, naming the rule) unless it passes the password rules. */
export async function hashPassword(pw: string): Promise<string> {
  return argon2Hash(acceptNewPassword(pw), ARGON2_OPTIONS);
}

/**
 * True only when `pw` matches `hash`. A null hash (unknown user) is checked against a dummy
 * hash so that the answer takes about as long as for a real user, then returns false.
 * A stored hash that argon2 cannot parse is a server fault and throws rather than reading as
 * "wrong password".
 * Passwords are hashed NFKC-normalised; a hash made before that (of the text as typed) still
 * verifies: only input that normalisation changes costs a second verification.
 */
export async function verifyPassword(hash: string | null, pw: string): Promise<boolean> {
  if (typeof pw !== 'string' || pw.length > VERIFY_MAX_LENGTH) return false;
  const normalised = normalisePassword(pw);
  if (hash === null) {
    await argon2Verify(await getDummyHash(), normalised);
    return false;
  }
  if (await argon2Verify(hash, normalised)) return true;
  return normalised !== pw && argon2Verify(hash, pw);
}
