import { disableRequestView, isDisableRequestStatus, type DisableDecision, type ListedDisableRequest } from '../../accounts/disable-request.js';
import { AccountAdmin } from '../../accounts/account-admin.js';
import type { Command } from '../command.js';
import { parseCommandArgs, required, UsageError } from '../parse-args.js';

/** One line per request; reasons are shown on one line, however they were typed. */
const requestLine = (r: ListedDisableRequest) =>
  `${r.id}  ${r.status.padEnd(8)}  ${r.createdAt.toISOString()}  account "${r.accountName}"  by ${r.requesterUsername}: ${r.reason.replace(/\s+/g, ' ')}`;

export const supportRequestsCommand: Command = {
  name: 'support requests',
  usage: ['support requests [--status pending|approved|rejected]'],
  summary: 'list requests to disable "Require Multi-Factor", newest first',
  details: ['--status STATUS     only requests with this status'],
  async run(args, ctx) {
    const { values } = parseCommandArgs(this.name, args, { status: { type: 'string' } });
    if (values.status !== undefined && !isDisableRequestStatus(values.status)) throw new UsageError('--status must be one of: pending, approved, rejected', this.name);
    const requests = await ctx.withServices((s) => s.disableRequests.list(null, values.status));
    return {
      json: { requests: requests.map((r) => ({ ...disableRequestView(r), accountName: r.accountName, requesterUsername: r.requesterUsername })) },
      text: requests.length === 0 ? ['No requests.'] : requests.map(requestLine),
    };
  },
};

function decisionCommand(action: 'approve' | 'reject', decision: DisableDecision): Command {
  return {
    name: `support ${action}`,
    usage: [`support ${action} REQUEST_ID --as USERNAME [--note TEXT]`],
    summary:
      decision === 'approved'
        ? 'approve a request: "Require Multi-Factor" is turned off for its account and the requester is told'
        : 'reject a request: the requirement stays on and the requester is told',
    details: ['--as USERNAME       the support user deciding (not the requester, not a member of that account)', '--note TEXT         a note for the requester'],
    async run(args, ctx) {
      const { values, positionals } = parseCommandArgs(this.name, args, { as: { type: 'string' }, note: { type: 'string' } }, ['request_id']);
      const as = required(this.name, values.as, 'as');
      const request = await ctx.withServices(async (s) => {
        const actor = await new AccountAdmin(s.data, s.audit).findUser(as);
        return s.disableRequests.decide(actor, positionals.request_id!, decision, values.note);
      });
      return {
        json: disableRequestView(request),
        text: [
          `Request ${request.id} ${request.status}.`,
          ...(decision === 'approved' ? [`Multi-factor authentication is no longer required for account ${request.accountId}.`] : []),
        ],
      };
    },
  };
}

export const supportApproveCommand = decisionCommand('approve', 'approved');
export const supportRejectCommand = decisionCommand('reject', 'rejected');
