import type { UserAuthState } from '../storage/repositories/users-repository.js';
import type { Lookups } from '../storage/cached-lookups.js';

/**
 * oidc-provider asks about the same user several times while answering one request (our
 * session check, findAccount, claims): one query per request and user is enough, and every
 * answer within a request then agrees.
 */
export function authStateOfRequest(lookups: Pick<Lookups, 'findAuthState'>) {
  const byRequest = new WeakMap<object, Map<string, Promise<UserAuthState | undefined>>>();
  return (ctx: object, userId: string): Promise<UserAuthState | undefined> => {
    const seen = byRequest.get(ctx) ?? new Map<string, Promise<UserAuthState | undefined>>();
    byRequest.set(ctx, seen);
    let state = seen.get(userId);
    if (!state) {
      state = lookups.findAuthState(userId);
      seen.set(userId, state);
      // A failed lookup (store outage) is not remembered.
      state.catch(() => seen.delete(userId));
    }
    return state;
  };
}

export type AuthStateOfRequest = ReturnType<typeof authStateOfRequest>;
