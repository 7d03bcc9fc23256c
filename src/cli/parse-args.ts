import { parseArgs, type ParseArgsConfig } from 'node:util';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Bad command-line input: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** The command whose help the message points to, e.g. "user create". */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionsConfig;

export interface CommandArgs<O extends OptionsConfig> {
  values: { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string };
  /** The positionals by name; every named one is present. */
  positionals: Record<string, string>;
}

/**
 * Parses one command's arguments strictly: an unknown option, an option without its value, a
 * boolean option given a value, a repeated single-valued option and a missing or surplus
 * positional are usage errors with a message of one line.
 */
export function parseCommandArgs<const O extends OptionsConfig>(
  command: string,
  args: readonly string[],
  options: O,
  positionalNames: readonly string[] = [],
): CommandArgs<O & typeof COMMON_OPTIONS> {
  const all: OptionsConfig = { ...options, ...COMMON_OPTIONS };
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: all, strict: true, allowPositionals: true, tokens: true });
  } catch (err) {
    throw new UsageError(describeParseError(err, all), command);
  }
  const { values, positionals, tokens } = parsed;

  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = all[token.name];
    if (option && !option.multiple && seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once`, command);
    seen.add(token.name);
    if (option?.type === 'string' && token.value === '') throw new UsageError(`--${token.name} needs a non-empty value`, command);
  }
  if (values.help) return { values: values as CommandArgs<O & typeof COMMON_OPTIONS>['values'], positionals: {} };

  if (positionals.length > positionalNames.length) {
    throw new UsageError(`unexpected argument "${clip(positionals[positionalNames.length]!)}"`, command);
  }
  if (positionals.length < positionalNames.length) {
    throw new UsageError(
      `missing ${positionalNames
        .slice(positionals.length)
        .map((n) => n.toUpperCase())
        .join(' ')}`,
      command,
    );
  }
  const named: Record<string, string> = {};
  positionalNames.forEach((name, i) => {
    named[name] = positionals[i]!;
  });
  return { values: values as CommandArgs<O & typeof COMMON_OPTIONS>['values'], positionals: named };
}

/** Throws a usage error unless the string option is present. */
export function required(command: string, value: string | undefined, option: string): string {
  if (value === undefined) throw new UsageError(`missing --${option}`, command);
  return value;
}

function describeParseError(err: unknown, options: OptionsConfig): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const option = /'(-{1,2}[^', ]+)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${clip(option ?? message)}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = option?.replace(/^-+/, '');
      const config = name === undefined ? undefined : (options[name] ?? Object.entries(options).find(([, o]) => o.short === name)?.[1]);
      if (config?.type === 'boolean') return `${clip(option!)} takes no value`;
      return option ? `${option} needs a value` : clip(firstLine(message));
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument`;
    default:
      return clip(firstLine(message));
  }
}

const firstLine = (s: string) => s.split('\n')[0]!;
const clip = (s: string) => (s.length > 80 ? `${s.slice(0, 77)}...` : s);
