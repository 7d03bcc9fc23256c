import type pg from 'pg';
import { withTransaction, type Queryable } from '../postgres.js';
import { AccountsRepository } from './accounts-repository.js';
import { AuditRepository } from './audit-repository.js';
import { ClientsRepository } from './clients-repository.js';
import { DevicesRepository } from './devices-repository.js';
import { DisableRequestsRepository } from './disable-requests-repository.js';
import { PasswordResetsRepository } from './password-resets-repository.js';
import { EmailChangesRepository } from './email-changes-repository.js';
import { RecoveryCodesRepository } from './recovery-codes-repository.js';
import { SigningKeysRepository } from './signing-keys-repository.js';
import { UsersRepository } from './users-repository.js';

export interface Repositories {
  accounts: AccountsRepository;
  users: UsersRepository;
  devices: DevicesRepository;
  recoveryCodes: RecoveryCodesRepository;
  clients: ClientsRepository;
  signingKeys: SigningKeysRepository;
  audit: AuditRepository;
  passwordResets: PasswordResetsRepository;
  emailChanges: EmailChangesRepository;
  disableRequests: DisableRequestsRepository;
}

export interface DataStoreOptions {
  /** Seconds an unverified device waits for its verification. */
  enrolmentTtlSeconds: number;
}

/** `pool` is given when `db` is the pool itself (not one transaction's client). */
function bind(db: Queryable, options: DataStoreOptions, pool?: pg.Pool): Repositories {
  const devices: DevicesRepository = new DevicesRepository(db, {
    pendingTtlSeconds: options.enrolmentTtlSeconds,
    transaction: (fn) => (pool ? withTransaction(pool, (client) => fn(bind(client, options).devices)) : fn(devices)),
  });
  return {
    accounts: new AccountsRepository(db),
    users: new UsersRepository(db, devices),
    devices,
    recoveryCodes: new RecoveryCodesRepository(db),
    clients: new ClientsRepository(db),
    signingKeys: new SigningKeysRepository(db),
    audit: new AuditRepository(db),
    passwordResets: new PasswordResetsRepository(db),
    emailChanges: new EmailChangesRepository(db),
    disableRequests: new DisableRequestsRepository(db),
  };
}

export interface DataStore extends Repositories {
  /** Runs fn with repositories bound to one transaction. */
  transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
}

export function createDataStore(pool: pg.Pool, options: DataStoreOptions): DataStore {
  return {
    ...bind(pool, options, pool),
    transaction: (fn) => withTransaction(pool, (client) => fn(bind(client, options))),
    async ping() {
      await pool.query('SELECT 1');
    },
  };
}
