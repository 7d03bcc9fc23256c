import type { Config } from '../config/config-schema.js';
import type { Logger } from '../logger.js';
import type { DataServices } from '../services.js';

/** Where the CLI reads and writes; the real process streams unless a test passes its own. */
export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  stdin: AsyncIterable<string | Buffer | Uint8Array>;
}

/** What a command produced: one JSON object for `--json`, human text otherwise. */
export interface CommandResult {
  json: Record<string, unknown>;
  text: string[];
}

export interface CommandContext {
  io: CliIo;
  /** The settings, loaded on first use (throws ConfigError). */
  config(): Config;
  logger(): Logger;
  /** Opens the database (migrated) and the domain on it, runs fn, closes. */
  withServices<T>(fn: (services: DataServices) => Promise<T>): Promise<T>;
}

export interface Command {
  /** "account create", "migrate", ... */
  name: string;
  /** Synopsis lines, without the leading "twofold ". */
  usage: string[];
  summary: string;
  /** Option descriptions for `--help`. */
  details?: string[];
  run(args: readonly string[], ctx: CommandContext): Promise<CommandResult>;
}

/** Reads all of stdin (at most `limit` bytes) and removes one trailing newline. */
export async function readStdinLine(stdin: CliIo['stdin'], limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
    size += buffer.length;
    if (size > limit) throw new StdinTooLargeError(limit);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export class StdinTooLargeError extends Error {
  constructor(limit: number) {
    super(`standard input is larger than ${limit} bytes`);
  }
}
