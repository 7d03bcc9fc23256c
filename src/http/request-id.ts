import crypto from 'node:crypto';
import type { Context, Next } from 'koa';
import { withRequestId, type Logger } from '../logger.js';
import { loggablePath } from './loggable-path.js';

/** A request id on every request (kept from a trusted proxy's header) and one access log line. */
export function requestId(logger: Logger) {
  const logged = async (ctx: Context, next: Next, id: string) => {
    const started = process.hrtime.bigint();
    try {
      await withRequestId(id, next);
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.debug({ reqId: id, method: ctx.method, path: loggablePath(ctx.path), status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
    }
  };
  return (ctx: Context, next: Next) => {
    const incoming = ctx.get('x-request-id');
    const id = /^[A-Za-z0-9._-]{8,64}$/.test(incoming) ? incoming : crypto.randomUUID();
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    // Audit and domain lines use the root logger: the id reaches them through the async context.
    // The access line is a debug line: below that level no request pays for timing it.
    return logger.isLevelEnabled('debug') ? logged(ctx, next, id) : withRequestId(id, next);
  };
}
