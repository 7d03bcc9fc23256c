import { AppError } from '../http/app-error.js';
import { factorOf } from '../mfa/factors/index.js';
import type { Account } from '../storage/repositories/accounts-repository.js';
import { isUuid } from '../storage/repositories/accounts-repository.js';
import type { AuditEvent } from '../storage/repositories/audit-repository.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { User } from '../storage/repositories/users-repository.js';
import type { Message } from '../i18n/translator.js';

export const SEARCH_PAGE_SIZE = 50;
export const SEARCH_MAX_LENGTH = 254;
const RECENT_EVENTS = 20;
const NO_SUCH_USER: Message = { key: 'support.noSuchUser' };

export interface SearchResult {
  users: (User & { accountName: string })[];
  page: number;
  hasMore: boolean;
}

export interface SupportUserView {
  user: User;
  account: Account;
  devices: { kindLabel: string; name: string; verified: boolean; isDefault: boolean }[];
  recoveryCodesLeft: number;
  lastSignIn: Date | null;
  events: AuditEvent[];
}

/** What support looks users up by and sees of them: across every account, read only. */
export class SupportDirectory {
  constructor(private readonly data: DataStore) {}

  /** Users whose username or email starts with `query` (case-insensitive, taken literally). */
  async search(query: string, page: number): Promise<SearchResult> {
    const prefix = query.trim().toLowerCase();
    // No username or address holds a control character (and Postgres refuses NUL in text): nothing matches.
    // eslint-disable-next-line no-control-regex -- control characters are what is looked for
    if (!prefix || /[\u0000-\u001f\u007f]/.test(prefix)) return { users: [], page, hasMore: false };
    if (prefix.length > SEARCH_MAX_LENGTH) throw new AppError('validation_failed', { key: 'support.searchTooLong', values: { max: SEARCH_MAX_LENGTH } });
    // One more than a page tells whether there is a next one.
    const rows = await this.data.users.searchByPrefix(prefix, SEARCH_PAGE_SIZE + 1, (page - 1) * SEARCH_PAGE_SIZE);
    return { users: rows.slice(0, SEARCH_PAGE_SIZE), page, hasMore: rows.length > SEARCH_PAGE_SIZE };
  }

  async userById(userId: string): Promise<User> {
    const user = isUuid(userId) ? await this.data.users.findById(userId) : undefined;
    if (!user) throw new AppError('not_found', NO_SUCH_USER);
    return user;
  }

  async user(userId: string): Promise<SupportUserView> {
    const user = await this.userById(userId);
    const account = await this.data.accounts.findById(user.accountId);
    if (!account) throw new AppError('not_found', NO_SUCH_USER);
    const [devices, recoveryCodesLeft, lastSignIn, events] = await Promise.all([
      this.data.devices.listForUser(user.id),
      this.data.recoveryCodes.countUnused(user.id),
      this.data.audit.latestOf(user.id, 'login.succeeded'),
      this.data.audit.list({ subjectUserId: user.id, limit: RECENT_EVENTS }),
    ]);
    return {
      user,
      account,
      devices: devices.map((d) => {
        const factor = factorOf(d.kind);
        return { kindLabel: factor.label, name: factor.deviceName(d), verified: d.verifiedAt !== null, isDefault: d.isDefault };
      }),
      recoveryCodesLeft,
      lastSignIn: lastSignIn ?? null,
      events,
    };
  }
}
