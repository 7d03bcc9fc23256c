import crypto from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.js';
import { AppError } from '../http/app-error.js';
import type { Account } from '../storage/repositories/accounts-repository.js';
import type { ClientMetadata } from '../storage/repositories/clients-repository.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { Role, User } from '../storage/repositories/users-repository.js';
import { hashPassword } from './password-hasher.js';
import { newUsername, usernameKeyOf } from './username.js';
import { parseEmail } from './email-address.js';
import type { SecurityNotices } from '../mail/security-notices.js';

const NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._'&-]{0,199}$/u;
const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** What Postgres jsonb cannot hold (U+0000, unpaired surrogates), and other control characters. */
const UNSTORABLE = /\p{Cc}|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/u;

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';

/** A unique violation of the email index names the address; any other is the caller's message. */
function conflictOf(err: unknown, otherwise: string): AppError {
  if ((err as { constraint?: string }).constraint === 'users_email') return new AppError('conflict', 'That email address is already used by another user.');
  return new AppError('conflict', otherwise);
}

/** A readable generated password: 20 characters from an unambiguous alphabet (~110 bits). */
export function generatePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789';
  return Array.from({ length: 20 }, () => alphabet[crypto.randomInt(alphabet.length)]).join('');
}

/** The operator's provisioning: accounts, users and clients for a fresh install (CLI, demo). */
export class Provisioning {
  constructor(
    private readonly data: DataStore,
    private readonly audit: AuditLog,
    private readonly notices?: SecurityNotices,
  ) {}

  async createAccount(nameInput: string): Promise<Account> {
    const name = nameInput.trim();
    if (!NAME.test(name)) throw new AppError('validation_failed', "Account name must be 1-200 letters, digits, spaces or ._'&-");
    try {
      const account = await this.data.accounts.create(name);
      await this.audit.record('account.created', { accountId: account.id, details: { name } });
      return account;
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('conflict', `An account named "${name}" already exists.`);
      throw err;
    }
  }

  async findAccount(ref: string): Promise<Account> {
    const account = await this.data.accounts.findByRef(ref.trim());
    if (!account) throw new AppError('not_found', { key: 'admin.noAccountNamed', values: { ref } });
    return account;
  }

  /** An email given by the operator is taken as verified: the operator vouches for it. */
  async createUser(input: {
    account: string;
    username: string;
    role?: string;
    support?: boolean;
    password?: string;
    email?: string;
  }): Promise<{ user: User; generatedPassword?: string }> {
    const account = await this.findAccount(input.account);
    const { username, key: usernameKey } = newUsername(input.username);
    const email = input.email === undefined ? null : parseEmail(input.email);
    const role = (input.role ?? 'user') as Role;
    if (role !== 'user' && role !== 'admin') throw new AppError('validation_failed', 'Role must be "user" or "admin".');
    const generatedPassword = input.password === undefined ? generatePassword() : undefined;
    const passwordHash = await hashPassword(input.password ?? generatedPassword!);
    try {
      const user = await this.data.users.create({
        accountId: account.id,
        username,
        usernameKey,
        role,
        isSupport: Boolean(input.support),
        passwordHash,
        email,
        emailVerified: email !== null,
      });
      await this.audit.record('user.created', { accountId: account.id, subjectUserId: user.id, details: { username, role, support: user.isSupport, email: email !== null } });
      return { user, generatedPassword };
    } catch (err) {
      if (isUniqueViolation(err)) throw conflictOf(err, `The username "${username}" is taken.`);
      throw err;
    }
  }

  /**
   * The operator sets a user's address (taken as verified). When it replaces a verified
   * address, the old one is told.
   */
  async setEmail(userRef: string, emailInput: string): Promise<{ user: User; previousEmail: string | null }> {
    const email = parseEmail(emailInput);
    const trimmed = userRef.trim();
    const key = usernameKeyOf(trimmed);
    const found = (await this.data.users.findById(trimmed)) ?? (key ? await this.data.users.findByUsernameKey(key) : undefined);
    if (!found) throw new AppError('not_found', { key: 'admin.noUserNamed', values: { ref: userRef } });
    let changed;
    try {
      changed = await this.data.users.setEmail(found.id, email, true);
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('conflict', 'That email address is already used by another user.');
      throw err;
    }
    if (!changed) throw new AppError('not_found', { key: 'admin.noUserNamed', values: { ref: userRef } });
    const { before, after } = changed;
    await this.audit.record('user.email_changed', {
      accountId: after.accountId,
      subjectUserId: after.id,
      details: { by: 'operator', hadEmail: before.email !== null, verified: true },
    });
    if (before.email !== after.email) void this.notices?.emailChanged(before);
    return { user: after, previousEmail: before.email };
  }

  async createClient(input: {
    clientId: string;
    redirectUris: string[];
    postLogoutRedirectUris?: string[];
    secret?: string;
    public?: boolean;
    firstParty?: boolean;
  }): Promise<ClientMetadata> {
    if (!CLIENT_ID.test(input.clientId)) throw new AppError('validation_failed', 'Client id must be 1-128 characters: letters, digits and ._:-');
    if (input.redirectUris.length === 0) throw new AppError('validation_failed', 'At least one --redirect-uri is required.');
    for (const uri of [...input.redirectUris, ...(input.postLogoutRedirectUris ?? [])]) validateRedirectUri(uri);
    if (input.public && input.secret) throw new AppError('validation_failed', 'A public client has no secret: use --public or --secret, not both.');
    if (input.secret !== undefined && input.secret.length < 32) throw new AppError('validation_failed', 'A client secret must be at least 32 characters.');
    if (input.secret !== undefined && UNSTORABLE.test(input.secret))
      throw new AppError('validation_failed', 'A client secret must not contain control characters or unpaired surrogates.');
    const secret = input.public ? undefined : (input.secret ?? crypto.randomBytes(32).toString('base64url'));
    const metadata: ClientMetadata = {
      client_id: input.clientId,
      redirect_uris: input.redirectUris,
      post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: input.public ? 'none' : 'client_secret_basic',
      first_party: Boolean(input.firstParty),
      ...(secret ? { client_secret: secret } : {}),
    };
    try {
      await this.data.clients.create(metadata);
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('conflict', `A client "${input.clientId}" already exists.`);
      throw err;
    }
    await this.audit.record('client.created', { details: { clientId: input.clientId, public: Boolean(input.public), firstParty: Boolean(input.firstParty) } });
    return metadata;
  }
}

function validateRedirectUri(uri: string): void {
  // A URI is visible ASCII (RFC 3986): anything else is percent-encoded, never raw.
  if (!/^[\x21-\x7e]+$/.test(uri)) throw new AppError('validation_failed', 'Not a valid URI: use visible ASCII characters only (percent-encode the rest).');
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new AppError('validation_failed', `Not a valid URI: ${uri.slice(0, 200)}`);
  }
  if (url.hash) throw new AppError('validation_failed', `A redirect URI must not have a fragment: ${uri}`);
  if (!['https:', 'http:'].includes(url.protocol) && !/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) {
    throw new AppError('validation_failed', `A redirect URI must be https, http (loopback/dev) or a private-use scheme: ${uri}`);
  }
}
