import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { AppError, isAppError } from '../http/app-error.js';
import { toAppError } from '../http/error-handler.js';
import { readForm } from '../http/form-body.js';
import { requestOrigin } from '../http/request-origin.js';
import { languageOfRequest, pageLanguage, pageLocalsOf } from '../http/page-language.js';
import { renderPage } from '../http/views.js';
import { factorOf, isDeviceKind } from '../mfa/factors/index.js';
import type { SignInFlow, SignInStep } from '../mfa/sign-in-flow.js';
import { requestsMfa, requestsPhr } from '../oidc/authentication-context.js';
import { FIRST_PARTY } from '../oidc/create-provider.js';
import type { Shown } from '../i18n/translator.js';
import { MFA_STEP_UP } from '../oidc/interaction-policy.js';

export interface InteractionDeps {
  provider: Provider;
  flow: SignInFlow;
  verifyCsrf: (ctx: Context, form: Record<string, string>) => void;
  csrfMiddleware: (ctx: Context, next: () => Promise<void>) => Promise<void>;
  /** Whether the user may hold a resource scope (the admin scope: admins and support). */
  mayHoldResourceScope: (userId: string, scope: string) => Promise<boolean>;
  /** Keeps the language a user chose (ui_locales or the picker) for mails and SMS sent later. */
  rememberLanguage: (userId: string, tag: string) => Promise<void>;
  /** Extra locals a factor's pages need (country list for SMS). */
  viewExtras?: () => Record<string, unknown>;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

const STEP_VIEWS: Record<Exclude<SignInStep['kind'], 'complete'>, string> = {
  locked: 'locked',
  challenge: 'challenge',
  notice: 'notice',
  choose: 'choose-method',
  'enrol-start': 'enrol-start',
  enrol: 'enrol',
};

/** A form's CSRF token is valid only in the interaction it was shown in. */
export const interactionCsrfBinding = (ctx: Context): string => `interaction:${String(ctx.params?.uid ?? '')}`;

const STEP_STATUS: Partial<Record<SignInStep['kind'], number>> = { locked: 423 };

/**
 * Hosted sign-in pages for /interaction/:uid. Thin: read the form, call the sign-in flow,
 * render the step it returns or hand the result back to oidc-provider.
 */
export function interactionRoutes({ provider, flow, verifyCsrf, csrfMiddleware, mayHoldResourceScope, rememberLanguage, viewExtras }: InteractionDeps): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  router.use(csrfMiddleware);

  async function details(ctx: Context): Promise<Details> {
    try {
      const d = await provider.interactionDetails(ctx.req, ctx.res);
      if (d.uid !== ctx.params.uid) throw new Error('interaction mismatch');
      // The relying party's ui_locales outranks the picker and the browser for this sign-in.
      pageLanguage(ctx, d.params.ui_locales ?? null);
      return d;
    } catch (err) {
      if (isAppError(err)) throw err;
      // A store outage is not an expired page: the user should try again, not start over.
      const mapped = toAppError(err);
      if (mapped.code === 'store_unavailable') throw mapped;
      throw new AppError('interaction_expired', { key: 'mfa.pageExpired' });
    }
  }

  async function page(ctx: Context, view: string, title: string, locals: Record<string, unknown>, status = 200): Promise<void> {
    ctx.set('Cache-Control', 'no-store');
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = await renderPage(view, { title, ...pageLocalsOf(ctx), csrfToken: ctx.state.csrfToken, uid: ctx.params.uid, ...viewExtras?.(), ...locals });
  }

  /**
   * Hands the result back to oidc-provider on the interaction this request already loaded and
   * checked (interactionResult would load it, and its session, once more).
   */
  async function resume(ctx: Context, d: Details, result: InteractionResults): Promise<void> {
    d.result = result;
    await d.save(d.exp - Math.floor(Date.now() / 1000));
    ctx.status = 303;
    ctx.redirect(d.returnTo);
  }

  async function show(ctx: Context, d: Details, step: SignInStep, status = 200): Promise<void> {
    if (step.kind === 'complete') {
      const language = languageOfRequest(ctx);
      if (language?.chosen) await rememberLanguage(step.login.accountId, language.tag);
      return resume(ctx, d, { login: { ...step.login, remember: true } });
    }
    const error = 'error' in step && step.error ? step.error : undefined;
    await page(ctx, STEP_VIEWS[step.kind], titleOf(step), { step }, STEP_STATUS[step.kind] ?? (error ? 401 : status));
  }

