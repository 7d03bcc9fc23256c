import type { Context, Next } from 'koa';
import { normaliseHost } from '../config/config-schema.js';
import { AppError } from './app-error.js';
import { fromLoopbackSocket } from './back-channel.js';

/** Load balancers probe these by IP address; they answer the same whatever the host. */
const ANY_HOST = new Set(['/healthz', '/readyz']);
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * oidc-provider builds its URLs (discovery, redirects, form actions) from the request's host,
 * so only our own hosts get that far: ISSUER's and ALLOWED_HOSTS (as the nearest trusted proxy
 * names them with TRUST_PROXY). Also allowed: this node's own loopback address and port over a
 * loopback socket, which is how the node calls itself (the back channel) and how an operator
 * on the machine reaches one node of several.
 */
export function hostCheck(allowedHosts: readonly string[]) {
  const allowed = new Set(allowedHosts);
  const issuerHost = allowedHosts[0]!;
  return (ctx: Context, next: Next) => {
    if (!ANY_HOST.has(ctx.path)) {
      const verdict = hostOf(ctx, allowed);
      if (!verdict) throw new AppError('bad_request', { key: 'error.unknownHost' });
      // Even the loopback name is not reflected: URLs built for such a request are ISSUER's.
      if (verdict === 'loopback') ctx.req.headers.host = issuerHost;
    }
    return next();
  };
}

function hostOf(ctx: Context, allowed: Set<string>): 'allowed' | 'loopback' | undefined {
  const host = normaliseHost(ctx.host);
  if (!host) return undefined;
  // An absolute-form request target ("GET http://other/ HTTP/1.1") would be the base of every URL.
  const target = ctx.req.url ?? '';
  if (!target.startsWith('/')) {
    try {
      if (normaliseHost(new URL(target).host) !== host) return undefined;
    } catch {
      return undefined;
    }
  }
  if (!/^https?$/i.test(ctx.protocol)) return undefined;
  const forwarded = ctx.app.proxy && ctx.get('x-forwarded-host') !== '';
  // Koa reads the first of comma-separated values and the host of "user@host": a Host header
  // is one name, exactly.
  if (!forwarded && normaliseHost(ctx.get('host')) !== host) return undefined;
  if (allowed.has(host)) return 'allowed';
  const port = ctx.req.socket.localPort;
  const ownLoopback = !forwarded && target.startsWith('/') && fromLoopbackSocket(ctx) && LOOPBACK_NAMES.some((name) => host === normaliseHost(`${name}:${port}`));
  return ownLoopback ? 'loopback' : undefined;
}
