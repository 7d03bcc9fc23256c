import { runCli } from '../../src/cli/main.js';

/** Runs a `twofold` CLI command in-process against a database and returns its --json output. */
export async function cli(databaseUrl: string, args: string[], stdin?: string, env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  let out = '';
  let err = '';
  const code = await runCli(
    [...args, '--json'],
    {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      stdin: (async function* () {
        if (stdin !== undefined) yield stdin;
      })(),
    },
    { DATABASE_URL: databaseUrl, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: '/tmp/twofold-test-cli', ...env },
  );
  if (code !== 0) throw new Error(`twofold ${args.join(' ')} failed (${code}): ${out} ${err}`);
  return JSON.parse(out) as Record<string, unknown>;
}

export interface Fixture {
  accountId: string;
  userId: string;
  username: string;
  password: string;
}

/** An account (MFA policy as given) with one user whose password we know. */
export async function accountWithUser(
  databaseUrl: string,
  options: { mfaRequired: boolean; username?: string; role?: 'user' | 'admin'; support?: boolean; email?: string },
): Promise<Fixture> {
  const suffix = Math.random().toString(36).slice(2, 8);
  const account = await cli(databaseUrl, ['account', 'create', '--name', `Acme ${suffix}`]);
  const accountId = String(account.accountId);
  if (!options.mfaRequired) await cli(databaseUrl, ['account', 'set-mfa-required', accountId, 'false']);
  const username = options.username ?? `user-${suffix}`;
  const password = `correct horse ${suffix}`;
  const extra = [...(options.role ? ['--role', options.role] : []), ...(options.support ? ['--support'] : []), ...(options.email ? ['--email', options.email] : [])];
  const user = await cli(databaseUrl, ['user', 'create', '--account', accountId, '--username', username, '--password-stdin', ...extra], `${password}\n`);
  return { accountId, userId: String(user.userId), username, password };
}

export const RP_REDIRECT = 'http://rp.test/callback';
export const RP_LOGOUT = 'http://rp.test/signed-out';

export async function confidentialClient(databaseUrl: string, options: { firstParty?: boolean } = {}): Promise<{ clientId: string; clientSecret: string }> {
  const clientId = `rp-${Math.random().toString(36).slice(2, 8)}`;
  const clientSecret = `secret-${Math.random().toString(36).slice(2)}-${'x'.repeat(32)}`;
  await cli(databaseUrl, [
    'client',
    'create',
    '--client-id',
    clientId,
    '--redirect-uri',
    RP_REDIRECT,
    '--secret',
    clientSecret,
    '--post-logout-redirect-uri',
    RP_LOGOUT,
    ...(options.firstParty ? ['--first-party'] : []),
  ]);
  return { clientId, clientSecret };
}