  async function loginPage(ctx: Context, d: Details, locals: { username?: string; error?: Shown } = {}, status = 200) {
    const client = await provider.Client.find(String(d.params.client_id));
    const firstFactors = await flow.firstFactorOptions(d.uid);
    await page(ctx, 'login', 'title.signIn', { clientName: client?.clientName ?? client?.clientId ?? '', firstFactors, ...locals }, status);
  }

  /** When the interaction's session signed in (the interaction keeps no copy of it). */
  async function sessionLoginTs(d: Details): Promise<number | undefined> {
    const session = d.session?.cookie ? await provider.Session.find(d.session.cookie) : undefined;
    return session?.accountId === d.session?.accountId ? session?.loginTs : undefined;
  }

  /** Posts a form after checking its CSRF token and that the interaction is alive. */
  async function post(ctx: Context): Promise<{ d: Details; form: Record<string, string> }> {
    const d = await details(ctx);
    const form = await readForm(ctx);
    verifyCsrf(ctx, form);
    return { d, form };
  }

  router.get('/', async (ctx) => {
    const ahead = flow.readAhead(ctx.params.uid!);
    const d = await details(ctx);
    if (d.prompt.name === 'login') {
      const step = await flow.current(d.uid, requestOrigin(ctx), ahead);
      if (step) return show(ctx, d, step);
      const onlyStepUp = d.prompt.reasons.length > 0 && d.prompt.reasons.every((r) => r === MFA_STEP_UP);
      if (onlyStepUp && d.session?.accountId) {
        const step = await flow.stepUp(d.uid, d.session.accountId, await sessionLoginTs(d), requestOrigin(ctx), requestsPhr(d.params.acr_values));
        if (step) return show(ctx, d, step);
      }
      return loginPage(ctx, d);
    }
    if (d.prompt.name === 'consent') {
      const client = await provider.Client.find(String(d.params.client_id));
      if (client && (client as unknown as Record<string, unknown>)[FIRST_PARTY]) return finishConsent(ctx, d);
      const scopes = String(d.params.scope ?? '')
        .split(' ')
        .filter(Boolean);
      return page(ctx, 'consent', 'title.consent', { clientName: client?.clientName ?? client?.clientId ?? 'This application', scopes });
    }
    throw new AppError('bad_request', { key: 'signIn.unknownStep' });
  });

  router.post('/login', async (ctx) => {
    const { d, form } = await post(ctx);
    if (d.prompt.name !== 'login') return ctx.redirect(`/interaction/${d.uid}`);
    try {
      const step = await flow.submitPassword(d.uid, form.username, form.password, requestsMfa(d.params.acr_values), requestOrigin(ctx), requestsPhr(d.params.acr_values));
      return show(ctx, d, step);
    } catch (err) {
      if (isAppError(err) && (err.code === 'invalid_credentials' || err.code === 'rate_limited')) {
        if (err.details.retryAfterSeconds) ctx.set('Retry-After', String(err.details.retryAfterSeconds));
        return loginPage(ctx, d, { username: String(form.username ?? '').slice(0, 200), error: err }, err.status);
      }
      throw err;
    }
  });

  /** A sign-in with a factor alone (a passkey): no password. */
  router.post('/sign-in/:kind', async (ctx) => {
    const { d, form } = await post(ctx);
    if (d.prompt.name !== 'login') return ctx.redirect(`/interaction/${d.uid}`);
    if (!isDeviceKind(ctx.params.kind)) throw new AppError('not_found', { key: 'signIn.unknownMethod' });
    const step = await flow.signInWithFactor(d.uid, ctx.params.kind, form.code, requestOrigin(ctx), requestsPhr(d.params.acr_values));
    if (step) return show(ctx, d, step);
    return loginPage(ctx, d, { error: { key: factorOf(ctx.params.kind).invalidChallengeCode ?? 'mfa.signInNotRecognised' } }, 401);
  });

  router.post('/mfa', async (ctx) => {
    const ahead = flow.readAhead(ctx.params.uid!);
    const { d, form } = await post(ctx);
    return show(ctx, d, await flow.verifyChallenge(d.uid, form.code, requestOrigin(ctx), ahead));
  });

