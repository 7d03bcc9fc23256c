import Router from '@koa/router';
import type { Next } from 'koa';
import { z } from 'zod';
import { AppError, isAppError } from '../http/app-error.js';
import { requestOrigin } from '../http/request-origin.js';
import { factorOf, isDeviceKind } from '../mfa/factors/index.js';
import { isUuid } from '../storage/repositories/accounts-repository.js';
import { formOf, signedOf, type AccountGuards } from './account-guards.js';
import { messageOf } from '../i18n/translator.js';
import type { DeviceManagement } from './device-management.js';

// Every field optional and any string: the domain checks the values and words the errors.
const field = z.string().optional();
const addDeviceForm = z.object({ nickname: field, country: field, phone: field, replaces: field });
const browserAddForm = z.object({ nickname: field, previous: field });
const verifyForm = z.object({ code: field, makeDefault: field, replaces: field });
const replacesForm = z.object({ replaces: field });
const confirmForm = z.object({});
const defaultForm = z.object({ method: field });

/** `replaces` is carried into a redirect only when it can be a device id (never echo arbitrary input into a header). */
const replacedId = (value: string | undefined): value is string => typeof value === 'string' && isUuid(value);

const kindOf = (value: string | undefined) => (isDeviceKind(value) ? value : undefined);

/** POST to an unknown device type is a 404 before anything else is read. */
const knownKind = async (ctx: { params: Record<string, string | undefined> }, next: Next) => {
  if (!kindOf(ctx.params.kind)) throw new AppError('not_found', { key: 'device.unknownType' });
  await next();
};

