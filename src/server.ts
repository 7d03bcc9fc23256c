import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JsonWebKey } from 'node:crypto';
import type { Config } from './config/config-schema.js';
import type { Logger } from './logger.js';
import { createApp } from './app.js';
import { Metrics } from './http/metrics.js';
import { openDataServices } from './services.js';
import { PasswordLogin } from './accounts/password-login.js';
import { Throttle } from './http/throttle.js';
import { FactorRegistry } from './mfa/factor-registry.js';
import { FACTORS } from './mfa/factors/index.js';
import { countryOptions } from './sms/phone-number.js';
import { Lockout } from './mfa/lockout.js';
import { RecoveryCodes } from './mfa/recovery-codes.js';
import { SignInFlow } from './mfa/sign-in-flow.js';
import { createProvider } from './oidc/create-provider.js';
import { loadSigningKeys } from './oidc/signing-keys.js';
import { RedisStore } from './storage/redis-store.js';
import { MemoryStore } from './storage/memory-store.js';
import { SignInStateRepository } from './storage/repositories/sign-in-state-repository.js';
import { ensureDemoClient, seedDemo } from './demo/demo-client.js';
import { AccountAdmin } from './accounts/account-admin.js';
import { AdminTokenGuard } from './admin/admin-token-guard.js';
import { adminResourceOf } from './oidc/create-provider.js';
import { ensureAccountClient } from './selfservice/account-client.js';
import { ensureSupportClient } from './support/support-client.js';
import { SupportMfaReset } from './support/support-mfa-reset.js';
import { SupportCodeRepository } from './storage/repositories/support-code-repository.js';
import { DeviceManagement } from './selfservice/device-management.js';
import { EmailChange } from './selfservice/email-change.js';
import { AccountSessionRepository } from './storage/repositories/account-session-repository.js';
import { PENDING_DEVICES_PER_USER } from './storage/repositories/devices-repository.js';
import { PasswordReset } from './accounts/password-reset.js';
import { PasswordChange } from './accounts/password-change.js';
import { ProviderSessions } from './oidc/provider-sessions.js';
import { sessionTracker } from './oidc/session-tracking.js';
import { SessionIndexRepository } from './storage/repositories/session-index-repository.js';
import { SignedInSessions } from './selfservice/signed-in-sessions.js';
import { PostgresChangeFeed } from './storage/change-feed.js';
import { cachedLookups } from './storage/cached-lookups.js';

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  /** Settles when the server has stopped. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 10_000;

/** loadConfig → open stores → createApp → listen; stops gracefully on SIGTERM/SIGINT. */
export async function startServer(config: Config, logger: Logger, options: { handleSignals?: boolean } = {}): Promise<RunningServer> {
  const started = Date.now();
  const metrics = new Metrics();
  const services = await openDataServices(config, logger, { onAuditEvent: (type, details) => metrics.observeAudit(type, details) });
  const { data, audit, box } = services;
  let lastRedisError = 0;
  const store = config.redisUrl
    ? RedisStore.connect(config.redisUrl, config.redisKeyPrefix, (err) => {
        // One line every 10 s at most while Redis is away.
        if (Date.now() - lastRedisError > 10_000) logger.warn({ err: err.message }, 'Redis unavailable; reconnecting');
        lastRedisError = Date.now();
      })
    : new MemoryStore();
  if (!config.redisUrl) logger.warn('no REDIS_URL: sessions and codes are kept in this process only (single node, lost on restart)');
  // On Postgres, rows every token request reads stay in memory until a change is announced.
  const feed = config.databaseUrl ? new PostgresChangeFeed(config.databaseUrl, logger) : undefined;
  await feed?.start();
  const lookups = cachedLookups(data, feed);

  if (config.demo) {
    const passwords = await seedDemo(data, services.provisioning);
    await ensureDemoClient(data, config.issuer);
    if (passwords) printDemoBanner(config.issuer, passwords);
  }

  await ensureAccountClient(data, config.issuer);
  await ensureSupportClient(data, config.issuer);
  const throttle = new Throttle(store);
  const pendingLimits = { perUser: PENDING_DEVICES_PER_USER, usersPerPhone: config.sms.maxPendingUsersPerPhone };
  // The order of FACTORS is the order users are offered the methods in.
  const factors = FactorRegistry.create(FACTORS, { config, data, store, box, audit, logger, pendingLimits });
  // The country select, in each page's language (built once per language).
  const countriesIn = (language: string) => countryOptions(config.sms.allowedCallingCodes, language);
  const { notices } = services;
  const recoveryCodes = new RecoveryCodes(data, audit, config.dataEncryptionKey, notices);
  const passwordLogin = new PasswordLogin(data.users, throttle, audit);
  const flow = new SignInFlow(
    data,
    lookups,
    new SignInStateRepository(store),
    passwordLogin,
    factors,
    new Lockout(data.users, audit, notices),
    audit,
    recoveryCodes,
    config.reauthMaxAgeSeconds,
    notices,
  );
  const devices = new DeviceManagement(data, factors, recoveryCodes, audit, notices);
  const passwordReset = new PasswordReset({
    data,
    throttle,
    audit,
    mail: services.mail,
    notices,
    logger,
    issuer: config.issuer,
    ttlSeconds: config.passwordResetTtlSeconds,
    secret: config.dataEncryptionKey,
  });
  const passwordChange = new PasswordChange(data, passwordLogin, audit, notices);

  let port = config.port;
  const accountSessions = new AccountSessionRepository(store);
  const admin = new AccountAdmin(data, audit, notices);
  // One index for both: without Redis it lives in this object.
  const sessionIndex = new SessionIndexRepository(store);
  const providerSessions = new ProviderSessions(store);
  const signedInSessions = new SignedInSessions(sessionIndex, providerSessions, data.users, audit);
  const onSessionSaved = sessionTracker(sessionIndex, providerSessions);
  const supportReset = new SupportMfaReset(
    { data, codes: new SupportCodeRepository(store), admin, audit, mail: services.mail, ttlSeconds: config.supportCodeTtlSeconds },
    config.dataEncryptionKey,
  );
  const emails = new EmailChange(data, audit, services.mail, notices, config.issuer, config.dataEncryptionKey, throttle);
  // The HTTP app depends on the signing keys (oidc-provider's JWKS is fixed at construction):
  // it is built again when the keyring changes (rotation), and requests go to the newest one.
  const build = (signingKeys: JsonWebKey[]) => {
    const provider = createProvider({ config, data, store, signingKeys, onSessionSaved, lookups });
    createApp({
      config,
      logger,
      provider,
      flow,
      data,
      devices,
      accountSessions,
      admin,
      disableRequests: services.disableRequests,
      emails,
      metrics,
      throttle,
      adminGuard: new AdminTokenGuard({ issuer: config.issuer, audience: adminResourceOf(config.issuer), users: data.users, signingKeys }),
      readiness: { postgres: () => data.ping(), store: () => store.ping() },
      backChannel: () => `http://127.0.0.1:${port}`,
      passwordReset,
      passwordChange,
      signedInSessions,
      viewExtras: () => ({ countriesIn }),
      supportReset,
    });
    return provider.callback();
  };
  let keys = await loadSigningKeys(data, box);
  let handler = build(keys.jwks);
  const keyRefresh = setInterval(() => {
    loadSigningKeys(data, box)
      .then((next) => {
        if (next.fingerprint === keys.fingerprint) return;
        handler = build(next.jwks);
        keys = next;
        logger.info({ kids: next.jwks.map((k) => k.kid) }, 'signing keys changed: serving the new keyring');
      })
      .catch((err) => logger.warn({ err: (err as Error).message }, 'could not refresh signing keys'));
  }, config.keyRefreshSeconds * 1000);
  keyRefresh.unref();

  // While shutting down, every answer closes its connection: a keep-alive client moves on to a
  // new connection, which the closed listener refuses, instead of keeping this process serving.
  let shuttingDown = false;
  const unanswered = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    if (shuttingDown) res.setHeader('Connection', 'close');
    else {
      unanswered.add(res);
      res.once('close', () => unanswered.delete(res));
    }
    handler(req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  logger.info({ port, issuer: config.issuer, storage: services.db.mode, store: store.kind, startupMs: Date.now() - started }, 'Twofold is listening');

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      logger.info('shutting down: finishing in-flight requests');
      clearInterval(keyRefresh);
      shuttingDown = true;
      for (const res of unanswered) if (!res.headersSent) res.setHeader('Connection', 'close');
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      force.unref();
      // Connections whose answer was already on its way when the signal came go idle after it.
      const idle = setInterval(() => server.closeIdleConnections(), 250);
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeIdleConnections();
      });
      clearTimeout(force);
      clearInterval(idle);
      // Reset requests answered already are mailed before the stores close.
      await passwordReset.settled();
      await feed?.close();
      await store.close().catch(() => undefined);
      await services.close().catch((err) => logger.warn({ err: (err as Error).message }, 'closing the database failed'));
      logger.info('stopped');
      resolveClosed();
    })());

  if (options.handleSignals !== false) {
    const onSignal = (signal: string) => {
      logger.info({ signal }, 'signal received');
      void close();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { port, url: `http://127.0.0.1:${port}`, closed, close };
}

/** Shown once, on stdout rather than in a log line, so the demo passwords reach only the operator. */
function printDemoBanner(issuer: string, passwords: { admin: string; user: string; support: string }): void {
  process.stdout.write(
    [
      '',
      '  Twofold demo is ready. These passwords are shown once: store them now.',
      `    admin@example.com  ${passwords.admin}   (account admin)`,
      `    user@example.com   ${passwords.user}`,
      `    support@example.com ${passwords.support}   (support: ${issuer}/support)`,
      `  Try a sign-in at ${issuer}/demo (you will set up MFA on first sign-in).`,
      '',
    ].join('\n') + '\n',
  );
}
