import Router from '@koa/router';

/** /healthz: the process answers. /readyz: Postgres and the ephemeral store answer too. */
export function healthRoutes(checks: Record<string, () => Promise<void>>, timeoutMs = 2000): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const results: Record<string, 'ok' | 'unavailable'> = {};
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
        });
        try {
          await Promise.race([check(), timeout]);
          results[name] = 'ok';
        } catch {
          results[name] = 'unavailable';
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const ready = Object.values(results).every((r) => r === 'ok');
    ctx.set('Cache-Control', 'no-store');
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'unavailable', checks: results };
  });
  return router;
}
