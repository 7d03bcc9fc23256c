import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuthStateOfRequest } from './auth-state-of-request.js';
import { isBeforeMark } from './session-validity.js';

interface TokenLike {
  kind?: string;
  authTime?: number;
}

/**
 * oidc-provider's account lookup. For refresh tokens it is also the gate that ends them:
 * a locked user, or a token authenticated before a sign-out-everywhere mark, finds no account
 * and the grant fails with invalid_grant.
 */
export function createFindAccount(authStateOf: AuthStateOfRequest) {
  return async (ctx: KoaContextWithOIDC, sub: string, token?: TokenLike) => {
    const state = await authStateOf(ctx, sub);
    if (!state) return undefined;
    if (token && (token.kind === 'RefreshToken' || token.kind === 'AccessToken')) {
      if (state.user.lockedAt) return undefined;
      if (token.authTime !== undefined && isBeforeMark(token.authTime, state.sessionsValidAfter)) return undefined;
    }
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
