import type { Context } from 'koa';
import type { RequestOrigin } from '../audit/audit-log.js';

export function requestOrigin(ctx: Context): RequestOrigin {
  return { ip: ctx.ip || null, userAgent: ctx.get('user-agent') || null };
}
