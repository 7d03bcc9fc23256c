import type { Context, Next } from 'koa';
import type { Throttle, ThrottleRule } from './throttle.js';
import type { Message } from '../i18n/translator.js';
import { isBackChannel } from './back-channel.js';

/**
 * Per-IP (and, at the token endpoint, per-client) request limits on the unauthenticated entry
 * points, on top of the per-user protections (password throttle, MFA lockout, SMS limits).
 * Over the limit: 429 with Retry-After, before any work is done.
 */

// A sign-in with a passkey alone counts here too: no user is known yet, so no lockout applies.
const CODE_PATHS = /^\/interaction\/[^/]+\/(mfa|recovery|enrol\/verify|sign-in\/[^/]+)$/;
/** Starting an enrolment creates a device (and may send an SMS): a much lower limit. */
const ENROL_PATHS = /^(\/interaction\/[^/]+\/enrol\/begin|\/account\/devices\/new\/[^/]+)$/;

/** The client id of an HTTP Basic client authentication, if any. */
function basicClientId(ctx: Context): string | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(ctx.get('authorization'));
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const id = decoded.slice(0, Math.max(decoded.indexOf(':'), 0));
  if (!id) return undefined;
  try {
    return decodeURIComponent(id).slice(0, 128);
  } catch {
    return id.slice(0, 128); // not form-encoded (a stray '%'): count it as sent
  }
}

/** `backChannelSecret`: this process's own code redemptions (every /account sign-in) are not an outside IP's. */
export function entryPointLimits(throttle: Throttle, perIpPerMinute: number, backChannelSecret?: string) {
  const TOKEN_PER_IP: ThrottleRule = { name: 'token-ip', limit: perIpPerMinute, windowSeconds: 60 };
  const TOKEN_PER_CLIENT: ThrottleRule = { name: 'token-client', limit: perIpPerMinute * 2, windowSeconds: 60 };
  const CODES_PER_IP: ThrottleRule = { name: 'codes-ip', limit: perIpPerMinute, windowSeconds: 60 };
  const ENROL_PER_IP: ThrottleRule = { name: 'enrol-ip', limit: Math.max(1, Math.ceil(perIpPerMinute / 20)), windowSeconds: 60 };
  const message: Message = { key: 'error.tooManyRequests' };
  const limited = async (ctx: Context, next: Next) => {
    const ip = ctx.ip || 'unknown';
    if (ctx.path === '/token') {
      if (backChannelSecret !== undefined && isBackChannel(ctx, backChannelSecret)) return next();
      const clientId = basicClientId(ctx);
      await throttle.consumeAll(
        clientId
          ? [
              [TOKEN_PER_IP, ip],
              [TOKEN_PER_CLIENT, clientId],
            ]
          : [[TOKEN_PER_IP, ip]],
        message,
      );
    } else if (CODE_PATHS.test(ctx.path)) {
      await throttle.consume(CODES_PER_IP, ip, message);
    } else if (ENROL_PATHS.test(ctx.path)) {
      await throttle.consume(ENROL_PER_IP, ip, message);
    }
    return next();
  };
  // Only POSTs are counted: every other request passes without a frame of its own.
  return (ctx: Context, next: Next) => (ctx.method === 'POST' ? limited(ctx, next) : next());
}
