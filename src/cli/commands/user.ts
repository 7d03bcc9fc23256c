import { AccountAdmin } from '../../accounts/account-admin.js';
import type { Role } from '../../storage/repositories/users-repository.js';
import { readStdinLine, type Command } from '../command.js';
import { parseCommandArgs, required, UsageError } from '../parse-args.js';

const ROLES: readonly Role[] = ['user', 'admin'];

export const userCreateCommand: Command = {
  name: 'user create',
  usage: ['user create --account ACCOUNT --username NAME [--role user|admin] [--support] [--password-stdin] [--email EMAIL]'],
  summary: 'create a user; without --password-stdin a password is generated and printed once',
  details: [
    '--account ACCOUNT   the account id or name',
    "--role ROLE         user (default) or admin (manages the account's MFA policy)",
    '--support           a support user (may act on every account)',
    '--password-stdin    read the password from standard input (12 to 256 characters, not a commonly used password)',
    "--email EMAIL       the user's email address, taken as verified",
  ],
  async run(args, ctx) {
    const { values } = parseCommandArgs(this.name, args, {
      account: { type: 'string' },
      username: { type: 'string' },
      role: { type: 'string' },
      support: { type: 'boolean' },
      'password-stdin': { type: 'boolean' },
      email: { type: 'string' },
    });
    const account = required(this.name, values.account, 'account');
    const username = required(this.name, values.username, 'username');
    const role = values.role ?? 'user';
    if (!ROLES.includes(role as Role)) throw new UsageError(`--role must be one of: ${ROLES.join(', ')}`, this.name);
    // Read before opening the database, so that nothing is held while the operator types.
    const password = values['password-stdin'] ? await readStdinLine(ctx.io.stdin) : undefined;

    const { user, generatedPassword } = await ctx.withServices((s) =>
      s.provisioning.createUser({ account, username, role, support: Boolean(values.support), password, email: values.email }),
    );
    const text = [
      `Created user "${user.username}": ${user.id}`,
      `Role: ${user.role}${user.isSupport ? ', support' : ''}`,
      ...(user.email ? [`Email: ${user.email} (verified)`] : []),
    ];
    if (generatedPassword !== undefined) {
      text.push(`Password: ${generatedPassword}`, 'Store it now: it is shown only this once and cannot be recovered.');
    }
    return {
      json: {
        userId: user.id,
        username: user.username,
        accountId: user.accountId,
        role: user.role,
        support: user.isSupport,
        email: user.email,
        emailVerified: user.emailVerified,
        ...(generatedPassword !== undefined ? { password: generatedPassword } : {}),
      },
      text,
    };
  },
};

export const userUnlockCommand: Command = {
  name: 'user unlock',
  usage: ['user unlock USERNAME'],
  summary: 'unlock a user locked by too many wrong MFA codes and reset the failure count',
  async run(args, ctx) {
    const { positionals } = parseCommandArgs(this.name, args, {}, ['username']);
    const { user, wasLocked } = await ctx.withServices((s) => new AccountAdmin(s.data, s.audit).unlock(positionals.username!));
    return {
      json: { userId: user.id, username: user.username, unlocked: true, wasLocked },
      text: [
        wasLocked
          ? `Unlocked user "${user.username}" (${user.id}); the MFA failure count is reset.`
          : `User "${user.username}" (${user.id}) was not locked; the MFA failure count is reset.`,
      ],
    };
  },
};

export const userResetMfaCommand: Command = {
  name: 'user reset-mfa',
  usage: ['user reset-mfa USERNAME'],
  summary: "account recovery: remove the user's MFA devices and recovery codes, and sign the user out everywhere",
  async run(args, ctx) {
    const { positionals } = parseCommandArgs(this.name, args, {}, ['username']);
    const { user, devicesRemoved, removed } = await ctx.withServices((s) => new AccountAdmin(s.data, s.audit, s.notices).resetMfa(positionals.username!));
    const which = removed.length > 0 ? ` (${removed.map((d) => d.name).join(', ')})` : '';
    return {
      json: { userId: user.id, username: user.username, devicesRemoved, removedDevices: removed, sessionsEnded: true },
      text: [
        `Reset MFA for "${user.username}" (${user.id}): removed ${devicesRemoved} device${devicesRemoved === 1 ? '' : 's'}${which}; every session of the user has been signed out.`,
      ],
    };
  },
};

export const userSetEmailCommand: Command = {
  name: 'user set-email',
  usage: ['user set-email USERNAME EMAIL'],
  summary: "set a user's email address (taken as verified); a verified address it replaces is told",
  async run(args, ctx) {
    const { positionals } = parseCommandArgs(this.name, args, {}, ['username', 'email']);
    const { user, previousEmail } = await ctx.withServices((s) => s.provisioning.setEmail(positionals.username!, positionals.email!));
    return {
      json: { userId: user.id, username: user.username, email: user.email, emailVerified: user.emailVerified, previousEmail },
      text: [`Email of "${user.username}" (${user.id}) set to ${user.email} (verified)${previousEmail && previousEmail !== user.email ? `; was ${previousEmail}` : ''}.`],
    };
  },
};
