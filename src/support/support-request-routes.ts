import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { DisableDecision } from '../accounts/disable-request.js';
import { selfApprovalOf, type DisableRequests } from '../accounts/disable-requests.js';
import { requestOrigin } from '../http/request-origin.js';
import type { Message } from '../i18n/translator.js';
import { formOf, signedOf, type SupportGuards } from './support-guards.js';

// The note's rules (optional, length, characters) are the domain's, with its messages.
const decisionForm = z.object({ note: z.string().optional() });

const NOTICES: Record<string, Message> = { approved: { key: 'support.approved' }, rejected: { key: 'support.rejected' } };

/** /support/requests: the queue of requests to disable "Require Multi-Factor", decided here by support. */
export function supportRequestRoutes(guards: SupportGuards, disableRequests: DisableRequests): Router {
  const router = new Router();

  router.get('/requests', ...guards.viewer, async (ctx) => {
    const { user } = signedOf(ctx);
    const requests = await disableRequests.list(user, 'pending');
    await guards.page(ctx, 'support-requests', 'support.requestsHeading', {
      requests: requests.map((r) => ({ ...r, refusal: selfApprovalOf(user, r) })),
      notice: typeof ctx.query.decided === 'string' ? NOTICES[ctx.query.decided] : undefined,
    });
  });

  const decide = (decision: DisableDecision) => async (ctx: Context & { params: Record<string, string | undefined> }) => {
    await disableRequests.decide(signedOf(ctx).user, String(ctx.params.requestId), decision, formOf(ctx, decisionForm).note, requestOrigin(ctx));
    ctx.status = 303;
    ctx.redirect(`/support/requests?decided=${decision}`);
  };
  const back = () => '/support/requests';
  router.post('/requests/:requestId/approve', guards.form(decisionForm), ...guards.actor(back), decide('approved'));
  router.post('/requests/:requestId/reject', guards.form(decisionForm), ...guards.actor(back), decide('rejected'));

  return router;
}
