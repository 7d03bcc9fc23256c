import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger } from 'pino';

export type { Logger };

/** The request being handled, if any: its id goes on every log line written meanwhile. */
const requestContext = new AsyncLocalStorage<{ reqId: string }>();

/** Runs `fn` (a request's handling) so that every line logged within it carries `reqId`. */
export function withRequestId<T>(reqId: string, fn: () => T): T {
  return requestContext.run({ reqId }, fn);
}

/** Structured JSON logs. Redaction is a safety net: callers never pass secrets in the first place. */
export function createLogger(level: string, destination: 'stdout' | 'stderr' = 'stdout'): Logger {
  return pino(
    {
      level,
      base: { service: 'twofold' },
      // A fresh object each time: pino merges the line's fields into what mixin returns.
      mixin: () => {
        const store = requestContext.getStore();
        return store ? { reqId: store.reqId } : {};
      },
      redact: {
        paths: ['password', '*.password', 'code', '*.code', 'secret', '*.secret', 'phone', '*.phone', 'req.headers.cookie', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination(destination === 'stdout' ? 1 : 2),
  );
}
