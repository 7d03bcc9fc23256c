import crypto from 'node:crypto';
import type { Context } from 'koa';
import { constantTimeEqual } from '../crypto/random-codes.js';

/**
 * This process calling itself (the /account and /demo apps redeeming codes at 127.0.0.1): such
 * calls carry a header only the operator's cookie key can produce, and count only when they
 * arrive on a loopback socket, so an outside client can neither forge nor replay one.
 */
export const BACK_CHANNEL_HEADER = 'x-twofold-back-channel';

export const backChannelSecret = (cookieKey: string): string => crypto.createHmac('sha256', cookieKey).update('twofold:back-channel').digest('base64url');

/** The peer address of the TCP connection itself (never X-Forwarded-For) is on this host. */
export function fromLoopbackSocket(ctx: Context): boolean {
  const address = ctx.req.socket.remoteAddress ?? '';
  return /^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address);
}

export function isBackChannel(ctx: Context, secret: string): boolean {
  const sent = ctx.get(BACK_CHANNEL_HEADER);
  return sent !== '' && fromLoopbackSocket(ctx) && constantTimeEqual(sent, secret);
}
