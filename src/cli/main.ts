/**
 * `twofold`, the operator's command line (README, "Command line"). runCli returns the exit
 * code and never exits the process: 0 success, 1 a domain error (not found, conflict, the
 * database unreachable), 2 bad input (usage, settings, validation).
 */
import { ConfigError, loadConfig, processEnvironment, type Config } from '../config/load-config.js';
import { AppError } from '../http/app-error.js';
import { createLogger, type Logger } from '../logger.js';
import { openDataServices } from '../services.js';
import { StdinTooLargeError, type CliIo, type Command, type CommandContext, type CommandResult } from './command.js';
import { accountCreateCommand, accountSetMfaRequiredCommand } from './commands/account.js';
import { clientCreateCommand } from './commands/client.js';
import { migrateCommand } from './commands/migrate.js';
import { keysRotateCommand } from './commands/keys.js';
import { serveCommand } from './commands/serve.js';
import { supportApproveCommand, supportRejectCommand, supportRequestsCommand } from './commands/support.js';
import { userCreateCommand, userResetMfaCommand, userSetEmailCommand, userUnlockCommand } from './commands/user.js';
import { UsageError } from './parse-args.js';

export type { CliIo } from './command.js';

const COMMANDS: readonly Command[] = [
  serveCommand,
  migrateCommand,
  accountCreateCommand,
  accountSetMfaRequiredCommand,
  userCreateCommand,
  userUnlockCommand,
  userResetMfaCommand,
  userSetEmailCommand,
  clientCreateCommand,
  keysRotateCommand,
  supportRequestsCommand,
  supportApproveCommand,
  supportRejectCommand,
];

/** Words that take a sub-command: `account create`, `user unlock`, ... */
const GROUPS = new Set(COMMANDS.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]!));

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

export async function runCli(argv: readonly string[], io: Partial<CliIo> = {}, env: Record<string, string | undefined> = processEnvironment()): Promise<number> {
  const streams: CliIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    stdin: io.stdin ?? process.stdin,
  };
  const optionArgs = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  const json = optionArgs.includes('--json');
  const out = new Output(streams, json);

  let resolved: ResolvedCommand | undefined;
  let logger: Logger | undefined;
  try {
    resolved = resolveCommand(argv);
    if (resolved.kind === 'help') {
      out.help(helpText(resolved.topic));
      return EXIT_OK;
    }
    const { command, args } = resolved;
    if (args.slice(0, args.includes('--') ? args.indexOf('--') : undefined).some((a) => a === '--help' || a === '-h')) {
      out.help(commandHelp(command));
      return EXIT_OK;
    }

    let config: Config | undefined;
    const getConfig = () => (config ??= loadConfig(env));
    const ctx: CommandContext = {
      io: streams,
      config: getConfig,
      logger() {
        // Keep the terminal quiet for one-shot commands unless LOG_LEVEL asks for more.
        const level = command === serveCommand || env.LOG_LEVEL?.trim() ? getConfig().logLevel : 'warn';
        return (logger ??= createLogger(level, 'stderr'));
      },
      async withServices(fn) {
        const services = await openDataServices(getConfig(), ctx.logger());
        try {
          return await fn(services);
        } finally {
          await services.close();
        }
      },
    };
    out.result(await command.run(args, ctx));
    return EXIT_OK;
  } catch (err) {
    const failure = describeFailure(err, resolved?.kind === 'command' ? resolved.command : undefined);
    // The stack only at debug level: the operator sees one line.
    if (failure.code === 'internal_error') logger?.debug({ err }, 'command failed');
    out.error(failure);
    return failure.exitCode;
  }
}

type ResolvedCommand = { kind: 'help'; topic: string[] } | { kind: 'command'; command: Command; args: string[] };

