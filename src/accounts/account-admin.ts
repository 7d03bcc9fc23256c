import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import { AppError } from '../http/app-error.js';
import { factorOf } from '../mfa/factors/index.js';
import { originForAnother } from '../i18n/user-language.js';
import { signOutMark } from '../oidc/session-validity.js';
import type { Account } from '../storage/repositories/accounts-repository.js';
import type { DeviceKind } from '../storage/repositories/devices-repository.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { User } from '../storage/repositories/users-repository.js';
import { usernameKeyOf } from './username.js';
import type { SecurityNotices } from '../mail/security-notices.js';

export interface MfaPolicyChange {
  account: Account;
  /** The policy went from "not required" to "required": every session of the account ended. */
  sessionsEnded: boolean;
}

/** Why support reset a user's MFA and how they knew it was the user (console resets). */
export interface ResetJustification {
  reason: string;
  verification: 'email_code' | 'attested';
}

export interface MfaReset {
  user: User;
  devicesRemoved: number;
  /** What was removed, as its factor names it where secrets never go (a masked number, a nickname). */
  removed: { kind: DeviceKind; name: string }[];
}

/**
 * Operator and support actions on accounts and users: the MFA policy, unlocking and account
 * recovery. Shared by the `twofold` CLI (actor null), the admin API and the admin page (actor =
 * the caller); callers decide who may open what, this class does it, audits it and keeps the
 * rules all callers share.
 */
export class AccountAdmin {
  constructor(
    private readonly data: DataStore,
    private readonly audit: AuditLog,
    private readonly notices?: SecurityNotices,
  ) {}

  /** An account id or (case-insensitive) name. */
  async findAccount(ref: string): Promise<Account> {
    const account = await this.data.accounts.findByRef(ref.trim());
    if (!account) throw new AppError('not_found', { key: 'admin.noAccountNamed', values: { ref } });
    return account;
  }

  /** A user id or (case-insensitive) username. */
  async findUser(ref: string): Promise<User> {
    const trimmed = ref.trim();
    const key = usernameKeyOf(trimmed);
    const user = (await this.data.users.findById(trimmed)) ?? (key ? await this.data.users.findByUsernameKey(key) : undefined);
    if (!user) throw new AppError('not_found', { key: 'admin.noUserNamed', values: { ref } });
    return user;
  }

  /**
   * Sets "Require Multi-Factor" for the account. Turning it on signs out every current session
   * of the account's users (one UPDATE of the account's "sessions valid after" mark), so they
   * must sign in again and, lacking a device, enrol. Setting the value it already has changes
   * nothing but the policy's updated-at/by and ends no session.
   */
  async setMfaRequired(accountRef: string, required: boolean, actorUserId: string | null, origin?: RequestOrigin, override = false): Promise<MfaPolicyChange> {
    const before = await this.findAccount(accountRef);
    const enabling = required && !before.mfaRequired;
    const account = await this.data.accounts.setMfaRequired(before.id, required, actorUserId, enabling ? signOutMark() : null);
    if (!account) throw new AppError('not_found', { key: 'admin.noAccountNamed', values: { ref: accountRef } });
    await this.audit.record('policy.changed', {
      accountId: account.id,
      actorUserId,
      origin,
      details: { mfaRequired: required, previous: before.mfaRequired, ...(override ? { override: true } : {}) },
    });
    if (enabling) {
      await this.audit.record('sessions.revoked', { accountId: account.id, actorUserId, origin, details: { scope: 'account', reason: 'mfa_policy_enabled' } });
    }
    return { account, sessionsEnded: enabling };
  }

  /**
   * The policy change a signed-in administrator asks for (admin API and page): MFA is on by
   * default and turning it off takes a support ticket, so only support may disable it, as an
   * audited override, and never for their own account (no one turns their own organisation's MFA off alone).
   */
  async changeMfaPolicy(actor: User, accountRef: string, required: boolean, origin?: RequestOrigin): Promise<MfaPolicyChange> {
    if (required) return this.setMfaRequired(accountRef, true, actor.id, origin);
    if (!actor.isSupport) throw new AppError('support_required', { key: 'admin.onlySupportTurnsOff' });
    const account = await this.findAccount(accountRef);
    if (account.id === actor.accountId) throw new AppError('self_approval', { key: 'admin.notOwnAccount' });
    return this.setMfaRequired(account.id, false, actor.id, origin, true);
  }

