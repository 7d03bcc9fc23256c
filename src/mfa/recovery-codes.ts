import crypto from 'node:crypto';
import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import { AppError } from '../http/app-error.js';
import type { DataStore, Repositories } from '../storage/repositories/index.js';
import type { User } from '../storage/repositories/users-repository.js';
import type { SecurityNotices } from '../mail/security-notices.js';

export const MAX_RECOVERY_CODES = 10;
/** Crockford-style alphabet without look-alikes: 32 symbols, 5 bits each. */
const ALPHABET = 'ABCDEFGHJKMNPQRSTVWXYZ0123456789';
const CODE_LENGTH = 16; // 80 bits

/** Parses the "Quantity" field: a whole number from 1 to 10. */
export function parseQuantity(input: unknown): number {
  const text = typeof input === 'string' ? input.trim() : '';
  if (!/^\d{1,2}$/.test(text) || Number(text) < 1 || Number(text) > MAX_RECOVERY_CODES) {
    throw new AppError('validation_failed', { key: 'codes.quantityRange', values: { max: MAX_RECOVERY_CODES } });
  }
  return Number(text);
}

/** Upper-case, without spaces or dashes; undefined when it cannot be a code. */
export function normaliseRecoveryCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > 64) return undefined;
  const code = input.toUpperCase().replace(/[\s-]/g, '');
  return code.length === CODE_LENGTH && [...code].every((c) => ALPHABET.includes(c)) ? code : undefined;
}

/** Shown in groups of four for readability: ABCD-EFGH-JKMN-PQRS. */
export function formatRecoveryCode(code: string): string {
  return code.match(/.{4}/g)!.join('-');
}

/**
 * Recovery ("bypass") codes: generated in sets of 1-10, shown once, stored as keyed hashes,
 * any unused code works once, in any order. Generating again replaces the whole set.
 */
export class RecoveryCodes {
  private readonly key: Buffer;

  constructor(
    private readonly data: DataStore,
    private readonly audit: AuditLog,
    secret: Buffer,
    private readonly notices?: SecurityNotices,
  ) {
    this.key = crypto.createHmac('sha256', secret).update('twofold recovery code hashing').digest();
  }

  private hash(userId: string, code: string): string {
    return crypto.createHmac('sha256', this.key).update(`${userId}:${code}`).digest('hex');
  }

  /** A new set replaces the old one; `alsoFirst` runs at the start of the same transaction (the caller's sign-out mark). */
  async generate(user: User, quantity: number, origin?: RequestOrigin, alsoFirst?: (tx: Repositories) => Promise<void>): Promise<string[]> {
    const codes = new Set<string>();
    while (codes.size < quantity) {
      codes.add(Array.from({ length: CODE_LENGTH }, () => ALPHABET[crypto.randomInt(ALPHABET.length)]).join(''));
    }
    const list = [...codes];
    await this.data.transaction(async (tx) => {
      if (alsoFirst) await alsoFirst(tx);
      await tx.recoveryCodes.replace(
        user.id,
        list.map((c) => this.hash(user.id, c)),
      );
    });
    await this.audit.record('recovery_codes.generated', { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin, details: { quantity } });
    void this.notices?.recoveryCodesGenerated(user, quantity, origin);
    return list.map(formatRecoveryCode);
  }

  /** True when an unused code matched and is now used. */
  async use(user: User, input: unknown, origin: RequestOrigin): Promise<boolean> {
    const code = normaliseRecoveryCode(input);
    if (!code) return false;
    const ok = await this.data.recoveryCodes.consume(user.id, this.hash(user.id, code));
    if (ok) {
      const left = await this.left(user.id);
      await this.audit.record('recovery_codes.used', { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin, details: { left } });
      void this.notices?.recoveryCodeUsed(user, left, origin);
    }
    return ok;
  }

  left(userId: string): Promise<number> {
    return this.data.recoveryCodes.countUnused(userId);
  }
}