  router.post('/recovery', async (ctx) => {
    const ahead = flow.readAhead(ctx.params.uid!);
    const { d, form } = await post(ctx);
    return show(ctx, d, await flow.verifyRecoveryCode(d.uid, form.code, requestOrigin(ctx), ahead));
  });

  router.post('/mfa/switch', async (ctx) => {
    const { d, form } = await post(ctx);
    return show(ctx, d, await flow.switchDevice(d.uid, form.deviceId, requestOrigin(ctx)));
  });

  router.post('/mfa/resend', async (ctx) => {
    const { d } = await post(ctx);
    return show(ctx, d, await flow.resendChallenge(d.uid, requestOrigin(ctx)));
  });

  router.post('/enrol/resend', async (ctx) => {
    const { d } = await post(ctx);
    return show(ctx, d, await flow.resendEnrolmentCode(d.uid, requestOrigin(ctx)));
  });

  router.post('/enrol', async (ctx) => {
    const { d } = await post(ctx);
    return show(ctx, d, await flow.chooseMethod(d.uid, requestOrigin(ctx)));
  });

  router.post('/enrol/method', async (ctx) => {
    const { d, form } = await post(ctx);
    const step = await flow.chooseMethod(d.uid, requestOrigin(ctx));
    if (step.kind !== 'choose') return show(ctx, d, step);
    // The sentence names every factor: adding one means adding it there, in each catalogue.
    if (!isDeviceKind(form.method) || !step.methods.includes(form.method)) throw new AppError('bad_request', { key: 'signIn.chooseFactor' });
    return show(ctx, d, { kind: 'enrol-start', method: form.method });
  });

  router.post('/enrol/begin', async (ctx) => {
    const { d, form } = await post(ctx);
    return show(ctx, d, await flow.beginEnrolment(d.uid, form.method, form, requestOrigin(ctx)));
  });

  /**
   * The one-page enrolment of a factor the browser enrols itself: its options as JSON. Any other
   * outcome (the sign-in moved on) is a 409: the page's script then posts the form as a page.
   */
  router.post('/enrol/options', async (ctx) => {
    const { d, form } = await post(ctx);
    const result = await flow.beginBrowserEnrolment(d.uid, form.method, form, requestOrigin(ctx));
    ctx.set('Cache-Control', 'no-store');
    if ('step' in result) throw new AppError('conflict', { key: 'signIn.movedOn' });
    ctx.body = { verifyAction: `/interaction/${d.uid}/enrol/verify`, options: result.options };
  });

  router.post('/enrol/verify', async (ctx) => {
    const { d, form } = await post(ctx);
    return show(ctx, d, await flow.confirmEnrolment(d.uid, form.code, requestOrigin(ctx)));
  });

  router.post('/consent', async (ctx) => {
    const { d } = await post(ctx);
    if (d.prompt.name !== 'consent') return ctx.redirect(`/interaction/${d.uid}`);
    return finishConsent(ctx, d);
  });

  router.post('/abort', async (ctx) => {
    const { d } = await post(ctx);
    await resume(ctx, d, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' });
  });

  async function finishConsent(ctx: Context, d: Details): Promise<void> {
    const accountId = d.session?.accountId;
    if (!accountId) throw new AppError('interaction_expired', { key: 'mfa.pageExpired' });
    const grant = d.grantId ? await provider.Grant.find(d.grantId) : new provider.Grant({ accountId, clientId: String(d.params.client_id) });
    if (!grant) throw new AppError('interaction_expired', { key: 'mfa.pageExpired' });
    const missing = d.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      for (const scope of scopes) {
        if (!(await mayHoldResourceScope(accountId, scope))) {
          return resume(ctx, d, { error: 'access_denied', error_description: `The ${scope} scope is only for administrators.` });
        }
      }
      grant.addResourceScope(resource, scopes.join(' '));
    }
    const grantId = await grant.save();
    await resume(ctx, d, { ...d.lastSubmission, consent: { grantId } });
  }

  return router;
}

function titleOf(step: SignInStep): string {
  switch (step.kind) {
    case 'locked':
      return 'title.locked';
    case 'challenge':
      return 'title.challenge';
    case 'notice':
      return 'notice.heading';
    case 'choose':
      return 'title.choose';
    default:
      return 'title.enrol';
  }
}
