import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import Koa from 'koa';
import { pino } from 'pino';
import { errorHandler } from '../../../src/http/error-handler.js';
import { OidcSignInClient } from '../../../src/http/oidc-sign-in-client.js';

/**
 * /account and /demo redeem their codes at the token endpoint over the back channel. Here the
 * back channel is a small server that answers what a broken hop answers instead of the token
 * endpoint's JSON: the user gets a 503 "try again" page, never a 500, and the log no stack.
 */
let answer: { status: number; type: string; body: string } = { status: 200, type: 'text/html', body: '' };
let tokenHeaders: http.IncomingHttpHeaders = {};
let backChannel: http.Server;
let app: http.Server;
let appUrl: string;
const logLines: string[] = [];

const listen = (server: http.Server) =>
  new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));

beforeAll(async () => {
  backChannel = http.createServer((req, res) => {
    tokenHeaders = req.headers;
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, { 'content-type': answer.type });
      res.end(answer.body);
    });
  });
  const backChannelUrl = await listen(backChannel);
  const client = new OidcSignInClient({
    issuer: 'http://id.example.test',
    clientId: 'app',
    redirectPath: '/callback',
    cookiePath: '/',
    cookieName: 'flow',
    backChannel: () => backChannelUrl,
    backChannelHeaders: { 'x-marker': 'ours' },
  });
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) }));
  const koa = new Koa({ keys: ['k'.repeat(32)] });
  koa.use(errorHandler(logger));
  koa.use(async (ctx) => {
    if (ctx.path === '/begin') client.begin(ctx, '/');
    else if (ctx.path === '/callback') {
      await client.complete(ctx);
      ctx.body = 'signed in';
    }
  });
  app = http.createServer(koa.callback());
  appUrl = await listen(app);
});

afterAll(async () => {
  await new Promise((r) => backChannel.close(r));
  await new Promise((r) => app.close(r));
});

/** A started sign-in coming back to the callback with a code. */
async function callback(): Promise<Response> {
  const begun = await fetch(`${appUrl}/begin`, { redirect: 'manual' });
  const cookie = begun.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const state = new URL(begun.headers.get('location')!).searchParams.get('state')!;
  return fetch(`${appUrl}/callback?${new URLSearchParams({ state, code: 'a-code' })}`, { headers: { cookie, accept: 'text/html' } });
}

describe('OidcSignInClient.complete when the token endpoint does not answer JSON', () => {
  test.each([
    ['an HTML error page (200)', { status: 200, type: 'text/html', body: '<!doctype html><title>Oops</title><p>maintenance</p>' }],
    ["a proxy's 502 page", { status: 502, type: 'text/html', body: '<html><body><h1>502 Bad Gateway</h1></body></html>' }],
    ['JSON content type with a body that is not JSON', { status: 200, type: 'application/json', body: '{"id_token": ' }],
    ['an empty 503', { status: 503, type: 'text/plain', body: '' }],
    ['JSON that is not an object', { status: 200, type: 'application/json', body: 'null' }],
  ])('%s: the user gets a 503 "try again" page, the log no stack trace', async (_what, next) => {
    answer = next;
    logLines.length = 0;
    const res = await callback();
    const page = await res.text();
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(page).toContain('Try again');
    expect(page).not.toMatch(/\n\s+at |SyntaxError|node_modules/);
    expect(logLines.join('')).not.toMatch(/\\n\s+at |"stack"/);
    // The call went over the back channel with its marker.
    expect(tokenHeaders['x-marker']).toBe('ours');
  });

  test("an OAuth error in JSON is still the user's 400 (start again), not a 503", async () => {
    answer = { status: 400, type: 'application/json', body: JSON.stringify({ error: 'invalid_grant', error_description: 'grant request is invalid' }) };
    const res = await callback();
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('grant request is invalid');
  });
});
