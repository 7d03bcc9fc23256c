import { AccountAdmin } from '../../accounts/account-admin.js';
import type { Command } from '../command.js';
import { parseCommandArgs, required, UsageError } from '../parse-args.js';

export const accountCreateCommand: Command = {
  name: 'account create',
  usage: ['account create --name NAME'],
  summary: 'create an account (MFA is required by default) and print its id',
  async run(args, ctx) {
    const { values } = parseCommandArgs(this.name, args, { name: { type: 'string' } });
    const name = required(this.name, values.name, 'name');
    const account = await ctx.withServices((s) => s.provisioning.createAccount(name));
    return {
      json: { accountId: account.id, name: account.name, mfaRequired: account.mfaRequired },
      text: [`Created account "${account.name}": ${account.id}`, `MFA required: ${account.mfaRequired ? 'yes' : 'no'}`],
    };
  },
};

export const accountSetMfaRequiredCommand: Command = {
  name: 'account set-mfa-required',
  usage: ['account set-mfa-required ACCOUNT true|false'],
  summary: 'turn "Require Multi-Factor" on or off for an account (id or name); turning it on signs out its users',
  async run(args, ctx) {
    const { positionals } = parseCommandArgs(this.name, args, {}, ['account', 'required']);
    const required = parseBoolean(this.name, positionals.required!);
    const { account, sessionsEnded } = await ctx.withServices((s) => new AccountAdmin(s.data, s.audit).setMfaRequired(positionals.account!, required, null));
    return {
      json: { accountId: account.id, name: account.name, mfaRequired: account.mfaRequired, sessionsEnded },
      text: [
        `Account "${account.name}" (${account.id}): MFA is now ${account.mfaRequired ? 'required' : 'not required'}.`,
        ...(sessionsEnded ? ["Every current session of the account's users has been signed out."] : []),
      ],
    };
  },
};

function parseBoolean(command: string, value: string): boolean {
  if (/^true$/i.test(value)) return true;
  if (/^false$/i.test(value)) return false;
  throw new UsageError(`expected true or false, got "${value.slice(0, 40)}"`, command);
}
