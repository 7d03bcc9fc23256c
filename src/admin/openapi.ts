import { DISABLE_REQUEST_STATUSES, DISABLE_REQUEST_TEXT_MAX } from '../accounts/disable-request.js';
import { FACTOR_KINDS } from '../mfa/factors/index.js';

/** OpenAPI 3.1 description of /admin/v1 (served at /admin/v1/openapi.json). */
export function openApiDocument(issuer: string): Record<string, unknown> {
  const error = { $ref: '#/components/responses/Error' };
  const standard = { '401': error, '403': error, '404': error };
  const accountId = { name: 'accountId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
  const userId = { name: 'userId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
  const requestId = { name: 'requestId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
  const disableRequest = { content: { 'application/json': { schema: { $ref: '#/components/schemas/DisableRequest' } } } };
  const decision = (verb: 'approve' | 'reject', outcome: string) => ({
    post: {
      operationId: `${verb}DisableRequest`,
      summary: `${outcome} (support that neither filed the request nor belongs to its account: else 403 self_approval); the requester is told by mail`,
      parameters: [requestId],
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/DisableDecision' } } } },
      responses: { '200': { description: 'The decided request', ...disableRequest }, '400': error, '409': error, '413': error, '415': error, '422': error, ...standard },
    },
  });
  const policy = { content: { 'application/json': { schema: { $ref: '#/components/schemas/MfaPolicy' } } } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Twofold policy management API',
      version: '1.0.0',
      description:
        'Account-wide "Require Multi-Factor" policy and requests to disable it, users\' MFA status, unlock and account recovery. ' +
        `Authenticate with a Twofold access token for resource ${issuer}/admin and scope admin, obtained with MFA.`,
    },
    servers: [{ url: `${issuer}/admin/v1` }],
    security: [{ bearer: [] }],
    paths: {
      '/accounts/{accountId}/mfa-policy': {
        get: {
          operationId: 'getMfaPolicy',
          summary: 'Read the policy (account admin, support)',
          parameters: [accountId],
          responses: { '200': { description: 'The policy', ...policy }, ...standard },
        },
        put: {
          operationId: 'setMfaPolicy',
          summary: 'Enable (account admin, support) or disable (support only) the requirement; enabling signs out every session of the account',
          description:
            "Disabling by support is an operator override, audited as such (policy.changed with override: true). It is refused for the support user's own account: 403 self_approval. An account admin who disables gets 403 support_required.",
          parameters: [accountId],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/MfaPolicyChange' } } } },
          responses: { '200': { description: 'The policy after the change', ...policy }, '400': error, '413': error, '415': error, '422': error, ...standard },
        },
      },
      '/accounts/{accountId}/mfa-policy/disable-requests': {
        post: {
          operationId: 'requestMfaDisable',
          summary: 'Ask support to turn the requirement off (admin of the account; support); one open request per account (409 request_pending)',
          parameters: [accountId],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/DisableRequestFiling' } } } },
          responses: { '201': { description: 'The pending request', ...disableRequest }, '400': error, '409': error, '413': error, '415': error, '422': error, ...standard },
        },
      },
      '/mfa-policy/disable-requests': {
        get: {
          operationId: 'listDisableRequests',
          summary: 'Requests to turn the requirement off, newest first, at most 200 (support)',
          parameters: [{ name: 'status', in: 'query', schema: { enum: [...DISABLE_REQUEST_STATUSES] } }],
          responses: {
            '200': {
              description: 'Requests',
              content: {
                'application/json': {
                  schema: { type: 'object', required: ['requests'], properties: { requests: { type: 'array', items: { $ref: '#/components/schemas/DisableRequest' } } } },
                },
              },
            },
            '422': error,
            '401': error,
            '403': error,
          },
        },
      },
      '/mfa-policy/disable-requests/{requestId}/approve': decision('approve', 'Approve: the account no longer requires MFA'),
      '/mfa-policy/disable-requests/{requestId}/reject': decision('reject', 'Reject: the requirement stays on'),
      '/accounts/{accountId}/users': {
        get: {
          operationId: 'listUsers',
          summary: "The account's users with MFA status and lock state (account admin, support)",
          parameters: [accountId],
          responses: {
            '200': {
              description: 'Users',
              content: {
                'application/json': { schema: { type: 'object', required: ['users'], properties: { users: { type: 'array', items: { $ref: '#/components/schemas/User' } } } } },
              },
            },
            ...standard,
          },
        },
      },
      '/users/{userId}/unlock': {
        post: { operationId: 'unlockUser', summary: 'Unlock a locked user (support)', parameters: [userId], responses: { '204': { description: 'Unlocked' }, ...standard } },
      },
      '/users/{userId}/reset-mfa': {
        post: {
          operationId: 'resetUserMfa',
          summary: "Account recovery: remove the user's devices and recovery codes and end their sessions (support)",
          parameters: [userId],
          responses: { '204': { description: 'Reset' }, ...standard },
        },
      },
      '/accounts/{accountId}/audit-events': {
        get: {
          operationId: 'listAuditEvents',
          summary: 'Audit events of the account, newest first (account admin, support)',
          parameters: [
            accountId,
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
            { name: 'before', in: 'query', description: 'Return events older than this event id', schema: { type: 'string', pattern: '^[1-9][0-9]*$' } },
          ],
          responses: {
            '200': {
              description: 'A page of events',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['events', 'nextBefore'],
                    properties: { events: { type: 'array', items: { $ref: '#/components/schemas/AuditEvent' } }, nextBefore: { type: ['string', 'null'] } },
                  },
                },
              },
            },
            '422': error,
            ...standard,
          },
        },
      },
      '/openapi.json': { get: { operationId: 'openapi', summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      responses: {
        Error: { description: 'An error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'message'],
          properties: {
            error: {
              type: 'string',
              description:
                'Stable code: unauthorized, forbidden, mfa_required, support_required, self_approval, request_pending, conflict, not_found, method_not_allowed, validation_failed, bad_request, unsupported_media_type, payload_too_large, store_unavailable',
            },
            message: { type: 'string' },
          },
        },
        MfaPolicy: {
          type: 'object',
          required: ['mfaRequired', 'updatedAt', 'updatedBy'],
          properties: { mfaRequired: { type: 'boolean' }, updatedAt: { type: 'string', format: 'date-time' }, updatedBy: { type: ['string', 'null'] } },
        },
        DisableRequestFiling: {
          type: 'object',
          required: ['reason'],
          additionalProperties: false,
          properties: { reason: { type: 'string', minLength: 1, maxLength: DISABLE_REQUEST_TEXT_MAX, description: 'Why; line breaks kept, no other control characters' } },
        },
        DisableDecision: {
          type: 'object',
          additionalProperties: false,
          properties: { note: { type: ['string', 'null'], maxLength: DISABLE_REQUEST_TEXT_MAX, description: 'For the requester (optional)' } },
        },
        DisableRequest: {
          type: 'object',
          required: ['id', 'accountId', 'status', 'reason', 'requestedBy', 'createdAt'],
          properties: {
            id: { type: 'string', format: 'uuid' },
            accountId: { type: 'string', format: 'uuid' },
            status: { enum: [...DISABLE_REQUEST_STATUSES] },
            reason: { type: 'string' },
            requestedBy: { type: 'string', format: 'uuid' },
            createdAt: { type: 'string', format: 'date-time' },
            decidedBy: { type: ['string', 'null'], description: 'Once decided' },
            decidedAt: { type: 'string', format: 'date-time', description: 'Once decided' },
            note: { type: ['string', 'null'], description: 'Once decided' },
          },
        },
        MfaPolicyChange: { type: 'object', required: ['mfaRequired'], additionalProperties: false, properties: { mfaRequired: { type: 'boolean' } } },
        Device: {
          type: 'object',
          required: ['id', 'kind', 'nickname', 'phoneLast4', 'verified', 'isDefault'],
          properties: {
            id: { type: 'string' },
            kind: { enum: [...FACTOR_KINDS] },
            nickname: { type: ['string', 'null'] },
            phoneLast4: { type: ['string', 'null'] },
            verified: { type: 'boolean' },
            isDefault: { type: 'boolean' },
          },
        },
        User: {
          type: 'object',
          required: ['id', 'username', 'role', 'email', 'emailVerified', 'locked', 'mfa'],
          properties: {
            id: { type: 'string' },
            username: { type: 'string' },
            role: { enum: ['user', 'admin'] },
            email: { type: ['string', 'null'], description: 'Lower-case; null when the user has none' },
            emailVerified: { type: 'boolean', description: 'Security notices and reset links go only to a verified address' },
            locked: { type: 'boolean' },
            mfa: {
              type: 'object',
              required: ['enabled', 'defaultMethod', 'devices', 'recoveryCodesLeft'],
              properties: {
                enabled: { type: 'boolean' },
                defaultMethod: { enum: [...FACTOR_KINDS, null] },
                devices: { type: 'array', items: { $ref: '#/components/schemas/Device' } },
                recoveryCodesLeft: { type: 'integer' },
              },
            },
          },
        },
        AuditEvent: {
          type: 'object',
          required: ['id', 'occurredAt', 'type'],
          properties: {
            id: { type: 'string' },
            occurredAt: { type: 'string', format: 'date-time' },
            type: { type: 'string' },
            accountId: { type: ['string', 'null'] },
            actorUserId: { type: ['string', 'null'] },
            subjectUserId: { type: ['string', 'null'] },
            ip: { type: ['string', 'null'] },
            userAgent: { type: ['string', 'null'] },
            details: { type: 'object' },
          },
        },
      },
    },
  };
}
