import type { Context } from 'koa';
import { AppError } from './app-error.js';

export const JSON_LIMIT_BYTES = 16 * 1024;

/** Reads a JSON body (the admin API accepts JSON only) with a size limit. */
export async function readJson(ctx: Context, limit = JSON_LIMIT_BYTES): Promise<unknown> {
  if (!ctx.is('application/json')) throw new AppError('unsupported_media_type', { key: 'error.sendJson' });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer); // keep draining so the client sees our 413
  }
  if (size > limit) throw new AppError('payload_too_large', { key: 'error.bodyTooLarge' });
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new AppError('bad_request', { key: 'error.invalidJson' });
  }
}
