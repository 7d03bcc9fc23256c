import type pg from 'pg';
import { withTransaction, type Queryable } from '../postgres.js';
import { AccountsRepository } from './accounts-repository.js';
import { AuditRepository } from './audit-repository.js';
import { ClientsRepository } from './clients-repository.js';
import { DevicesRepository } from './devices-repository.js';
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
}

function bind(db: Queryable): Repositories {
  return {
    accounts: new AccountsRepository(db),
    users: new UsersRepository(db),
    devices: new DevicesRepository(db),
    recoveryCodes: new RecoveryCodesRepository(db),
    clients: new ClientsRepository(db),
    signingKeys: new SigningKeysRepository(db),
    audit: new AuditRepository(db),
  };
}

export interface DataStore extends Repositories {
  /** Runs fn with repositories bound to one transaction. */
  transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
}

export function createDataStore(pool: pg.Pool): DataStore {
  return {
    ...bind(pool),
    transaction: (fn) => withTransaction(pool, (client) => fn(bind(client))),
    async ping() {
      await pool.query('SELECT 1');
    },
  };
}
