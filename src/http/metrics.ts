import type { Context, Next } from 'koa';
import client from 'prom-client';
import { constantTimeEqual } from '../crypto/random-codes.js';
import { FACTORS } from '../mfa/factors/index.js';
import { AppError } from './app-error.js';

/**
 * Prometheus metrics. Security counters are derived from audit events (one place where every
 * such event passes), so they cannot drift from the audit trail. Labels never carry personal
 * data: methods, results and route templates only.
 */
export class Metrics {
  readonly registry = new client.Registry();
  private readonly signIns = new client.Counter({
    name: 'twofold_sign_ins_total',
    help: 'Sign-in steps by result and method',
    labelNames: ['result', 'method'],
    registers: [this.registry],
  });
  private readonly lockouts = new client.Counter({ name: 'twofold_lockouts_total', help: 'Users locked after too many wrong codes', registers: [this.registry] });
  private readonly sms = new client.Counter({ name: 'twofold_sms_total', help: 'SMS by result', labelNames: ['result', 'purpose'], registers: [this.registry] });
  private readonly policyChanges = new client.Counter({
    name: 'twofold_policy_changes_total',
    help: 'Account MFA policy changes',
    labelNames: ['mfa_required'],
    registers: [this.registry],
  });
  private readonly disableRequests = new client.Counter({
    name: 'twofold_mfa_disable_requests_total',
    help: "Requests to disable an account's MFA requirement: filed, approved, rejected",
    labelNames: ['event'],
    registers: [this.registry],
  });
  private readonly storeErrors = new client.Counter({
    name: 'twofold_store_errors_total',
    help: 'Requests that failed because a store was unavailable',
    registers: [this.registry],
  });
  private readonly latency = new client.Histogram({
    name: 'twofold_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor() {
    // Event-loop delay sampled every 100 ms, not prom-client's 10 ms: its timer woke an idle
    // process 100 times a second (9 ms of CPU per second, a millisecond per login at low load).
    client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
  }

  /** Called for every audit event. */
  observeAudit(type: string, details: Record<string, unknown> = {}): void {
    const method = typeof details.method === 'string' ? details.method : 'password';
    switch (type) {
      case 'login.succeeded': {
        const amr = Array.isArray(details.amr) ? (details.amr as string[]) : [];
        // The factor whose amr the sign-in carries (a recovery code's otp counts as the app's).
        this.signIns.inc({
          result: 'success',
          method: FACTORS.find((f) => [f.amr, ...(('otherAmr' in f && f.otherAmr) || [])].some((a) => amr.includes(a)))?.metricsLabel ?? (amr.includes('otp') ? 'otp' : 'password'),
        });
        break;
      }
      case 'login.password_failed':
        this.signIns.inc({ result: 'failure', method: 'password' });
        break;
      case 'login.throttled':
        this.signIns.inc({ result: 'throttled', method: 'password' });
        break;
      case 'mfa.failed':
        // A device's kind counts under its factor's label, as its successes do.
        this.signIns.inc({ result: 'failure', method: FACTORS.find((f) => f.kind === method)?.metricsLabel ?? method });
        break;
      case 'user.locked':
        this.lockouts.inc();
        break;
      case 'sms.sent':
      case 'sms.send_failed':
      case 'sms.limit_hit':
        this.sms.inc({ result: type.slice(4), purpose: typeof details.purpose === 'string' ? details.purpose : 'login' });
        break;
      case 'policy.changed':
        this.policyChanges.inc({ mfa_required: String(details.mfaRequired) });
        break;
      case 'policy.disable_requested':
        this.disableRequests.inc({ event: 'filed' });
        break;
      case 'policy.disable_approved':
      case 'policy.disable_rejected':
        this.disableRequests.inc({ event: type.slice('policy.disable_'.length) });
        break;
      default:
    }
  }

  storeError(): void {
    this.storeErrors.inc();
  }

  /** Request latency, labelled by route template (never the raw path: it carries ids). */
  middleware() {
    return async (ctx: Context, next: Next) => {
      const end = this.latency.startTimer();
      try {
        await next();
      } finally {
        const oidcRoute = (ctx as Context & { oidc?: { route?: string } }).oidc?.route;
        const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? (oidcRoute ? `oidc:${oidcRoute}` : 'other');
        end({ method: ctx.method, route: String(route), status: `${Math.floor(ctx.status / 100)}xx` });
      }
    };
  }

  /** GET /metrics, optionally behind a bearer token. */
  handler(token?: string) {
    return async (ctx: Context) => {
      if (token) {
        const given = /^Bearer (.+)$/.exec(ctx.get('authorization'))?.[1] ?? '';
        if (!constantTimeEqual(given, token)) throw new AppError('unauthorized', 'Metrics need a bearer token.');
      }
      ctx.set('Cache-Control', 'no-store');
      ctx.type = this.registry.contentType;
      ctx.body = await this.registry.metrics();
    };
  }
}
