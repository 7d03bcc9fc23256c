import fs from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import { VIEWS_DIR } from './views.js';

/** The stylesheet, read once; no directory listing, no user-chosen paths. */
export function staticRoutes(): Router {
  const router = new Router();
  const css = fs.readFileSync(path.join(VIEWS_DIR, 'static', 'app.css'));
  router.get('/static/app.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = css;
  });
  return router;
}
