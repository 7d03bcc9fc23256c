import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AccountAdmin, listUsersWithMfa } from '../accounts/account-admin.js';
import { disableRequestView, type DisableDecision } from '../accounts/disable-request.js';
import type { DisableRequests } from '../accounts/disable-requests.js';
import { mayManageAccount } from '../accounts/roles.js';
import { AppError } from '../http/app-error.js';
import { readJson } from '../http/json-body.js';
import { requestOrigin } from '../http/request-origin.js';
import { isUuid } from '../storage/repositories/accounts-repository.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { User } from '../storage/repositories/users-repository.js';
import type { AdminTokenGuard } from './admin-token-guard.js';
import { openApiDocument } from './openapi.js';

const MAX_AUDIT_PAGE = 200;

// Request bodies of the disable-request routes: the shape here, the content rules in the domain.
const fileRequestBody = z.object({ reason: z.unknown() }).strict();
const decisionBody = z.object({ note: z.unknown().optional() }).strict();
const listQuery = z.object({ status: z.string().optional() }).passthrough();

/** A JSON object body of the given shape, or 422 naming what is wrong. */
async function bodyOf<S extends z.ZodType>(ctx: Context, schema: S, shape: string): Promise<z.output<S>> {
  const body = await readJson(ctx);
  const parsed = typeof body === 'object' && body !== null && !Array.isArray(body) ? schema.safeParse(body) : undefined;
  if (!parsed?.success) throw new AppError('validation_failed', `The body must be a JSON object: ${shape}.`);
  return parsed.data;
}

/**
 * /admin/v1: the policy management API. Thin: authenticate the
 * bearer token, check the caller's role for the account, validate, call AccountAdmin.
 * No route adds, verifies or changes a device.
 */
