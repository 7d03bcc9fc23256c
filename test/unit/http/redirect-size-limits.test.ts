import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Koa from 'koa';
import { redirectSizeLimits } from '../../../src/http/redirect-size-limits.js';
import { isAppError } from '../../../src/http/app-error.js';

/** An app whose only answer is a redirect to `?to=` (or a plain 200 without `to`), behind the limit. */
function app() {
  const koa = new Koa();
  koa.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      ctx.status = 400;
      ctx.body = { error: isAppError(err) ? err.code : 'other' };
    }
  });
  koa.use(redirectSizeLimits);
  koa.use((ctx) => {
    const to = ctx.query.to;
    if (typeof to === 'string') ctx.redirect(`https://rp.example/cb?x=${'a'.repeat(Number(to))}`);
    else ctx.body = 'ok';
  });
  return http.createServer(koa.callback());
}

describe('redirect size limits', () => {
  const server = app();
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('passes an answer without a Location and a redirect of ordinary length', async () => {
    const plain = await fetch(`${base}/`);
    expect(plain.status).toBe(200);
    expect(await plain.text()).toBe('ok');
    const short = await fetch(`${base}/?to=100`, { redirect: 'manual' });
    expect(short.status).toBe(302);
    expect(short.headers.get('location')).toHaveLength('https://rp.example/cb?x='.length + 100);
  });

  it('refuses a redirect longer than a client is sure to read, and sends no Location', async () => {
    const long = await fetch(`${base}/?to=9000`, { redirect: 'manual' });
    expect(long.status).toBe(400);
    expect(long.headers.get('location')).toBeNull();
    expect(await long.json()).toEqual({ error: 'bad_request' });
  });
});
