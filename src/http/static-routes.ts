import fs from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import { VIEWS_DIR } from './views.js';

/** The stylesheet and scripts, read once; no directory listing, no user-chosen paths. */
export function staticRoutes(): Router {
  const router = new Router();
  const files: [string, string, string][] = [
    ['/static/app.css', path.join(VIEWS_DIR, 'static', 'app.css'), 'text/css'],
    // The WebAuthn browser library is served by us, never from a CDN: our CSP allows only 'self'.
    ['/static/simplewebauthn-browser.js', path.join(VIEWS_DIR, '..', 'node_modules', '@simplewebauthn', 'browser', 'dist', 'bundle', 'index.umd.min.js'), 'application/javascript'],
    ['/static/passkey.js', path.join(VIEWS_DIR, 'static', 'passkey.js'), 'application/javascript'],
  ];
  for (const [route, file, type] of files) {
    const body = fs.readFileSync(file);
    router.get(route, (ctx) => {
      ctx.type = type;
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = body;
    });
  }
  return router;
}
