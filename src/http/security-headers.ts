import type { Context, Next } from 'koa';

/**
 * Headers on every response. Our pages need no inline script; oidc-provider adds hashes for
 * its own inline scripts (form_post, logout) to the CSP it finds. No form-action: after a
 * form post Chrome applies it to the redirect chain that ends at the relying party.
 */
const CSP = ["default-src 'self'", "img-src 'self' data:", "style-src 'self'", "script-src 'self'", "base-uri 'none'", "frame-ancestors 'none'", "object-src 'none'"].join('; ');

export function securityHeaders(ctx: Context, next: Next): Promise<unknown> {
  ctx.set('Content-Security-Policy', CSP);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  return next();
}
