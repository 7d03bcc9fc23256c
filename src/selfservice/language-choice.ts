import { AppError } from '../http/app-error.js';
import { supportedTagOf } from '../i18n/negotiate-language.js';
import type { UsersRepository } from '../storage/repositories/users-repository.js';
import type { User } from '../storage/repositories/users-repository.js';

/** A user's choice of language on /account: stored for mails and SMS, returned for the page cookie. */
export class LanguageChoice {
  constructor(private readonly users: UsersRepository) {}

  async choose(user: User, input: unknown): Promise<string> {
    const tag = typeof input === 'string' ? supportedTagOf(input) : undefined;
    if (!tag) throw new AppError('validation_failed', { key: 'account.languageUnknown' });
    await this.users.setLocale(user.id, tag);
    return tag;
  }
}