/** Finds the command: leading `--json` may come before it; `help`, `--help`, `-h` ask for help. */
function resolveCommand(argv: readonly string[]): ResolvedCommand {
  const words = [...argv];
  while (words[0] === '--json') words.shift();
  const first = words[0];
  if (first === undefined) throw new UsageError('missing command');
  if (first === 'help' || first === '--help' || first === '-h') {
    return { kind: 'help', topic: words.slice(1).filter((w) => !w.startsWith('-')) };
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option ${clip(first)} (a command comes first)`);
  if (GROUPS.has(first)) {
    const sub = words[1];
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === '--json') {
      if (sub === undefined || sub === '--json') throw new UsageError(`missing sub-command: ${subcommands(first).join(', ')}`, first);
      return { kind: 'help', topic: [first] };
    }
    const command = COMMANDS.find((c) => c.name === `${first} ${sub}`);
    if (!command) throw new UsageError(`unknown command "${clip(`${first} ${sub}`)}"; ${first} takes: ${subcommands(first).join(', ')}`, first);
    return { kind: 'command', command, args: words.slice(2) };
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) throw new UsageError(`unknown command "${clip(first)}"`);
  return { kind: 'command', command, args: words.slice(1) };
}

const subcommands = (group: string) => COMMANDS.filter((c) => c.name.startsWith(`${group} `)).map((c) => c.name.slice(group.length + 1));

function helpText(topic: string[]): string {
  const name = topic.join(' ');
  const exact = COMMANDS.find((c) => c.name === name);
  if (exact) return commandHelp(exact);
  const group = COMMANDS.filter((c) => topic.length > 0 && c.name.startsWith(`${topic[0]} `));
  if (topic.length === 1 && group.length > 0) return group.map(commandHelp).join('\n');
  if (topic.length > 0) throw new UsageError(`no help for unknown command "${clip(name)}"`);
  return [
    'Usage: twofold <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.flatMap((c) => [`  twofold ${c.usage[0]}`, ...c.usage.slice(1).map((l) => `          ${l}`), `      ${c.summary}`]),
    '  twofold help [COMMAND]',
    "      show this help, or a command's",
    '',
    'Every command accepts --json: it then prints exactly one JSON object on stdout.',
    'ACCOUNT is an account id or name. Settings come from the environment (see README).',
  ].join('\n');
}

function commandHelp(command: Command): string {
  return [
    `Usage: twofold ${command.usage[0]}`,
    ...command.usage.slice(1).map((l) => `              ${l}`),
    '',
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
    ...(command.details ? ['', ...command.details.map((d) => `  ${d}`)] : []),
    '  --json            print one JSON object on stdout',
  ].join('\n');
}

interface Failure {
  code: string;
  message: string;
  exitCode: number;
  hint?: string;
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH']);

function describeFailure(err: unknown, command: Command | undefined): Failure {
  if (err instanceof UsageError) {
    const topic = err.command ?? command?.name;
    return { code: 'usage_error', message: err.message, exitCode: EXIT_USAGE, hint: `see \`twofold ${topic ? `${topic} ` : ''}--help\`` };
  }
  if (err instanceof ConfigError) {
    return { code: 'config_invalid', message: `invalid settings: ${err.problems.join('; ')}`, exitCode: EXIT_USAGE };
  }
  if (err instanceof StdinTooLargeError) return { code: 'validation_failed', message: err.message, exitCode: EXIT_USAGE };
  if (err instanceof AppError) {
    return { code: err.code, message: err.message, exitCode: err.code === 'validation_failed' || err.code === 'bad_request' ? EXIT_USAGE : EXIT_FAILURE };
  }
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const connectionFailed = typeof code === 'string' && (CONNECTION_ERRORS.has(code) || /^(08|28|3D)/.test(code));
  if (connectionFailed || /timeout.*connect|connection terminated/i.test(message)) {
    return { code: 'store_unavailable', message: `cannot use the database: ${message}`, exitCode: EXIT_FAILURE };
  }
  return { code: 'internal_error', message, exitCode: EXIT_FAILURE };
}

/** Everything the CLI prints: results on stdout, one-line errors on stderr (and as JSON with --json). */
class Output {
  constructor(
    private readonly io: CliIo,
    private readonly json: boolean,
  ) {}

  result(result: CommandResult): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify(result.json)}\n`);
    else if (result.text.length > 0) this.io.stdout.write(`${result.text.join('\n')}\n`);
  }

  help(text: string): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify({ usage: text })}\n`);
    else this.io.stdout.write(`${text}\n`);
  }

  error(failure: Failure): void {
    const message = oneLine(failure.message);
    if (this.json) this.io.stdout.write(`${JSON.stringify({ error: failure.code, message })}\n`);
    this.io.stderr.write(`twofold: ${message}${failure.hint ? ` (${failure.hint})` : ''}\n`);
  }
}

const oneLine = (s: string) => s.replace(/\s*[\r\n]+\s*/g, '; ').trim() || 'unknown error';
const clip = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}...` : s);
