import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';

export const serveCommand: Command = {
  name: 'serve',
  usage: ['serve'],
  summary: 'run the OpenID Connect provider (what `npm start` runs)',
  async run(args, ctx) {
    parseCommandArgs(this.name, args, {});
    const config = ctx.config();
    const logger = ctx.logger();
    // Loaded on demand: the other commands never pay for the HTTP stack.
    const { startServer } = await import('../../server.js');
    const server = await startServer(config, logger); // stops itself on SIGTERM/SIGINT
    await server.closed;
    return { json: { stopped: true }, text: [] };
  },
};
