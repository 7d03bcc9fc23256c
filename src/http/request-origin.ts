import type { Context } from 'koa';
import type { RequestOrigin } from '../audit/audit-log.js';
import { languageOfRequest } from './page-language.js';

export function requestOrigin(ctx: Context): RequestOrigin {
  const origin: RequestOrigin = { ip: ctx.ip || null, userAgent: ctx.get('user-agent') || null };
  const language = languageOfRequest(ctx);
  return language ? { ...origin, language } : origin;
}
