import type crypto from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { AppError } from '../http/app-error.js';
import { mayAdminister } from '../accounts/roles.js';
import { isBeforeMark } from '../oidc/session-validity.js';
import { isMfaAcr } from '../oidc/authentication-context.js';
import type { User, UsersRepository } from '../storage/repositories/users-repository.js';
import { ADMIN_SCOPE } from '../oidc/create-provider.js';

/**
 * Verifies an admin API bearer token: a JWT access token of this issuer for the admin
 * resource, unexpired, with the admin scope, obtained with MFA, for a user who is still an
 * admin or support, not locked, and not signed out since.
 */
export class AdminTokenGuard {
  private readonly jwks: ReturnType<typeof createLocalJWKSet>;

  constructor(private readonly options: { issuer: string; audience: string; users: UsersRepository; signingKeys: crypto.JsonWebKey[] }) {
    // Public halves only: never let a private member near verification code.
    const keys = options.signingKeys.map(({ kty, kid, alg, use, n, e, crv, x, y }) => ({ kty, kid, alg, use, n, e, crv, x, y }));
    this.jwks = createLocalJWKSet({ keys: keys as never });
  }

  async authenticate(authorization: string | undefined): Promise<User> {
    // RFC 7235: the scheme name is case-insensitive ("bearer" is as good as "Bearer").
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization ?? '');
    if (!match) throw new AppError('unauthorized', 'Send an admin access token: Authorization: Bearer <token>.');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(match[1]!, this.jwks, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: ['ES256', 'RS256'],
        typ: 'at+jwt',
      }));
    } catch {
      throw new AppError('unauthorized', 'The access token is missing, expired or not for this API.');
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (!scopes.includes(ADMIN_SCOPE)) throw new AppError('forbidden', 'The access token lacks the admin scope.');
    if (!isMfaAcr(payload.acr)) throw new AppError('mfa_required', 'Administration needs a sign-in with multi-factor authentication.');
    const state = await this.options.users.findAuthState(String(payload.sub));
    if (!state || state.user.lockedAt) throw new AppError('unauthorized', 'The access token is no longer valid.');
    if (isBeforeMark(typeof payload.auth_time === 'number' ? payload.auth_time : 0, state.sessionsValidAfter)) {
      throw new AppError('unauthorized', 'The access token is no longer valid: sign in again.');
    }
    if (!mayAdminister(state.user)) throw new AppError('forbidden', 'Only account administrators and support may use this API.');
    return state.user;
  }
}
