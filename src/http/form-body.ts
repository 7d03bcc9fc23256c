import type { Context } from 'koa';
import { AppError } from './app-error.js';

export const FORM_LIMIT_BYTES = 64 * 1024;

/**
 * Reads an application/x-www-form-urlencoded body (our hosted forms) with a size limit.
 * A repeated field keeps its first value; values are always strings.
 */
export async function readForm(ctx: Context, limit = FORM_LIMIT_BYTES): Promise<Record<string, string>> {
  if (!ctx.is('application/x-www-form-urlencoded')) {
    throw new AppError('bad_request', { key: 'error.sendForm' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    // Keep reading (and discarding) so the client gets our 413, not a reset connection.
    if (size > limit) tooLarge = true;
    else chunks.push(chunk as Buffer);
  }
  if (tooLarge) throw new AppError('payload_too_large', { key: 'error.formTooLarge' });
  const form: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) {
    if (!(key in form)) form[key] = value;
  }
  return form;
}
