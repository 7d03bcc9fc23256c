import type { User } from '../storage/repositories/users-repository.js';

/** Who may hold the admin API scope at all: account admins and support staff. */
export function mayAdminister(user: Pick<User, 'role' | 'isSupport'> | undefined): boolean {
  return Boolean(user && (user.role === 'admin' || user.isSupport));
}

/** An account admin acts on their own account only; support on any account. */
export function mayManageAccount(user: Pick<User, 'role' | 'isSupport' | 'accountId'>, accountId: string): boolean {
  return user.isSupport || (user.role === 'admin' && user.accountId === accountId);
}
