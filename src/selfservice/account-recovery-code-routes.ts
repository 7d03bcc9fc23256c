import Router from '@koa/router';
import { z } from 'zod';
import { AppError, isAppError } from '../http/app-error.js';
import { requestOrigin } from '../http/request-origin.js';
import { parseQuantity } from '../mfa/recovery-codes.js';
import { formOf, signedOf, type AccountGuards } from './account-guards.js';
import type { DeviceManagement } from './device-management.js';

// Any string: parseQuantity words the error, and the download keeps only well-formed codes.
const generateForm = z.object({ quantity: z.string().optional() });
const downloadForm = z.object({ codes: z.string().optional() });

/** "Generate Recovery Codes" and "Save Your Codes". */
export function accountRecoveryCodeRoutes(guards: AccountGuards, devices: DeviceManagement): Router {
  const { signedIn, recentSignIn, form, page, keepSession } = guards;
  const router = new Router();

  router.get('/recovery-codes', signedIn, recentSignIn(), async (ctx) => {
    await page(ctx, 'account-recovery-codes', 'account.generateCodes', { overview: await devices.overview(signedOf(ctx).user), quantity: '10' });
  });

  router.post(
    '/recovery-codes',
    form(generateForm),
    signedIn,
    recentSignIn(() => '/account/recovery-codes'),
    async (ctx) => {
      const s = signedOf(ctx);
      const posted = formOf(ctx, generateForm);
      let quantity: number;
      try {
        quantity = parseQuantity(posted.quantity);
      } catch (err) {
        if (!isAppError(err)) throw err;
        return page(
          ctx,
          'account-recovery-codes',
          'account.generateCodes',
          { overview: await devices.overview(s.user), quantity: String(posted.quantity ?? '').slice(0, 20), error: err },
          422,
        );
      }
      const { codes, mark } = await devices.generateRecoveryCodes(s.user, quantity, requestOrigin(ctx));
      await keepSession(s, mark);
      // Shown exactly once: this response is the only place the codes exist in clear.
      await page(ctx, 'account-recovery-codes-shown', 'codes.shownHeading', { codes });
    },
  );

  /** "Save Your Codes": the page posts back the codes it shows; nothing is stored in clear. */
  router.post('/recovery-codes/download', form(downloadForm), signedIn, async (ctx) => {
    const s = signedOf(ctx);
    const codes = String(formOf(ctx, downloadForm).codes ?? '')
      .split(/\s+/)
      .filter((c) => /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/.test(c))
      .slice(0, 10);
    if (codes.length === 0) throw new AppError('bad_request', { key: 'codes.nothingToSave' });
    const header = [`Twofold recovery codes for ${s.user.username}`, `Generated ${new Date().toISOString().slice(0, 10)}. Each code works once.`, ''];
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', 'attachment; filename="recovery-codes.txt"');
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = [...header, ...codes, ''].join('\n');
  });

  return router;
}
