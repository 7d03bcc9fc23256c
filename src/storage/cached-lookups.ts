import type { ChangeFeed } from './change-feed.js';
import { ReadThroughCache } from './read-through-cache.js';
import type { ClientMetadata, ClientsRepository } from './repositories/clients-repository.js';
import type { UserAuthState, UsersRepository } from './repositories/users-repository.js';

/** The reads behind every token request and reused browser session. */
export interface Lookups {
  findAuthState(userId: string): Promise<UserAuthState | undefined>;
  /**
   * Never from memory, but kept for the reads that follow: a sign-in decides on the row as it
   * is, and its next requests (the redirect back, the token request) then read nothing.
   * `forSignIn`: with the devices and recovery codes (which are not kept).
   */
  readAuthState(userId: string, forSignIn?: boolean): Promise<UserAuthState | undefined>;
  findClient(clientId: string): Promise<ClientMetadata | undefined>;
}

// A safety net only: a change announced is applied at once; one missed without the
// connection dropping lives at most this long.
const TTL_MS = 60_000;

/**
 * Without a feed (the embedded database) every call reads Postgres. With one, users' sign-in
 * states and clients are kept in memory until a change to them is announced, so a refresh
 * grant or a token exchange reads no row unless one changed.
 */
export function cachedLookups(repositories: { users: UsersRepository; clients: ClientsRepository }, feed?: ChangeFeed): Lookups {
  const { users, clients } = repositories;
  if (!feed) return { findAuthState: (id) => users.findAuthState(id), readAuthState: (id, forSignIn) => users.findAuthState(id, forSignIn), findClient: (id) => clients.find(id) };
  const isLive = () => feed.live;
  const states = new ReadThroughCache<UserAuthState>(isLive, { maxEntries: 20_000, ttlMs: TTL_MS });
  const known = new ReadThroughCache<ClientMetadata>(isLive, { maxEntries: 1_000, ttlMs: TTL_MS });
  feed.subscribe((change) => {
    if (change.kind === 'user') states.delete(change.id);
    else if (change.kind === 'account') states.deleteWhere((state) => state.user.accountId === change.id);
    else if (change.kind === 'client') known.delete(change.id);
    else {
      states.clear();
      known.clear();
    }
  });
  return {
    findAuthState: (id) => states.get(id, () => users.findAuthState(id)),
    readAuthState: async (id, forSignIn) => {
      let read: UserAuthState | undefined;
      await states.refresh(id, async () => (read = await users.findAuthState(id, forSignIn)) && withoutSignInParts(read));
      return read;
    },
    findClient: (id) => known.get(id, () => clients.find(id)),
  };
}

/** What other reads may be given from memory: the state without a sign-in's extras. */
function withoutSignInParts(read: UserAuthState): UserAuthState {
  const { user, accountMfaRequired, sessionsValidAfter, hasVerifiedDevice } = read;
  return { user, accountMfaRequired, sessionsValidAfter, hasVerifiedDevice };
}