  /** Unlocks the user and clears the MFA failure counter. */
  async unlock(userRef: string, actorUserId: string | null = null, origin?: RequestOrigin): Promise<{ user: User; wasLocked: boolean }> {
    const user = await this.findUser(userRef);
    if (!(await this.data.users.unlock(user.id))) throw new AppError('not_found', { key: 'admin.noUserNamed', values: { ref: userRef } });
    await this.audit.record('user.unlocked', {
      accountId: user.accountId,
      actorUserId,
      subjectUserId: user.id,
      origin,
      details: { wasLocked: user.lockedAt !== null },
    });
    return { user: { ...user, failedMfaAttempts: 0, lockedAt: null, lockedReason: null }, wasLocked: user.lockedAt !== null };
  }

  /**
   * Account recovery: removes every MFA device and recovery code of the user, clears the failure counter and
   * ends every session of the user, all in one transaction. The user then signs in with the
   * password alone and, if the account requires MFA, must enrol again.
   */
  async resetMfa(userRef: string, actorUserId: string | null = null, origin?: RequestOrigin, why?: ResetJustification): Promise<MfaReset> {
    const found = await this.findUser(userRef);
    const { devicesRemoved, removed } = await this.data.transaction(async (tx) => {
      // The user's row first (as every change of one user's MFA data does): no deadlock with a concurrent one.
      if (!(await tx.users.resetMfaState(found.id, signOutMark()))) throw new AppError('not_found', { key: 'admin.noUserNamed', values: { ref: userRef } });
      const devices = await tx.devices.listForUser(found.id);
      const count = await tx.devices.deleteAllForUser(found.id);
      await tx.recoveryCodes.deleteAll(found.id);
      return { devicesRemoved: count, removed: devices.map((d) => ({ kind: d.kind, name: factorOf(d.kind).noticeName(d) })) };
    });
    const audited = { accountId: found.accountId, actorUserId, subjectUserId: found.id, origin };
    await this.audit.record('mfa.reset', { ...audited, details: { devicesRemoved, ...why } });
    await this.audit.record('sessions.revoked', { ...audited, details: { scope: 'user', reason: 'mfa_reset' } });
    void this.notices?.mfaReset(found, actorUserId === found.id ? origin : originForAnother(origin));
    return { user: { ...found, failedMfaAttempts: 0 }, devicesRemoved, removed };
  }
}

export interface UserMfaStatus {
  id: string;
  username: string;
  role: string;
  email: string | null;
  emailVerified: boolean;
  locked: boolean;
  mfa: {
    enabled: boolean;
    defaultMethod: DeviceKind | null;
    devices: { id: string; kind: DeviceKind; nickname: string | null; phoneLast4: string | null; verified: boolean; isDefault: boolean }[];
    recoveryCodesLeft: number;
  };
}

/** The account's users with their MFA status and lock state, as the admin API and page show them. */
export async function listUsersWithMfa(data: DataStore, accountId: string): Promise<UserMfaStatus[]> {
  const users = await data.users.listByAccount(accountId);
  return Promise.all(
    users.map(async (u) => {
      const [devices, recoveryCodesLeft] = await Promise.all([data.devices.listForUser(u.id), data.recoveryCodes.countUnused(u.id)]);
      return {
        id: u.id,
        username: u.username,
        role: u.role,
        email: u.email,
        emailVerified: u.emailVerified,
        locked: u.lockedAt !== null,
        mfa: {
          enabled: devices.some((d) => d.verifiedAt),
          defaultMethod: devices.find((d) => d.isDefault)?.kind ?? null,
          devices: devices.map((d) => ({
            id: d.id,
            kind: d.kind,
            // The factor's own fields, in the API's key order (nickname, phoneLast4).
            ...factorOf(d.kind).adminView(d),
            verified: d.verifiedAt !== null,
            isDefault: d.isDefault,
          })),
          recoveryCodesLeft,
        },
      };
    }),
  );
}
