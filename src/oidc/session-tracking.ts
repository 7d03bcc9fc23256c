import Provider from 'oidc-provider';
import type { SessionIndexRepository } from '../storage/repositories/session-index-repository.js';
import { toSession, type ProviderSessions } from './provider-sessions.js';
import type { AdapterPayload } from './storage-adapter.js';

/** A session in use is re-indexed at most this often by one process (its last-active time). */
const REFRESH_MS = 60_000;
/** Bound on the per-process memo of recent writes; past it the memo starts afresh. */
const MEMO_LIMIT = 10_000;

/**
 * Keeps the per-user session index in step with the provider's Session records: called with
 * every saved Session. oidc-provider saves a signed-in session on each authorization request,
 * so the index learns of sign-ins, and of activity at most once a minute per session and node
 * (while the record is written, not after).
 * A session ended from the list while one of its requests was in flight is saved again by that
 * request: the index knows it ended, and it is ended again before the response leaves.
 */
export function sessionTracker(index: SessionIndexRepository, sessions: ProviderSessions, userAgentOf: () => string | undefined = () => Provider.ctx?.get('user-agent')) {
  const written = new Map<string, { at: number; accountId: string; loginTs: number }>();
  return async (payload: AdapterPayload, saved: Promise<void> = Promise.resolve()): Promise<void> => {
    const { uid, accountId, loginTs, exp } = payload;
    if (typeof uid !== 'string' || typeof accountId !== 'string' || typeof loginTs !== 'number' || typeof exp !== 'number') return;
    const now = Date.now();
    const last = written.get(uid);
    const fresh = last && last.accountId === accountId && last.loginTs === loginTs && now - last.at < REFRESH_MS;
    const entry = fresh ? undefined : { userAgent: userAgentOf() ?? '', loginTs, lastActive: Math.floor(now / 1000), exp };
    const { ended } = await index.record(accountId, uid, entry);
    if (ended) {
      const session = toSession(payload);
      // Ended after this save has landed, or the save would bring the session back.
      await saved;
      if (session) await sessions.end(session);
      return;
    }
    if (!entry) return;
    if (written.size >= MEMO_LIMIT) written.clear();
    written.set(uid, { at: now, accountId, loginTs });
  };
}
