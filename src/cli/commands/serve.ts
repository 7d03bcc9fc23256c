import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';

interface RunningServer {
  close(): Promise<void>;
  /** Settles when the server has stopped, if the server offers it. */
  closed?: Promise<unknown>;
}

export const serveCommand: Command = {
  name: 'serve',
  usage: ['serve'],
  summary: 'run the OpenID Connect provider (what `npm start` runs)',
  async run(args, ctx) {
    parseCommandArgs(this.name, args, {});
    const config = ctx.config();
    const logger = ctx.logger();
    const { startServer } = await import('../../server.js');
    const server: RunningServer = await startServer(config, logger);
    await untilClosed(server);
    return { json: { stopped: true }, text: [] };
  },
};

/**
 * The server handles its own signals. This settles once it has stopped: through its `closed`
 * promise when it has one, when its `close()` finishes, or at the latest when the event loop
 * has nothing left to do (every listener and pool closed).
 */
function untilClosed(server: RunningServer): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      process.off('beforeExit', done);
      resolve();
    };
    process.once('beforeExit', done);
    server.closed?.then(done, done);
    const close = server.close.bind(server);
    try {
      server.close = async () => {
        try {
          await close();
        } finally {
          done();
        }
      };
    } catch {
      // a frozen handle: the other two signals still apply
    }
  });
}
