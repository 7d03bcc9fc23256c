import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuthStateOfRequest } from './auth-state-of-request.js';
import type { UserAuthState } from '../storage/repositories/users-repository.js';
import { isBeforeMark } from './session-validity.js';
import { isMfaAcr } from './authentication-context.js';

interface TokenLike {
  kind?: string;
  authTime?: number;
  acr?: string;
  extra?: Record<string, unknown>;
}

const ENDED_BY_MARKS = new Set(['AuthorizationCode', 'RefreshToken', 'AccessToken']);

/**
 * The sign-in time a token stands for. oidc-provider keeps no authTime on access tokens, so
 * ours carry it as an extra claim (set at issuance, see extraTokenClaims). A token without one
 * counts as signed in at time 0: any sign-out mark ends it.
 */
function signInTimeOf(token: TokenLike): number | undefined {
  if (token.kind !== 'AccessToken') return token.authTime;
  const authTime = token.extra?.auth_time;
  return typeof authTime === 'number' ? authTime : undefined;
}

/** How the sign-in a token stands for was made (access tokens carry it as an extra claim). */
function acrOf(token: TokenLike): unknown {
  return token.kind === 'AccessToken' ? token.extra?.acr : token.acr;
}

/**
 * Whether a code or token of the user is still alive: not locked, not signed out since, and
 * not password-only once the user has a device (turning MFA on ends those sign-ins).
 */
export function tokenIsAlive(state: UserAuthState, token: TokenLike): boolean {
  if (!token.kind || !ENDED_BY_MARKS.has(token.kind)) return true;
  if (state.user.lockedAt) return false;
  if (state.hasVerifiedDevice && acrOf(token) === 'aal1') return false;
  return !isBeforeMark(signInTimeOf(token), state.sessionsValidAfter);
}

/**
 * Whether a browser session of the user may still be used: not locked, not signed out since,
 * and made with MFA once the account or the user needs it (a password-only session of a user
 * who now has a device is never reused).
 */
export function sessionIsAlive(state: UserAuthState, session: { loginTs?: number; acr?: string }): boolean {
  if (state.user.lockedAt) return false;
  if (isBeforeMark(session.loginTs, state.sessionsValidAfter)) return false;
  return !((state.accountMfaRequired || state.hasVerifiedDevice) && !isMfaAcr(session.acr));
}

/**
 * oidc-provider's account lookup. With a code or token (token endpoint, userinfo) it is also
 * the gate that ends them: a locked user, or a token authenticated before a
 * sign-out-everywhere mark, finds no account (invalid_grant, or invalid_token at userinfo).
 */
export function createFindAccount(authStateOf: AuthStateOfRequest) {
  return async (ctx: KoaContextWithOIDC, sub: string, token?: TokenLike) => {
    const state = await authStateOf(ctx, sub);
    if (!state) return undefined;
    if (token && !tokenIsAlive(state, token)) return undefined;
    const { user } = state;
    return {
      accountId: user.id,
      async claims(_use: string, scope: string) {
        const claims: Record<string, unknown> = { sub: user.id };
        if (scope.split(' ').includes('profile')) claims.preferred_username = user.username;
        return claims;
      },
    };
  };
}
