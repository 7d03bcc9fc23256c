import type { Context, Next } from 'koa';
import { AppError } from './app-error.js';

/**
 * `state` comes back to the relying party in a Location header. Bytes that are not UTF-8 are
 * decoded to U+FFFD and re-encoded three times longer, so a 16 KB request could become a 48 KB
 * header that browsers, proxies and HTTP clients refuse: the user would be stranded between
 * us and the application. Refuse an oversized `state` up front, and never send a Location
 * longer than a client is sure to read.
 */
const MAX_STATE_BYTES = 2048;
const MAX_LOCATION_CHARS = 8192;
const ECHOING_PATHS = new Set(['/auth', '/session/end']);

export async function redirectSizeLimits(ctx: Context, next: Next): Promise<void> {
  if (ECHOING_PATHS.has(ctx.path)) {
    const state = ctx.query.state;
    const values = state === undefined ? [] : Array.isArray(state) ? state : [state];
    if (values.some((v) => Buffer.byteLength(v, 'utf8') > MAX_STATE_BYTES)) {
      throw new AppError('bad_request', { key: 'error.stateTooLong', values: { max: MAX_STATE_BYTES } });
    }
  }
  await next();
  const location: unknown = ctx.response.get('Location');
  if (typeof location === 'string' && location.length > MAX_LOCATION_CHARS) {
    ctx.remove('Location');
    throw new AppError('bad_request', { key: 'error.answerTooLong' });
  }
}
