import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from '../../src/config/load-config.js';
import { openDataServices, type DataServices } from '../../src/services.js';
import { createTestDatabase, type TestDatabase } from './databases.js';

export interface TestDataServices {
  db: TestDatabase;
  config: Config;
  services: DataServices;
  /** Closes the services and drops the database. */
  close(): Promise<void>;
}

/** Twofold's data services (migrated, fresh keys) on a new database of the real Postgres; `env` adds settings. */
export async function openTestDataServices(name: string, env: Record<string, string> = {}, logger: Logger = pino({ level: 'silent' })): Promise<TestDataServices> {
  const db = await createTestDatabase(`twofold_it_${name}`);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    DATA_DIR: path.join(os.tmpdir(), `twofold-it-${name}`),
    COOKIE_KEYS: crypto.randomBytes(32).toString('base64url'),
    DATA_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
    ...env,
  });
  const services = await openDataServices(config, logger);
  return {
    db,
    config,
    services,
    close: async () => {
      await services.close();
      await db.drop();
    },
  };
}
