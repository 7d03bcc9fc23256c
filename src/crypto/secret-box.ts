import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Raised when a sealed value cannot be opened; deliberately says nothing about which check failed. */
export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/** Strict base64url: Buffer.from silently skips bad characters, so insist on the canonical form. */
function decodePart(part: string): Buffer | null {
  if (!BASE64URL.test(part)) return null;
  const bytes = Buffer.from(part, 'base64url');
  return bytes.toString('base64url') === part ? bytes : null;
}

/**
 * AES-256-GCM for secrets at rest (TOTP secrets, signing keys).
 * Sealed form: `v1.<iv>.<ciphertext>.<tag>`, each part base64url. The optional `aad` binds a
 * ciphertext to its context (e.g. the device id) so it cannot be copied onto another row.
 */
export class SecretBox {
  readonly #key: KeyObject;

  constructor(key: Buffer) {
    if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
      throw new Error(`SecretBox needs a ${KEY_BYTES}-byte key, got ${Buffer.isBuffer(key) ? `${key.length} bytes` : typeof key}`);
    }
    // A KeyObject holds its own copy, so later changes to the caller's buffer cannot alter it.
    this.#key = createSecretKey(Buffer.from(key));
  }

  seal(plaintext: string | Buffer, aad?: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
    const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
  }

  open(sealed: string, aad?: string): Buffer {
    if (typeof sealed !== 'string') throw new SecretBoxError('Sealed value must be a string');
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) {
      throw new SecretBoxError(`Sealed value is not in the ${VERSION}.<iv>.<ciphertext>.<tag> format`);
    }
    const iv = decodePart(parts[1]);
    const ciphertext = decodePart(parts[2]);
    const tag = decodePart(parts[3]);
    if (!iv || !ciphertext || !tag || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new SecretBoxError('Sealed value is garbled (bad base64url or wrong iv/tag length)');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new SecretBoxError('Sealed value failed authentication (tampered, wrong key or wrong aad)');
    }
  }
}
