import type { Config } from './config/config-schema.js';
import type { Logger } from './logger.js';
import { AuditLog } from './audit/audit-log.js';
import { DisableRequests } from './accounts/disable-requests.js';
import { Provisioning } from './accounts/provisioning.js';
import { SecretBox } from './crypto/secret-box.js';
import { openDatabase, type Database } from './storage/postgres.js';
import { migrate } from './storage/migrate.js';
import { createDataStore, type DataStore } from './storage/repositories/index.js';
import { createMailer } from './mail/create-mailer.js';
import { MailService } from './mail/mail-service.js';
import { SecurityNotices } from './mail/security-notices.js';

/** What both the server and the CLI need: the database (migrated) and the domain on top of it. */
export interface DataServices {
  db: Database;
  data: DataStore;
  audit: AuditLog;
  provisioning: Provisioning;
  box: SecretBox;
  /** Mails rendered from views/mail; send() never throws. */
  mail: MailService;
  /** Security notices to users' verified addresses. */
  notices: SecurityNotices;
  /** Requests to turn an account's MFA requirement off, decided by support. */
  disableRequests: DisableRequests;
  close(): Promise<void>;
}

export async function openDataServices(
  config: Config,
  logger: Logger,
  options: { migrate?: boolean; onAuditEvent?: (type: string, details: Record<string, unknown>) => void } = {},
): Promise<DataServices> {
  const db = await openDatabase(config, logger);
  try {
    if (options.migrate !== false) await migrate(db.pool, logger);
  } catch (err) {
    await db.close();
    throw err;
  }
  const data = createDataStore(db.pool, { enrolmentTtlSeconds: config.enrolmentTtlSeconds });
  const audit = new AuditLog(data.audit, logger, options.onAuditEvent);
  let mail: MailService;
  try {
    mail = new MailService(createMailer(config, logger), audit, logger, { issuer: config.issuer, defaultLocale: config.defaultLocale });
  } catch (err) {
    await db.close();
    throw err;
  }
  const notices = new SecurityNotices(mail);
  return {
    db,
    data,
    audit,
    provisioning: new Provisioning(data, audit, notices),
    box: new SecretBox(config.dataEncryptionKey),
    mail,
    notices,
    disableRequests: new DisableRequests(data, audit, mail),
    close: async () => {
      await mail.close();
      await audit.drain();
      await db.close();
    },
  };
}