/** "My Multi-Factor Devices": add, verify, renew, remove devices and choose the default. */
export function accountDeviceRoutes(guards: AccountGuards, devices: DeviceManagement): Router {
  const { signedIn, recentSignIn, recentlyAuthenticated, form, page, keepSession, endSession, flowOf } = guards;
  const backToDevice = recentSignIn((ctx) => `/account/devices/${ctx.params.id}`);
  const router = new Router();

  router.get('/devices/new/:kind', signedIn, recentSignIn(), async (ctx) => {
    const kind = kindOf(ctx.params.kind);
    if (!kind) throw new AppError('not_found', { key: 'device.unknownType' });
    const replaces = typeof ctx.query.replaces === 'string' ? ctx.query.replaces : '';
    await page(ctx, 'account-add-device', factorOf(kind).addTitle, { kind, values: { replaces } });
  });

  router.post(
    '/devices/new/:kind',
    knownKind,
    form(addDeviceForm),
    signedIn,
    recentSignIn((ctx) => `/account/devices/new/${ctx.params.kind}`),
    async (ctx) => {
      const kind = kindOf(ctx.params.kind)!;
      const s = signedOf(ctx);
      const posted = formOf(ctx, addDeviceForm);
      try {
        const device = await devices.add(s.user, kind, posted, flowOf(ctx, s));
        const replaces = replacedId(posted.replaces) ? `?replaces=${posted.replaces}` : '';
        ctx.status = 303;
        ctx.redirect(`/account/devices/${device.id}${replaces}`);
      } catch (err) {
        if (!isAppError(err) || (err.status >= 500 && err.code !== 'sms_send_failed')) throw err;
        await page(ctx, 'account-add-device', 'Add a device', { kind, error: err, values: posted }, err.status);
      }
    },
  );

  /**
   * The one-page add of a factor the browser enrols itself: the new device and its options as
   * JSON; the page's script then posts the browser's answer to the device's verify route.
   */
  router.post(
    '/devices/new/:kind/options',
    knownKind,
    form(browserAddForm),
    signedIn,
    recentSignIn((ctx) => `/account/devices/new/${ctx.params.kind}`),
    async (ctx) => {
      const s = signedOf(ctx);
      const posted = formOf(ctx, browserAddForm);
      const { deviceId, options } = await devices.addInBrowser(s.user, kindOf(ctx.params.kind)!, { nickname: posted.nickname }, flowOf(ctx, s), posted.previous);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { deviceId, verifyAction: `/account/devices/${deviceId}/verify`, options };
    },
  );

  router.get('/devices/:id', signedIn, async (ctx) => {
    const s = signedOf(ctx);
    const { device, enrolment } = await devices.device(s.user, ctx.params.id!, flowOf(ctx, s));
    // An enrolment page can hold a secret: only within a recent sign-in.
    if (enrolment && !(await recentlyAuthenticated(ctx, s, ctx.url))) return;
    await page(ctx, 'account-device', device.kindLabel, {
      device,
      enrolment,
      replaces: typeof ctx.query.replaces === 'string' ? ctx.query.replaces : '',
      notice: ctx.query.sent ? messageOf(factorOf(device.kind).resentNotice) : undefined,
    });
  });

  router.post('/devices/:id/verify', form(verifyForm), signedIn, backToDevice, async (ctx) => {
    const s = signedOf(ctx);
    const posted = formOf(ctx, verifyForm);
    try {
      const result = await devices.verify(s.user, ctx.params.id!, posted.code, { makeDefault: posted.makeDefault === '1', replaces: posted.replaces || undefined }, flowOf(ctx, s));
      if (result.verified) {
        if (result.signedOut) {
          // Making it the default signs you out; you sign in again with MFA.
          await endSession(ctx, s);
          ctx.status = 303;
          ctx.redirect('/account/signed-out?reason=default');
          return;
        }
        if (result.mark) await keepSession(s, result.mark);
        ctx.status = 303;
        ctx.redirect('/account?done=verified');
        return;
      }
      const { device, enrolment } = await devices.device(s.user, ctx.params.id!, flowOf(ctx, s));
      await page(ctx, 'account-device', device.kindLabel, { device, enrolment, replaces: posted.replaces ?? '', error: { key: factorOf(device.kind).invalidEnrolmentCode } }, 401);
    } catch (err) {
      if (!isAppError(err) || err.status >= 500 || err.code === 'not_found') throw err;
      const { device, enrolment } = await devices.device(s.user, ctx.params.id!, flowOf(ctx, s));
      await page(ctx, 'account-device', device.kindLabel, { device, enrolment, replaces: posted.replaces ?? '', error: err }, err.status);
    }
  });

  router.post('/devices/:id/resend', form(replacesForm), signedIn, backToDevice, async (ctx) => {
    const s = signedOf(ctx);
    const posted = formOf(ctx, replacesForm);
    try {
      await devices.resendPin(s.user, ctx.params.id!, flowOf(ctx, s));
      ctx.status = 303;
      const replaces = replacedId(posted.replaces) ? `&replaces=${posted.replaces}` : '';
      ctx.redirect(`/account/devices/${ctx.params.id}?sent=1${replaces}`);
    } catch (err) {
      if (!isAppError(err) || (err.status >= 500 && err.code !== 'sms_send_failed') || err.code === 'not_found') throw err;
      const { device, enrolment } = await devices.device(s.user, ctx.params.id!, flowOf(ctx, s));
      await page(ctx, 'account-device', device.kindLabel, { device, enrolment, replaces: '', error: err }, err.status);
    }
  });

  /** "Show a new QR code": finish an enrolment begun in another session (POST: it changes the secret). */
  router.post('/devices/:id/renew', form(replacesForm), signedIn, backToDevice, async (ctx) => {
    const s = signedOf(ctx);
    const posted = formOf(ctx, replacesForm);
    await devices.renewEnrolment(s.user, ctx.params.id!, flowOf(ctx, s));
    const replaces = replacedId(posted.replaces) ? `?replaces=${posted.replaces}` : '';
    ctx.status = 303;
    ctx.redirect(`/account/devices/${ctx.params.id}${replaces}`);
  });

  router.post('/devices/:id/remove', form(confirmForm), signedIn, backToDevice, async (ctx) => {
    const s = signedOf(ctx);
    await keepSession(s, await devices.remove(s.user, ctx.params.id!, requestOrigin(ctx)));
    ctx.status = 303;
    ctx.redirect('/account?done=removed');
  });

  router.get('/devices-remove-all', signedIn, recentSignIn(), async (ctx) => {
    await page(ctx, 'account-remove-all', 'account.removeAll', { overview: await devices.overview(signedOf(ctx).user) });
  });

  router.post(
    '/devices-remove-all',
    form(confirmForm),
    signedIn,
    recentSignIn(() => '/account/devices-remove-all'),
    async (ctx) => {
      const s = signedOf(ctx);
      await keepSession(s, await devices.removeAll(s.user, requestOrigin(ctx)));
      ctx.status = 303;
      ctx.redirect('/account?done=removed-all');
    },
  );

  router.get('/default', signedIn, recentSignIn(), async (ctx) => {
    await page(ctx, 'account-default', 'default.heading', { overview: await devices.overview(signedOf(ctx).user) });
  });

  router.post(
    '/default',
    form(defaultForm),
    signedIn,
    recentSignIn(() => '/account/default'),
    async (ctx) => {
      const s = signedOf(ctx);
      try {
        await keepSession(s, await devices.setDefaultKind(s.user, formOf(ctx, defaultForm).method, requestOrigin(ctx)));
      } catch (err) {
        if (!isAppError(err) || err.status >= 500) throw err;
        return page(ctx, 'account-default', 'default.heading', { overview: await devices.overview(s.user), error: err }, err.status);
      }
      ctx.status = 303;
      ctx.redirect('/account?done=default');
    },
  );

  return router;
}
