import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs. Redaction is a safety net: callers never pass secrets in the first place. */
export function createLogger(level: string, destination: 'stdout' | 'stderr' = 'stdout'): Logger {
  return pino(
    {
      level,
      base: { service: 'twofold' },
      redact: {
        paths: ['password', '*.password', 'code', '*.code', 'secret', '*.secret', 'phone', '*.phone', 'req.headers.cookie', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination(destination === 'stdout' ? 1 : 2),
  );
}
