import { migrate } from '../../storage/migrate.js';
import { openDatabase } from '../../storage/postgres.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';

export const migrateCommand: Command = {
  name: 'migrate',
  usage: ['migrate'],
  summary: 'apply pending database migrations, then exit',
  async run(args, ctx) {
    parseCommandArgs('migrate', args, {});
    const db = await openDatabase(ctx.config(), ctx.logger());
    let applied: string[];
    try {
      applied = await migrate(db.pool, ctx.logger());
    } finally {
      await db.close();
    }
    return {
      json: { applied },
      text:
        applied.length === 0
          ? ['The database schema is up to date: nothing to apply.']
          : [`Applied ${applied.length} migration${applied.length === 1 ? '' : 's'}:`, ...applied.map((name) => `  ${name}`)],
    };
  },
};