export function adminRoutes(deps: { issuer: string; data: DataStore; admin: AccountAdmin; disableRequests: DisableRequests; guard: AdminTokenGuard }): Router {
  const { data, admin, disableRequests, guard } = deps;
  const router = new Router({ prefix: '/admin/v1' });

  router.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument(deps.issuer);
  });

  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.state.caller = await guard.authenticate(ctx.get('authorization') || undefined);
    await next();
  });

  const caller = (ctx: Context): User => ctx.state.caller as User;

  /** The account of the path, if the caller may manage it (an admin of another account gets 403). */
  async function managedAccount(ctx: Context) {
    const id = String(ctx.params.accountId);
    if (!mayManageAccount(caller(ctx), id)) throw new AppError('forbidden', { key: 'admin.notYourAccount' });
    const account = isUuid(id) ? await data.accounts.findById(id) : undefined;
    if (!account) throw new AppError('not_found', { key: 'admin.noSuchAccount' });
    return account;
  }

  function requireSupport(ctx: Context): void {
    if (!caller(ctx).isSupport) throw new AppError('support_required', 'Only support can do this: open a support ticket.');
  }

  async function targetUser(ctx: Context): Promise<User> {
    const id = String(ctx.params.userId);
    const user = isUuid(id) ? await data.users.findById(id) : undefined;
    if (!user) throw new AppError('not_found', { key: 'support.noSuchUser' });
    return user;
  }

  const policyBody = (a: { mfaRequired: boolean; mfaPolicyUpdatedAt: Date; mfaPolicyUpdatedBy: string | null }) => ({
    mfaRequired: a.mfaRequired,
    updatedAt: a.mfaPolicyUpdatedAt.toISOString(),
    updatedBy: a.mfaPolicyUpdatedBy,
  });

  router.get('/accounts/:accountId/mfa-policy', async (ctx) => {
    ctx.body = policyBody(await managedAccount(ctx));
  });

  router.put('/accounts/:accountId/mfa-policy', async (ctx) => {
    const account = await managedAccount(ctx);
    const body = await readJson(ctx);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AppError('validation_failed', 'The body must be a JSON object: {"mfaRequired": true}.');
    const unknown = Object.keys(body).filter((k) => k !== 'mfaRequired');
    const { mfaRequired } = body as { mfaRequired?: unknown };
    if (unknown.length > 0 || typeof mfaRequired !== 'boolean') throw new AppError('validation_failed', 'The body must be {"mfaRequired": true} or {"mfaRequired": false}.');
    const { account: updated } = await admin.changeMfaPolicy(caller(ctx), account.id, mfaRequired, requestOrigin(ctx));
    ctx.body = policyBody(updated);
  });

  router.post('/accounts/:accountId/mfa-policy/disable-requests', async (ctx) => {
    const account = await managedAccount(ctx);
    const { reason } = await bodyOf(ctx, fileRequestBody, '{"reason": "why"}');
    ctx.status = 201;
    ctx.body = disableRequestView(await disableRequests.file(caller(ctx), account.id, reason, requestOrigin(ctx)));
  });

  router.get('/mfa-policy/disable-requests', async (ctx) => {
    requireSupport(ctx);
    const query = listQuery.safeParse(ctx.query);
    if (!query.success) throw new AppError('validation_failed', 'Give status at most once: pending, approved or rejected.');
    ctx.body = { requests: (await disableRequests.list(caller(ctx), query.data.status)).map(disableRequestView) };
  });

  const decide = (decision: DisableDecision) => async (ctx: Context) => {
    requireSupport(ctx);
    const { note } = await bodyOf(ctx, decisionBody, '{"note": "text"}');
    ctx.body = disableRequestView(await disableRequests.decide(caller(ctx), String(ctx.params.requestId), decision, note, requestOrigin(ctx)));
  };
  router.post('/mfa-policy/disable-requests/:requestId/approve', decide('approved'));
  router.post('/mfa-policy/disable-requests/:requestId/reject', decide('rejected'));

  router.get('/accounts/:accountId/users', async (ctx) => {
    const account = await managedAccount(ctx);
    ctx.body = { users: await listUsersWithMfa(data, account.id) };
  });

  router.post('/users/:userId/unlock', async (ctx) => {
    requireSupport(ctx);
    await admin.unlock((await targetUser(ctx)).id, caller(ctx).id, requestOrigin(ctx));
    ctx.status = 204;
  });

  router.post('/users/:userId/reset-mfa', async (ctx) => {
    requireSupport(ctx);
    await admin.resetMfa((await targetUser(ctx)).id, caller(ctx).id, requestOrigin(ctx));
    ctx.status = 204;
  });

  router.get('/accounts/:accountId/audit-events', async (ctx) => {
    const account = await managedAccount(ctx);
    const limitText = ctx.query.limit === undefined ? '50' : String(ctx.query.limit);
    const beforeText = ctx.query.before === undefined ? undefined : String(ctx.query.before);
    if (!/^\d{1,3}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_AUDIT_PAGE) {
      throw new AppError('validation_failed', `limit must be a whole number from 1 to ${MAX_AUDIT_PAGE}.`);
    }
    if (beforeText !== undefined && !/^[1-9]\d{0,17}$/.test(beforeText)) throw new AppError('validation_failed', 'before must be an event id.');
    const events = await data.audit.list({ accountId: account.id, limit: Number(limitText), beforeId: beforeText });
    ctx.body = {
      events: events.map((e) => ({ ...e, occurredAt: e.occurredAt.toISOString() })),
      nextBefore: events.length === Number(limitText) ? events[events.length - 1]!.id : null,
    };
  });

  // Any other path or method under /admin/v1 answers in the API's error shape too (CONTRACT:
  // errors are {"error","message"}): 405 with Allow for a known path, else 404. Keep it last.
  router.all('/{*rest}', (ctx) => {
    const allowed = [...new Set((ctx.matched ?? []).filter((layer) => layer.methods.length > 0 && !String(layer.path).endsWith('{*rest}')).flatMap((layer) => layer.methods))];
    if (allowed.length === 0) throw new AppError('not_found', 'No such endpoint.');
    ctx.set('Allow', allowed.join(', '));
    ctx.status = 405;
    ctx.body = { error: 'method_not_allowed', message: `Use ${allowed.join(', ')}.` };
  });

  return router;
}
