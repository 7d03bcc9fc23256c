import type { Context, Next } from 'koa';
import type { Logger } from '../logger.js';
import { AppError, isAppError } from './app-error.js';
import { translatorFor, type Message } from '../i18n/translator.js';
import { pageLanguage, pageLocalsOf } from './page-language.js';
import { renderPage } from './views.js';
import { loggablePath } from './loggable-path.js';

const UNAVAILABLE: Message = { key: 'error.unavailable' };
const UNAVAILABLE_TEXT = translatorFor('en').message(UNAVAILABLE);

const STORE_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P03', '08006', '08001', '08003']);

const STORE_MESSAGES =
  /Connection is closed|connect ECONNREFUSED|Connection terminated|timeout exceeded when trying to connect|max retries per request|Stream isn't writeable|Command timed out/i;

/** A Redis Cluster with a master down: the client gives up redirecting, or the cluster refuses. */
const CLUSTER_MESSAGES =
  /Too many Cluster redirections|CLUSTERDOWN|TRYAGAIN|Cluster isn't ready|Cluster is disconnected|None of startup nodes is available|Failed to refresh slots cache/;

/** Turns errors that are not ours (a store that went away) into our one error type. */
export function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  const e = err as { code?: string; message?: string; name?: string; status?: number; expose?: boolean };
  if ((e.code && STORE_ERRORS.has(e.code)) || STORE_MESSAGES.test(e.message ?? '') || CLUSTER_MESSAGES.test(e.message ?? '')) {
    return new AppError('store_unavailable', UNAVAILABLE, { cause: err, retryAfterSeconds: 5 });
  }
  if (e.status === 413) return new AppError('payload_too_large', { key: 'error.tooLarge' });
  if (e.status === 400 && e.expose) return new AppError('bad_request', e.message ?? 'Bad request');
  return new AppError('internal_error', { key: 'error.internal' }, { cause: err });
}

/**
 * The outermost middleware: users get a clear page (or JSON for /admin), logs get the detail,
 * and no stack trace ever reaches a response.
 */
export function errorHandler(logger: Logger, onStoreError: () => void = () => {}) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      // oidc-provider answers its own endpoints' failures with 500 server_error; when the cause
      // was a store outage (noted by the provider's server_error listener), say 503 instead.
      if (ctx.status === 500 && ctx.state.storeUnavailable) {
        onStoreError();
        ctx.set('Retry-After', '5');
        if (ctx.response.is('json')) {
          // OAuth endpoints keep the OAuth error shape.
          ctx.status = 503;
          ctx.body = { error: 'temporarily_unavailable', error_description: UNAVAILABLE_TEXT };
        } else {
          await writeError(ctx, 503, 'store_unavailable', UNAVAILABLE);
        }
      } else if (ctx.status >= 400 && ctx.body == null) {
        // Nothing answered (an unknown path, a method the path does not take): our page or
        // JSON, not Koa's bare text.
        const status = ctx.status;
        await writeError(ctx, status, status === 404 ? 'not_found' : status === 405 ? 'method_not_allowed' : 'bad_request', BARE_MESSAGES[status] ?? { key: 'error.message' });
      }
    } catch (raw) {
      const err = toAppError(raw);
      if (err.code === 'store_unavailable') onStoreError();
      if (err.status >= 500) logger.error({ err: err.details.cause ?? raw, code: err.code, path: loggablePath(ctx.path), reqId: ctx.state.requestId }, 'request failed');
      else logger.info({ code: err.code, path: loggablePath(ctx.path), reqId: ctx.state.requestId }, 'request refused');
      if (err.details.retryAfterSeconds) ctx.set('Retry-After', String(err.details.retryAfterSeconds));
      await writeError(ctx, err.status, err.code, err);
    }
  };
}

const BARE_MESSAGES: Record<number, Message> = {
  404: { key: 'error.notFound' },
  405: { key: 'error.methodNotAllowed' },
};

/** An error answer: `{"error","message"}` for /admin and JSON clients, else our error page. */
async function writeError(ctx: Context, status: number, code: string, message: Message | AppError): Promise<void> {
  ctx.status = status;
  if (ctx.path.startsWith('/admin/') || ctx.accepts('html', 'json') === 'json') {
    // The admin API answers in English; the hosted pages' own calls in the page's language.
    const language = ctx.path.startsWith('/admin/') ? translatorFor('en') : pageLanguage(ctx);
    ctx.body = { error: code, message: language.text(message) };
    return;
  }
  ctx.type = 'html';
  ctx.body = await renderPage('error', {
    ...pageLocalsOf(ctx),
    title: status === 503 ? 'error.headingUnavailable' : 'error.heading',
    heading: status === 503 ? 'error.headingUnavailable' : status >= 500 ? 'error.heading' : 'error.headingRefused',
    message,
  }).catch(() => `<!doctype html><title>Error</title><p>${status >= 500 ? 'Something went wrong.' : 'The request could not be completed.'}</p>`);
}
